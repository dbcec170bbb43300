"""The LLM boundary: an OpenAI-compatible client, the price table, and error mapping.

`openai` is imported only when a client is built, so functions that never call the LLM never pay
for importing it.

Retries never pay twice. A provider bills a completion it processed, whether or not its answer
reached us, so a request is sent again only when the provider cannot have processed it:
- the connection could not be made (httpx's transport retries connection failures, and only
  those: nothing was sent);
- the provider answered 429, 500 or 503 (it refused or failed the request: no completion to bill).
Never after a timeout, a reset or a 502/504 from a gateway once the request was sent: the provider
may have produced (and billed) the completion. The openai SDK's own retries are off (they retry
timeouts too).
"""

from __future__ import annotations

import functools
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from retryproof import aws
from retryproof import observability as obs
from retryproof.config import Settings
from retryproof.errors import LlmError, LlmTimeout, NoTimeForLlm
from retryproof.faults import disabled

if TYPE_CHECKING:
    import openai
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

# Time kept back from the LLM call so the result can still be stored before the function times out.
RESERVED_MS = 3_000
MIN_ATTEMPT_SECONDS = 2.0
# The least remaining time in which a call is started at all: one minimal attempt + the reserve.
MIN_CALL_MS = RESERVED_MS + int(MIN_ATTEMPT_SECONDS * 1000)
# Answers after which the provider did not process the request (so it billed nothing).
RETRYABLE_STATUS = frozenset({429, 500, 503})
CONNECT_RETRIES = 2  # connection failures, retried by httpx's transport before anything is sent
BACKOFF_S = 0.5
MAX_BACKOFF_S = 4.0


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Completion:
    id: str
    content: str
    finish_reason: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    tool_calls: tuple[ToolCall, ...] = field(default=())

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LlmClient(Protocol):
    def complete(
        self,
        *,
        model: str,
        messages: Sequence[dict[str, Any]],
        temperature: float | None = None,
        max_tokens: int | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
        remaining_ms: int | None = None,
    ) -> Completion: ...


def attempt_budget(
    remaining_ms: int | None, timeout_s: float, max_retries: int
) -> tuple[float, int]:
    """Per-attempt timeout and retry count that fit in the function's remaining time.

    Raises `NoTimeForLlm` when not even one minimal attempt fits: a call started then would be
    cut off by the function's timeout after the provider billed it, with nothing recorded.
    """
    if remaining_ms is None:
        return timeout_s, max_retries
    if remaining_ms < MIN_CALL_MS:
        raise NoTimeForLlm(f"{remaining_ms} ms left, a language model call needs {MIN_CALL_MS}")
    budget = (remaining_ms - RESERVED_MS) / 1000
    retries = max_retries
    while retries > 0 and budget / (retries + 1) < min(timeout_s, 10.0):
        retries -= 1
    return min(timeout_s, budget / (retries + 1)), retries


class OpenAIChat:
    """`LlmClient` over the openai SDK; works with any OpenAI-compatible base URL."""

    def __init__(
        self,
        client: openai.OpenAI,
        settings: Settings,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._settings = settings
        self._sleep = sleep

    def complete(
        self,
        *,
        model: str,
        messages: Sequence[dict[str, Any]],
        temperature: float | None = None,
        max_tokens: int | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
        remaining_ms: int | None = None,
    ) -> Completion:
        import openai

        timeout, retries = attempt_budget(
            remaining_ms, self._settings.llm_timeout_seconds, self._settings.llm_max_retries
        )
        params: dict[str, Any] = {"model": model, "messages": list(messages)}
        if temperature is not None:
            params["temperature"] = temperature
        if max_tokens is not None:
            params["max_tokens"] = max_tokens
        if tools:
            params["tools"] = list(tools)
        # max_retries=0: the SDK would also resend after a timeout (see the module's docstring).
        sdk_retries = retries if disabled("no_retry_rule") else 0
        client = self._client.with_options(timeout=timeout, max_retries=sdk_retries)
        deadline = time.monotonic() + timeout * (retries + 1)
        attempt = 0
        while True:
            try:
                response = client.chat.completions.create(**params)
                break
            except openai.APITimeoutError as exc:  # sent: the provider may have billed it
                obs.count(obs.LLM_ERROR)
                raise LlmTimeout("the language model did not answer in time") from exc
            except openai.APIStatusError as exc:
                obs.count(obs.LLM_ERROR)
                pause = retry_pause(exc.status_code, exc.response.headers, attempt)
                fits = pause is not None and time.monotonic() + pause + timeout <= deadline
                if attempt < retries and pause is not None and fits:
                    attempt += 1
                    self._sleep(pause)
                    continue
                raise LlmError(f"the language model answered HTTP {exc.status_code}") from exc
            except openai.APIError as exc:  # a reset after sending, or no connection at all
                obs.count(obs.LLM_ERROR)
                raise LlmError("the language model could not be reached") from exc
        completion = _to_completion(response, model)
        obs.count(obs.LLM_COMPLETION)
        obs.count(obs.LLM_TOKENS, completion.total_tokens)
        return completion


def retry_pause(status: int, headers: Any, attempt: int) -> float | None:
    """Seconds to wait before sending again after an HTTP error answer; None: never again.

    Only answers that say the provider did not process the request are retried (429, 500, 503),
    after its `Retry-After` (seconds) when it gives one, else exponential backoff with full jitter.
    """
    if status not in RETRYABLE_STATUS:
        return None
    given = headers.get("retry-after") if headers is not None else None
    if given is not None:
        try:
            return min(max(float(given), 0.0), MAX_BACKOFF_S)
        except ValueError:
            pass
    return random.uniform(0, min(MAX_BACKOFF_S, BACKOFF_S * 2**attempt))


def import_sdk() -> None:
    """Import the openai SDK and its chat resources now (seconds on a small, busy machine).

    For a function that calls the LLM on its common path (the worker): done in Lambda's init
    phase, which has its own 10-second limit, the import is not taken from the invocation's
    timeout, so the first, cold invocation is not the one that runs out of time.
    """
    import openai.resources.chat.completions  # noqa: F401


def _to_completion(response: Any, requested_model: str) -> Completion:
    if not response.choices:
        raise LlmError("the language model returned no choices")
    choice = response.choices[0]
    message = choice.message
    usage = response.usage
    calls = tuple(
        ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
        for c in (message.tool_calls or [])
        if getattr(c, "function", None) is not None
    )
    return Completion(
        id=response.id,
        content=message.content or "",
        finish_reason=choice.finish_reason or "stop",
        model=response.model or requested_model,
        prompt_tokens=usage.prompt_tokens if usage else 0,
        completion_tokens=usage.completion_tokens if usage else 0,
        tool_calls=calls,
    )


_lock = threading.Lock()
_clients: dict[tuple[str, str], Any] = {}


@functools.lru_cache(maxsize=1)  # the newest client's provider only (see below)
def _secrets(client: Any) -> SecretsProvider:
    """Powertools' secrets provider on our Secrets Manager client (its cache is the provider's).

    `parameters.get_secret` would use one provider per process, its client made once: a process
    that starts a second local stack would read the first one's stopped endpoint once the cached
    value expires. A provider per client follows AWS_ENDPOINT_URL like the other clients."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client)


def _api_key(settings: Settings) -> str:
    if not settings.openai_secret_id:
        return "unset"
    from aws_lambda_powertools.utilities import parameters

    try:
        value = _secrets(aws.secretsmanager()).get(settings.openai_secret_id, max_age=300)
    except parameters.exceptions.GetParameterError as exc:
        raise LlmError("the language model's credentials are unavailable") from exc
    return str(value) if value else "unset"


def llm_client(settings: Settings, api_key: Callable[[Settings], str] = _api_key) -> OpenAIChat:
    """An `LlmClient`, cached per execution environment (and per API key, so rotation works)."""
    key = api_key(settings)
    cache_key = (settings.openai_base_url, key)
    with _lock:
        client = _clients.get(cache_key)
        if client is None:
            import httpx2  # the openai SDK's HTTP library
            import openai

            # max_retries=0: the SDK would also retry timeouts (see the module's docstring).
            transport = httpx2.HTTPTransport(
                retries=CONNECT_RETRIES, limits=openai.DEFAULT_CONNECTION_LIMITS
            )
            client = openai.OpenAI(
                api_key=key,
                base_url=settings.openai_base_url or None,
                max_retries=0,
                http_client=openai.DefaultHttpxClient(transport=transport),
            )
            _clients[cache_key] = client
    return OpenAIChat(client, settings)
