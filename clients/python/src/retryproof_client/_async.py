"""The asyncio client: `Client`'s methods, awaited, with the same rules (`ClientCore`,
`RetryLoop`); only sending and sleeping differ."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from retryproof_client import _core
from retryproof_client._core import Answer, Call, ClientCore, Decision, Operation, RetryEvent
from retryproof_client._retry import NETWORK_ERRORS
from retryproof_client._transport import HttpRequest, HttpResponse, Transport, UrllibTransport
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


class AsyncTransport(Protocol):
    """Sends one request without blocking the event loop. A network failure raises `OSError`
    (`TimeoutError` included) or `http.client.HTTPException`; any HTTP status is a response."""

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse: ...


class ThreadTransport:
    """A blocking `Transport` (the standard library's by default) run in a worker thread: no
    dependencies, the same network behaviour as `Client`. Pass your own `AsyncTransport` (e.g.
    over httpx or aiohttp) to `AsyncClient(transport=...)` for thousands of concurrent calls."""

    def __init__(self, inner: Transport | None = None) -> None:
        self.inner: Transport = inner or UrllibTransport()

    async def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        return await asyncio.to_thread(self.inner.send, request, timeout)


class AsyncClient(ClientCore):
    """`Client` for asyncio: the same methods and arguments, each a coroutine.

        async with AsyncClient(url, api_key) as client:   # or without `async with`
            result = await client.generate("Write a haiku about retries.")

    Cancelling a call stops its retries; the attempt already sent may still run on the server,
    so call the operation again with `idempotency_key=` to learn its outcome.
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
        transport: AsyncTransport | None = None,
        on_retry: Callable[[RetryEvent], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
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
        self.transport: AsyncTransport = transport or ThreadTransport()
        self._sleep = sleep

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    # --- operations (see Client for each one's meaning) -------------------------------------
    async def generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        idempotency_key: str | None = None,
    ) -> Result[Generation]:
        """`POST /generate`: a completion, paid for once however often it is retried."""
        call = _core.generate(prompt, model, temperature, max_tokens, idempotency_key)
        return await self._run(call)

    async def transfer(
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
        return await self._run(call)

    async def agent_run(
        self,
        input: str,
        tools: Sequence[str],
        max_steps: int | None = None,
        *,
        approve_tools: Sequence[str] = (),
        wait: int | None = None,
        idempotency_key: str | None = None,
    ) -> Result[AgentRun]:
        """`POST /agent/runs`: starts a run; a retry with the same key never starts another."""
        call = _core.agent_run(input, tools, max_steps, approve_tools, wait, idempotency_key)
        return await self._run(call)

    async def get_agent_run(self, run_id: str) -> Result[AgentRun]:
        return await self._run(_core.get_agent_run(run_id))

    async def wait_for_run(
        self, run_id: str, *, timeout: float = 300.0, until_approval: bool = True
    ) -> AgentRun:
        """Polls `GET /agent/runs/{runId}` until the run ended (or, with `until_approval`,
        waits for a person), or `timeout` seconds passed: the run as last read."""
        deadline = self._clock() + timeout
        while True:
            result = await self.get_agent_run(run_id)
            delay = self._poll_delay(result.data, result.headers, deadline, until_approval)
            if delay is None:
                return result.data
            await self._sleep(delay)

    async def decide_approval(
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
        return await self._run(call)

    async def resume_agent_run(
        self, run_id: str, *, wait: int | None = None, idempotency_key: str | None = None
    ) -> Result[AgentRun]:
        """`POST /agent/runs/{runId}/resume`: continue a failed run after its last completed
        step (409 `run_not_resumable` unless it failed)."""
        return await self._run(_core.resume_agent_run(run_id, wait, idempotency_key))

    async def key_status(self, idempotency_key: str, operation: Operation) -> Result[KeyStatus]:
        """`GET /idempotency-keys/{key}?operation=generate|transfer|agent_run`: whether a
        request sent with this key is in progress, completed or unknown (`data.retry_in()`
        says when to retry), for this client's tenant."""
        return await self._run(_core.key_status(idempotency_key, operation))

    async def usage(
        self,
        *,
        idempotency_key: str | None = None,
        limit: int | None = None,
        next_token: str | None = None,
    ) -> Result[UsagePage]:
        return await self._run(_core.usage(idempotency_key, limit, next_token))

    async def account(self, account_id: str) -> Result[Account]:
        return await self._run(_core.account(account_id))

    async def get_transfer(self, transfer_id: str) -> Result[Transfer]:
        return await self._run(_core.get_transfer(transfer_id))

    async def webhook_event(self, event_id: str) -> Result[WebhookEvent]:
        return await self._run(_core.webhook_event(event_id))

    async def summary(self, document_id: str) -> Result[Summary]:
        return await self._run(_core.summary(document_id))

    async def deliver_webhook(
        self,
        secret: str,
        payload: Mapping[str, Any],
        *,
        msg_id: str | None = None,
        timestamp: int | None = None,
        path: str = "/webhooks/document-uploaded",
    ) -> Result[WebhookAccepted]:
        return await self._run(_core.deliver_webhook(secret, payload, msg_id, timestamp, path))

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        authenticate: bool = True,
    ) -> Result[Any]:
        call = _core.request(method, path, json_body, headers, idempotency_key, authenticate)
        return await self._run(call)

    # --- the retry loop: the rules are in ClientCore._after / RetryLoop --------------------
    async def _run(self, call: Call[T]) -> Result[T]:
        return self._result(call, await self._send(call))

    async def _send(self, call: Call[Any]) -> Answer:
        request = self._http_request(call)
        loop = self._loop()
        while True:
            timeout = loop.begin()
            response: HttpResponse | None = None
            error: BaseException | None = None
            try:
                response = await self.transport.send(request, timeout)
            except NETWORK_ERRORS as exc:
                error = exc
            except asyncio.TimeoutError as exc:  # not an OSError before Python 3.11
                error = TimeoutError(str(exc) or "timed out")
            delay = self._after(loop, call, response, error)
            if delay is None:
                assert response is not None
                return Answer(response, loop.attempt)
            await self._sleep(delay)
