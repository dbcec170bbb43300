"""openapi.json: up to date with the functions' resolvers, valid OpenAPI 3.1, and complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation.validators import OpenAPIV31SpecValidator

from local.template import ROOT, Template
from tools import openapi

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.build_document()


def test_the_checked_in_document_is_up_to_date(document: dict[str, Any]) -> None:
    checked_in = (ROOT / "openapi.json").read_text()
    assert checked_in == openapi.render(document), "openapi.json is stale: run 'make openapi'"


def test_it_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)  # raises when invalid


def test_every_template_route_is_documented(document: dict[str, Any]) -> None:
    for route in Template().routes():
        operation = document["paths"][route.path][route.method.lower()]
        authorized = route.authorizer is not None
        assert (operation.get("security") == [{"apiKey": []}]) is authorized, route.route_key
        has_key = {"$ref": "#/components/parameters/IdempotencyKey"} in operation.get(
            "parameters", []
        )
        # Every POST behind the authorizer, but an approval (a decision is recorded once).
        keyed = route.route_key != "POST /agent/runs/{runId}/approvals/{approvalId}"
        assert has_key is (authorized and route.method == "POST" and keyed), route.route_key
        assert "200" in operation["responses"] or "202" in operation["responses"]
        assert "500" in operation["responses"]
        if authorized:
            assert {"401", "403"} <= set(operation["responses"])


def codes(operation: dict[str, Any], status: str) -> set[str]:
    media = operation["responses"][status]["content"]["application/problem+json"]
    assert media["schema"] == {"$ref": "#/components/schemas/Problem"}
    return set(media["examples"])


def test_the_contract_status_codes_are_documented(document: dict[str, Any]) -> None:
    generate = document["paths"]["/generate"]["post"]
    assert codes(generate, "400") == {"idempotency_key_required", "idempotency_key_invalid"}
    assert codes(generate, "409") == {"idempotency_key_in_use"}
    assert codes(generate, "413") == {"payload_too_large"}
    assert codes(generate, "415") == {"unsupported_media_type"}
    assert codes(generate, "422") == {
        "validation_error",
        "model_not_allowed",
        "idempotency_key_reused",
    }
    assert codes(generate, "502") == {"llm_error"}
    assert codes(generate, "503") == {"storage_unavailable"}
    assert codes(generate, "504") == {"llm_timeout"}
    assert generate["responses"]["409"]["headers"]["Retry-After"]

    transfer = document["paths"]["/transfer"]["post"]
    assert "insufficient_funds" in codes(transfer, "400")
    assert codes(transfer, "404") == {"account_not_found"}
    assert {"currency_mismatch", "same_account"} <= codes(transfer, "422")
    # A business rejection is stored, so it may be a replay: it documents the replay headers.
    assert "Idempotent-Replayed" in transfer["responses"]["404"]["headers"]

    # An agent run's failures are in the run (status failed, error.code), not HTTP errors.
    agent = document["paths"]["/agent/runs"]["post"]
    assert "202" in agent["responses"]
    assert "504" not in agent["responses"]
    run = document["paths"]["/agent/runs/{runId}"]
    assert codes(run["get"], "404") == {"run_not_found"}
    assert codes(document["paths"]["/agent/runs/{runId}/resume"]["post"], "409") >= {
        "run_not_resumable"
    }
    approval = document["paths"]["/agent/runs/{runId}/approvals/{approvalId}"]["post"]
    assert codes(approval, "409") == {"approval_already_decided"}
    assert codes(approval, "404") == {"run_not_found"}
    assert codes(document["paths"]["/accounts/{accountId}"]["get"], "404") == {"account_not_found"}
    assert codes(document["paths"]["/transfers/{transferId}"]["get"], "404") == {
        "transfer_not_found"
    }


def test_bodies_and_responses_come_from_the_pydantic_models(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    generate = document["paths"]["/generate"]["post"]
    body = generate["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/GenerateRequest"}
    assert schemas["GenerateRequest"]["additionalProperties"] is False
    assert set(schemas["GenerateRequest"]["properties"]) == {
        "prompt",
        "model",
        "temperature",
        "maxTokens",
    }
    ok = generate["responses"]["200"]
    assert ok["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GenerateResponse"
    }
    assert "costUsd" in schemas["GenerateResponse"]["properties"]
    assert {"Idempotent-Replayed", "X-Original-Request-Time"} <= set(ok["headers"])
    refs = json.dumps(document)
    for name in schemas:
        assert f'"#/components/schemas/{name}"' in refs, f"{name} is unused"


def test_the_document_is_deterministic(document: dict[str, Any]) -> None:
    assert openapi.render(openapi.build_document()) == openapi.render(document)


# --- routes added later are picked up without editing tools/openapi.py ---------------------

EXTRA_APP = """
from typing import Any

from retryproof import http
from retryproof.shapes import Param, Spec

app = http.Api()


@app.get("/things/{thingId}", operation_id="getThing", summary="a thing", responses={},
         params=(Param("thingId", "path", spec=Spec(max_length=10)),))
def thing(request: http.Request[None]) -> http.Response:
    return http.json_response(200, {"thingId": request.params["thingId"]})


@app.post("/things", operation_id="createThing", summary="a new thing", responses={})
def create(request: http.Request[None]) -> http.Response:
    return http.json_response(200, {})


def lambda_handler(event: Any, context: Any) -> Any:
    return app.resolve(event, context)
"""


def template_with(tmp_path: Path, events: dict[str, Any]) -> Template:
    code = tmp_path / "extra"
    code.mkdir()
    (code / "app.py").write_text(EXTRA_APP)
    auth = {
        "DefaultAuthorizer": "ApiKeyAuthorizer",
        "Authorizers": {
            "ApiKeyAuthorizer": {
                "FunctionArn": {"Fn::GetAtt": ["AuthorizerFunction", "Arn"]},
                "Identity": {"Headers": ["Authorization"]},
            }
        },
    }
    doc = {
        "Resources": {
            "HttpApi": {"Type": "AWS::Serverless::HttpApi", "Properties": {"Auth": auth}},
            "ExtraFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Description": "things",
                    "CodeUri": str(code),
                    "Handler": "app.lambda_handler",
                    "Events": events,
                },
            },
        }
    }
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(doc))
    return Template(path)


def event(path: str, method: str, **props: Any) -> dict[str, Any]:
    return {"Type": "HttpApi", "Properties": {"Path": path, "Method": method, **props}}


def test_a_new_route_is_picked_up(tmp_path: Path) -> None:
    template = template_with(
        tmp_path,
        {
            "Get": event("/things/{thingId}", "GET"),
            "Create": event("/things", "POST", Auth={"Authorizer": "NONE"}),
        },
    )
    document = openapi.build_document(template)
    get = document["paths"]["/things/{thingId}"]["get"]
    assert get["security"] == [{"apiKey": []}]
    assert get["tags"] == ["Extra"]
    assert get["parameters"][0]["name"] == "thingId"
    assert codes(get, "422") == {"validation_error"}
    post = document["paths"]["/things"]["post"]
    assert "security" not in post  # no authorizer: no bearer scheme, no Idempotency-Key
    assert "parameters" not in post
    validate(document, cls=OpenAPIV31SpecValidator)


def test_a_template_route_without_a_handler_route_is_an_error(tmp_path: Path) -> None:
    template = template_with(tmp_path, {"Missing": event("/nowhere", "GET")})
    with pytest.raises(openapi.OpenApiError, match="GET /nowhere"):
        openapi.build_document(template)


def test_check_mode_reports_a_stale_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n")
    assert openapi.main(["--check", "--output", str(stale)]) == 1
    assert "stale" in capsys.readouterr().err
    assert openapi.main(["--output", str(stale)]) == 0
    assert openapi.main(["--check", "--output", str(stale)]) == 0
