"""The API's one OpenAPI 3.1 document (`openapi.json`), built from the functions' own resolvers.

    make openapi                                   # regenerate openapi.json
    python -m tools.openapi --check                # exit 1 when openapi.json is stale

Every function of template.yaml is loaded the way the local stack loads it (its handler module by
file path under a unique name, the layer on sys.path). A function whose module holds a
`retryproof.http.Api` gives its own description (`Api.openapi()`: paths, parameters, request bodies
and the response shapes its route decorators declare, from retryproof.shapes). The operations that
template.yaml exposes through the HTTP API are merged into one document, and the merge adds what a
single resolver cannot know:

- security: a bearer scheme on every route behind the Lambda authorizer (per the template);
- idempotency: every POST behind the authorizer takes the `Idempotency-Key` header (docs/api.md,
  "Idempotency"; the webhook is signed and keyed by its event id instead), answers 400/409/422 for
  the key, and carries the replay headers;
- errors: RFC 9457 problem details (`application/problem+json`) grouped by status, one example per
  `code`; the common ones by rule, the route-specific ones from `ROUTE_ERRORS`; 401/403 of API
  Gateway's authorizer (`{"message": ...}`) on authorized routes;
- a tag per function (its template `Description`), title, version, servers.

A route added to the template and to a function's resolver appears without editing this file; its
route-specific errors can be listed in `ROUTE_ERRORS`.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib.util
import json
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from local.lambda_runtime import add_layer_to_path
from local.template import ROOT, FunctionSpec, Route, Template
from retryproof.errors import (
    PROBLEM_CONTENT_TYPE,
    BusinessRejection,
    ProblemError,
    problem_body,
)
from retryproof.http import Api
from retryproof.models import webhooks as webhook_models
from retryproof.shapes import Shape, nested_shapes

OUTPUT = ROOT / "openapi.json"
OPENAPI_VERSION = "3.1.0"
TITLE = "retryproof"
SECURITY_SCHEME = "apiKey"
JSON = "application/json"
SCHEMA_REF = "#/components/schemas/"
METHOD_ORDER = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

DESCRIPTION = """\
Retry-safe AI operations on AWS Lambda: LLM completions, transfers and agent runs that a retry \
never executes (or pays for) twice.

**Authentication**: `Authorization: Bearer <api key>`, checked by the API's Lambda authorizer. \
A missing header is 401, an unknown, revoked or expired key 403 (API Gateway's own \
`{"message": ...}` answers). A key has scopes (`read`: every GET; `generate`: POST /generate; \
`money`: POST /transfer and the agent run POSTs): without the route's, 403 `insufficient_scope`; \
expired while API Gateway cached its authorization, 401 `api_key_expired`.

**Idempotency**: every POST takes an `Idempotency-Key` header (a UUID is recommended). The first \
request claims the key; a retry with the same key and body gets the stored status and body \
unchanged, with `Idempotent-Replayed: true`; while the first still runs, 409 with `Retry-After`; \
the same key with another body is 422 `idempotency_key_reused`. Validation failures, 409 and 5xx \
are not stored: retry them with the same key.

**Errors** are RFC 9457 problem details (`application/problem+json`) with a `code` member; \
a path the API does not have gets API Gateway's own 404 `{"message": "Not Found"}`.

**Reference**: `docs/api.md` in the repository (every route, status, header and error code, \
the idempotency rules, the local stack).
"""

SERVERS: list[dict[str, Any]] = [
    {"url": "http://127.0.0.1:3000", "description": "the local stack (`make dev`)"},
    {
        "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
        "description": "a deployed stack (its `ApiUrl` output)",
        "variables": {
            "apiId": {"default": "abcdef1234", "description": "the HTTP API's id"},
            "region": {"default": "us-east-1"},
        },
    },
]

# Errors a route raises beyond the common ones (by code; status and title come from
# retryproof.errors). Entries for routes the template does not have are ignored.
ROUTE_ERRORS: dict[str, tuple[str, ...]] = {
    "POST /generate": ("model_not_allowed", "spend_limit_reached", "llm_error", "llm_timeout"),
    "POST /transfer": (
        "insufficient_funds",
        "account_not_found",
        "currency_mismatch",
        "same_account",
    ),
    "GET /usage": ("bad_request",),
    "GET /accounts/{accountId}": ("account_not_found",),
    "GET /transfers/{transferId}": ("transfer_not_found",),
    # A run's own failures (llm_error, …) are in its body (status failed), not HTTP errors.
    "GET /agent/runs/{runId}": ("run_not_found",),
    "POST /agent/runs/{runId}/resume": ("run_not_found", "run_not_resumable"),
    "POST /agent/runs/{runId}/approvals/{approvalId}": (
        "run_not_found",
        "approval_already_decided",
    ),
    "POST /webhooks/document-uploaded": ("invalid_signature", "idempotency_key_in_use"),
    "GET /webhook-events/{eventId}": ("webhook_event_not_found",),
    "GET /summaries/{documentId}": ("summary_not_found",),
}
# POSTs behind the authorizer that take no Idempotency-Key: idempotent by what they set (a
# decision is recorded once; the same decision again gets the same answer).
NO_IDEMPOTENCY_KEY: frozenset[str] = frozenset({"POST /agent/runs/{runId}/approvals/{approvalId}"})
# Routes authenticated by a Standard Webhooks signature instead of the authorizer (docs/api.md,
# "Webhooks"): they get the signature headers, and the body model (in retryproof.models.webhooks)
# that they validate after the signature, which their resolver therefore cannot declare.
SIGNED_ROUTES: dict[str, str] = {"POST /webhooks/document-uploaded": "DocumentUploadedRequest"}
SIGNATURE_HEADERS: dict[str, dict[str, Any]] = {
    "WebhookId": {
        "name": "webhook-id",
        "in": "header",
        "required": True,
        "description": "The message id: the same on every delivery of one message.",
        "schema": {"type": "string", "minLength": 1},
    },
    "WebhookTimestamp": {
        "name": "webhook-timestamp",
        "in": "header",
        "required": True,
        "description": "Integer seconds since the epoch; more than 5 minutes off is refused.",
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    },
    "WebhookSignature": {
        "name": "webhook-signature",
        "in": "header",
        "required": True,
        "description": "`v1,<base64 HMAC-SHA256 of {webhook-id}.{webhook-timestamp}.{body}>` with "
        "the tenant's `whsec_` secret; several space-separated signatures are accepted.",
        "schema": {"type": "string"},
    },
}
# Problems that say when to try again (the `Retry-After` header).
SAYS_WHEN = frozenset({"idempotency_key_in_use", "rate_limited", "spend_limit_reached"})
# Errors of every API route, and of every idempotent POST.
COMMON_ERRORS = ("internal_error", "storage_unavailable")
# Every route behind the authorizer: the key's scope and its expiry (docs/security-keys.md).
KEY_ERRORS = ("api_key_expired", "insufficient_scope")
BODY_ERRORS = ("payload_too_large", "unsupported_media_type")
IDEMPOTENCY_ERRORS = (
    "idempotency_key_required",
    "idempotency_key_invalid",
    "idempotency_key_in_use",
    "idempotency_key_reused",
)


class OpenApiError(Exception):
    """The template and the functions' resolvers disagree, or a resolver cannot be loaded."""


# --- schemas of the edge, as pydantic models -----------------------------------------------


class ProblemFieldError(BaseModel):
    """One invalid field of a `validation_error`."""

    field: str = Field(description="the field's path, e.g. `prompt` or `maxTokens`")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details with a `code` member (docs/api.md, "Errors")."""

    model_config = ConfigDict(extra="allow", title="Problem")

    type: str = Field(description="`https://retryproof.dev/problems/<code with dashes>`")
    title: str
    status: int
    code: str = Field(description="a stable, machine-readable error code")
    detail: str
    errors: list[ProblemFieldError] | None = Field(
        default=None, description="`validation_error` only: the invalid fields"
    )


class GatewayMessage(BaseModel):
    """API Gateway's own answer (the authorizer's 401/403, an unknown route's 404)."""

    message: str


HEADERS: dict[str, dict[str, Any]] = {
    "X-Original-Request-Time": {
        "description": "ISO 8601 (UTC) time of the original execution; a replay carries the same "
        "value.",
        "schema": {"type": "string", "format": "date-time"},
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored outcome of an earlier request with the same "
        "Idempotency-Key; absent on the first execution.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "X-Idempotency-Replayed": {
        "description": "The same as `Idempotent-Replayed`.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "X-From-Cache": {
        "description": "The same as `Idempotent-Replayed`.",
        "schema": {"type": "string", "enum": ["true"]},
    },
}
RETRY_AFTER = {
    "description": "Seconds to wait before retrying with the same Idempotency-Key.",
    "schema": {"type": "integer", "minimum": 0},
}
IDEMPOTENCY_KEY_PARAMETER: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "Identifies one logical operation: send the same value on every retry of it. "
    '1-255 printable ASCII characters (a Structured-Field quoted string `"..."` is unquoted); '
    "a UUID is recommended. Scoped to the tenant and the route.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$"},
    "example": "7c4e1d0a-1f7b-4c55-9a0e-1f0b8f3a2d11",
}


# --- loading the functions ------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionApi:
    spec: FunctionSpec
    description: str
    resolver: Api
    routes: tuple[Route, ...]

    @property
    def tag(self) -> str:
        name = self.spec.logical_id.removesuffix("Function")
        return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)


def load_module(spec: FunctionSpec) -> Any:
    """The function's handler module, loaded by file path under a name of its own."""
    add_layer_to_path()
    module_file = spec.handler.rpartition(".")[0]
    path = spec.code_dir / f"{module_file.replace('.', '/')}.py"
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:8]
    name = f"retryproof_openapi_{spec.logical_id}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    loader = importlib.util.spec_from_file_location(name, path)
    if loader is None or loader.loader is None:
        raise OpenApiError(f"cannot load {path}")
    module = importlib.util.module_from_spec(loader)
    sys.modules[name] = module
    try:
        loader.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise OpenApiError(f"{spec.logical_id}: importing {path} failed: {exc!r}") from exc
    return module


def find_resolver(module: Any) -> Api | None:
    app = getattr(module, "app", None)
    if isinstance(app, Api):
        return app
    found = [v for v in vars(module).values() if isinstance(v, Api)]
    return found[0] if len(found) == 1 else None


def function_apis(template: Template) -> list[FunctionApi]:
    routes_by_function: dict[str, list[Route]] = {}
    for route in template.routes():
        routes_by_function.setdefault(route.function_id, []).append(route)
    apis = []
    for logical_id, spec in template.functions().items():
        routes = routes_by_function.get(logical_id, [])
        if not routes:
            continue  # not behind the HTTP API (the authorizer, a queue worker)
        resolver = find_resolver(load_module(spec))
        if resolver is None:
            raise OpenApiError(f"{logical_id} serves HTTP routes but has no retryproof.http.Api")
        props = template.resources[logical_id].get("Properties", {})
        apis.append(FunctionApi(spec, str(props.get("Description", "")), resolver, tuple(routes)))
    return apis


# --- the document ---------------------------------------------------------------------------


def problem_types() -> dict[str, type[ProblemError]]:
    """Every error of retryproof.errors by its code."""
    found: dict[str, type[ProblemError]] = {}
    pending: list[type[ProblemError]] = [ProblemError]
    while pending:
        cls = pending.pop(0)
        pending.extend(cls.__subclasses__())
        if "code" in vars(cls):
            found.setdefault(cls.code, cls)
    return found


def _example(cls: type[ProblemError], field: tuple[str, str]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if cls.code == "validation_error":
        extra["errors"] = [{"field": field[0], "message": field[1]}]
        detail = f"invalid fields: {field[0]}"
    else:
        detail = cls.title
    return problem_body(cls.status, cls.code, cls.title, detail, **extra)


def _header_refs(names: Iterable[str]) -> dict[str, Any]:
    return {name: {"$ref": f"#/components/headers/{name}"} for name in names}


def _example_field(operation: dict[str, Any], schemas: dict[str, Any]) -> tuple[str, str]:
    """A field the operation validates, and a message, for the `validation_error` example."""
    body = operation.get("requestBody", {}).get("content", {}).get(JSON, {}).get("schema", {})
    schema = schemas.get(str(body.get("$ref", "")).removeprefix(SCHEMA_REF), {})
    required = list(schema.get("required") or [])
    if required:
        return str(required[0]), "Field required"
    params = [p for p in operation.get("parameters", []) if "name" in p and "in" in p]
    if params:
        return f"{params[0]['in']}.{params[0]['name']}", "Input should be a valid value"
    return "body", "Input should be a valid dictionary"


def _problem_response(
    classes: list[type[ProblemError]], *, idempotent: bool, field: tuple[str, str]
) -> dict[str, Any]:
    # "(stored)": replayed under the Idempotency-Key; only a POST has one.
    lines = [
        f"`{c.code}`: {c.title}" + (" (stored)" if idempotent and _stored(c) else "")
        for c in classes
    ]
    response: dict[str, Any] = {
        "description": "\n\n".join(lines),
        "content": {
            PROBLEM_CONTENT_TYPE: {
                "schema": {"$ref": f"{SCHEMA_REF}Problem"},
                "examples": {
                    c.code: {"summary": c.title, "value": _example(c, field)} for c in classes
                },
            }
        },
    }
    headers: dict[str, Any] = {}
    if idempotent and any(_stored(c) for c in classes):
        headers |= _header_refs(HEADERS)
    if any(c.code in SAYS_WHEN for c in classes):
        headers["Retry-After"] = {"$ref": "#/components/headers/Retry-After"}
    if headers:
        response["headers"] = headers
    return response


def _stored(cls: type[ProblemError]) -> bool:
    return issubclass(cls, BusinessRejection)


def _gateway_response(description: str, message: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {
            JSON: {
                "schema": {"$ref": f"{SCHEMA_REF}GatewayMessage"},
                "example": {"message": message},
            }
        },
    }


def _error_codes(route: Route, operation: dict[str, Any], idempotent: bool) -> list[str]:
    codes: list[str] = []
    if idempotent:
        codes += IDEMPOTENCY_ERRORS
    if "requestBody" in operation:
        codes += BODY_ERRORS
    if "requestBody" in operation or operation.get("parameters"):
        codes.append("validation_error")
    codes += ROUTE_ERRORS.get(route.route_key, ())
    if route.authorizer is not None:
        codes.append("rate_limited")  # the tenant's request limit (docs/limits.md)
    codes += COMMON_ERRORS
    return list(dict.fromkeys(codes))


def signed_body_model(route: Route) -> type[Shape] | None:
    name = SIGNED_ROUTES.get(route.route_key)
    if name is None:
        return None
    model = getattr(webhook_models, name, None)
    if not (isinstance(model, type) and issubclass(model, Shape)):
        raise OpenApiError(f"{route.route_key}: no model {name} in retryproof.models.webhooks")
    return model


def _operation(
    api: FunctionApi,
    route: Route,
    generated: dict[str, Any],
    body: type[Shape] | None,
    schemas: dict[str, Any],
) -> dict[str, Any]:
    operation = copy.deepcopy(generated)
    authorized = route.authorizer is not None
    idempotent = authorized and route.method == "POST" and route.route_key not in NO_IDEMPOTENCY_KEY
    operation.setdefault("tags", [api.tag])
    if body is not None:
        signature = [{"$ref": f"#/components/parameters/{name}"} for name in SIGNATURE_HEADERS]
        operation["parameters"] = signature + operation.get("parameters", [])
        operation.setdefault(
            "requestBody",
            {"required": True, "content": {JSON: {"schema": {"$ref": SCHEMA_REF + body.__name__}}}},
        )

    responses: dict[str, Any] = {}
    for status, response in operation.get("responses", {}).items():
        response = copy.deepcopy(response)
        if idempotent and str(status).startswith("2"):
            response["headers"] = _header_refs(HEADERS) | response.get("headers", {})
        responses[str(status)] = response

    types = problem_types()
    by_status: dict[int, list[type[ProblemError]]] = {}
    key_errors = KEY_ERRORS if authorized else ()
    for code in [*_error_codes(route, operation, idempotent), *key_errors]:
        if code not in types:
            raise OpenApiError(f"{route.route_key}: unknown error code {code!r}")
        by_status.setdefault(types[code].status, []).append(types[code])
    field = _example_field(operation, schemas)
    for status, classes in by_status.items():
        response = _problem_response(classes, idempotent=idempotent, field=field)
        responses.setdefault(str(status), response)
    if authorized:
        gateway = {
            "401": _gateway_response("No `Authorization` header (API Gateway)", "Unauthorized"),
            "403": _gateway_response(
                "Unknown, revoked, expired or malformed API key (API Gateway)", "Forbidden"
            ),
        }
        for status, answer in gateway.items():
            if status in responses:  # the function's problem details and API Gateway's answer
                response = responses[status]
                response["description"] = answer["description"] + "\n\n" + response["description"]
                response["content"] = answer["content"] | response["content"]
            else:
                responses[status] = answer
        operation["security"] = [{SECURITY_SCHEME: []}]
    operation["responses"] = dict(sorted(responses.items()))

    if idempotent:
        parameters = [
            p for p in operation.get("parameters", []) if p.get("name") != "Idempotency-Key"
        ]
        ref = {"$ref": "#/components/parameters/IdempotencyKey"}
        operation["parameters"] = [ref, *parameters]
    return operation


def _merge_schemas(target: dict[str, Any], source: dict[str, Any], origin: str) -> None:
    for name, schema in source.items():
        if name in target and target[name] != schema:
            raise OpenApiError(f"schema {name!r} differs between functions ({origin})")
        target[name] = schema


def _model_schemas(*models: type[BaseModel]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=SCHEMA_REF + "{model}")
        schemas |= schema.pop("$defs", {})
        schemas[schema.get("title", model.__name__)] = schema
    return schemas


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF):
                yield value.removeprefix(SCHEMA_REF)
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _reachable(schemas: dict[str, Any], roots: Any) -> dict[str, Any]:
    """Only the schemas the operations use."""
    seen: set[str] = set()
    pending = list(_refs(roots))
    while pending:
        name = pending.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        pending.extend(_refs(schemas[name]))
    return {name: schemas[name] for name in sorted(seen)}


def project_version() -> str:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return str(data["project"]["version"])


def build_document(template: Template | None = None) -> dict[str, Any]:
    template = template or Template()
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    tags: dict[str, dict[str, Any]] = {}
    signed = False
    for api in function_apis(template):
        generated = api.resolver.openapi()
        generated_paths: dict[str, Any] = generated.get("paths", {})
        _merge_schemas(
            schemas, generated.get("components", {}).get("schemas", {}), api.spec.logical_id
        )
        for route in api.routes:
            operation = generated_paths.get(route.path, {}).get(route.method.lower())
            if operation is None:
                raise OpenApiError(
                    f"template.yaml routes {route.route_key} to {api.spec.logical_id}, "
                    f"whose resolver has no such route"
                )
            methods = paths.setdefault(route.path, {})
            if route.method.lower() in methods:
                raise OpenApiError(f"{route.route_key} is defined twice")
            body = signed_body_model(route)
            if body is not None:
                shapes = {s.__name__: s.json_schema() for s in nested_shapes(body)}  # type: ignore[attr-defined]
                _merge_schemas(schemas, shapes, route.route_key)
                signed = True
            methods[route.method.lower()] = _operation(api, route, operation, body, schemas)
        tags[api.tag] = (
            {"name": api.tag, "description": api.description}
            if api.description
            else {"name": api.tag}
        )
    _merge_schemas(schemas, _model_schemas(Problem, GatewayMessage), "the edge")

    ordered_paths = {
        path: dict(sorted(paths[path].items(), key=lambda kv: METHOD_ORDER.index(kv[0])))
        for path in sorted(paths)
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": project_version(), "description": DESCRIPTION},
        "servers": SERVERS,
        "tags": sorted(tags.values(), key=lambda t: str(t["name"])),
        "paths": ordered_paths,
        "components": {
            "schemas": _reachable(schemas, ordered_paths),
            "parameters": {"IdempotencyKey": IDEMPOTENCY_KEY_PARAMETER}
            | (SIGNATURE_HEADERS if signed else {}),
            "headers": HEADERS | {"Retry-After": RETRY_AFTER},
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key (`make api-key TENANT=...`), sent as "
                    "`Authorization: Bearer <key>`.",
                }
            },
        },
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="openapi", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="default: openapi.json")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the file is not what would be written"
    )
    args = parser.parse_args(argv)
    text = render(build_document())
    output: Path = args.output
    if args.check:
        current = output.read_text() if output.exists() else ""
        if current != text:
            print(f"{output} is stale: run 'make openapi'", file=sys.stderr)
            return 1
        print(f"{output} is up to date")
        return 0
    output.write_text(text)
    document = json.loads(text)
    count = sum(len(methods) for methods in document["paths"].values())
    print(f"wrote {output} ({count} operations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
