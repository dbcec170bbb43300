"""Problem details (RFC 9457 + code), the HTTP precheck, outcome responses and the error map."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from retryproof.errors import IdempotencyKeyInUse, IdempotencyKeyReused, problem_body
from retryproof.http import (
    MAX_BODY_BYTES,
    Api,
    Request,
    Response,
    json_response,
    precheck,
)
from retryproof.idempotent_http import outcome_response
from retryproof.models.generate import GenerateRequest
from retryproof.models.outcome import StoredOutcome
from retryproof.shapes import Param, Spec

pytestmark = pytest.mark.unit

PROBLEM = "application/problem+json"
TIME = "2025-01-02T03:04:05.678Z"


def test_problem_shape() -> None:
    assert IdempotencyKeyReused("use a new key").problem() == {
        "type": "https://retryproof.dev/problems/idempotency-key-reused",
        "title": "The Idempotency-Key was already used with a different request body",
        "status": 422,
        "code": "idempotency_key_reused",
        "detail": "use a new key",
    }


def test_problem_detail_defaults_to_title_and_keeps_extra_members_and_headers() -> None:
    err = IdempotencyKeyInUse(headers={"Retry-After": "1"}, extra={"retryAfter": 1})
    body = err.problem()
    assert body["detail"] == body["title"] == str(err)
    assert (body["status"], body["code"], body["retryAfter"]) == (409, "idempotency_key_in_use", 1)
    assert err.headers == {"Retry-After": "1"}
    assert problem_body(400, "a_b_c", "T", "D", x=[1]) == {
        "type": "https://retryproof.dev/problems/a-b-c",
        "title": "T",
        "status": 400,
        "code": "a_b_c",
        "detail": "D",
        "x": [1],
    }


def event(
    body: str | None, content_type: str | None = "application/json", b64: bool = False
) -> dict[str, Any]:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    return {"headers": headers, "body": body, "isBase64Encoded": b64}


def problem_of(result: Response | None) -> tuple[int, str]:
    assert result is not None
    response = result.to_event()
    assert response["headers"] == {"Content-Type": PROBLEM}
    body = json.loads(response["body"])
    assert body["status"] == response["statusCode"]
    return response["statusCode"], body["code"]


def test_body_over_256_kib_is_413_measured_in_bytes() -> None:
    assert precheck(event("x" * MAX_BODY_BYTES)) is None
    assert problem_of(precheck(event("x" * (MAX_BODY_BYTES + 1)))) == (413, "payload_too_large")
    # 131_073 characters are 262_146 UTF-8 bytes
    assert problem_of(precheck(event("é" * (MAX_BODY_BYTES // 2 + 1))))[0] == 413


def test_base64_body_size_is_measured_decoded() -> None:
    # Given a body whose base64 text is over the limit but whose bytes are not
    raw = b"x" * MAX_BODY_BYTES
    assert precheck(event(base64.b64encode(raw).decode(), b64=True)) is None
    too_big = base64.b64encode(raw + b"x").decode()
    assert problem_of(precheck(event(too_big, b64=True))) == (413, "payload_too_large")


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "text/json", "application/jsonx"],
)
def test_non_json_body_is_415(content_type: str) -> None:
    assert problem_of(precheck(event('{"a": 1}', content_type))) == (415, "unsupported_media_type")
    assert problem_of(precheck({"headers": {"CONTENT-TYPE": content_type}, "body": "x"}))[0] == 415


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json", None],
)
def test_json_body_passes(content_type: str | None) -> None:
    assert precheck(event('{"a": 1}', content_type)) is None


def test_no_body_passes_whatever_the_content_type() -> None:
    assert precheck(event(None, "text/plain")) is None
    assert precheck(event("", "text/plain")) is None
    assert precheck({"headers": None}) is None


def test_first_outcome_has_only_the_original_time_header() -> None:
    resp = outcome_response(
        StoredOutcome(status=200, body='{"id": "x"}', original_request_time=TIME)
    )
    assert (resp.status, resp.body, resp.content_type) == (200, '{"id": "x"}', "application/json")
    assert resp.headers == {"X-Original-Request-Time": TIME}


def test_replayed_outcome_has_replay_headers() -> None:
    outcome = StoredOutcome(
        status=200, body='{"id": "x"}', original_request_time=TIME, replayed=True
    )
    resp = outcome_response(outcome)
    assert resp.body == '{"id": "x"}'
    assert resp.headers == {
        "X-Original-Request-Time": TIME,
        "Idempotent-Replayed": "true",
        "X-Idempotency-Replayed": "true",
        "X-From-Cache": "true",
    }


@pytest.mark.parametrize(
    ("status", "content_type"), [(399, "application/json"), (400, PROBLEM), (422, PROBLEM)]
)
def test_stored_rejection_is_problem_json(status: int, content_type: str) -> None:
    resp = outcome_response(StoredOutcome(status=status, body="{}", original_request_time=TIME))
    assert (resp.status, resp.to_event()["headers"]["Content-Type"]) == (status, content_type)


app = Api()


@app.get("/boom", operation_id="boom", summary="fails", responses={})
def _boom(request: Request[None]) -> Response:
    raise RuntimeError("secret-internal-detail at /var/task/app.py")


@app.post("/generate", operation_id="g", summary="echo", body=GenerateRequest, responses={})
def _generate(request: Request[GenerateRequest]) -> Response:
    return json_response(200, {"prompt": request.body.prompt})


@app.get(
    "/items/{itemId}",
    operation_id="item",
    summary="params",
    params=(
        Param("itemId", "path", spec=Spec(min_length=1, max_length=8)),
        Param("limit", "query", int, Spec(ge=1, le=100), required=False, default=20),
    ),
    responses={},
)
def _item(request: Request[None]) -> Response:
    return json_response(200, dict(request.params), headers={"X-Item": request.params["itemId"]})


def v2_event(method: str, path: str, body: str | None = None) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": f"{method} {path}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": method, "path": path}, "stage": "$default"},
        "isBase64Encoded": False,
        "body": body,
    }


def test_unexpected_exception_reveals_nothing_internal() -> None:
    resp = app.resolve(v2_event("GET", "/boom"), None)
    assert resp["statusCode"] == 500
    assert resp["headers"]["Content-Type"] == PROBLEM
    assert json.loads(resp["body"])["code"] == "internal_error"
    assert "secret" not in resp["body"]
    assert "RuntimeError" not in resp["body"]


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ('{"prompt": "hi", "extra": 1}', ["extra"]),
        ('{"prompt": "", "maxTokens": 5000}', ["maxTokens", "prompt"]),
    ],
)
def test_invalid_body_is_422_naming_the_fields(body: str, fields: list[str]) -> None:
    resp = app.resolve(v2_event("POST", "/generate", body), None)
    problem = json.loads(resp["body"])
    assert (resp["statusCode"], problem["code"]) == (422, "validation_error")
    assert problem["detail"] == "invalid fields: " + ", ".join(fields)
    assert sorted({e["field"] for e in problem["errors"]}) == fields


def test_non_json_body_is_422_saying_so() -> None:
    resp = app.resolve(v2_event("POST", "/generate", "not json"), None)
    problem = json.loads(resp["body"])
    assert (resp["statusCode"], problem["code"]) == (422, "validation_error")
    assert problem["detail"] == "the body is not valid JSON"


def test_non_object_and_missing_bodies_are_422_naming_the_body() -> None:
    for body in ("[1, 2]", "null", None, ""):
        resp = app.resolve(v2_event("POST", "/generate", body), None)
        problem = json.loads(resp["body"])
        assert (resp["statusCode"], problem["code"], problem["detail"]) == (
            422,
            "validation_error",
            "invalid fields: body",
        ), body


def test_valid_body_reaches_the_handler_as_its_shape() -> None:
    resp = app.resolve(v2_event("POST", "/generate", '{"prompt": "hi"}'), None)
    assert (resp["statusCode"], json.loads(resp["body"])) == (200, {"prompt": "hi"})
    assert resp["headers"] == {"Content-Type": "application/json"}
    assert resp["isBase64Encoded"] is False


def item_event(item: str, query: dict[str, str] | None = None, route_key: bool = True) -> Any:
    ev = v2_event("GET", f"/items/{item}")
    ev["routeKey"] = "GET /items/{itemId}" if route_key else "$default"
    ev["pathParameters"] = {"itemId": item} if route_key else None
    ev["queryStringParameters"] = query
    return ev


@pytest.mark.parametrize("route_key", [True, False])
def test_path_and_query_parameters_are_parsed(route_key: bool) -> None:
    # Given the event's routeKey, or only its method and raw path (a `$default` route)
    resp = app.resolve(item_event("abc", {"limit": "7"}, route_key), None)
    assert (resp["statusCode"], json.loads(resp["body"])) == (200, {"itemId": "abc", "limit": 7})
    assert resp["headers"]["X-Item"] == "abc"
    defaulted = app.resolve(item_event("abc", None, route_key), None)
    assert json.loads(defaulted["body"]) == {"itemId": "abc", "limit": 20}


@pytest.mark.parametrize(
    ("item", "query", "fields"),
    [
        ("abcdefghi", None, ["path.itemId"]),
        ("a", {"limit": "x"}, ["query.limit"]),
        ("a", {"limit": "0"}, ["query.limit"]),
        ("a", {"limit": "1.5"}, ["query.limit"]),
        ("abcdefghi", {"limit": "101"}, ["path.itemId", "query.limit"]),
    ],
)
def test_invalid_parameters_are_422_naming_them(
    item: str, query: dict[str, str] | None, fields: list[str]
) -> None:
    resp = app.resolve(item_event(item, query), None)
    problem = json.loads(resp["body"])
    assert (resp["statusCode"], problem["code"]) == (422, "validation_error")
    assert sorted({e["field"] for e in problem["errors"]}) == fields


def test_unknown_route_is_404_problem() -> None:
    resp = app.resolve(v2_event("DELETE", "/generate"), None)
    assert (resp["statusCode"], json.loads(resp["body"])["code"]) == (404, "not_found")


def test_resolve_prechecks_size_and_media_type_before_routing() -> None:
    ev = v2_event("POST", "/generate", '{"prompt": "hi"}')
    ev["headers"] = {"content-type": "text/plain"}
    assert app.resolve(ev, None)["statusCode"] == 415
    ev = v2_event("POST", "/generate", "x" * (MAX_BODY_BYTES + 1))
    assert app.resolve(ev, None)["statusCode"] == 413


def test_openapi_describes_routes_parameters_and_shapes() -> None:
    doc = app.openapi()
    item = doc["paths"]["/items/{itemId}"]["get"]
    assert item["operationId"] == "item"
    assert [(p["name"], p["in"], p["required"]) for p in item["parameters"]] == [
        ("itemId", "path", True),
        ("limit", "query", False),
    ]
    assert item["parameters"][1]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 20,
    }
    generate = doc["paths"]["/generate"]["post"]
    assert generate["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GenerateRequest"
    }
    schema = doc["components"]["schemas"]["GenerateRequest"]
    assert schema["required"] == ["prompt"]
    assert schema["additionalProperties"] is False


@pytest.mark.parametrize("body", ["[" * 100_000, '\x00{\x00"\x00a\x00"\x00:\x001\x00}', "\ufeff{}"])
def test_deeply_nested_or_non_utf8_json_is_422_not_json(body: str) -> None:
    # Nested too deep for the parser, UTF-16 that json.loads(bytes) would guess, a BOM
    resp = app.resolve(v2_event("POST", "/generate", body), None)
    problem = json.loads(resp["body"])
    assert (resp["statusCode"], problem["detail"]) == (422, "the body is not valid JSON")


def test_null_request_context_is_a_problem_not_a_crash() -> None:
    ev = item_event("abc", route_key=False)
    ev["requestContext"] = None
    assert app.resolve(ev, None)["statusCode"] == 404  # no method to route by
    ev = v2_event("POST", "/generate", '{"prompt": "p"}')
    ev["requestContext"] = {"authorizer": None}
    assert http_tenant_status(ev) == 401


def http_tenant_status(event: dict[str, Any]) -> int:
    tenant_app = Api()

    @tenant_app.post("/generate", operation_id="t", summary="t", body=GenerateRequest, responses={})
    def _tenant(request: Request[GenerateRequest]) -> Response:
        return json_response(200, {"tenant": request.tenant_id})

    return int(tenant_app.resolve(event, None)["statusCode"])


def test_path_parameters_matched_from_the_raw_path_are_decoded() -> None:
    resp = app.resolve(item_event("a%20b", route_key=False), None)
    assert json.loads(resp["body"])["itemId"] == "a b"
