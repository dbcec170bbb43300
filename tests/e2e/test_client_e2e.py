"""The Python client against the local stack: lost responses, timeouts, LLM failures, bounds."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from retryproof_client import (
    ApiError,
    Client,
    HttpRequest,
    HttpResponse,
    RetryEvent,
    Transport,
    UrllibTransport,
)

from tests.e2e.conftest import ACME_KEY, LocalApi

pytestmark = pytest.mark.e2e

SECRET = "whsec_Fo2K2eUCIr+F8+1khegsfssVd57kgeSQ"  # local/seed.json, tenant acme


class LoseFirstResponse:
    """The server answers; the first answer never reaches the client."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.calls = 0

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        self.calls += 1
        response = self.inner.send(request, timeout)
        if self.calls == 1:
            raise ConnectionResetError("response lost")
        return response


def client(api: LocalApi, **kwargs: Any) -> tuple[Client, list[RetryEvent]]:
    events: list[RetryEvent] = []
    return Client(api.url, ACME_KEY, on_retry=events.append, **kwargs), events


def usage_records(api: LocalApi, key: str) -> int:
    return len(Client(api.url, ACME_KEY).usage(idempotency_key=key).data.records)


def test_a_generate_whose_response_was_lost_is_replayed_and_paid_once(api: LocalApi) -> None:
    c, events = client(api, transport=LoseFirstResponse(UrllibTransport()))
    completions = api.llm.completions
    result = c.generate("Tell me about retries.", max_tokens=32)
    assert result.status == 200
    assert result.attempts == 2
    assert result.replayed is True
    assert result.data.content.startswith("Echo:")
    assert [e.status for e in events] == [None]  # one network error, then the replay
    assert api.llm.completions == completions + 1
    assert usage_records(api, result.idempotency_key or "") == 1


def test_a_transfer_retried_after_a_lost_response_is_applied_once(api: LocalApi) -> None:
    reader = Client(api.url, ACME_KEY)
    before = reader.account("acc_acme_main").data.balance
    c, _ = client(api, transport=LoseFirstResponse(UrllibTransport()))
    result = c.transfer("acc_acme_main", "acc_acme_ops", 7, "USD")
    assert result.replayed is True
    assert result.attempts == 2
    assert reader.account("acc_acme_main").data.balance == before - 7
    ledger = reader.get_transfer(result.data.transfer_id).data
    assert (ledger.amount, ledger.from_account_id) == (7, "acc_acme_main")


def test_an_llm_failure_is_retried_with_the_same_key_and_succeeds(api: LocalApi) -> None:
    # The stack's LLM client tries twice (LLM_MAX_RETRIES=1): two 500s make one 502.
    api.llm.fault(status=500, times=2)
    completions = api.llm.completions
    c, events = client(api, base_delay=0.05)
    result = c.generate("Tell me about retries, again.")
    assert result.status == 200
    assert result.replayed is False  # the 502 was not stored: the retry ran it
    assert [(e.status, e.code) for e in events] == [(502, "llm_error")]
    assert events[0].idempotency_key == result.idempotency_key
    assert api.llm.completions == completions + 1
    assert usage_records(api, result.idempotency_key or "") == 1


def test_a_client_timeout_waits_out_the_in_flight_request_then_gets_the_replay(
    api: LocalApi,
) -> None:
    api.llm.fault(delay_ms=1500, times=1)
    completions = api.llm.completions
    c, events = client(api, timeout=0.5, base_delay=0.05)
    started = time.monotonic()
    result = c.generate("Tell me about retries, slowly.")
    assert result.replayed is True
    assert events[0].status is None  # the timeout
    in_use = [e for e in events if e.status == 409]
    assert all(e.code == "idempotency_key_in_use" and e.delay >= 1.0 for e in in_use)
    assert time.monotonic() - started < 10
    assert api.llm.completions == completions + 1


def test_other_4xx_are_not_retried(api: LocalApi) -> None:
    c, events = client(api)
    key = str(uuid.uuid4())
    c.generate("Tell me about retries.", idempotency_key=key)
    with pytest.raises(ApiError) as caught:
        c.generate("Something else.", idempotency_key=key)
    assert (caught.value.status, caught.value.code) == (422, "idempotency_key_reused")
    assert caught.value.attempts == 1
    assert events == []
    with pytest.raises(ApiError) as insufficient:
        c.transfer("acc_acme_main", "acc_acme_ops", 10**11, "USD")
    assert insufficient.value.code == "insufficient_funds"
    assert insufficient.value.attempts == 1


def test_attempts_are_bounded(api: LocalApi) -> None:
    api.llm.fault(status=500, times=20)
    c, events = client(api, max_attempts=2, base_delay=0.01)
    with pytest.raises(ApiError) as caught:
        c.generate("Tell me about retries.")
    assert caught.value.code == "llm_error"
    assert caught.value.attempts == 2
    assert len(events) == 1
    assert caught.value.idempotency_key == events[0].idempotency_key


def test_a_signed_webhook_is_accepted_once(api: LocalApi) -> None:
    c, _ = client(api)
    event_id = f"evt_{uuid.uuid4().hex}"
    payload = {
        "eventId": event_id,
        "tenantId": "acme",
        "documentId": f"doc_{uuid.uuid4().hex[:8]}",
        "content": "A short document.",
    }
    try:
        first = c.deliver_webhook(SECRET, payload)
    except ApiError as exc:
        if exc.status == 404:
            pytest.skip("the webhook route is not in this stack")
        raise
    second = c.deliver_webhook(SECRET, payload)
    assert (first.status, first.data.duplicate) == (202, False)
    assert (second.status, second.data.duplicate) == (200, True)
    assert second.data.job_id == first.data.job_id
    with pytest.raises(ApiError) as caught:
        c.deliver_webhook("whsec_" + "QUJD" * 8, payload)  # another secret
    assert (caught.value.status, caught.value.code) == (401, "invalid_signature")
