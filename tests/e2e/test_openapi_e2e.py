"""The local stack serves the OpenAPI document and Swagger UI; real answers match the document."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tests.e2e.conftest import ROOT, LocalApi
from tests.support.client import call

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def document(api: LocalApi) -> dict[str, Any]:
    reply = call("GET", f"{api.url}/openapi.json")
    assert reply.status == 200
    assert (reply.header("Content-Type") or "").startswith("application/json")
    doc: dict[str, Any] = reply.json
    return doc


def test_the_document_is_the_checked_in_one_with_this_stack_as_first_server(
    api: LocalApi, document: dict[str, Any]
) -> None:
    checked_in = json.loads((ROOT / "openapi.json").read_text())
    assert document["servers"][0]["url"] == api.url
    assert document["servers"][1:] == checked_in["servers"]
    assert {k: v for k, v in document.items() if k != "servers"} == {
        k: v for k, v in checked_in.items() if k != "servers"
    }


def test_swagger_ui_is_served_without_a_cdn(api: LocalApi) -> None:
    page = call("GET", f"{api.url}/docs")
    assert page.status == 200
    assert (page.header("Content-Type") or "").startswith("text/html")
    assert "SwaggerUIBundle" in page.text
    assert "/docs/swagger-ui-bundle.min.js" in page.text
    assert '"openapi": "3.1.0"' in page.text  # the document is embedded
    assert "https://" not in page.text.split("<body>")[0]  # no CDN in the head
    for asset, kind in (("swagger-ui-bundle.min.js", "javascript"), ("swagger-ui.min.css", "css")):
        reply = call("GET", f"{api.url}/docs/{asset}")
        assert reply.status == 200
        assert kind in (reply.header("Content-Type") or "")
        assert len(reply.text) > 10_000
    assert call("GET", f"{api.url}/docs?format=json").json["openapi"] == "3.1.0"
    assert call("HEAD", f"{api.url}/openapi.json").status == 200
    assert call("GET", f"{api.url}/docs/nope.js").status == 404
    assert call("POST", f"{api.url}/openapi.json", body={}).status == 404


def conforms(document: dict[str, Any], path: str, method: str, status: int, body: Any) -> None:
    """The body validates against the schema the document gives for that answer."""
    response = document["paths"][path][method]["responses"][str(status)]
    media = next(iter(response["content"].values()))
    schema = {**media["schema"], "components": document["components"]}
    errors = list(Draft202012Validator(schema).iter_errors(body))
    assert not errors, f"{method.upper()} {path} {status}: {errors[0].message}"


def test_real_answers_match_the_documented_schemas(api: LocalApi, document: dict[str, Any]) -> None:
    key = str(uuid.uuid4())
    generated = api.call("POST", "/generate", idempotency_key=key, body={"prompt": "Hi there."})
    assert generated.status == 200
    conforms(document, "/generate", "post", 200, generated.json)
    for header in ("X-Original-Request-Time",):
        assert header in document["paths"]["/generate"]["post"]["responses"]["200"]["headers"]

    usage = api.call("GET", f"/usage?idempotencyKey={key}")
    conforms(document, "/usage", "get", 200, usage.json)

    missing = api.call("POST", "/generate", body={"prompt": "Hi there."})
    assert missing.status == 400
    conforms(document, "/generate", "post", 400, missing.json)
    invalid = api.call("POST", "/generate", idempotency_key=str(uuid.uuid4()), body={"x": 1})
    assert invalid.status == 422
    conforms(document, "/generate", "post", 422, invalid.json)

    transfer_body = {
        "fromAccountId": "acc_acme_main",
        "toAccountId": "acc_acme_ops",
        "amount": 3,
        "currency": "USD",
    }
    transfer = api.call("POST", "/transfer", idempotency_key=str(uuid.uuid4()), body=transfer_body)
    assert transfer.status == 200
    conforms(document, "/transfer", "post", 200, transfer.json)
    ledger = api.call("GET", f"/transfers/{transfer.json['transferId']}")
    conforms(document, "/transfers/{transferId}", "get", 200, ledger.json)
    account = api.call("GET", "/accounts/acc_acme_main")
    conforms(document, "/accounts/{accountId}", "get", 200, account.json)
    absent = api.call("GET", "/accounts/acc_nope")
    assert absent.status == 404
    conforms(document, "/accounts/{accountId}", "get", 404, absent.json)

    unauthorized = api.call("GET", "/usage", key=None)
    assert unauthorized.status == 401
    conforms(document, "/usage", "get", 401, unauthorized.json)

    run = api.call(
        "POST",
        "/agent/runs",
        idempotency_key=str(uuid.uuid4()),
        body={"input": "Say hello.", "tools": ["get_balance"]},
    )
    assert run.status == 200
    conforms(document, "/agent/runs", "post", 200, run.json)
