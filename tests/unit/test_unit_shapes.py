"""retryproof.shapes: strict parsing of wire shapes, their JSON dump and JSON Schema, and a
differential test against the pydantic models the request shapes replaced."""

from __future__ import annotations

import json
import math
from dataclasses import FrozenInstanceError, asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from retryproof.models.agent import AgentRunOut, AgentRunRequest, AgentStepOut
from retryproof.models.generate import GenerateRequest, GenerateResponse, TokenUsage
from retryproof.models.transfers import MAX_AMOUNT, TransferRequest
from retryproof.models.usage import UsageList, UsageRecordOut
from retryproof.models.webhooks import RFC3339_PATTERN, WEBHOOK_ID_PATTERN, DocumentUploadedRequest
from retryproof.shapes import Invalid, Param, Shape, Spec, nested_shapes

pytestmark = pytest.mark.unit

TRANSFER: dict[str, Any] = {
    "fromAccountId": "acc_1",
    "toAccountId": "acc_2",
    "amount": 500,
    "currency": "USD",
}
DOCUMENT: dict[str, Any] = {
    "eventId": "evt_1",
    "tenantId": "acme",
    "documentId": "doc_1",
    "content": "Hello.",
}


def errors_of(cls: type[Shape], data: Any, **kwargs: Any) -> list[tuple[str, str]]:
    with pytest.raises(Invalid) as caught:
        cls.parse(data, **kwargs)
    return caught.value.errors


def paths_of(cls: type[Shape], data: Any) -> set[str]:
    return {path for path, _ in errors_of(cls, data)}


# --- parsing ---------------------------------------------------------------------------------


def test_a_valid_body_parses_to_the_frozen_dataclass() -> None:
    parsed = TransferRequest.parse(TRANSFER)
    assert parsed == TransferRequest(
        from_account_id="acc_1", to_account_id="acc_2", amount=500, currency="USD"
    )
    with pytest.raises(FrozenInstanceError):
        parsed.amount = 1  # type: ignore[misc]


def test_required_fields_are_reported_at_their_wire_names() -> None:
    assert errors_of(TransferRequest, {}) == [
        ("fromAccountId", "Field required"),
        ("toAccountId", "Field required"),
        ("amount", "Field required"),
        ("currency", "Field required"),
    ]
    assert errors_of(DocumentUploadedRequest, {"eventId": "e"}) == [
        ("tenantId", "Field required"),
        ("documentId", "Field required"),
        ("content", "Field required"),
    ]


def test_unknown_fields_are_refused() -> None:
    body = TRANSFER | {"from_account_id": "acc_1", "note": "hi"}
    assert errors_of(TransferRequest, body) == [
        ("from_account_id", "Extra inputs are not permitted"),
        ("note", "Extra inputs are not permitted"),
    ]


def test_python_names_are_not_wire_names() -> None:
    body = {"input": "hi", "max_steps": 3}
    assert errors_of(AgentRunRequest, body) == [("max_steps", "Extra inputs are not permitted")]
    assert AgentRunRequest.parse({"input": "hi", "maxSteps": 3}).max_steps == 3


def test_the_webhook_body_ignores_unknown_fields() -> None:
    parsed = DocumentUploadedRequest.parse(DOCUMENT | {"type": "document.uploaded", "v": [1]})
    assert parsed == DocumentUploadedRequest(
        event_id="evt_1", tenant_id="acme", document_id="doc_1", content="Hello."
    )


@pytest.mark.parametrize("amount", ["10", 10.0, True, False, None, [10], {"value": 10}])
def test_an_amount_must_be_a_json_integer(amount: Any) -> None:
    assert errors_of(TransferRequest, TRANSFER | {"amount": amount}) == [
        ("amount", "Input should be a valid integer")
    ]


@pytest.mark.parametrize("temperature", [True, False, "1", [1]])
def test_a_temperature_must_be_a_json_number(temperature: Any) -> None:
    assert errors_of(GenerateRequest, {"prompt": "p", "temperature": temperature}) == [
        ("temperature", "Input should be a valid number")
    ]


@pytest.mark.parametrize("temperature", [math.nan, math.inf, -math.inf])
def test_a_float_must_be_finite(temperature: float) -> None:
    assert errors_of(GenerateRequest, {"prompt": "p", "temperature": temperature}) == [
        ("temperature", "Input should be a finite number")
    ]


@pytest.mark.parametrize("temperature", [0, 1, 2, 0.0, -0.0, 0.7, 2.0])
def test_a_temperature_accepts_ints_and_floats_in_range(temperature: float) -> None:
    assert GenerateRequest.parse({"prompt": "p", "temperature": temperature}).temperature == (
        temperature
    )


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"prompt": ""}, ("prompt", "String should have at least 1 character")),
        ({"prompt": "p" * 32001}, ("prompt", "String should have at most 32000 characters")),
        ({"prompt": "p", "model": ""}, ("model", "String should have at least 1 character")),
        (
            {"prompt": "p", "model": "m" * 101},
            ("model", "String should have at most 100 characters"),
        ),
        (
            {"prompt": "p", "temperature": -0.01},
            ("temperature", "Input should be greater than or equal to 0"),
        ),
        (
            {"prompt": "p", "temperature": 2.01},
            ("temperature", "Input should be less than or equal to 2"),
        ),
        (
            {"prompt": "p", "maxTokens": 0},
            ("maxTokens", "Input should be greater than or equal to 1"),
        ),
        (
            {"prompt": "p", "maxTokens": 4097},
            ("maxTokens", "Input should be less than or equal to 4096"),
        ),
    ],
)
def test_generate_constraints(body: dict[str, Any], error: tuple[str, str]) -> None:
    assert errors_of(GenerateRequest, body) == [error]


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "p"},
        {"prompt": "p" * 32000, "model": "m" * 100, "temperature": 2, "maxTokens": 4096},
        {"prompt": "p", "model": "m", "temperature": 0, "maxTokens": 1},
    ],
)
def test_generate_limits_are_inclusive(body: dict[str, Any]) -> None:
    GenerateRequest.parse(body)


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"fromAccountId": ""}, ("fromAccountId", "String should have at least 1 character")),
        ({"toAccountId": "a" * 129}, ("toAccountId", "String should have at most 128 characters")),
        ({"amount": 0}, ("amount", "Input should be greater than or equal to 1")),
        ({"amount": -5}, ("amount", "Input should be greater than or equal to 1")),
        ({"amount": MAX_AMOUNT + 1}, ("amount", "Input should be less than or equal to 1e+12")),
        ({"currency": "usd"}, ("currency", "String should match pattern '^[A-Z]{3}$'")),
        ({"currency": "US"}, ("currency", "String should match pattern '^[A-Z]{3}$'")),
        ({"currency": "USDX"}, ("currency", "String should match pattern '^[A-Z]{3}$'")),
        ({"currency": " USD"}, ("currency", "String should match pattern '^[A-Z]{3}$'")),
    ],
)
def test_transfer_constraints(overrides: dict[str, Any], error: tuple[str, str]) -> None:
    assert errors_of(TransferRequest, TRANSFER | overrides) == [error]


def test_transfer_limits_are_inclusive() -> None:
    body = TRANSFER | {"fromAccountId": "a" * 128, "toAccountId": "b", "amount": MAX_AMOUNT}
    assert TransferRequest.parse(body).amount == MAX_AMOUNT
    assert TransferRequest.parse(TRANSFER | {"amount": 1}).amount == 1


def test_agent_run_defaults_apply() -> None:
    first = AgentRunRequest.parse({"input": "hi"})
    assert first == AgentRunRequest(input="hi", tools=[], max_steps=5)
    assert first.tools is not AgentRunRequest.parse({"input": "hi"}).tools  # a fresh list each


def test_agent_run_tools_are_literal_names() -> None:
    tools = ["transfer_funds", "get_balance", "get_balance"]
    assert AgentRunRequest.parse({"input": "hi", "tools": tools}).tools == tools
    assert errors_of(AgentRunRequest, {"input": "hi", "tools": ["get_balance", "rm", 3]}) == [
        ("tools.1", "Input should be 'transfer_funds' or 'get_balance'"),
        ("tools.2", "Input should be 'transfer_funds' or 'get_balance'"),
    ]


def test_agent_run_tools_is_a_list_of_at_most_ten() -> None:
    assert len(AgentRunRequest.parse({"input": "hi", "tools": ["get_balance"] * 10}).tools) == 10
    assert errors_of(AgentRunRequest, {"input": "hi", "tools": ["get_balance"] * 11}) == [
        ("tools", "List should have at most 10 items")
    ]
    assert errors_of(AgentRunRequest, {"input": "hi", "tools": "get_balance"}) == [
        ("tools", "Input should be a valid list")
    ]
    assert paths_of(AgentRunRequest, {"input": "hi", "tools": None}) == {"tools"}


@pytest.mark.parametrize("max_steps", [0, 11, 5.0, "5", True, None])
def test_agent_run_max_steps(max_steps: Any) -> None:
    assert paths_of(AgentRunRequest, {"input": "hi", "maxSteps": max_steps}) == {"maxSteps"}


def test_optional_fields_accept_null() -> None:
    body = {"prompt": "p", "model": None, "temperature": None, "maxTokens": None}
    assert GenerateRequest.parse(body) == GenerateRequest(prompt="p")
    assert DocumentUploadedRequest.parse(DOCUMENT | {"occurredAt": None}).occurred_at is None
    assert paths_of(GenerateRequest, {"prompt": None}) == {"prompt"}  # not optional


@pytest.mark.parametrize(
    "occurred_at",
    [
        "2025-01-02T03:04:05Z",
        "2024-02-29T23:59:59.123456789+05:30",
        "2025-01-02t03:04:05z",
        "2025-01-02 03:04:05-08:00",
    ],
)
def test_occurred_at_accepts_rfc3339(occurred_at: str) -> None:
    parsed = DocumentUploadedRequest.parse(DOCUMENT | {"occurredAt": occurred_at})
    assert parsed.occurred_at == occurred_at


@pytest.mark.parametrize(
    "occurred_at", ["2025-13-02T03:04:05Z", "2023-02-29T00:00:00Z", "2025-01-02T25:00:00Z"]
)
def test_the_check_hook_refuses_dates_that_match_the_pattern_but_do_not_exist(
    occurred_at: str,
) -> None:
    assert errors_of(DocumentUploadedRequest, DOCUMENT | {"occurredAt": occurred_at}) == [
        ("occurredAt", "Input should be a valid date-time (e.g. month 1-12)")
    ]


@pytest.mark.parametrize("occurred_at", ["2025-01-02", "2025-01-02T03:04:05", "yesterday"])
def test_the_check_hook_runs_only_after_the_pattern_matched(occurred_at: str) -> None:
    assert errors_of(DocumentUploadedRequest, DOCUMENT | {"occurredAt": occurred_at}) == [
        ("occurredAt", f"String should match pattern '{RFC3339_PATTERN}'")
    ]


@pytest.mark.parametrize(
    "overrides", [{"eventId": "a/b"}, {"documentId": ""}, {"eventId": "e" * 256}]
)
def test_webhook_ids_follow_their_pattern(overrides: dict[str, Any]) -> None:
    assert errors_of(DocumentUploadedRequest, DOCUMENT | overrides) == [
        (next(iter(overrides)), f"String should match pattern '{WEBHOOK_ID_PATTERN}'")
    ]


def test_every_error_is_reported_at_once() -> None:
    body = {"fromAccountId": "", "amount": "5", "currency": "usd", "extra": 1}
    assert set(errors_of(TransferRequest, body)) == {
        ("extra", "Extra inputs are not permitted"),
        ("fromAccountId", "String should have at least 1 character"),
        ("toAccountId", "Field required"),
        ("amount", "Input should be a valid integer"),
        ("currency", "String should match pattern '^[A-Z]{3}$'"),
    }


def test_invalid_says_every_error_in_its_message() -> None:
    with pytest.raises(Invalid, match=r"^amount: Input should be a valid integer; currency: "):
        TransferRequest.parse(TRANSFER | {"amount": "5", "currency": "usd"})


@pytest.mark.parametrize("body", [[], [TRANSFER], "{}", None, 1, 1.5, True])
def test_a_body_that_is_not_an_object(body: Any) -> None:
    assert errors_of(TransferRequest, body) == [
        ("body", "Input should be a valid dictionary or object")
    ]
    assert errors_of(TransferRequest, body, name="payload") == [
        ("payload", "Input should be a valid dictionary or object")
    ]


def test_nested_shapes_report_dotted_paths() -> None:
    usage = {"promptTokens": 1, "completionTokens": 2, "totalTokens": 3}
    record = {
        "idempotencyKey": "k",
        "operation": "generate",
        "model": "m",
        "promptTokens": 1,
        "completionTokens": 2,
        "costUsd": "0.01",
        "createdAt": "2025-01-02T03:04:05Z",
    }
    listing = {"records": [record, record], "totalCostUsd": "0.02", "nextToken": None}
    assert UsageList.parse(listing).records[1] == UsageRecordOut.parse(record)
    bad = listing | {"records": [record, record | {"promptTokens": "1", "x": 0}, 7]}
    assert set(errors_of(UsageList, bad)) == {
        ("records.1.x", "Extra inputs are not permitted"),
        ("records.1.promptTokens", "Input should be a valid integer"),
        ("records.2", "Input should be a valid dictionary or object"),
    }
    response = {
        "id": "r",
        "content": "c",
        "tokens": 3,
        "finishReason": "stop",
        "model": "m",
        "usage": usage | {"totalTokens": None},
        "costUsd": "0",
        "createdAt": "t",
    }
    assert errors_of(GenerateResponse, response) == [
        ("usage.totalTokens", "Input should be a valid integer")
    ]


# --- dumping ---------------------------------------------------------------------------------


def test_to_json_dict_uses_camel_case_through_nested_shapes_and_lists() -> None:
    record = UsageRecordOut(
        idempotency_key="k1",
        operation="generate",
        model="gpt-4o-mini",
        prompt_tokens=12,
        completion_tokens=34,
        cost_usd="0.000123",
        created_at="2025-01-02T03:04:05.678Z",
    )
    listing = UsageList(records=[record, record], total_cost_usd="0.000246", next_token=None)
    wire_record = {
        "idempotencyKey": "k1",
        "operation": "generate",
        "model": "gpt-4o-mini",
        "promptTokens": 12,
        "completionTokens": 34,
        "costUsd": "0.000123",
        "createdAt": "2025-01-02T03:04:05.678Z",
    }
    dumped = listing.to_json_dict()
    assert dumped == {
        "records": [wire_record, wire_record],
        "totalCostUsd": "0.000246",
        "totalAsOf": None,
        "nextToken": None,
    }
    assert json.loads(json.dumps(dumped)) == dumped
    assert UsageList.parse(dumped) == listing


def test_to_json_dict_leaves_any_values_as_they_are() -> None:
    step = AgentStepOut(
        tool_call_id="call_1",
        name="get_balance",
        arguments={"account_id": "acc_1"},
        result={"balance_after": 5, "items": [{"snake_case": True}]},
        replayed=False,
    )
    run = AgentRunOut(
        run_id="run_1",
        status="completed",
        output=None,
        steps=[step],
        usage=TokenUsage(prompt_tokens=1, completion_tokens=2, total_tokens=3),
        cost_usd="0.01",
    )
    assert run.to_json_dict() == {
        "runId": "run_1",
        "status": "completed",
        "output": None,
        "steps": [
            {
                "toolCallId": "call_1",
                "name": "get_balance",
                "arguments": {"account_id": "acc_1"},
                "result": {"balance_after": 5, "items": [{"snake_case": True}]},
                "replayed": False,
            }
        ],
        "usage": {"promptTokens": 1, "completionTokens": 2, "totalTokens": 3},
        "costUsd": "0.01",
    }


@pytest.mark.parametrize(
    ("cls", "body"),
    [
        (TransferRequest, TRANSFER),
        (GenerateRequest, {"prompt": "p", "model": "m", "temperature": 0.5, "maxTokens": 9}),
        (AgentRunRequest, {"input": "i", "tools": ["get_balance"], "maxSteps": 2}),
        (DocumentUploadedRequest, DOCUMENT | {"occurredAt": "2025-01-02T03:04:05Z"}),
    ],
)
def test_requests_round_trip_through_their_wire_form(cls: type[Shape], body: Any) -> None:
    parsed = cls.parse(body)
    assert parsed.to_json_dict() == body
    assert cls.parse(parsed.to_json_dict()) == parsed


# --- path and query parameters ---------------------------------------------------------------

LIMIT = Param("limit", "query", int, Spec(ge=1, le=100), required=False, default=50)


@pytest.mark.parametrize(("raw", "value"), [("10", 10), ("1", 1), ("100", 100), ("+5", 5)])
def test_an_int_param_parses_decimal_strings(raw: str, value: int) -> None:
    errors: list[tuple[str, str]] = []
    assert LIMIT.parse(raw, errors) == value
    assert errors == []


@pytest.mark.parametrize("raw", ["x", "", " ", "1e3", "1.0", "0x10", "1_000", "10abc"])
def test_an_int_param_refuses_what_is_not_a_decimal_integer(raw: str) -> None:
    errors: list[tuple[str, str]] = []
    assert LIMIT.parse(raw, errors) is None
    assert errors == [("query.limit", "Input should be a valid integer")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("-1", "Input should be greater than or equal to 1"),
        ("0", "Input should be greater than or equal to 1"),
        ("101", "Input should be less than or equal to 100"),
    ],
)
def test_an_int_param_checks_its_bounds(raw: str, message: str) -> None:
    errors: list[tuple[str, str]] = []
    LIMIT.parse(raw, errors)
    assert errors == [("query.limit", message)]


def test_a_missing_param_is_its_default_or_required() -> None:
    errors: list[tuple[str, str]] = []
    assert LIMIT.parse(None, errors) == 50
    assert errors == []
    event_id = Param("eventId", "path", spec=Spec(pattern=WEBHOOK_ID_PATTERN))
    assert event_id.parse(None, errors) is None
    assert event_id.parse("evt_1", errors) == "evt_1"
    assert event_id.parse("a/b", errors) == "a/b"  # the value, with its error
    assert errors == [
        ("path.eventId", "Field required"),
        ("path.eventId", f"String should match pattern '{WEBHOOK_ID_PATTERN}'"),
    ]


def test_a_param_in_openapi() -> None:
    assert LIMIT.openapi() == {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
    }


# --- JSON Schema -----------------------------------------------------------------------------

TRANSFER_SCHEMA: dict[str, Any] = {
    "title": "TransferRequest",
    "type": "object",
    "properties": {
        "fromAccountId": {"type": "string", "minLength": 1, "maxLength": 128},
        "toAccountId": {"type": "string", "minLength": 1, "maxLength": 128},
        "amount": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_AMOUNT,
            "description": "integer minor units (e.g. cents)",
        },
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 code"},
    },
    "required": ["fromAccountId", "toAccountId", "amount", "currency"],
    "additionalProperties": False,
}


def test_json_schema_of_a_closed_request() -> None:
    assert TransferRequest.json_schema() == TRANSFER_SCHEMA
    opened = {k: v for k, v in TRANSFER_SCHEMA.items() if k != "additionalProperties"}
    assert TransferRequest.json_schema(closed=False) == opened


def test_json_schema_of_optionals_defaults_literals_and_lists() -> None:
    generate = GenerateRequest.json_schema()["properties"]
    assert generate["model"] == {
        "anyOf": [{"type": "string", "minLength": 1, "maxLength": 100}, {"type": "null"}],
        "default": None,
    }
    assert generate["temperature"] == {
        "anyOf": [{"type": "number", "minimum": 0, "maximum": 2}, {"type": "null"}],
        "default": None,
    }
    agent = AgentRunRequest.json_schema()
    assert agent["required"] == ["input"]
    assert agent["properties"]["tools"] == {
        "type": "array",
        "items": {"type": "string", "enum": ["transfer_funds", "get_balance"]},
        "maxItems": 10,
    }
    assert agent["properties"]["maxSteps"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 10,
        "default": 5,
    }


def test_json_schema_of_an_open_request_has_its_docstring() -> None:
    schema = DocumentUploadedRequest.json_schema()
    assert "additionalProperties" not in schema
    assert schema["description"].startswith("The document-uploaded webhook body")
    assert schema["required"] == ["eventId", "tenantId", "documentId", "content"]


def test_json_schema_refers_to_nested_shapes() -> None:
    assert GenerateResponse.json_schema()["properties"]["usage"] == {
        "$ref": "#/components/schemas/TokenUsage"
    }
    listing = UsageList.json_schema(closed=False)
    assert listing["properties"]["records"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/UsageRecordOut"},
    }
    assert listing["properties"]["nextToken"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert AgentStepOut.json_schema()["properties"]["arguments"] == {}  # Any
    assert nested_shapes(AgentRunOut) == [AgentRunOut, AgentStepOut, TokenUsage]


# --- differential: the pydantic models these shapes replaced -----------------------------------
# Copied from `git show 9ceedc7:layers/common/retryproof/models/requests.py` (before shapes.py).


class OldStrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class OldGenerateRequest(OldStrictBody):
    prompt: str = Field(min_length=1, max_length=32000)
    model: str | None = Field(default=None, min_length=1, max_length=100)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=4096, alias="maxTokens")


class OldTransferRequest(OldStrictBody):
    from_account_id: str = Field(alias="fromAccountId", min_length=1, max_length=128)
    to_account_id: str = Field(alias="toAccountId", min_length=1, max_length=128)
    amount: int = Field(ge=1, le=MAX_AMOUNT)
    currency: str = Field(pattern="^[A-Z]{3}$")


class OldAgentRunRequest(OldStrictBody):
    input: str = Field(min_length=1, max_length=32000)
    tools: list[Literal["transfer_funds", "get_balance"]] = Field(
        default_factory=list, max_length=10
    )
    max_steps: int = Field(default=5, ge=1, le=10, alias="maxSteps")


class OldDocumentUploadedRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, populate_by_name=False, frozen=True)

    event_id: str = Field(alias="eventId", pattern=WEBHOOK_ID_PATTERN)
    tenant_id: str = Field(alias="tenantId", min_length=1, max_length=128)
    document_id: str = Field(alias="documentId", pattern=WEBHOOK_ID_PATTERN)
    content: str
    occurred_at: str | None = Field(default=None, alias="occurredAt", pattern=RFC3339_PATTERN)

    @field_validator("occurred_at")
    @classmethod
    def _a_real_date(cls, value: str | None) -> str | None:
        if value is not None:
            datetime.fromisoformat(value.upper())  # ValueError: e.g. month 13
        return value


Outcome = tuple[Literal["ok"], dict[str, Any]] | tuple[Literal["invalid"], set[str]]


def old_outcome(model: type[BaseModel], data: Any) -> Outcome:
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        locs = [e["loc"] for e in exc.errors()]
        return "invalid", {".".join(str(p) for p in loc) if loc else "body" for loc in locs}
    return "ok", parsed.model_dump()


def new_outcome(cls: type[Shape], data: Any) -> Outcome:
    try:
        parsed = cls.parse(data)
    except Invalid as exc:
        return "invalid", {path for path, _ in exc.errors}
    return "ok", asdict(parsed)  # type: ignore[call-overload]


# Deliberately stricter than pydantic: a string with a lone surrogate (`json.loads` turns
# "\\ud800" into one; it is not Unicode text) is refused wherever it is, key or value. Pydantic
# refused it in some places (a prompt) and let it through in others (webhook content, a key).
# Tested on its own below; the differential tests leave such inputs out.


def _strings_in(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings_in(v)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *_strings_in(v)]]
    return []


def has_a_lone_surrogate(data: Any) -> bool:
    return any("\ud800" <= c <= "\udfff" for text in _strings_in(data) for c in text)


# --- inputs: JSON-like values, mostly valid, often at the edges --------------------------------

NASTY_STRINGS = [
    "",
    " ",
    "\n",
    "\x00",
    "é",
    "\U0001d518",
    "\ud800",
    "a\udfff",
    "USD",
    "get_balance",
]
BIG_INTS = [2**31, 2**53 + 1, 2**63, -(2**63) - 1, 2**64, 2**1023, 2**1024, 10**400, -(10**400)]
SPECIAL_FLOATS = [-0.0, 5e-324, 1e308, math.nan, math.inf, -math.inf]
OTHER_TYPES: list[Any] = [None, True, False, 0, 1.5, "", [], {}, ["x"], {"x": "y"}]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from(BIG_INTS),
    st.floats(),
    st.sampled_from(SPECIAL_FLOATS),
    st.text(max_size=8),
    st.sampled_from(NASTY_STRINGS),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def text_edges(min_size: int, max_size: int) -> list[Any]:
    sizes = sorted(
        {n for n in (min_size - 1, min_size, max_size - 1, max_size, max_size + 1) if n >= 0}
    )
    return ["x" * n for n in sizes] + ["é" * max_size, "é" * (max_size + 1)] + NASTY_STRINGS


def int_edges(low: int, high: int) -> list[Any]:
    near = [low - 1, low, low + 1, high - 1, high, high + 1, -1, 0]
    return [*near, float(low), float(high), low + 0.5, str(low), f" {low}", *BIG_INTS]


TEMPERATURE_EDGES: list[Any] = [
    0,
    1,
    2,
    0.0,
    2.0,
    -1,
    3,
    -1e-300,
    -0.01,
    1.999999,
    2.0000000000000004,
    2.01,
    "1",
    "0.5",
    *SPECIAL_FLOATS,
    *BIG_INTS,
]
CURRENCY_EDGES: list[Any] = [
    "USD",
    "EUR",
    "usd",
    "Usd",
    "US",
    "USDD",
    "USD\n",
    "\nUSD",
    " USD",
    "USD ",
    "ÀBC",
    "U1D",
    "\uff35\uff33\uff24",
    "",
    *NASTY_STRINGS,
]
WEBHOOK_ID_EDGES: list[Any] = [
    "e" * 255,
    "e" * 256,
    "a.b_c:d@e~f+g=h-i",
    "a/b",
    "a b",
    "a#b",
    "é",
    "evt_1\n",
    "\nevt_1",
    *NASTY_STRINGS,
]
OCCURRED_AT_EDGES: list[Any] = [
    "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2024-13-01T00:00:00Z",
    "2024-00-10T00:00:00Z",
    "2024-04-31T00:00:00Z",
    "2024-01-01T24:00:00Z",
    "2024-01-01T23:59:60Z",
    "2024-01-01t00:00:00z",
    "2024-01-01 00:00:00+05:30",
    "2024-01-01T00:00:00-24:00",
    "2024-01-01T00:00:00+99:99",
    "2024-01-01T00:00:00.123456789Z",
    "2024-01-01T00:00:00.1234567890Z",
    "2024-01-01T00:00:00.Z",
    "2024-01-01T00:00:00",
    "2024-01-01T00:00Z",
    "2024-01-01",
    "2024-01-01T00:00:00Z\n",
    "٢٠٢٤-01-01T00:00:00Z",
    "0000-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    *NASTY_STRINGS,
]
TOOL_NAMES = ["transfer_funds", "get_balance"]
TOOLS_EDGES: list[Any] = [
    [],
    ["get_balance"] * 10,
    ["get_balance"] * 11,
    ["transfer_funds", "rm"],
    ["Get_balance"],
    ["get_balance "],
    [None],
    [1, 2],
    [["get_balance"]],
    ["get_balance"] * 11 + [1],
    "get_balance",
    {"0": "get_balance"},
]


def field(valid: st.SearchStrategy[Any], edges: list[Any], *more: st.SearchStrategy[Any]) -> Any:
    """Mostly a valid value; else an edge value (or one of `more`); else any JSON value."""
    edge = st.one_of(st.sampled_from(edges + OTHER_TYPES), *more)

    @st.composite
    def draw_value(draw: st.DrawFn) -> Any:
        pick = draw(st.integers(0, 9))
        return draw(valid if pick < 6 else edge if pick < 9 else json_values)

    return draw_value()


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """RFC 3339-shaped strings whose parts may be out of range (month 13, day 31 of April)."""
    year = draw(st.integers(0, 9999))
    month, day = draw(st.integers(0, 13)), draw(st.integers(0, 32))
    hour, minute, second = (
        draw(st.integers(0, 25)),
        draw(st.integers(0, 60)),
        draw(st.integers(0, 61)),
    )
    sep = draw(st.sampled_from("Tt "))
    fraction = draw(st.sampled_from(["", ".1", ".123456", ".123456789", ".1234567890", "."]))
    zone = draw(st.sampled_from(["Z", "z", "+00:00", "-08:00", "+14:00", "+5:30", "", "+0530"]))
    return (
        f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
    )


def bounded_text(min_size: int, max_size: int) -> tuple[st.SearchStrategy[Any], list[Any]]:
    return st.text(min_size=min_size, max_size=min(max_size, 40)), text_edges(min_size, max_size)


def bounded_int(low: int, high: int) -> tuple[st.SearchStrategy[Any], list[Any]]:
    return st.integers(low, high), int_edges(low, high)


def nullable(
    valid_and_edges: tuple[st.SearchStrategy[Any], list[Any]],
) -> tuple[st.SearchStrategy[Any], list[Any]]:
    valid, edges = valid_and_edges
    return valid | st.none(), edges


Values = (
    tuple[st.SearchStrategy[Any], list[Any]]
    | tuple[st.SearchStrategy[Any], list[Any], st.SearchStrategy[Any]]
)


@dataclass(frozen=True)
class Case:
    shape: type[Shape]
    old: type[BaseModel]
    base: dict[str, Any]  # a valid body
    fields: dict[str, Values]  # per wire key: valid values, edge values (and more edge values)
    wrong_keys: list[str]

    def bodies(self) -> st.SearchStrategy[Any]:
        """Objects with each known field (usually), sometimes wrong keys; rarely not an object."""
        values = {key: field(*spec) for key, spec in self.fields.items()}
        keys = (
            st.sampled_from(self.wrong_keys) | st.text(max_size=6) | st.sampled_from(NASTY_STRINGS)
        )

        @st.composite
        def body(draw: st.DrawFn) -> dict[str, Any]:
            out = {key: draw(v) for key, v in values.items() if draw(st.integers(0, 9)) > 0}
            if draw(st.integers(0, 4)) == 0:
                for key in draw(st.lists(keys, min_size=1, max_size=2)):
                    out[key] = draw(json_values)
            return out

        return st.one_of(body(), body(), body(), body(), body(), body(), body(), json_values)

    def edge_bodies(self) -> list[Any]:
        """The valid body with one field changed to each edge value, or left out, or one wrong
        key added; and values that are not objects."""
        out: list[Any] = [self.base, *OTHER_TYPES]
        for key, (_, edges, *_more) in self.fields.items():
            out += [self.base | {key: value} for value in edges + OTHER_TYPES]
            out.append({k: v for k, v in self.base.items() if k != key})
        out += [self.base | {key: 1} for key in self.wrong_keys]
        return out


CASES: dict[str, Case] = {
    "generate": Case(
        GenerateRequest,
        OldGenerateRequest,
        {"prompt": "Say hello"},
        {
            "prompt": bounded_text(1, 32000),
            "model": nullable(bounded_text(1, 100)),
            "temperature": (
                st.none() | st.floats(0, 2) | st.integers(0, 2),
                TEMPERATURE_EDGES,
                st.floats(),
            ),
            "maxTokens": nullable(bounded_int(1, 4096)),
        },
        ["max_tokens", "maxtokens", "MaxTokens", "Prompt", "top_p", "", "\ud800"],
    ),
    "transfer": Case(
        TransferRequest,
        OldTransferRequest,
        TRANSFER,
        {
            "fromAccountId": bounded_text(1, 128),
            "toAccountId": bounded_text(1, 128),
            "amount": bounded_int(1, MAX_AMOUNT),
            "currency": (
                st.from_regex(r"[A-Z]{3}", fullmatch=True),
                CURRENCY_EDGES,
                # `$` in re.search also matches before a final "\n": this may end in one.
                st.from_regex("^[A-Z]{3}$") | st.text(alphabet="ABZaz1 \n", max_size=5),
            ),
        },
        ["from_account_id", "to_account_id", "fromAccountID", "Amount", "memo"],
    ),
    "agent_run": Case(
        AgentRunRequest,
        OldAgentRunRequest,
        {"input": "Check my balance"},
        {
            "input": bounded_text(1, 32000),
            "tools": (
                st.lists(st.sampled_from(TOOL_NAMES), max_size=10),
                TOOLS_EDGES,
                st.integers(0, 12).flatmap(
                    lambda n: st.lists(
                        st.sampled_from([*TOOL_NAMES, "Transfer_funds", "", None, 1]) | json_values,
                        min_size=n,
                        max_size=n,
                    )
                ),
            ),
            "maxSteps": bounded_int(1, 10),
        },
        ["max_steps", "maxsteps", "tool", "Input"],
    ),
    "document_uploaded": Case(
        DocumentUploadedRequest,
        OldDocumentUploadedRequest,
        DOCUMENT,
        {
            "eventId": (
                st.text(alphabet="ABCXYZabcxyz0189._:@~+=-", min_size=1, max_size=40),
                WEBHOOK_ID_EDGES,
                st.from_regex(WEBHOOK_ID_PATTERN) | st.text(alphabet="ab/ #é?%\n\t", max_size=4),
            ),
            "tenantId": bounded_text(1, 128),
            "documentId": (
                st.text(alphabet="ABCXYZabcxyz0189._:@~+=-", min_size=1, max_size=40),
                WEBHOOK_ID_EDGES,
                st.from_regex(WEBHOOK_ID_PATTERN),
            ),
            "content": (st.text(), ["", "x" * 200_001, *NASTY_STRINGS]),
            "occurredAt": (
                st.none()
                | st.datetimes(timezones=st.timezones()).map(
                    lambda d: d.isoformat(timespec="seconds")
                ),
                OCCURRED_AT_EDGES,
                timestamps() | st.from_regex(RFC3339_PATTERN),
            ),
        },
        ["event_id", "occurred_at", "eventID", "type", "version"],
    ),
}
OLD_MODELS: dict[type[Shape], type[BaseModel]] = {c.shape: c.old for c in CASES.values()}
BODIES = {name: case.bodies() for name, case in CASES.items()}


def assert_agrees(case: Case, body: Any) -> None:
    expected = old_outcome(case.old, body)
    assert new_outcome(case.shape, body) == expected, body
    if expected[0] == "ok":
        dumped = case.shape.parse(body).to_json_dict()
        assert dumped == case.old.model_validate(body).model_dump(by_alias=True)
        assert case.shape.parse(dumped) == case.shape.parse(body)


@pytest.mark.parametrize("name", CASES)
def test_parse_agrees_with_the_pydantic_model_on_each_edge_value(name: str) -> None:
    case = CASES[name]
    disagreements = []
    for body in case.edge_bodies():
        if has_a_lone_surrogate(body):
            continue
        try:
            assert_agrees(case, body)
        except AssertionError:
            shown = {k: v if len(repr(v)) < 80 else f"{repr(v)[:60]}..." for k, v in body.items()}
            old, new = old_outcome(case.old, body), new_outcome(case.shape, body)
            disagreements.append(f"{shown}: pydantic {old}, shapes {new}")
    assert disagreements == []


@pytest.mark.parametrize("name", CASES)
@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_parse_agrees_with_the_pydantic_model_it_replaced(name: str, data: st.DataObject) -> None:
    body = data.draw(BODIES[name], label="body")
    assume(not has_a_lone_surrogate(body))
    assert_agrees(CASES[name], body)


@pytest.mark.parametrize(
    ("shape", "body"),
    [
        (TransferRequest, TRANSFER | {"currency": "USD\n"}),
        (DocumentUploadedRequest, DOCUMENT | {"eventId": "evt_1\n"}),
        (DocumentUploadedRequest, DOCUMENT | {"documentId": "doc_1\n"}),
    ],
)
def test_a_pattern_does_not_match_a_trailing_newline(shape: type[Shape], body: Any) -> None:
    # Python's `$` matches before a final newline; JSON Schema's (and pydantic's) does not.
    assert paths_of(shape, body) == old_outcome(OLD_MODELS[shape], body)[1]
    assert paths_of(shape, body)


@pytest.mark.parametrize(
    ("shape", "body", "field"),
    [
        (GenerateRequest, {"prompt": "\ud800"}, "prompt"),
        (DocumentUploadedRequest, DOCUMENT | {"content": "a\udfffb"}, "content"),
        (GenerateRequest, {"prompt": "p", "\ud800": 1}, "\ud800"),
    ],
)
def test_a_string_with_a_lone_surrogate_is_refused(
    shape: type[Shape], body: Any, field: str
) -> None:
    assert paths_of(shape, body) == {field}


def test_a_huge_int_temperature_is_invalid_not_a_crash() -> None:
    body = json.loads('{"prompt": "p", "temperature": 1' + "0" * 400 + "}")
    assert old_outcome(OldGenerateRequest, body) == ("invalid", {"temperature"})
    assert paths_of(GenerateRequest, body) == {"temperature"}


def test_an_int_temperature_is_a_float_like_pydantic_made_it() -> None:
    parsed = GenerateRequest.parse({"prompt": "p", "temperature": 1})
    assert parsed.temperature == 1.0
    assert isinstance(parsed.temperature, float)


def test_int_query_parameters_are_ascii_digits_only() -> None:
    errors: list[tuple[str, str]] = []
    assert Param("limit", "query", int).parse("12", errors) == 12
    Param("limit", "query", int).parse("\u0661\u0662", errors)  # Arabic-Indic digits
    assert errors == [("query.limit", "Input should be a valid integer")]


def test_only_optional_unions_are_supported() -> None:
    @dataclass(frozen=True)
    class Either(Shape):
        value: int | str

    with pytest.raises(TypeError, match="only `X \\| None` unions"):
        Either.parse({"value": 1})
    with pytest.raises(TypeError, match="only `X \\| None` unions"):
        Either.json_schema()
