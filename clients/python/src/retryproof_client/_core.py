"""What `Client` and `AsyncClient` share: the operations as request descriptions (`Call`), the
decisions taken after each attempt, and the parsing of answers. Neither client has its own copy
of a rule; they only send (blocking or awaiting) and sleep."""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote, urlencode

from retryproof_client._retry import GiveUp, RetryLoop, RetryPolicy, Wait
from retryproof_client._transport import HttpRequest, HttpResponse
from retryproof_client._version import __version__
from retryproof_client.errors import ApiError, InvalidResponse, NetworkError
from retryproof_client.models import (
    Account,
    AgentRun,
    ApprovalDecision,
    Generation,
    KeyStatus,
    Result,
    Summary,
    Transfer,
    UsagePage,
    WebhookAccepted,
    WebhookEvent,
)
from retryproof_client.webhooks import sign_webhook

log = logging.getLogger("retryproof_client")

T = TypeVar("T")
Operation = Literal["generate", "transfer", "agent_run"]
Decision = Literal["approve", "reject"]
POLL_INTERVAL = 1.0  # seconds between looks at a run that goes on (unless Retry-After says)


@dataclass(frozen=True)
class RetryEvent:
    """Passed to `on_retry` before each wait: what failed, and how long the client will wait."""

    method: str
    path: str
    attempt: int  # the attempt that failed (1 = the first)
    delay: float  # seconds until the next attempt
    idempotency_key: str | None
    status: int | None = None  # the HTTP status, or None for a network error
    code: str | None = None  # the problem's `code`, when the answer had one
    error: BaseException | None = None  # the network error


def _identity(data: Any) -> Any:
    return data


@dataclass(frozen=True)
class Call(Generic[T]):
    """One logical operation: the request every attempt sends (the same key every time) and how
    its success body is read."""

    method: str
    path: str
    parse: Callable[[Any], T]
    body: bytes | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    authenticate: bool = True


def _json(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def _seg(value: str) -> str:
    return quote(value, safe="")


def write(
    path: str,
    body: Any,
    key: str | None,
    parse: Callable[[Any], T],
    headers: Mapping[str, str] | None = None,
) -> Call[T]:
    """A POST with a JSON body (or none) and an Idempotency-Key: a new UUID unless one is given,
    made once here and sent by every attempt."""
    content = {} if body is None else {"Content-Type": "application/json"}
    return Call(
        "POST",
        path,
        parse,
        body=None if body is None else _json(body),
        headers={**content, **(headers or {})},
        idempotency_key=key if key is not None else str(uuid.uuid4()),
    )


def read(path: str, parse: Callable[[Any], T]) -> Call[T]:
    return Call("GET", path, parse)


# --- the operations -----------------------------------------------------------------------


def generate(
    prompt: str,
    model: str | None,
    temperature: float | None,
    max_tokens: int | None,
    idempotency_key: str | None,
) -> Call[Generation]:
    body: dict[str, Any] = {"prompt": prompt}
    if model is not None:
        body["model"] = model
    if temperature is not None:
        body["temperature"] = temperature
    if max_tokens is not None:
        body["maxTokens"] = max_tokens
    return write("/generate", body, idempotency_key, Generation.from_json)


def transfer(
    from_account_id: str,
    to_account_id: str,
    amount: int,
    currency: str,
    idempotency_key: str | None,
) -> Call[Transfer]:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("amount is an integer number of minor units (cents)")
    body = {
        "fromAccountId": from_account_id,
        "toAccountId": to_account_id,
        "amount": amount,
        "currency": currency,
    }
    return write("/transfer", body, idempotency_key, Transfer.from_json)


def _prefer(wait: int | None) -> dict[str, str]:
    """`Prefer: wait=N` (RFC 7240): how long the server may hold the answer for the run."""
    return {} if wait is None else {"Prefer": f"wait={int(wait)}"}


def agent_run(
    input: str,
    tools: Sequence[str],
    max_steps: int | None,
    approve_tools: Sequence[str],
    wait: int | None,
    idempotency_key: str | None,
) -> Call[AgentRun]:
    body: dict[str, Any] = {"input": input, "tools": list(tools)}
    if max_steps is not None:
        body["maxSteps"] = max_steps
    if approve_tools:
        body["approveTools"] = list(approve_tools)
    return write("/agent/runs", body, idempotency_key, AgentRun.from_json, _prefer(wait))


def get_agent_run(run_id: str) -> Call[AgentRun]:
    return read(f"/agent/runs/{_seg(run_id)}", AgentRun.from_json)


def resume_agent_run(run_id: str, wait: int | None, idempotency_key: str | None) -> Call[AgentRun]:
    path = f"/agent/runs/{_seg(run_id)}/resume"
    return write(path, None, idempotency_key, AgentRun.from_json, _prefer(wait))


def decide_approval(
    run_id: str,
    approval_id: str,
    decision: Decision,
    comment: str | None,
    idempotency_key: str | None,
) -> Call[ApprovalDecision]:
    if decision not in ("approve", "reject"):
        raise ValueError("decision is 'approve' or 'reject'")
    body: dict[str, Any] = {"decision": decision}
    if comment is not None:
        body["comment"] = comment
    path = f"/agent/runs/{_seg(run_id)}/approvals/{_seg(approval_id)}"
    return write(path, body, idempotency_key, ApprovalDecision.from_json)


def key_status(idempotency_key: str, operation: Operation) -> Call[KeyStatus]:
    query = urlencode({"operation": operation})
    return read(f"/idempotency-keys/{_seg(idempotency_key)}?{query}", KeyStatus.from_json)


def usage(
    idempotency_key: str | None, limit: int | None, next_token: str | None
) -> Call[UsagePage]:
    query = {"idempotencyKey": idempotency_key, "limit": limit, "nextToken": next_token}
    params = {k: str(v) for k, v in query.items() if v is not None}
    return read("/usage" + (f"?{urlencode(params)}" if params else ""), UsagePage.from_json)


def account(account_id: str) -> Call[Account]:
    return read(f"/accounts/{_seg(account_id)}", Account.from_json)


def get_transfer(transfer_id: str) -> Call[Transfer]:
    return read(f"/transfers/{_seg(transfer_id)}", Transfer.from_json)


def webhook_event(event_id: str) -> Call[WebhookEvent]:
    return read(f"/webhook-events/{_seg(event_id)}", WebhookEvent.from_json)


def summary(document_id: str) -> Call[Summary]:
    return read(f"/summaries/{_seg(document_id)}", Summary.from_json)


def deliver_webhook(
    secret: str,
    payload: Mapping[str, Any],
    msg_id: str | None,
    timestamp: int | None,
    path: str,
) -> Call[WebhookAccepted]:
    """Signed per Standard Webhooks; the event id makes redeliveries safe, so no key is sent."""
    body = _json(payload)
    msg_id = msg_id or str(payload.get("eventId") or f"msg_{uuid.uuid4().hex}")
    stamp = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json", **sign_webhook(secret, msg_id, stamp, body)}
    return Call("POST", path, WebhookAccepted.from_json, body, headers, authenticate=False)


def request(
    method: str,
    path: str,
    json_body: Any,
    headers: Mapping[str, str] | None,
    idempotency_key: str | None,
    authenticate: bool,
) -> Call[Any]:
    all_headers = dict(headers or {})
    body = None
    if json_body is not None:
        body = _json(json_body)
        all_headers.setdefault("Content-Type", "application/json")
    return Call(method, path, _identity, body, all_headers, idempotency_key, authenticate)


# --- the shared core ------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    response: HttpResponse
    attempts: int


class ClientCore:
    """Configuration, request building and the decisions between attempts."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        max_attempts: int = 5,
        max_elapsed: float = 30.0,
        timeout: float = 30.0,
        base_delay: float = 0.25,
        max_delay: float = 8.0,
        on_retry: Callable[[RetryEvent], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.policy = RetryPolicy(
            max_attempts=max_attempts,
            max_elapsed=max_elapsed,
            base_delay=base_delay,
            max_delay=max_delay,
        )
        self.timeout = timeout
        self.on_retry = on_retry
        self._clock = clock
        self._rand = rand

    def __repr__(self) -> str:  # never the API key
        return f"{type(self).__name__}({self.base_url!r}, max_attempts={self.policy.max_attempts})"

    def _http_request(self, call: Call[Any]) -> HttpRequest:
        headers = {"Accept": "application/json", "User-Agent": f"retryproof-client/{__version__}"}
        if call.authenticate:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if call.idempotency_key is not None:
            headers["Idempotency-Key"] = call.idempotency_key
        headers.update(call.headers)
        return HttpRequest(call.method, self.base_url + call.path, headers, call.body)

    def _loop(self) -> RetryLoop:
        return RetryLoop(self.policy, self.timeout, self._clock, self._rand)

    def _after(
        self,
        loop: RetryLoop,
        call: Call[Any],
        response: HttpResponse | None,
        error: BaseException | None,
    ) -> float | None:
        """After an attempt: None when `response` is the final answer, else the seconds to wait
        before the next attempt (`on_retry` told). Raises when the bounds are reached."""
        decision = loop.after(
            None if response is None else response.status,
            None if response is None else response.headers,
        )
        if decision is None:
            return None
        key = call.idempotency_key
        if isinstance(decision, GiveUp):
            if response is not None:
                raise ApiError.from_response(
                    response.status,
                    response.body,
                    response.headers,
                    idempotency_key=key,
                    attempts=loop.attempt,
                )
            assert error is not None
            raise NetworkError(error, idempotency_key=key, attempts=loop.attempt) from error
        assert isinstance(decision, Wait)
        event = RetryEvent(
            method=call.method,
            path=call.path.split("?", 1)[0],
            attempt=loop.attempt,
            delay=decision.delay,
            idempotency_key=key,
            status=decision.status,
            code=None if response is None else _problem_code(response),
            error=error,
        )
        log.debug(
            "retrying %s %s after attempt %d (%s) in %.2fs",
            event.method,
            event.path,
            event.attempt,
            event.status or type(error).__name__,
            event.delay,
        )
        if self.on_retry is not None:
            self.on_retry(event)
        return decision.delay

    @staticmethod
    def _result(call: Call[T], answer: Answer) -> Result[T]:
        response, key = answer.response, call.idempotency_key
        if response.status >= 400:
            raise ApiError.from_response(
                response.status,
                response.body,
                response.headers,
                idempotency_key=key,
                attempts=answer.attempts,
            )
        try:
            body = json.loads(response.body)
            data = call.parse(body)
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidResponse(
                f"unexpected {response.status} body", idempotency_key=key, attempts=answer.attempts
            ) from exc
        return Result(
            data=data,
            status=response.status,
            body=body,
            headers=dict(response.headers),
            idempotency_key=key,
            attempts=answer.attempts,
        )

    def _poll_delay(
        self, run: AgentRun, headers: Mapping[str, str], deadline: float, until_approval: bool
    ) -> float | None:
        """`wait_for_run`: seconds until the next look at the run, None to stop: the run ended
        (or, with `until_approval`, waits for a person), or the deadline has passed. Every
        second, or the answer's `Retry-After`."""
        if run.ended or (until_approval and run.status == "awaiting_approval"):
            return None
        left = deadline - self._clock()
        if left <= 0:
            return None
        hinted = headers.get("retry-after", "").strip()
        delay = float(hinted) if hinted.isdigit() else POLL_INTERVAL
        return max(0.01, min(delay, left))


def _problem_code(response: HttpResponse) -> str | None:
    try:
        parsed = json.loads(response.body) if response.body else None
    except ValueError:
        return None
    code = parsed.get("code") if isinstance(parsed, dict) else None
    return code if isinstance(code, str) else None
