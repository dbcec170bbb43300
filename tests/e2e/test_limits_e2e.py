"""Fair shares over HTTP (docs/limits.md): the local stack with a low per-tenant request limit;
one tenant floods, the other's requests in the same window are answered."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.e2e.conftest import ACME_KEY, GLOBEX_KEY, LocalApi, start_stack, stop_stack
from tests.support.client import Reply

pytestmark = pytest.mark.e2e

LIMIT, SHARDS, WINDOW_S = 5, 2, 3600
PER_WINDOW = SHARDS * -(-LIMIT // SHARDS)  # the most a flooding tenant gets per window: 6


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    log = tmp_path_factory.mktemp("limits") / "local.log"
    api = start_stack(
        log,
        TENANT_RATE_LIMIT=str(LIMIT),
        TENANT_RATE_SHARDS=str(SHARDS),
        TENANT_RATE_WINDOW_SECONDS=str(WINDOW_S),
    )
    yield api
    assert stop_stack(api) == 0, log.read_text()[-2000:]


def test_a_flood_from_one_tenant_leaves_another_tenants_requests_answered(
    limited: LocalApi,
) -> None:
    before = limited.llm.completions

    def send(key: str) -> tuple[str, Reply]:
        reply = limited.call(
            "POST",
            "/generate",
            key=key,
            idempotency_key=str(uuid.uuid4()),
            body={"prompt": "Fair shares, please."},
        )
        return key, reply

    # acme floods (20 at once, 8 in flight); globex's 3 requests go out in the middle of it.
    senders = [ACME_KEY] * 20
    for at in (4, 10, 16):
        senders.insert(at, GLOBEX_KEY)
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(send, senders))

    acme = [r for k, r in replies if k == ACME_KEY]
    globex = [r for k, r in replies if k == GLOBEX_KEY]
    assert [r.status for r in globex] == [200, 200, 200], [r.text for r in globex]
    admitted = [r for r in acme if r.status == 200]
    refused = [r for r in acme if r.status != 200]
    # One window: 6 at most; two if the flood straddled a window's end.
    assert 1 <= len(admitted) <= 2 * PER_WINDOW
    assert len(refused) >= 20 - 2 * PER_WINDOW
    for reply in refused:
        assert reply.status == 429, reply.text
        assert reply.header("Content-Type") == "application/problem+json"
        assert reply.json["code"] == "rate_limited"
        retry_after = reply.header("Retry-After")
        assert retry_after is not None
        assert 1 <= int(retry_after) <= WINDOW_S
    # The fake LLM served exactly the admitted requests: a refusal pays for nothing.
    assert limited.llm.completions == before + len(admitted) + 3


def test_the_default_local_stack_does_not_throttle_a_burst(api: LocalApi) -> None:
    """The session's stack (the local defaults, local/stack.py): a burst of 40 is answered."""
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: api.call("GET", "/usage").status, range(40)))
    assert statuses == [200] * 40
