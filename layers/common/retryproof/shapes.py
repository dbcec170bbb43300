"""Wire shapes without pydantic: frozen dataclasses, validated at the edge, with their JSON Schema.

Importing pydantic and building its models costs a Lambda cold start about 60 ms, Powertools'
validating resolver about 25 ms more: more than every other import of a route that does not call
the LLM together. So requests and responses are plain dataclasses, and this module does what the
routes need from a validation library, strictly (`"10"`, `10.0` and `true` are not integers):

    @dataclass(frozen=True)
    class TransferRequest(Shape):
        from_account_id: str = spec(min_length=1, max_length=128)
        amount: int = spec(ge=1, le=MAX_AMOUNT)

    TransferRequest.parse({"fromAccountId": "acc_1", "amount": 5})   # or raises Invalid
    TransferRequest.json_schema()                                     # for the OpenAPI document

On the wire every field is camelCase (`from_account_id` ↔ `fromAccountId`) unless `spec(alias=)`
says otherwise. Supported types: str, int, float, bool, `Literal[...]`, `X | None`, `list[X]`,
nested shapes and `Any`. Unknown fields are refused, unless the class sets `EXTRA = "ignore"`.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import re
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, dataclass, fields, is_dataclass
from functools import cache
from typing import Any, Literal, NamedTuple, Self, get_args, get_origin

__all__ = ["Invalid", "Param", "Shape", "Spec", "spec", "to_camel", "to_wire"]

NoneType = type(None)


class Invalid(Exception):
    """Validation failed: `errors` lists (field path, message) pairs, paths in wire names."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))
        self.errors = errors


@dataclass(frozen=True)
class Spec:
    """A field's wire name, constraints and documentation."""

    alias: str | None = None
    min_length: int | None = None
    max_length: int | None = None  # characters of a string, items of a list
    pattern: str | None = None
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    description: str | None = None
    # A further check of a value that passed the others: returns an error message or None.
    check: Callable[[Any], str | None] | None = None


def spec(
    *,
    default: Any = MISSING,
    default_factory: Callable[[], Any] | Any = MISSING,
    **constraints: Any,
) -> Any:
    """A dataclass field with its `Spec` (typed `Any` so `x: int = spec(...)` type-checks)."""
    metadata = {"spec": Spec(**constraints)}
    if default_factory is not MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class _Field(NamedTuple):
    name: str
    wire: str
    type: Any
    spec: Spec
    required: bool
    default: Any


@cache
def _fields(cls: type) -> tuple[_Field, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        field_spec = f.metadata.get("spec", Spec())
        required = f.default is MISSING and f.default_factory is MISSING
        default = f.default if f.default is not MISSING else MISSING
        out.append(
            _Field(
                f.name,
                field_spec.alias or to_camel(f.name),
                hints[f.name],
                field_spec,
                required,
                default,
            )
        )
    return tuple(out)


# --- validation ----------------------------------------------------------------------------------

_TYPE_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _is_type(value: Any, expected: type) -> bool:
    if expected is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, expected)


def _plural(n: float, word: str) -> str:
    return f"{n:g} {word}" + ("" if n == 1 else "s")


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    """A JSON Schema pattern: `$` is the end of the text (Python's `$` allows a final newline)."""
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1] + r"\Z"
    return re.compile(pattern)


def _valid_text(value: str) -> bool:
    """No lone surrogates (JSON `"\\ud800"` decodes to one; it is not Unicode text)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_constraints(value: Any, s: Spec, path: str, errors: list[tuple[str, str]]) -> bool:
    before = len(errors)
    if isinstance(value, str):
        if s.min_length is not None and len(value) < s.min_length:
            errors.append(
                (path, f"String should have at least {_plural(s.min_length, 'character')}")
            )
        if s.max_length is not None and len(value) > s.max_length:
            errors.append(
                (path, f"String should have at most {_plural(s.max_length, 'character')}")
            )
        if s.pattern is not None and not _pattern(s.pattern).search(value):
            errors.append((path, f"String should match pattern '{s.pattern}'"))
    elif isinstance(value, list):
        if s.min_length is not None and len(value) < s.min_length:
            errors.append((path, f"List should have at least {_plural(s.min_length, 'item')}"))
        if s.max_length is not None and len(value) > s.max_length:
            errors.append((path, f"List should have at most {_plural(s.max_length, 'item')}"))
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if s.ge is not None and value < s.ge:
            errors.append((path, f"Input should be greater than or equal to {s.ge:g}"))
        if s.gt is not None and value <= s.gt:
            errors.append((path, f"Input should be greater than {s.gt:g}"))
        if s.le is not None and value > s.le:
            errors.append((path, f"Input should be less than or equal to {s.le:g}"))
    if len(errors) == before and s.check is not None:
        message = s.check(value)
        if message:
            errors.append((path, message))
    return len(errors) == before


def _optional(tp: Any, where: str) -> Any:
    """X of `X | None`, the only union a shape may declare (a programming error otherwise)."""
    options = [a for a in get_args(tp) if a is not NoneType]
    if len(options) != 1 or len(get_args(tp)) != 2:
        raise TypeError(f"{where}: only `X | None` unions are supported, not {tp!r}")
    return options[0]


def _parse_value(value: Any, tp: Any, s: Spec, path: str, errors: list[tuple[str, str]]) -> Any:
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        option = _optional(tp, path)
        if value is None:
            return None
        tp, origin = option, get_origin(option)
    if origin is Literal:
        allowed = get_args(tp)
        if value in allowed and any(type(value) is type(a) for a in allowed):
            return value
        listed = " or ".join(repr(a) for a in allowed)
        errors.append((path, f"Input should be {listed}"))
        return None
    if origin is list:
        if not isinstance(value, list):
            errors.append((path, "Input should be a valid list"))
            return None
        if not _check_constraints(value, s, path, errors):
            return None
        (item_type,) = get_args(tp)
        return [
            _parse_value(v, item_type, Spec(), f"{path}.{i}", errors) for i, v in enumerate(value)
        ]
    if isinstance(tp, type) and is_dataclass(tp):
        if not isinstance(value, dict):
            errors.append((path, "Input should be a valid dictionary or object"))
            return None
        return _parse_object(tp, value, path, errors)
    if tp in _TYPE_NAMES:
        if not _is_type(value, tp):
            errors.append((path, f"Input should be a valid {_TYPE_NAMES[tp]}"))
            return None
        if tp is float:
            try:
                value = float(value)  # an int is a number too; 10**400 is not a float
            except OverflowError:
                errors.append((path, "Input should be a valid number"))
                return None
            if not math.isfinite(value):
                errors.append((path, "Input should be a finite number"))
                return None
        if tp is str and not _valid_text(value):
            errors.append((path, "Input should be a valid string (not valid Unicode)"))
            return None
        _check_constraints(value, s, path, errors)
        return value
    raise TypeError(f"{path}: unsupported type {tp!r}")  # a programming error, not bad input


def _parse_object(
    cls: type, data: dict[str, Any], prefix: str, errors: list[tuple[str, str]]
) -> Any:
    at = f"{prefix}." if prefix else ""
    known = {f.wire for f in _fields(cls)}
    if getattr(cls, "EXTRA", "forbid") == "forbid":
        errors.extend(
            (f"{at}{k}", "Extra inputs are not permitted") for k in data if k not in known
        )
    kwargs: dict[str, Any] = {}
    before = len(errors)
    for f in _fields(cls):
        if f.wire not in data:
            if f.required:
                errors.append((f"{at}{f.wire}", "Field required"))
            continue
        kwargs[f.name] = _parse_value(data[f.wire], f.type, f.spec, f"{at}{f.wire}", errors)
    if len(errors) > before:
        return None
    return cls(**kwargs)


class Shape:
    """Base of the wire dataclasses: `parse` (validate + build) and `to_json_dict` (dump)."""

    @classmethod
    def parse(cls, data: Any, *, name: str = "body") -> Self:
        """The instance for a decoded JSON value, or `Invalid` naming every bad field (`name`:
        what to call the value itself when it is not an object)."""
        if not isinstance(data, dict):
            raise Invalid([(name, "Input should be a valid dictionary or object")])
        errors: list[tuple[str, str]] = []
        parsed = _parse_object(cls, data, "", errors)
        if errors:
            raise Invalid(errors)
        result: Self = parsed
        return result

    def to_json_dict(self) -> dict[str, Any]:
        dumped: dict[str, Any] = to_wire(self)
        return dumped

    @classmethod
    def json_schema(cls, *, closed: bool = True) -> dict[str, Any]:
        """This shape's JSON Schema; nested shapes as `$ref`s to `#/components/schemas/<name>`.
        `closed`: say that unknown fields are refused (for what is parsed, not what is sent)."""
        return object_schema(cls, closed=closed)


def to_wire(value: Any) -> Any:
    """A shape (or a list of them) as JSON-ready data with wire names."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.wire: to_wire(getattr(value, f.name)) for f in _fields(type(value))}
    if isinstance(value, list | tuple):
        return [to_wire(v) for v in value]
    return value


# --- JSON Schema ---------------------------------------------------------------------------------

REF = "#/components/schemas/"


def _constraint_schema(s: Spec, kind: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kind == "string":
        out |= {
            k: v
            for k, v in (
                ("minLength", s.min_length),
                ("maxLength", s.max_length),
                ("pattern", s.pattern),
            )
            if v is not None
        }
    elif kind == "array":
        out |= {
            k: v
            for k, v in (("minItems", s.min_length), ("maxItems", s.max_length))
            if v is not None
        }
    elif kind in ("integer", "number"):
        out |= {
            k: v
            for k, v in (("minimum", s.ge), ("maximum", s.le), ("exclusiveMinimum", s.gt))
            if v is not None
        }
    return out


def type_schema(tp: Any, s: Spec = Spec()) -> dict[str, Any]:
    origin = get_origin(tp)
    if tp is Any:
        return {}
    if origin in (typing.Union, types.UnionType):
        return {"anyOf": [type_schema(_optional(tp, "schema"), s), {"type": "null"}]}
    if origin is Literal:
        allowed = list(get_args(tp))
        return {"type": _TYPE_NAMES[type(allowed[0])], "enum": allowed}
    if origin is list:
        (item_type,) = get_args(tp)
        return {"type": "array", "items": type_schema(item_type)} | _constraint_schema(s, "array")
    if isinstance(tp, type) and is_dataclass(tp):
        return {"$ref": REF + tp.__name__}
    kind = _TYPE_NAMES[tp]
    return {"type": kind} | _constraint_schema(s, kind)


def object_schema(cls: type, *, closed: bool = True) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for f in _fields(cls):
        prop = type_schema(f.type, f.spec)
        if f.spec.description:
            prop["description"] = f.spec.description
        if not f.required and f.default is not MISSING:
            prop["default"] = f.default
        properties[f.wire] = prop
    schema: dict[str, Any] = {"title": cls.__name__, "type": "object", "properties": properties}
    required = [f.wire for f in _fields(cls) if f.required]
    if required:
        schema["required"] = required
    if closed and getattr(cls, "EXTRA", "forbid") == "forbid":
        schema["additionalProperties"] = False
    if cls.__doc__ and not cls.__doc__.startswith(f"{cls.__name__}("):  # not dataclass's own
        schema["description"] = inspect.cleandoc(cls.__doc__)
    return schema


def nested_shapes(cls: type) -> list[type]:
    """`cls` and every shape it refers to, each once."""
    found: list[type] = []
    pending = [cls]
    while pending:
        current = pending.pop(0)
        if current in found:
            continue
        found.append(current)
        for f in _fields(current):
            pending.extend(t for t in _types_in(f.type) if isinstance(t, type) and is_dataclass(t))
    return found


def _types_in(tp: Any) -> list[Any]:
    args = get_args(tp)
    return [tp] if not args else [t for a in args for t in _types_in(a)]


# --- parameters (path and query strings) -----------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A path or query parameter: a string on the wire, parsed to `type` (str or int)."""

    name: str
    location: Literal["path", "query"]
    type: type = str
    spec: Spec = Spec()
    required: bool = True
    default: Any = None

    def parse(self, raw: str | None, errors: list[tuple[str, str]]) -> Any:
        path = f"{self.location}.{self.name}"
        if raw is None:
            if self.required:
                errors.append((path, "Field required"))
            return self.default
        value: Any = raw
        if self.type is int:
            if not re.fullmatch(r"[+-]?[0-9]{1,18}", raw.strip()):
                errors.append((path, "Input should be a valid integer"))
                return None
            value = int(raw)
        _check_constraints(value, self.spec, path, errors)
        return value

    def openapi(self) -> dict[str, Any]:
        schema = type_schema(self.type, self.spec)
        if not self.required and self.default is not None:
            schema["default"] = self.default
        out: dict[str, Any] = {
            "name": self.name,
            "in": self.location,
            "required": self.required,
            "schema": schema,
        }
        if self.spec.description:
            out["description"] = self.spec.description
        return out
