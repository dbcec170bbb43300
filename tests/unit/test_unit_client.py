"""The Python client's retry policy, against a fake transport (no network) and a fake clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from retryproof_client import (
    ApiError,
    Client,
    HttpRequest,
    HttpResponse,
    NetworkError,
    RetryEvent,
    RetryPolicy,
    is_retryable_status,
    sign_webhook,
)
from retryproof_client._retry import retry_after_seconds

pytestmark = pytest.mark.unit

GENERATION = {
    "id": "chatcmpl-1",
    "content": "Echo: hi",
    "tokens": 11,
    "finishReason": "stop",
    "model": "gpt-4o-mini",
    "usage": {"promptTokens": 5, "completionTokens": 6, "totalTokens": 11},
    "costUsd": "0.000004",
    "createdAt": "2026-11-27T20:54:34.687Z",
}
TRANSFER = {
    "transferId": "tr_1",
    "fromAccountId": "a",
    "toAccountId": "b",
    "amount": 100,
    "currency": "USD",
    "status": "completed",
    "createdAt": "2026-11-27T20:54:34.687Z",
}

Step = HttpResponse | BaseException


def _headers(headers: dict[str, str]) -> dict[str, str]:
    """Keyword arguments as header names: Retry_After -> retry-after."""
    return {k.lower().replace("_", "-"): v for k, v in headers.items()}


def ok(body: object, **headers: str) -> HttpResponse:
    return HttpResponse(200, json.dumps(body).encode(), _headers(headers))


def problem(status: int, code: str, **headers: str) -> HttpResponse:
    body = {"type": "t", "title": code, "status": status, "code": code, "detail": f"{code}!"}
    return HttpResponse(status, json.dumps(body).encode(), _headers(headers))


class FakeTransport:
    """Answers from a script; records every request and the time it was sent."""

    def __init__(self, clock: FakeClock, steps: list[Step]) -> None:
        self.clock = clock
        self.steps = list(steps)
        self.requests: list[HttpRequest] = []
        self.sent_at: list[float] = []
        self.timeouts: list[float] = []

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        self.requests.append(request)
        self.sent_at.append(self.clock.now)
        self.timeouts.append(timeout)
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def make(
    steps: list[Step], *, rand: Callable[[], float] = lambda: 0.5, **kwargs: Any
) -> tuple[Client, FakeTransport, FakeClock]:
    clock = FakeClock()
    transport = FakeTransport(clock, steps)
    client = Client(
        "http://api.test/",
        "rp_test_key",
        transport=transport,
        sleep=clock.sleep,
        clock=clock.time,
        rand=rand,
        **kwargs,
    )
    return client, transport, clock


def keys(transport: FakeTransport) -> list[str | None]:
    return [r.headers.get("Idempotency-Key") for r in transport.requests]


# --- which answers are retried ------------------------------------------------------------


@pytest.mark.parametrize("status", [409, 429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried_with_the_same_key(status: int) -> None:
    client, transport, _ = make([problem(status, "x"), ok(GENERATION, Idempotent_Replayed="true")])
    result = client.generate("hi")
    assert result.status == 200
    assert result.attempts == 2
    assert result.replayed is True
    sent = keys(transport)
    assert len(sent) == 2
    assert sent[0] == sent[1] == result.idempotency_key
    assert transport.requests[0].body == transport.requests[1].body


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 415, 422])
def test_other_4xx_are_raised_at_once(status: int) -> None:
    client, transport, clock = make([problem(status, "nope")])
    with pytest.raises(ApiError) as caught:
        client.transfer("a", "b", 100, "USD")
    assert len(transport.requests) == 1
    assert clock.sleeps == []
    error = caught.value
    assert (error.status, error.code, error.detail) == (status, "nope", "nope!")
    assert error.idempotency_key == keys(transport)[0]
    assert error.attempts == 1


def test_status_classification() -> None:
    assert [s for s in range(400, 600) if is_retryable_status(s)] == [409, 429, *range(500, 600)]


@pytest.mark.parametrize(
    "error",
    [
        ConnectionRefusedError(),
        ConnectionResetError(),
        TimeoutError("timed out"),
        http.client.RemoteDisconnected("closed"),
        http.client.IncompleteRead(b""),
    ],
)
def test_network_errors_are_retried_with_the_same_key(error: BaseException) -> None:
    client, transport, _ = make([error, ok(TRANSFER)])
    result = client.transfer("a", "b", 100, "USD")
    assert result.data.transfer_id == "tr_1"
    assert result.attempts == 2
    assert keys(transport)[0] == keys(transport)[1] == result.idempotency_key


def test_each_operation_gets_its_own_key_and_a_given_key_is_used() -> None:
    client, transport, _ = make([ok(GENERATION), ok(GENERATION), ok(GENERATION)])
    first = client.generate("hi")
    second = client.generate("hi")
    third = client.generate("hi", idempotency_key="my-key")
    assert first.idempotency_key != second.idempotency_key
    assert third.idempotency_key == "my-key" == keys(transport)[2]


def test_reads_send_no_idempotency_key_and_are_retried() -> None:
    page = {"records": [], "totalCostUsd": "0.000000", "nextToken": None}
    client, transport, _ = make([ConnectionResetError(), ok(page)])
    result = client.usage(idempotency_key="k 1")
    assert result.idempotency_key is None
    assert result.attempts == 2
    assert keys(transport) == [None, None]
    assert transport.requests[0].url == "http://api.test/usage?idempotencyKey=k+1"


# --- waiting ------------------------------------------------------------------------------


def test_retry_after_is_honoured() -> None:
    client, transport, clock = make(
        [problem(409, "idempotency_key_in_use", Retry_After="3"), ok(GENERATION)],
        rand=lambda: 0.0,
    )
    client.generate("hi")
    assert clock.sleeps == [3.0]
    assert transport.sent_at == [0.0, 3.0]


def test_retry_after_longer_than_the_time_left_stops_at_once() -> None:
    client, _transport, clock = make(
        [problem(409, "idempotency_key_in_use", Retry_After="60")], max_elapsed=10
    )
    with pytest.raises(ApiError) as caught:
        client.generate("hi")
    assert caught.value.code == "idempotency_key_in_use"
    assert clock.sleeps == []


def test_retry_after_as_http_date() -> None:
    assert (
        retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, lambda: 1445412475.0)
        == 5.0
    )
    assert retry_after_seconds({"retry-after": "soon"}) == 0.0
    assert retry_after_seconds({}) == 0.0


def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0)
    assert [policy.backoff_ceiling(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    for n in range(1, 6):
        assert policy.backoff(n, lambda: 0.0) == 0.0
        assert policy.backoff(n, lambda: 0.999999) < policy.backoff_ceiling(n)
    # Waits between attempts stay within [0, ceiling): with rand -> 1, they approach each ceiling.
    client, _, clock = make(
        [problem(503, "s")] * 4 + [ok(GENERATION)],
        rand=lambda: 0.999,
        base_delay=0.5,
        max_delay=3.0,
    )
    client.generate("hi")
    ceilings = [0.5, 1.0, 2.0, 3.0]
    assert all(0 <= s < c for s, c in zip(clock.sleeps, ceilings, strict=True))
    assert clock.sleeps == pytest.approx([c * 0.999 for c in ceilings])


def test_jitter_spreads_waits() -> None:
    import random

    rng = random.Random(7)
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    waits = [policy.backoff(4, rng.random) for _ in range(500)]
    assert all(0 <= w < 8.0 for w in waits)
    assert min(waits) < 1.0
    assert max(waits) > 7.0


# --- bounds -------------------------------------------------------------------------------


def test_attempts_are_bounded_and_the_last_answer_is_raised() -> None:
    client, transport, _ = make([problem(502, "llm_error")] * 3, max_attempts=3)
    with pytest.raises(ApiError) as caught:
        client.agent_run("hi", ["get_balance"])
    assert len(transport.requests) == 3
    assert caught.value.code == "llm_error"
    assert caught.value.attempts == 3
    assert caught.value.idempotency_key == keys(transport)[0]
    assert len(set(keys(transport))) == 1


def test_network_failures_outliving_the_retries_raise_network_error_with_the_key() -> None:
    client, transport, _ = make([ConnectionResetError("reset")] * 2, max_attempts=2)
    with pytest.raises(NetworkError) as caught:
        client.generate("hi")
    assert caught.value.attempts == 2
    assert caught.value.idempotency_key == keys(transport)[0] == keys(transport)[1]
    assert isinstance(caught.value.cause, ConnectionResetError)


def test_total_time_is_bounded() -> None:
    # Each attempt "takes" 4 s; with 10 s allowed, the client stops before the budget is spent.
    clock_holder: list[FakeClock] = []

    class Slow(FakeTransport):
        def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
            clock_holder[0].now += min(timeout, 4.0)
            return super().send(request, timeout)

    clock = FakeClock()
    clock_holder.append(clock)
    transport = Slow(clock, [TimeoutError()] * 10)
    client = Client(
        "http://api.test",
        "k",
        transport=transport,
        sleep=clock.sleep,
        clock=clock.time,
        rand=lambda: 0.5,
        max_attempts=10,
        max_elapsed=10.0,
        timeout=4.0,
    )
    with pytest.raises(NetworkError):
        client.generate("hi")
    assert clock.now <= 10.0
    assert len(transport.requests) < 10
    # An attempt never gets more time than is left.
    assert all(t <= 4.0 for t in transport.timeouts)


def test_on_retry_reports_each_wait() -> None:
    events: list[RetryEvent] = []
    client, _, _ = make(
        [ConnectionResetError(), problem(502, "llm_error"), ok(GENERATION)],
        on_retry=events.append,
    )
    result = client.generate("hi")
    assert [(e.attempt, e.status, e.code) for e in events] == [
        (1, None, None),
        (2, 502, "llm_error"),
    ]
    assert isinstance(events[0].error, ConnectionResetError)
    assert all(e.idempotency_key == result.idempotency_key for e in events)
    assert all(e.path == "/generate" for e in events)


# --- requests and results -----------------------------------------------------------------


def test_requests_carry_auth_json_and_key() -> None:
    client, transport, _ = make([ok(GENERATION)])
    result = client.generate("hi", model="gpt-4o-mini", temperature=0.5, max_tokens=9)
    request = transport.requests[0]
    assert (request.method, request.url) == ("POST", "http://api.test/generate")
    assert request.headers["Authorization"] == "Bearer rp_test_key"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body or b"") == {
        "prompt": "hi",
        "model": "gpt-4o-mini",
        "temperature": 0.5,
        "maxTokens": 9,
    }
    generation = result.data
    assert generation.content == "Echo: hi"
    assert generation.usage.total_tokens == 11
    assert generation.cost_usd == Decimal("0.000004")
    assert result.replayed is False
    assert result.body == GENERATION
    assert "rp_test_key" not in repr(client)


def test_amount_must_be_an_integer() -> None:
    client, _, _ = make([])
    with pytest.raises(TypeError):
        client.transfer("a", "b", 10.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.transfer("a", "b", True, "USD")


def test_gateway_messages_become_api_errors() -> None:
    client, _, _ = make([HttpResponse(403, b'{"message":"Forbidden"}', {})])
    with pytest.raises(ApiError) as caught:
        client.account("acc 1")
    assert (caught.value.status, caught.value.code) == (403, "forbidden")


def test_a_stored_rejection_is_raised_and_shows_it_was_replayed() -> None:
    client, _, _ = make([problem(400, "insufficient_funds", Idempotent_Replayed="true")])
    with pytest.raises(ApiError) as caught:
        client.transfer("a", "b", 10**9, "USD")
    assert caught.value.code == "insufficient_funds"
    assert caught.value.replayed


def test_path_parameters_are_quoted() -> None:
    account = {"accountId": "a/b", "balance": 1, "currency": "USD"}
    client, transport, _ = make([ok(account)])
    assert client.account("a/b").data.balance == 1
    assert transport.requests[0].url == "http://api.test/accounts/a%2Fb"


# --- webhooks -----------------------------------------------------------------------------


def test_sign_webhook_matches_the_standard() -> None:
    secret = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
    body = b'{"eventId":"evt_1"}'
    headers = sign_webhook(secret, "msg_1", 1700000000, body)
    expected = hmac.new(
        b"0123456789abcdef0123456789abcdef", b"msg_1.1700000000." + body, hashlib.sha256
    ).digest()
    assert headers == {
        "webhook-id": "msg_1",
        "webhook-timestamp": "1700000000",
        "webhook-signature": "v1," + base64.b64encode(expected).decode(),
    }
    assert sign_webhook(secret, "msg_1", 1700000000, body.decode()) == headers


def test_sign_webhook_is_accepted_by_the_server_check() -> None:
    from retryproof.signatures import read_headers, verify  # what the webhook function runs

    secret = "whsec_Fo2K2eUCIr+F8+1khegsfssVd57kgeSQ"
    body = b'{"eventId":"e"}'
    headers = sign_webhook(secret, "m", 1700000000, body)
    verify(secret, read_headers(headers, now=1700000000.0), body)  # raises if not


def test_deliver_webhook_signs_the_exact_body_and_sends_no_api_key() -> None:
    accepted = {"jobId": "job_1", "eventId": "evt_1", "status": "queued", "duplicate": False}
    secret = "whsec_Fo2K2eUCIr+F8+1khegsfssVd57kgeSQ"
    client, transport, _ = make([HttpResponse(202, json.dumps(accepted).encode(), {})])
    result = client.deliver_webhook(secret, {"eventId": "evt_1"}, timestamp=1700000000)
    request = transport.requests[0]
    assert result.status == 202
    assert result.data.job_id == "job_1"
    assert "Authorization" not in request.headers
    assert "Idempotency-Key" not in request.headers
    assert request.headers["webhook-id"] == "evt_1"
    signed = sign_webhook(secret, "evt_1", 1700000000, request.body or b"")
    assert request.headers["webhook-signature"] == signed["webhook-signature"]


def test_invalid_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        sign_webhook("whsec_***", "m", 1, b"")
