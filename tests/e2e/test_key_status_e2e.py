"""GET /idempotency-keys/{key} over HTTP: each state, each operation, never another tenant's key."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from retryproof_client import Client

from tests.e2e.conftest import ACME_KEY, GLOBEX_KEY, LocalApi, start_stack, stop_stack
from tests.support.client import Reply

pytestmark = pytest.mark.e2e

OPERATIONS = ("generate", "transfer", "agent_run")
TRANSFER = {"fromAccountId": "acc_acme_main", "toAccountId": "acc_acme_ops", "amount": 1,
            "currency": "USD"}  # fmt: skip
ROUTES: dict[str, tuple[str, dict[str, Any]]] = {
    "generate": ("/generate", {"prompt": "What happened to my key?"}),
    "transfer": ("/transfer", TRANSFER),
    "agent_run": ("/agent/runs", {"input": "Say hello.", "tools": ["get_balance"]}),
}


def send(api: LocalApi, operation: str, key: str) -> Reply:
    path, body = ROUTES[operation]
    return api.call("POST", path, idempotency_key=key, body=body)


def status(api: LocalApi, key: str, operation: str, api_key: str = ACME_KEY) -> dict[str, Any]:
    reply = api.call("GET", f"/idempotency-keys/{key}?operation={operation}", key=api_key)
    assert reply.status == 200, reply.text
    answer: dict[str, Any] = reply.json
    assert (answer["key"], answer["operation"]) == (key, operation)
    return answer


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@pytest.mark.parametrize("operation", OPERATIONS)
def test_unknown_then_completed_and_only_for_its_tenant(api: LocalApi, operation: str) -> None:
    key = str(uuid.uuid4())
    assert status(api, key, operation)["status"] == "unknown"

    first = send(api, operation, key)
    assert first.status == 200, first.text
    done = status(api, key, operation)

    assert done["status"] == "completed"
    assert done["responseStatus"] == 200
    assert done["originalRequestTime"] == first.header("X-Original-Request-Time")
    assert epoch(done["expiresAt"]) > time.time()
    # globex asking about acme's key: nothing, on every operation.
    for other in OPERATIONS:
        assert status(api, key, other, GLOBEX_KEY)["status"] == "unknown"


def test_a_stored_rejection_is_completed_with_its_status(api: LocalApi) -> None:
    key = str(uuid.uuid4())
    too_much = TRANSFER | {"amount": 10**11}
    rejected = api.call("POST", "/transfer", idempotency_key=key, body=too_much)
    assert (rejected.status, rejected.json["code"]) == (400, "insufficient_funds")
    done = status(api, key, "transfer")
    assert (done["status"], done["responseStatus"]) == ("completed", 400)


@pytest.mark.parametrize("operation", ["generate", "agent_run"])
def test_in_progress_while_the_llm_answers(api: LocalApi, operation: str) -> None:
    key = str(uuid.uuid4())
    api.llm.fault(delay_ms=4000)  # the first completion takes 4 s: the request stays in flight
    sent = time.time()
    replies: list[Reply] = []
    worker = threading.Thread(target=lambda: replies.append(send(api, operation, key)))
    worker.start()
    try:
        seen = status(api, key, operation)
        deadline = time.monotonic() + 30
        while seen["status"] == "unknown" and time.monotonic() < deadline:
            time.sleep(0.05)  # until the claim is written
            seen = status(api, key, operation)
        assert seen["status"] == "in_progress", seen
        # The lease ends when the invocation would time out (60 s generate, 120 s agent).
        assert epoch(seen["leaseExpiresAt"]) > sent
        assert set(seen) == {"key", "operation", "status", "leaseExpiresAt"}
        assert status(api, key, operation, GLOBEX_KEY)["status"] == "unknown"
    finally:
        worker.join(timeout=60)
    assert len(replies) == 1
    assert replies[0].status == 200, replies[0].text
    after = status(api, key, operation)
    assert after["status"] == "completed"
    assert after["originalRequestTime"] == replies[0].header("X-Original-Request-Time")


@pytest.mark.parametrize("operation", [None, "webhook"])
def test_an_operation_is_required(api: LocalApi, operation: str | None) -> None:
    query = f"?operation={operation}" if operation else ""
    reply = api.call("GET", f"/idempotency-keys/k-1{query}")
    assert reply.status == 422
    assert reply.json["code"] == "validation_error"
    assert reply.header("Content-Type") == "application/problem+json"


def test_the_route_needs_an_api_key(api: LocalApi) -> None:
    assert api.call("GET", "/idempotency-keys/k-1?operation=generate", key=None).status == 401


def test_the_python_client_says_when_to_retry(api: LocalApi) -> None:
    client = Client(api.url, ACME_KEY)
    done = client.transfer("acc_acme_main", "acc_acme_ops", 1, "USD")

    known = client.key_status(str(done.idempotency_key), "transfer").data
    unknown = client.key_status(str(uuid.uuid4()), "transfer").data

    assert (known.status, known.response_status) == ("completed", 200)
    assert known.original_request_time == done.original_request_time
    assert known.retry_in() is None  # done: a retry would only replay
    assert (unknown.status, unknown.retry_in()) == ("unknown", 0.0)


# --- a stack of its own: transfers die after their commit, short windows for the others -------


@pytest.fixture(scope="module")
def crashing(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    log = tmp_path_factory.mktemp("crashing") / "local.log"
    stack = start_stack(
        log,
        RETRYPROOF_CRASH_POINTS="transfer.after_commit",
        IDEMPOTENCY_TTL_GENERATE="1",
        IDEMPOTENCY_TTL_AGENT="1",
    )
    yield stack
    stop_stack(stack)


def test_a_transfer_that_died_after_moving_money_is_in_progress(crashing: LocalApi) -> None:
    key = str(uuid.uuid4())
    before = crashing.call("GET", "/accounts/acc_acme_ops").json["balance"]
    sent = time.time()

    died = send(crashing, "transfer", key)

    assert died.status == 500  # the function died; its claim stays leased
    assert crashing.call("GET", "/accounts/acc_acme_ops").json["balance"] == before + 1
    seen = status(crashing, key, "transfer")
    assert seen["status"] == "in_progress"
    # The lease: until the dead invocation would have timed out (TransferFunction: 15 s).
    assert sent + 15 - 2 <= epoch(seen["leaseExpiresAt"]) <= time.time() + 15 + 1
    assert status(crashing, key, "transfer", GLOBEX_KEY)["status"] == "unknown"


# A record lives at least as long as its function's lease (the agent API's 29 s timeout; the
# generate function's 60 s, checked in the integration tier with a shorter timeout).
@pytest.mark.parametrize("operation", ["agent_run"])
def test_past_the_window_the_durable_record_answers(crashing: LocalApi, operation: str) -> None:
    key = str(uuid.uuid4())
    first = send(crashing, operation, key)
    assert first.status == 200, first.text
    expires = status(crashing, key, operation)["expiresAt"]
    time.sleep(max(0.0, epoch(expires) - time.time()) + 1.1)  # the 1 s window, raised to a lease

    late = status(crashing, key, operation)

    assert late == {"key": key, "operation": operation, "status": "completed",
                    "responseStatus": 200,
                    "originalRequestTime": first.header("X-Original-Request-Time")}  # fmt: skip
    assert status(crashing, key, operation, GLOBEX_KEY)["status"] == "unknown"
