"""The blocking client: one Idempotency-Key per logical operation, reused on every retry."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from retryproof_client import _core
from retryproof_client._core import Answer, Call, ClientCore, Decision, Operation, RetryEvent
from retryproof_client._retry import NETWORK_ERRORS
from retryproof_client._transport import HttpResponse, Transport, UrllibTransport
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

T = TypeVar("T")

__all__ = ["Client", "RetryEvent"]


class Client(ClientCore):
    """retryproof's HTTP API.

    Every write gets an `Idempotency-Key` (a new UUID unless you pass one) that all of its retries
    reuse, so a retry can never run the operation twice. Network errors, 409 (honouring
    `Retry-After`), 429 and 5xx are retried with exponential backoff and full jitter, at most
    `max_attempts` attempts within `max_elapsed` seconds; any other 4xx is raised at once as
    `ApiError`. A network failure that outlives the retries raises `NetworkError`; both carry the
    key, so the operation can be resumed later with `idempotency_key=err.idempotency_key`.
    `AsyncClient` has the same methods, awaited, and the same rules (`_retry.RetryLoop`).
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
        super().__init__(
            base_url,
            api_key,
            max_attempts=max_attempts,
            max_elapsed=max_elapsed,
            timeout=timeout,
            base_delay=base_delay,
            max_delay=max_delay,
            on_retry=on_retry,
            clock=clock,
            rand=rand,
        )
        self.transport: Transport = transport or UrllibTransport()
        self._sleep = sleep

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
        return self._run(_core.generate(prompt, model, temperature, max_tokens, idempotency_key))

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
        call = _core.transfer(from_account_id, to_account_id, amount, currency, idempotency_key)
        return self._run(call)

    def agent_run(
        self,
        input: str,
        tools: Sequence[str],
        max_steps: int | None = None,
        *,
        approve_tools: Sequence[str] = (),
        wait: int | None = None,
        idempotency_key: str | None = None,
    ) -> Result[AgentRun]:
        """`POST /agent/runs`: starts a run (200 when it ended within `wait` seconds, `Prefer:
        wait=N`; else 202 with `status` running or awaiting_approval). A retry with the same key
        never starts a second run."""
        call = _core.agent_run(input, tools, max_steps, approve_tools, wait, idempotency_key)
        return self._run(call)

    def get_agent_run(self, run_id: str) -> Result[AgentRun]:
        """`GET /agent/runs/{runId}`."""
        return self._run(_core.get_agent_run(run_id))

    def wait_for_run(
        self, run_id: str, *, timeout: float = 300.0, until_approval: bool = True
    ) -> AgentRun:
        """Polls `GET /agent/runs/{runId}` until the run ended (or, with `until_approval`,
        waits for a person), or `timeout` seconds passed: the run as last read."""
        deadline = self._clock() + timeout
        while True:
            result = self.get_agent_run(run_id)
            delay = self._poll_delay(result.data, result.headers, deadline, until_approval)
            if delay is None:
                return result.data
            self._sleep(delay)

    def decide_approval(
        self,
        run_id: str,
        approval_id: str,
        decision: Decision,
        comment: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Result[ApprovalDecision]:
        """`POST /agent/runs/{runId}/approvals/{approvalId}`: approve or reject a tool call
        that waits for a person (the same decision again gets the same answer; the other one
        is 409 `approval_already_decided`)."""
        call = _core.decide_approval(run_id, approval_id, decision, comment, idempotency_key)
        return self._run(call)

    def resume_agent_run(
        self, run_id: str, *, wait: int | None = None, idempotency_key: str | None = None
    ) -> Result[AgentRun]:
        """`POST /agent/runs/{runId}/resume`: continue a failed run after its last completed
        step (409 `run_not_resumable` unless it failed)."""
        return self._run(_core.resume_agent_run(run_id, wait, idempotency_key))

    def key_status(self, idempotency_key: str, operation: Operation) -> Result[KeyStatus]:
        """`GET /idempotency-keys/{key}?operation=generate|transfer|agent_run`: whether a
        request sent with this key is in progress, completed or unknown (`data.retry_in()`
        says when to retry), for this client's tenant."""
        return self._run(_core.key_status(idempotency_key, operation))

    def usage(
        self,
        *,
        idempotency_key: str | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> Result[UsagePage]:
        """`GET /usage`: the tenant's cost records (one key's, with `idempotency_key`)."""
        return self._run(_core.usage(idempotency_key, limit, next_token))

    def account(self, account_id: str) -> Result[Account]:
        return self._run(_core.account(account_id))

    def get_transfer(self, transfer_id: str) -> Result[Transfer]:
        return self._run(_core.get_transfer(transfer_id))

    def webhook_event(self, event_id: str) -> Result[WebhookEvent]:
        return self._run(_core.webhook_event(event_id))

    def summary(self, document_id: str) -> Result[Summary]:
        return self._run(_core.summary(document_id))

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
        return self._run(_core.deliver_webhook(secret, payload, msg_id, timestamp, path))

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
        call = _core.request(method, path, json_body, headers, idempotency_key, authenticate)
        return self._run(call)

    # --- the retry loop: the rules are in ClientCore._after / RetryLoop --------------------
    def _run(self, call: Call[T]) -> Result[T]:
        return self._result(call, self._send(call))

    def _send(self, call: Call[Any]) -> Answer:
        request = self._http_request(call)
        loop = self._loop()
        while True:
            timeout = loop.begin()
            response: HttpResponse | None = None
            error: BaseException | None = None
            try:
                response = self.transport.send(request, timeout)
            except NETWORK_ERRORS as exc:
                error = exc
            delay = self._after(loop, call, response, error)
            if delay is None:
                assert response is not None
                return Answer(response, loop.attempt)
            self._sleep(delay)
