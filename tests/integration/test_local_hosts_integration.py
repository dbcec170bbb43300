"""The local Lambda API (what the durable runner and `Invoke` reach) refuses other host names
(DNS rebinding, local/hosts.py): a rebound page cannot start functions."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest

from local.hosts import MISDIRECTED
from local.lambda_service import LambdaService

pytestmark = pytest.mark.integration


def _post(port: int, path: str, host: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.putrequest("POST", path, skip_host=True)
        conn.putheader("Host", host)
        conn.putheader("Content-Length", "2")
        conn.endheaders(b"{}")
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def test_the_lambda_api_refuses_other_host_names(tmp_path: Path) -> None:
    service = LambdaService({}, "http://127.0.0.1:9", tmp_path).start()
    try:
        path = "/2015-03-31/functions/retryproof-local-generate/invocations"
        for host in (
            "evil.example",
            f"evil.example:{service.port}",
            f"127.0.0.1:{service.port + 1}",
        ):
            assert _post(service.port, path, host) == MISDIRECTED, host
        # Its own name reaches the service: an unknown function is Lambda's 404.
        assert _post(service.port, path, f"127.0.0.1:{service.port}") == 404
    finally:
        service.stop()
