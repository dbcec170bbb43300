"""Small hardening points of issue 19, over the local stack: bounded problem bodies and local
servers that answer only to their own host name (DNS rebinding)."""

from __future__ import annotations

import http.client
import json
import uuid
from urllib.parse import urlsplit

import boto3
import pytest

from local.emulator import STATS_PATH
from local.hosts import MISDIRECTED
from local.template import physical_name
from retryproof.dal.api_keys import hash_api_key
from retryproof.dal.usage import TOTAL_PREFIX
from retryproof.errors import MAX_FIELD_CHARS, MAX_LISTED_ERRORS
from retryproof.http import MAX_BODY_BYTES
from tests.e2e.conftest import LocalApi

pytestmark = pytest.mark.e2e

# A 422 is a few KiB whatever the body: never 8 times the body, as a listing of every unknown field.
MAX_PROBLEM_BYTES = 8 * 1024


def _unknown_fields_body() -> bytes:
    """Just under the 256 KiB limit, made of unknown fields only (tens of thousands)."""
    fields, size, n = [], 2, 0
    while True:
        item = f'"f{n}":0'
        if size + len(item) + 1 > MAX_BODY_BYTES - 64:
            break
        fields.append(item)
        size += len(item) + 1
        n += 1
    return ("{" + ",".join(fields) + "}").encode()


def test_a_body_of_unknown_fields_gets_a_small_422(api: LocalApi) -> None:
    raw = _unknown_fields_body()
    count = raw.count(b":")
    assert count > 20_000
    assert len(raw) <= MAX_BODY_BYTES
    reply = api.call("POST", "/generate", idempotency_key=str(uuid.uuid4()), raw=raw)
    assert reply.status == 422
    assert len(reply.text.encode()) < MAX_PROBLEM_BYTES, len(reply.text.encode())
    problem = reply.json
    assert problem["code"] == "validation_error"
    assert len(problem["errors"]) == MAX_LISTED_ERRORS
    omitted = count + 1 - MAX_LISTED_ERRORS  # every unknown field, and the missing prompt
    assert problem["errorsOmitted"] == omitted
    assert problem["errors"][0] == {"field": "f0", "message": "Extra inputs are not permitted"}
    assert problem["detail"].endswith(f" and {omitted} more")


def test_a_huge_field_name_is_cut_in_the_422(api: LocalApi) -> None:
    name = "x" * (MAX_BODY_BYTES - 100)
    raw = json.dumps({"prompt": "hi", name: 1}).encode()
    reply = api.call("POST", "/generate", idempotency_key=str(uuid.uuid4()), raw=raw)
    assert reply.status == 422
    assert len(reply.text.encode()) < MAX_PROBLEM_BYTES, len(reply.text.encode())
    (error,) = reply.json["errors"]
    assert error["field"] == "x" * (MAX_FIELD_CHARS - 1) + "…"
    assert "errorsOmitted" not in reply.json


def test_a_key_of_a_total_prefixed_tenant_is_refused(api: LocalApi) -> None:
    """A key written straight into the table (before the rule, or by hand) for the tenant
    `TOTAL#acme`, whose usage records would share acme's running total's partition."""
    plaintext = f"rp_live_{uuid.uuid4().hex}"
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{api.emulator_port}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    item = {
        "keyHash": {"S": hash_api_key(plaintext)},
        "tenantId": {"S": f"{TOTAL_PREFIX}acme"},
        "status": {"S": "active"},
        "createdAt": {"S": "2026-12-01T00:00:00+00:00"},
    }
    dynamodb.put_item(TableName=physical_name("ApiKeysTable"), Item=item)
    assert api.call("GET", "/usage", key=plaintext).status == 403
    key = str(uuid.uuid4())
    body = {"prompt": "hi"}
    assert (
        api.call("POST", "/generate", key=plaintext, idempotency_key=key, body=body).status == 403
    )


def _get(port: int, path: str, host: str, headers: dict[str, str] | None = None) -> int:
    """GET with this Host header, as a browser sends it to a rebound name."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_local_servers_refuse_other_host_names(api: LocalApi) -> None:
    gateway = int(urlsplit(api.url).port or 0)
    llm = int(urlsplit(api.llm.root).port or 0)
    servers = {
        "api": (gateway, "/health"),
        "console": (gateway, "/console?tenant=acme"),
        "api route": (gateway, "/usage"),
        "emulator": (api.emulator_port, STATS_PATH),
        "fake llm": (llm, "/stats"),
    }
    for name, (port, path) in servers.items():
        for host in (
            f"evil.example:{port}",
            "evil.example",
            f"127.0.0.1.nip.example:{port}",
            f"localhost.evil.example:{port}",
            f"127.0.0.1:{port + 1}",
        ):
            assert _get(port, path, host) == MISDIRECTED, (name, host)
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "localhost"):
            assert _get(port, path, host) != MISDIRECTED, (name, host)
    # The emulator's Secrets Manager (a developer's OpenAI key) is out of a rebound page's
    # reach: the request never reaches moto.
    conn = http.client.HTTPConnection("127.0.0.1", api.emulator_port, timeout=30)
    try:
        body = json.dumps({"SecretId": "anything"})
        conn.putrequest("POST", "/", skip_host=True)
        for name, value in {
            "Host": f"rebound.example:{api.emulator_port}",
            "X-Amz-Target": "secretsmanager.GetSecretValue",
            "Content-Type": "application/x-amz-json-1.1",
            "Content-Length": str(len(body)),
        }.items():
            conn.putheader(name, value)
        conn.endheaders(body.encode())
        response = conn.getresponse()
        assert response.status == MISDIRECTED
        assert b"SecretString" not in response.read()
    finally:
        conn.close()
    # Served as before for the stack's own clients.
    assert api.call("GET", "/health").status == 200
