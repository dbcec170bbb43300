"""POST /generate: the request and the response."""

from __future__ import annotations

from dataclasses import dataclass

from retryproof.shapes import Shape, spec


@dataclass(frozen=True)
class GenerateRequest(Shape):
    prompt: str = spec(min_length=1, max_length=32000)
    model: str | None = spec(default=None, min_length=1, max_length=100)
    temperature: float | None = spec(default=None, ge=0, le=2)
    max_tokens: int | None = spec(default=None, ge=1, le=4096)


@dataclass(frozen=True)
class TokenUsage(Shape):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True)
class GenerateResponse(Shape):
    id: str
    content: str
    tokens: int
    finish_reason: str
    model: str
    usage: TokenUsage
    cost_usd: str
    created_at: str
