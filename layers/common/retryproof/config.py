"""Settings, read lazily from the environment once per execution environment."""

from __future__ import annotations

import json
import os
from decimal import Decimal
from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class ModelPrice(BaseModel):
    """USD per one million tokens."""

    model_config = ConfigDict(frozen=True)

    input: Decimal = Field(ge=0)
    output: Decimal = Field(ge=0)


# Public list prices (USD per 1M tokens). A deployment overrides them with MODEL_PRICES (JSON).
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-4o-mini": ModelPrice(input=Decimal("0.15"), output=Decimal("0.60")),
    "gpt-4o": ModelPrice(input=Decimal("2.50"), output=Decimal("10.00")),
    "gpt-4.1": ModelPrice(input=Decimal("2.00"), output=Decimal("8.00")),
    "gpt-4.1-mini": ModelPrice(input=Decimal("0.40"), output=Decimal("1.60")),
    "gpt-4.1-nano": ModelPrice(input=Decimal("0.10"), output=Decimal("0.40")),
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    idempotency_table: str = ""
    usage_table: str = ""
    api_keys_table: str = ""
    accounts_table: str = ""
    ledger_table: str = ""
    webhook_secrets_table: str = ""
    webhook_events_table: str = ""
    summaries_table: str = ""
    webhook_queue_url: str = ""
    runs_table: str = ""
    openai_secret_id: str = ""
    openai_base_url: str = ""
    allowed_models: tuple[str, ...] = ("gpt-4o-mini",)
    default_model: str = "gpt-4o-mini"
    model_prices: dict[str, ModelPrice] = Field(default_factory=lambda: dict(DEFAULT_PRICES))
    idempotency_ttl_generate: int = Field(default=86400, gt=0)
    idempotency_ttl_transfer: int = Field(default=3600, gt=0)
    idempotency_ttl_webhook: int = Field(default=86400, gt=0)
    idempotency_ttl_agent: int = Field(default=86400, gt=0)
    payload_mismatch: Literal["reject", "replay"] = "reject"
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=5)

    @model_validator(mode="after")
    def _models_have_prices(self) -> Settings:
        unpriced = [m for m in self.allowed_models if m not in self.model_prices]
        if unpriced:
            raise ValueError(f"allowed models without a price: {', '.join(unpriced)}")
        if self.default_model not in self.allowed_models:
            raise ValueError("DEFAULT_MODEL must be one of ALLOWED_MODELS")
        return self


_ENV = {
    "idempotency_table": "IDEMPOTENCY_TABLE",
    "usage_table": "USAGE_TABLE",
    "api_keys_table": "API_KEYS_TABLE",
    "accounts_table": "ACCOUNTS_TABLE",
    "ledger_table": "LEDGER_TABLE",
    "webhook_secrets_table": "WEBHOOK_SECRETS_TABLE",
    "webhook_events_table": "WEBHOOK_EVENTS_TABLE",
    "summaries_table": "SUMMARIES_TABLE",
    "webhook_queue_url": "WEBHOOK_QUEUE_URL",
    "runs_table": "RUNS_TABLE",
    "openai_secret_id": "OPENAI_API_KEY_SECRET",
    "openai_base_url": "OPENAI_BASE_URL",
    "default_model": "DEFAULT_MODEL",
    "idempotency_ttl_generate": "IDEMPOTENCY_TTL_GENERATE",
    "idempotency_ttl_transfer": "IDEMPOTENCY_TTL_TRANSFER",
    "idempotency_ttl_webhook": "IDEMPOTENCY_TTL_WEBHOOK",
    "idempotency_ttl_agent": "IDEMPOTENCY_TTL_AGENT",
    "payload_mismatch": "IDEMPOTENCY_PAYLOAD_MISMATCH",
    "llm_timeout_seconds": "LLM_TIMEOUT_SECONDS",
    "llm_max_retries": "LLM_MAX_RETRIES",
}


def settings_from_env(env: dict[str, str] | os._Environ[str]) -> Settings:
    values: dict[str, object] = {
        field: env[name] for field, name in _ENV.items() if env.get(name, "") != ""
    }
    if env.get("ALLOWED_MODELS"):
        values["allowed_models"] = tuple(
            m.strip() for m in env["ALLOWED_MODELS"].split(",") if m.strip()
        )
    if env.get("MODEL_PRICES"):
        prices = dict(DEFAULT_PRICES)
        prices.update(
            {k: ModelPrice.model_validate(v) for k, v in json.loads(env["MODEL_PRICES"]).items()}
        )
        values["model_prices"] = prices
    return Settings.model_validate(values)


@cache
def get_settings() -> Settings:
    """This execution environment's settings (cached; tests call `get_settings.cache_clear()`)."""
    return settings_from_env(os.environ)
