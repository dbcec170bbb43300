"""Request bodies, validated at the edge before anything is claimed or stored."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StrictBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)


class GenerateRequest(StrictBody):
    prompt: str = Field(min_length=1, max_length=32000)
    model: str | None = Field(default=None, min_length=1, max_length=100)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=4096, alias="maxTokens")


MAX_AMOUNT = 10**12


class TransferRequest(StrictBody):
    from_account_id: str = Field(alias="fromAccountId", min_length=1, max_length=128)
    to_account_id: str = Field(alias="toAccountId", min_length=1, max_length=128)
    # Integer minor units (cents); strict: 10.0, "10" and true are refused.
    amount: int = Field(ge=1, le=MAX_AMOUNT)
    currency: str = Field(pattern="^[A-Z]{3}$")


ToolName = Literal["transfer_funds", "get_balance"]


class AgentRunRequest(StrictBody):
    input: str = Field(min_length=1, max_length=32000)
    tools: list[ToolName] = Field(default_factory=list, max_length=10)
    max_steps: int = Field(default=5, ge=1, le=10, alias="maxSteps")
