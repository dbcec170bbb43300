"""Smoke tier: the idempotency checks against any running stack, given a URL and an API key.

    make smoke URL=https://<api id>.execute-api.<region>.amazonaws.com API_KEY=rp_live_...
    make smoke URL=... API_KEY=... FROM_ACCOUNT=acc_a TO_ACCOUNT=acc_b   # also a 1-cent transfer

Environment: SMOKE_URL, SMOKE_API_KEY, and optionally SMOKE_FROM_ACCOUNT / SMOKE_TO_ACCOUNT (two
accounts of the key's tenant in one currency, the first holding a few cents). Without SMOKE_URL
every test here is skipped. `make test` runs this suite against the local stack
(tests/e2e/test_smoke_e2e.py).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import pytest

from tests.support.client import Reply, call

RETRYABLE = (409, 429, 500, 502, 503, 504)


@dataclass(frozen=True)
class Target:
    url: str
    api_key: str
    from_account: str | None
    to_account: str | None

    def call(
        self,
        method: str,
        path: str,
        *,
        api_key: str | None = "",
        idempotency_key: str | None = None,
        body: object = None,
    ) -> Reply:
        headers: dict[str, str] = {}
        key = self.api_key if api_key == "" else api_key
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return call(method, f"{self.url}{path}", body=body, headers=headers, timeout=60)

    def post_settled(self, path: str, idempotency_key: str, body: object) -> Reply:
        """POST, retried with the same key while the answer is 409/429/5xx (a deployed LLM may
        fail now and then): what a correct client does. The last answer is returned."""
        reply = self.call("POST", path, idempotency_key=idempotency_key, body=body)
        for delay in (1, 2, 4):
            if reply.status not in RETRYABLE:
                break
            time.sleep(delay)
            reply = self.call("POST", path, idempotency_key=idempotency_key, body=body)
        return reply


@pytest.fixture(scope="session")
def target() -> Target:
    url = os.environ.get("SMOKE_URL", "").strip().rstrip("/")
    if not url:
        pytest.skip("SMOKE_URL is not set: make smoke URL=<ApiUrl> API_KEY=<key>")
    api_key = os.environ.get("SMOKE_API_KEY", "").strip()
    if not api_key:
        pytest.fail("SMOKE_API_KEY is required with SMOKE_URL")
    return Target(
        url=url,
        api_key=api_key,
        from_account=os.environ.get("SMOKE_FROM_ACCOUNT", "").strip() or None,
        to_account=os.environ.get("SMOKE_TO_ACCOUNT", "").strip() or None,
    )
