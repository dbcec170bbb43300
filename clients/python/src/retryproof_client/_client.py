"""The client: one Idempotency-Key per logical operation, reused on every retry of it."""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from retryproof_client._retry import (
    NETWORK_ERRORS,
    RetryPolicy,
    is_retryable_status,
    retry_after_seconds,
)
from retryproof_client._transport import HttpRequest, HttpResponse, Transport, UrllibTransport
from retryproof_client._version import __version__
from retryproof_client.errors import ApiError, InvalidResponse, NetworkError
from retryproof_client.models import (
    Account,
    AgentRun,
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
MIN_ATTEMPT_TIMEOUT = 0.05  # seconds: an attempt with less time than this left is not started


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


class Client:
    """retryproof's HTTP API.

    Every write gets an `Idempotency-Key` (a new UUID unless you pass one) that all of its retries
    reuse, so a retry can never run the operation twice. Network errors, 409 (honouring
    `Retry-After`), 429 and 5xx are retried with exponential backoff and full jitter, at most
    `max_attempts` attempts within `max_elapsed` seconds; any other 4xx is raised at once as
    `ApiError`. A network failure that outlives the retries raises `NetworkError`; both carry the
    key, so the operation can be resumed later with `idempotency_key=err.idempotency_key`.
    """

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
        transport: Transport | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
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
        self.transport: Transport = transport or UrllibTransport()
        self.on_retry = on_retry
        self._sleep = sleep
        self._clock = clock
        self._rand = rand

    def __repr__(self) -> str:  # never the API key
        return f"Client({self.base_url!r}, max_attempts={self.policy.max_attempts})"

    # --- operations -----------------------------------------------------------------------
    def generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        idempotency_key: str | None = None,
    ) -> Result[Generation]:
        """`POST /generate`: a completion, paid for once however often it is retried."""
        body: dict[str, Any] = {"prompt": prompt}
        if model is not None:
            body["model"] = model
        if temperature is not None:
            body["temperature"] = temperature
        if max_tokens is not None:
            body["maxTokens"] = max_tokens
        return self._write("/generate", body, idempotency_key, Generation.from_json)

    def transfer(
        self,
        from_account_id: str,
        to_account_id: str,
        amount: int,
        currency: str,
        *,
        idempotency_key: str | None = None,
    ) -> Result[Transfer]:
        """`POST /transfer`: `amount` in integer minor units (cents); moved exactly once."""
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError("amount is an integer number of minor units (cents)")
        body = {
            "fromAccountId": from_account_id,
            "toAccountId": to_account_id,
            "amount": amount,
            "currency": currency,
        }
        return self._write("/transfer", body, idempotency_key, Transfer.from_json)

    def agent_run(
        self,
        input: str,
        tools: Sequence[str],
        max_steps: int | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Result[AgentRun]:
        """`POST /agent/runs`: a retry after a failure resumes the run from its checkpoints."""
        body: dict[str, Any] = {"input": input, "tools": list(tools)}
        if max_steps is not None:
            body["maxSteps"] = max_steps
        return self._write("/agent/runs", body, idempotency_key, AgentRun.from_json)

    def usage(
        self,
        *,
        idempotency_key: str | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> Result[UsagePage]:
        """`GET /usage`: the tenant's cost records (one key's, with `idempotency_key`)."""
        query = {"idempotencyKey": idempotency_key, "limit": limit, "nextToken": next_token}
        params = {k: str(v) for k, v in query.items() if v is not None}
        path = "/usage" + (f"?{urlencode(params)}" if params else "")
        return self._read(path, UsagePage.from_json)

    def account(self, account_id: str) -> Result[Account]:
        return self._read(f"/accounts/{quote(account_id, safe='')}", Account.from_json)

    def get_transfer(self, transfer_id: str) -> Result[Transfer]:
        return self._read(f"/transfers/{quote(transfer_id, safe='')}", Transfer.from_json)

    def key_status(self, idempotency_key: str, operation: str) -> Result[KeyStatus]:
        """`GET /idempotency-keys/{key}?operation=generate|transfer|agent_run`: whether a request
        sent with this key is in progress, completed or unknown (`data.retry_in()` says when to
        retry), for this client's tenant."""
        query = urlencode({"operation": operation})
        path = f"/idempotency-keys/{quote(idempotency_key, safe='')}?{query}"
        return self._read(path, KeyStatus.from_json)

    def webhook_event(self, event_id: str) -> Result[WebhookEvent]:
        return self._read(f"/webhook-events/{quote(event_id, safe='')}", WebhookEvent.from_json)

    def summary(self, document_id: str) -> Result[Summary]:
        return self._read(f"/summaries/{quote(document_id, safe='')}", Summary.from_json)

    def deliver_webhook(
        self,
        secret: str,
        payload: Mapping[str, Any],
        *,
        msg_id: str | None = None,
        timestamp: int | None = None,
        path: str = "/webhooks/document-uploaded",
    ) -> Result[WebhookAccepted]:
        """Sign `payload` with a `whsec_` secret (Standard Webhooks) and deliver it, as a sender
        would: the event id makes redeliveries safe, so no Idempotency-Key is sent."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        msg_id = msg_id or str(payload.get("eventId") or f"msg_{uuid.uuid4().hex}")
        stamp = int(time.time()) if timestamp is None else timestamp
        headers = {"Content-Type": "application/json", **sign_webhook(secret, msg_id, stamp, body)}
        response = self._send("POST", path, body=body, headers=headers, authenticate=False)
        return self._result(response, None, WebhookAccepted.from_json)

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        authenticate: bool = True,
    ) -> Result[Any]:
        """Any route, with the same retry policy; `data` is the parsed JSON body. Pass an
        `idempotency_key` for a write (the typed methods make one up)."""
        body = None
        all_headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            all_headers.setdefault("Content-Type", "application/json")
        answer = self._send(
            method,
            path,
            body=body,
            headers=all_headers,
            idempotency_key=idempotency_key,
            authenticate=authenticate,
        )
        return self._result(answer, idempotency_key, lambda data: data)

    # --- the retry loop -------------------------------------------------------------------
    def _send(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        authenticate: bool = True,
    ) -> _Answer:
        """One logical request with the retry policy: the final non-retryable answer, or
        `ApiError` (a retryable status outlived the retries) / `NetworkError`."""
        all_headers = {
            "Accept": "application/json",
            "User-Agent": f"retryproof-client/{__version__}",
        }
        if authenticate:
            all_headers["Authorization"] = f"Bearer {self._api_key}"
        if idempotency_key is not None:
            all_headers["Idempotency-Key"] = idempotency_key
        all_headers.update(headers or {})
        request = HttpRequest(method, self.base_url + path, all_headers, body)
        policy = self.policy
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            remaining = policy.max_elapsed - (self._clock() - started)
            response: HttpResponse | None = None
            error: BaseException | None = None
            try:
                response = self.transport.send(
                    request, max(MIN_ATTEMPT_TIMEOUT, min(self.timeout, remaining))
                )
            except NETWORK_ERRORS as exc:
                error = exc
            if response is not None and not is_retryable_status(response.status):
                return _Answer(response, attempt)

            delay = policy.backoff(attempt, self._rand)
            code = None
            if response is not None:
                delay = max(delay, retry_after_seconds(response.headers))
                code = _problem_code(response)
            left = policy.max_elapsed - (self._clock() - started)
            if attempt >= policy.max_attempts or delay + MIN_ATTEMPT_TIMEOUT > left:
                if response is not None:
                    raise ApiError.from_response(
                        response.status,
                        response.body,
                        response.headers,
                        idempotency_key=idempotency_key,
                        attempts=attempt,
                    )
                assert error is not None
                raise NetworkError(
                    error, idempotency_key=idempotency_key, attempts=attempt
                ) from error
            event = RetryEvent(
                method=method,
                path=path.split("?", 1)[0],
                attempt=attempt,
                delay=delay,
                idempotency_key=idempotency_key,
                status=None if response is None else response.status,
                code=code,
                error=error,
            )
            log.debug(
                "retrying %s %s after attempt %d (%s) in %.2fs",
                method,
                event.path,
                attempt,
                event.status or type(error).__name__,
                delay,
            )
            if self.on_retry is not None:
                self.on_retry(event)
            self._sleep(delay)

    def _write(
        self,
        path: str,
        body: Mapping[str, Any],
        idempotency_key: str | None,
        parse: Callable[[Mapping[str, Any]], T],
    ) -> Result[T]:
        key = idempotency_key if idempotency_key is not None else str(uuid.uuid4())
        raw = json.dumps(body, separators=(",", ":")).encode()
        answer = self._send(
            "POST",
            path,
            body=raw,
            headers={"Content-Type": "application/json"},
            idempotency_key=key,
        )
        return self._result(answer, key, parse)

    def _read(self, path: str, parse: Callable[[Mapping[str, Any]], T]) -> Result[T]:
        return self._result(self._send("GET", path), None, parse)

    @staticmethod
    def _result(
        answer: _Answer, key: str | None, parse: Callable[[Mapping[str, Any]], T]
    ) -> Result[T]:
        response = answer.response
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
            data = parse(body)
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


@dataclass(frozen=True)
class _Answer:
    response: HttpResponse
    attempts: int


def _problem_code(response: HttpResponse) -> str | None:
    try:
        parsed = json.loads(response.body) if response.body else None
    except ValueError:
        return None
    code = parsed.get("code") if isinstance(parsed, dict) else None
    return code if isinstance(code, str) else None
