"""Settings, read lazily from the environment once per execution environment.

Plain frozen dataclasses, not pydantic: this module is imported on every cold start, so it keeps
to the standard library. Validation happens in `__post_init__` (every construction) and in
`settings_from_env` (parsing the environment's strings); every failure is a `ValueError` naming
the field and, where there is one, its environment variable.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any, Literal, cast, get_args

PayloadMismatch = Literal["reject", "replay"]
_PAYLOAD_MISMATCH_MODES: tuple[str, ...] = get_args(PayloadMismatch)
Destinations = Literal["own", "any"]
_DESTINATIONS: tuple[str, ...] = get_args(Destinations)


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per one million tokens."""

    input: Decimal
    output: Decimal

    def __post_init__(self) -> None:
        for name in ("input", "output"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):
                raise ValueError(f"ModelPrice.{name} must be a Decimal, got {value!r}")
            if not value.is_finite() or value < 0:
                raise ValueError(f"ModelPrice.{name} must be a finite number >= 0, got {value}")


# Public list prices (USD per 1M tokens). A deployment overrides them with MODEL_PRICES (JSON).
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "gpt-4o-mini": ModelPrice(input=Decimal("0.15"), output=Decimal("0.60")),
    "gpt-4o": ModelPrice(input=Decimal("2.50"), output=Decimal("10.00")),
    "gpt-4.1": ModelPrice(input=Decimal("2.00"), output=Decimal("8.00")),
    "gpt-4.1-mini": ModelPrice(input=Decimal("0.40"), output=Decimal("1.60")),
    "gpt-4.1-nano": ModelPrice(input=Decimal("0.10"), output=Decimal("0.40")),
}


def _default_prices() -> dict[str, ModelPrice]:
    return dict(DEFAULT_PRICES)


@dataclass(frozen=True, slots=True)
class Settings:
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
    model_prices: dict[str, ModelPrice] = field(default_factory=_default_prices)
    idempotency_ttl_generate: int = 86400
    idempotency_ttl_transfer: int = 3600
    idempotency_ttl_webhook: int = 86400
    idempotency_ttl_agent: int = 86400
    payload_mismatch: PayloadMismatch = "reject"
    llm_timeout_seconds: float = 60.0
    llm_max_retries: int = 2
    # Agent runs (durable executions) and their guard rails.
    agent_run_function: str = ""  # the durable function, invoked by qualified ARN (alias)
    agent_run_timeout: int = 3600
    agent_step_attempts: int = 5
    agent_approval_timeout: int = 86400
    agent_transfer_destinations: Destinations = "own"
    agent_max_transfer_per_call: int = 100_000
    agent_max_transfer_per_run: int = 250_000
    agent_max_tokens: int = 1024

    def __post_init__(self) -> None:
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if not isinstance(value, str):
                raise ValueError(f"{_label(name)} must be a string, got {value!r}")
        for name, (low, high) in _INT_RANGES.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"{_label(name)} must be an integer, got {value!r}")
            if value < low or (high is not None and value > high):
                bounds = f"> {low - 1}" if high is None else f"between {low} and {high}"
                raise ValueError(f"{_label(name)} must be {bounds}, got {value}")
        timeout = self.llm_timeout_seconds
        if isinstance(timeout, bool) or not isinstance(timeout, int | float):
            raise ValueError(f"{_label('llm_timeout_seconds')} must be a number, got {timeout!r}")
        if not timeout > 0:  # also rejects NaN
            raise ValueError(f"{_label('llm_timeout_seconds')} must be > 0, got {timeout}")
        object.__setattr__(self, "llm_timeout_seconds", float(timeout))
        if self.payload_mismatch not in _PAYLOAD_MISMATCH_MODES:
            raise ValueError(
                f"{_label('payload_mismatch')} must be one of "
                f"{', '.join(_PAYLOAD_MISMATCH_MODES)}, got {self.payload_mismatch!r}"
            )
        if self.agent_transfer_destinations not in _DESTINATIONS:
            raise ValueError(
                f"{_label('agent_transfer_destinations')} must be one of "
                f"{', '.join(_DESTINATIONS)}, got {self.agent_transfer_destinations!r}"
            )
        if not isinstance(self.allowed_models, tuple) or not all(
            isinstance(m, str) for m in self.allowed_models
        ):
            raise ValueError(
                f"{_label('allowed_models')} must be a tuple of strings, "
                f"got {self.allowed_models!r}"
            )
        if not isinstance(self.model_prices, dict) or not all(
            isinstance(k, str) and isinstance(v, ModelPrice) for k, v in self.model_prices.items()
        ):
            raise ValueError(
                f"{_label('model_prices')} must map model names to ModelPrice, "
                f"got {self.model_prices!r}"
            )
        unpriced = [m for m in self.allowed_models if m not in self.model_prices]
        if unpriced:
            raise ValueError(f"allowed models without a price: {', '.join(unpriced)}")
        if self.default_model not in self.allowed_models:
            raise ValueError(
                f"DEFAULT_MODEL must be one of ALLOWED_MODELS: {self.default_model!r} is not in "
                f"{', '.join(self.allowed_models) or '(none)'}"
            )


# Settings field -> the environment variable it is read from.
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
    "agent_run_function": "AGENT_RUN_FUNCTION",
    "agent_run_timeout": "AGENT_RUN_TIMEOUT",
    "agent_step_attempts": "AGENT_STEP_ATTEMPTS",
    "agent_approval_timeout": "AGENT_APPROVAL_TIMEOUT",
    "agent_transfer_destinations": "AGENT_TRANSFER_DESTINATIONS",
    "agent_max_transfer_per_call": "AGENT_MAX_TRANSFER_PER_CALL",
    "agent_max_transfer_per_run": "AGENT_MAX_TRANSFER_PER_RUN",
    "agent_max_tokens": "AGENT_MAX_TOKENS",
}
# Parsed separately in settings_from_env; listed for error messages only.
_ENV_SPECIAL = {"allowed_models": "ALLOWED_MODELS", "model_prices": "MODEL_PRICES"}

_INT_RANGES: dict[str, tuple[int, int | None]] = {
    "idempotency_ttl_generate": (1, None),
    "idempotency_ttl_transfer": (1, None),
    "idempotency_ttl_webhook": (1, None),
    "idempotency_ttl_agent": (1, None),
    "llm_max_retries": (0, 5),
    "agent_run_timeout": (1, 31_622_400),
    "agent_step_attempts": (1, 20),
    "agent_approval_timeout": (1, 31_622_400),
    "agent_max_transfer_per_call": (0, None),
    "agent_max_transfer_per_run": (0, None),
    "agent_max_tokens": (1, 16_384),
}
_TEXT_FIELDS = (
    "idempotency_table",
    "usage_table",
    "api_keys_table",
    "accounts_table",
    "ledger_table",
    "webhook_secrets_table",
    "webhook_events_table",
    "summaries_table",
    "webhook_queue_url",
    "runs_table",
    "agent_run_function",
    "openai_secret_id",
    "openai_base_url",
    "default_model",
)


def _label(name: str) -> str:
    env = _ENV.get(name) or _ENV_SPECIAL.get(name)
    return f"{name} ({env})" if env else name


# What pydantic's lax mode accepted for an int: optional sign, ASCII digits with single
# underscores between them, and an optional all-zero fraction ("120.0"); whitespace around it.
_INT_TEXT = re.compile(r"[+-]?[0-9]+(?:_[0-9]+)*(?:\.0+)?")


def _parse_int(env_name: str, raw: str) -> int:
    text = raw.strip()
    if not _INT_TEXT.fullmatch(text):
        raise ValueError(f"{env_name} must be an integer, got {raw!r}")
    return int(text.partition(".")[0])


def _parse_float(env_name: str, raw: str) -> float:
    try:
        if not raw.isascii():
            raise ValueError(raw)
        return float(raw)
    except ValueError:
        raise ValueError(f"{env_name} must be a number, got {raw!r}") from None


def _parse_destinations(env_name: str, raw: str) -> Destinations:
    if raw not in _DESTINATIONS:
        raise ValueError(f"{env_name} must be one of {', '.join(_DESTINATIONS)}, got {raw!r}")
    return cast(Destinations, raw)


def _parse_payload_mismatch(env_name: str, raw: str) -> PayloadMismatch:
    if raw not in _PAYLOAD_MISMATCH_MODES:
        raise ValueError(
            f"{env_name} must be one of {', '.join(_PAYLOAD_MISMATCH_MODES)}, got {raw!r}"
        )
    return cast(PayloadMismatch, raw)


_PARSERS: dict[str, Callable[[str, str], object]] = {
    "idempotency_ttl_generate": _parse_int,
    "idempotency_ttl_transfer": _parse_int,
    "idempotency_ttl_webhook": _parse_int,
    "idempotency_ttl_agent": _parse_int,
    "llm_max_retries": _parse_int,
    "llm_timeout_seconds": _parse_float,
    "payload_mismatch": _parse_payload_mismatch,
    "agent_run_timeout": _parse_int,
    "agent_step_attempts": _parse_int,
    "agent_approval_timeout": _parse_int,
    "agent_transfer_destinations": _parse_destinations,
    "agent_max_transfer_per_call": _parse_int,
    "agent_max_transfer_per_run": _parse_int,
    "agent_max_tokens": _parse_int,
}


def _price_decimal(where: str, value: object) -> Decimal:
    """A JSON price as a Decimal: from a string or a number, never through binary float."""
    try:
        if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
            raise TypeError(value)
        # str(float) is the shortest repr that round-trips (0.6 -> "0.6"), so no float noise.
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (TypeError, ValueError, ArithmeticError):  # InvalidOperation is an ArithmeticError
        raise ValueError(f"{where} must be a decimal number, got {value!r}") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{where} must be a finite number >= 0, got {value!r}")
    return number


def _parse_prices(raw: str) -> dict[str, ModelPrice]:
    try:
        parsed: Any = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"MODEL_PRICES must be valid JSON: {e}") from None
    if not isinstance(parsed, dict):
        raise ValueError(
            'MODEL_PRICES must be a JSON object like {"model": {"input": "0.15", "output": '
            f'"0.60"}}}}, got {type(parsed).__name__}'
        )
    prices: dict[str, ModelPrice] = {}
    for model, price in parsed.items():
        where = f"MODEL_PRICES[{model!r}]"
        if not isinstance(price, dict):
            raise ValueError(
                f"{where} must be an object with input and output, got {type(price).__name__}"
            )
        missing = [k for k in ("input", "output") if k not in price]
        if missing:
            raise ValueError(f"{where} is missing {' and '.join(missing)}")
        prices[model] = ModelPrice(
            input=_price_decimal(f"{where}.input", price["input"]),
            output=_price_decimal(f"{where}.output", price["output"]),
        )
    return prices


def settings_from_env(env: dict[str, str] | os._Environ[str]) -> Settings:
    """Settings from environment variables; unset or empty variables keep the defaults.

    Raises ValueError, naming the variable, for any value that does not parse or validate.
    """
    values: dict[str, Any] = {}
    for name, env_name in _ENV.items():
        raw = env.get(env_name, "")
        if raw != "":
            parse = _PARSERS.get(name)
            values[name] = parse(env_name, raw) if parse else raw
    if env.get("ALLOWED_MODELS"):
        values["allowed_models"] = tuple(
            m.strip() for m in env["ALLOWED_MODELS"].split(",") if m.strip()
        )
    if env.get("MODEL_PRICES"):
        prices = dict(DEFAULT_PRICES)
        prices.update(_parse_prices(env["MODEL_PRICES"]))
        values["model_prices"] = prices
    return Settings(**values)


@cache
def get_settings() -> Settings:
    """This execution environment's settings (cached; tests call `get_settings.cache_clear()`)."""
    return settings_from_env(os.environ)
