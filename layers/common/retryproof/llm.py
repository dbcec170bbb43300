"""The LLM boundary: an OpenAI-compatible client, the price table, and error mapping.

`openai` is imported only when a client is built, so functions that never call the LLM never pay
for importing it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from retryproof import observability as obs
from retryproof.config import Settings
from retryproof.errors import LlmError, LlmTimeout

if TYPE_CHECKING:
    import openai

# Time kept back from the LLM call so the result can still be stored before the function times out.
RESERVED_MS = 3_000
MIN_ATTEMPT_SECONDS = 2.0


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
    """Per-attempt timeout and retry count that fit in the function's remaining time."""
    if remaining_ms is None:
        return timeout_s, max_retries
    budget = max((remaining_ms - RESERVED_MS) / 1000, MIN_ATTEMPT_SECONDS)
    retries = max_retries
    while retries > 0 and budget / (retries + 1) < min(timeout_s, 10.0):
        retries -= 1
    return min(timeout_s, budget / (retries + 1)), retries


class OpenAIChat:
    """`LlmClient` over the openai SDK; works with any OpenAI-compatible base URL."""

    def __init__(self, client: openai.OpenAI, settings: Settings) -> None:
        self._client = client
        self._settings = settings

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
        client = self._client.with_options(timeout=timeout, max_retries=retries)
        try:
            response = client.chat.completions.create(**params)
        except openai.APITimeoutError as exc:
            obs.count(obs.LLM_ERROR)
            raise LlmTimeout("the language model did not answer in time") from exc
        except openai.APIStatusError as exc:
            obs.count(obs.LLM_ERROR)
            raise LlmError(f"the language model answered HTTP {exc.status_code}") from exc
        except openai.APIError as exc:
            obs.count(obs.LLM_ERROR)
            raise LlmError("the language model could not be reached") from exc
        completion = _to_completion(response, model)
        obs.count(obs.LLM_COMPLETION)
        obs.count(obs.LLM_TOKENS, completion.total_tokens)
        return completion


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


def _api_key(settings: Settings) -> str:
    if not settings.openai_secret_id:
        return "unset"
    from aws_lambda_powertools.utilities import parameters

    try:
        value = parameters.get_secret(settings.openai_secret_id, max_age=300)
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
            import openai

            client = openai.OpenAI(api_key=key, base_url=settings.openai_base_url or None)
            _clients[cache_key] = client
    return OpenAIChat(client, settings)
