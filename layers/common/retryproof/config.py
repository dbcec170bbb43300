"""Settings, read lazily from the environment once per execution environment.

Each setting is declared once, as a field of `Settings`: its type (the annotation), its default,
and `setting(ENV_VAR, description, range)`. Parsing the environment, validation, the error
messages and the table in docs/settings.md (`python -m tools.settings`) all come from those
declarations. Plain frozen dataclasses, not pydantic: this module is imported on every cold start,
so it keeps to the standard library. Every failure is a `ValueError` naming the field and its
environment variable.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from decimal import Decimal
from functools import cache
from typing import Any, Literal, NamedTuple, get_args

PayloadMismatch = Literal["reject", "replay"]
Destinations = Literal["own", "any"]


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


class Spec(NamedTuple):
    """What a setting declares besides its name, type and default."""

    env: str  # the environment variable it is read from
    description: str
    low: int | None = None  # inclusive bounds of an integer
    high: int | None = None


def setting(env: str, description: str, *, low: int | None = None, high: int | None = None) -> Any:
    """A setting's declaration, as its `Settings` field's metadata."""
    return {"setting": Spec(env, description, low, high)}


@dataclass(frozen=True, slots=True)
class Settings:
    """This deployment's settings. One field per setting: name, type, default, declaration."""

    idempotency_table: str = field(
        default="", metadata=setting("IDEMPOTENCY_TABLE", "DynamoDB table of the idempotency store")
    )
    usage_table: str = field(
        default="", metadata=setting("USAGE_TABLE", "DynamoDB table of usage records")
    )
    api_keys_table: str = field(
        default="", metadata=setting("API_KEYS_TABLE", "DynamoDB table of API key hashes")
    )
    accounts_table: str = field(
        default="", metadata=setting("ACCOUNTS_TABLE", "DynamoDB table of accounts")
    )
    ledger_table: str = field(
        default="", metadata=setting("LEDGER_TABLE", "DynamoDB table of ledger entries")
    )
    webhook_secret_prefix: str = field(
        default="retryproof/webhook-secrets/",
        metadata=setting(
            "WEBHOOK_SECRET_PREFIX", "Secrets Manager name prefix of the tenants' webhook secrets"
        ),
    )
    webhook_secret_cache_seconds: int = field(
        default=60,
        metadata=setting(
            "WEBHOOK_SECRET_CACHE_SECONDS",
            "seconds a webhook secret is cached per execution environment",
            low=0,
            high=3600,
        ),
    )
    webhook_events_table: str = field(
        default="", metadata=setting("WEBHOOK_EVENTS_TABLE", "DynamoDB table of webhook events")
    )
    summaries_table: str = field(
        default="", metadata=setting("SUMMARIES_TABLE", "DynamoDB table of document summaries")
    )
    webhook_queue_url: str = field(
        default="", metadata=setting("WEBHOOK_QUEUE_URL", "SQS queue of webhook jobs")
    )
    runs_table: str = field(
        default="", metadata=setting("RUNS_TABLE", "DynamoDB table of agent run checkpoints")
    )
    rate_limit_table: str = field(
        default="", metadata=setting("RATE_LIMIT_TABLE", "DynamoDB table of per-tenant counters")
    )
    openai_secret_id: str = field(
        default="",
        metadata=setting("OPENAI_API_KEY_SECRET", "Secrets Manager id of the OpenAI key"),
    )
    openai_base_url: str = field(
        default="",
        metadata=setting("OPENAI_BASE_URL", "an OpenAI-compatible endpoint (empty: OpenAI)"),
    )
    allowed_models: tuple[str, ...] = field(
        default=("gpt-4o-mini",),
        metadata=setting("ALLOWED_MODELS", "models a request may name, comma-separated"),
    )
    default_model: str = field(
        default="gpt-4o-mini",
        metadata=setting("DEFAULT_MODEL", "the model of a request naming none"),
    )
    model_prices: dict[str, ModelPrice] = field(
        default_factory=_default_prices,
        metadata=setting("MODEL_PRICES", "JSON overrides, USD per 1M tokens"),
    )
    idempotency_ttl_generate: int = field(
        default=86400,
        metadata=setting(
            "IDEMPOTENCY_TTL_GENERATE", "seconds a `/generate` result is replayed", low=1
        ),
    )
    idempotency_ttl_transfer: int = field(
        default=3600,
        metadata=setting(
            "IDEMPOTENCY_TTL_TRANSFER", "seconds a `/transfer` result is replayed", low=1
        ),
    )
    idempotency_ttl_webhook: int = field(
        default=86400,
        metadata=setting(
            "IDEMPOTENCY_TTL_WEBHOOK", "seconds an event id is remembered at the edge", low=1
        ),
    )
    idempotency_ttl_agent: int = field(
        default=86400,
        metadata=setting(
            "IDEMPOTENCY_TTL_AGENT", "seconds an agent run's result is replayed", low=1
        ),
    )
    payload_mismatch: PayloadMismatch = field(
        default="reject",
        metadata=setting(
            "IDEMPOTENCY_PAYLOAD_MISMATCH", "a key reused with another body: 422 or replay"
        ),
    )
    llm_timeout_seconds: float = field(
        default=60.0,
        metadata=setting("LLM_TIMEOUT_SECONDS", "per-attempt LLM timeout (fit to the time left)"),
    )
    llm_max_retries: int = field(
        default=2,
        metadata=setting("LLM_MAX_RETRIES", "LLM retries (fit to the time left)", low=0, high=5),
    )
    # Agent runs (durable executions) and their guard rails.
    agent_run_function: str = field(
        default="",
        metadata=setting("AGENT_RUN_FUNCTION", "the durable function, by qualified ARN (alias)"),
    )
    agent_run_timeout: int = field(
        default=3600,
        metadata=setting("AGENT_RUN_TIMEOUT", "seconds a run may take", low=1, high=31_622_400),
    )
    agent_step_attempts: int = field(
        default=5,
        metadata=setting("AGENT_STEP_ATTEMPTS", "attempts of a failing step", low=1, high=20),
    )
    agent_approval_timeout: int = field(
        default=86400,
        metadata=setting(
            "AGENT_APPROVAL_TIMEOUT",
            "seconds an approval waits (then: rejected)",
            low=1,
            high=31_622_400,
        ),
    )
    agent_transfer_destinations: Destinations = field(
        default="own",
        metadata=setting(
            "AGENT_TRANSFER_DESTINATIONS", "where the agent may move money: own accounts or any"
        ),
    )
    agent_max_transfer_per_call: int = field(
        default=100_000,
        metadata=setting(
            "AGENT_MAX_TRANSFER_PER_CALL", "most minor units one tool call moves", low=0
        ),
    )
    agent_max_transfer_per_run: int = field(
        default=250_000,
        metadata=setting("AGENT_MAX_TRANSFER_PER_RUN", "most minor units one run moves", low=0),
    )
    agent_max_tool_calls_per_run: int = field(
        default=25,
        metadata=setting(
            "AGENT_MAX_TOOL_CALLS_PER_RUN", "most tool calls one run executes", low=1, high=1000
        ),
    )
    agent_max_tokens: int = field(
        default=1024,
        metadata=setting(
            "AGENT_MAX_TOKENS", "max_tokens of every agent LLM step", low=1, high=16_384
        ),
    )
    # Per-tenant limits (docs/limits.md), each tenant counted apart.
    tenant_rate_limit: int = field(
        default=200,
        metadata=setting(
            "TENANT_RATE_LIMIT", "requests a tenant may send per window (0: no limit)", low=0
        ),
    )
    tenant_rate_window_seconds: int = field(
        default=10,
        metadata=setting(
            "TENANT_RATE_WINDOW_SECONDS", "the window of the request limit", low=1, high=3600
        ),
    )
    tenant_rate_shards: int = field(
        default=2,
        metadata=setting(
            "TENANT_RATE_SHARDS", "counter items per tenant and window", low=1, high=100
        ),
    )
    tenant_daily_spend_limit_micro_usd: int = field(
        default=10_000_000,
        metadata=setting(
            "TENANT_DAILY_SPEND_LIMIT_MICRO_USD",
            "LLM spend per tenant and UTC day before new work is refused (0: no limit)",
            low=0,
        ),
    )

    def __post_init__(self) -> None:
        for f, spec in declared():
            value = kind(f).check(label(f.name), getattr(self, f.name), spec)
            object.__setattr__(self, f.name, value)
        unpriced = [m for m in self.allowed_models if m not in self.model_prices]
        if unpriced:
            raise ValueError(f"allowed models without a price: {', '.join(unpriced)}")
        if self.default_model not in self.allowed_models:
            raise ValueError(
                f"DEFAULT_MODEL must be one of ALLOWED_MODELS: {self.default_model!r} is not in "
                f"{', '.join(self.allowed_models) or '(none)'}"
            )


def declared() -> Iterator[tuple[Any, Spec]]:
    """Each setting: its dataclass field (name, type, default) and its declaration."""
    for f in fields(Settings):
        yield f, f.metadata["setting"]


def label(name: str) -> str:
    """`name (ENV_VAR)`, as error messages name a setting."""
    return f"{name} ({Settings.__dataclass_fields__[name].metadata['setting'].env})"


# --- the kinds of setting: how a type is parsed from its variable and checked -----------------


class Kind(NamedTuple):
    parse: Callable[[str, str], Any]  # (variable name, raw text) -> value
    check: Callable[[str, Any, Spec], Any]  # (label, value, declaration) -> value, or ValueError
    doc: str  # what the variable holds, for docs/settings.md


def _check_text(where: str, value: Any, spec: Spec) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where} must be a string, got {value!r}")
    return value


def _parse_int(env: str, raw: str) -> int:
    try:
        return int(raw)  # Python's integer syntax: sign, digits, underscores, whitespace around
    except ValueError:
        raise ValueError(f"{env} must be an integer, got {raw!r}") from None


def _check_int(where: str, value: Any, spec: Spec) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where} must be an integer, got {value!r}")
    low, high = spec.low, spec.high
    if low is not None and value < low and high is None:
        raise ValueError(f"{where} must be > {low - 1}, got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{where} must be between {low} and {high}, got {value}")
    return value


def _parse_float(env: str, raw: str) -> float:
    try:
        if not raw.isascii():
            raise ValueError(raw)
        return float(raw)
    except ValueError:
        raise ValueError(f"{env} must be a number, got {raw!r}") from None


def _check_positive(where: str, value: Any, spec: Spec) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{where} must be a number, got {value!r}")
    if not value > 0:  # also rejects NaN
        raise ValueError(f"{where} must be > 0, got {value}")
    return float(value)


_MISMATCH_MODES: tuple[str, ...] = get_args(PayloadMismatch)
_DESTINATIONS: tuple[str, ...] = get_args(Destinations)


def _choice(choices: tuple[str, ...]) -> Kind:
    def check(where: str, value: Any, spec: Spec) -> str:
        if value not in choices:
            raise ValueError(f"{where} must be one of {', '.join(choices)}, got {value!r}")
        return str(value)

    return Kind(
        lambda env, raw: check(env, raw, Spec(env, "")),
        check,
        " or ".join(f"`{m}`" for m in choices),
    )


def _parse_names(env: str, raw: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in raw.split(",") if m.strip())


def _check_names(where: str, value: Any, spec: Spec) -> tuple[str, ...]:
    if not isinstance(value, tuple) or not all(isinstance(m, str) for m in value):
        raise ValueError(f"{where} must be a tuple of strings, got {value!r}")
    return value


def _check_prices(where: str, value: Any, spec: Spec) -> dict[str, ModelPrice]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, ModelPrice) for k, v in value.items()
    ):
        raise ValueError(f"{where} must map model names to ModelPrice, got {value!r}")
    return value


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


def _parse_prices(env: str, raw: str) -> dict[str, ModelPrice]:
    """The default prices, overridden and extended by the JSON object in `raw`."""
    try:
        parsed: Any = json.loads(raw)
    except ValueError as e:
        raise ValueError(f"MODEL_PRICES must be valid JSON: {e}") from None
    if not isinstance(parsed, dict):
        raise ValueError(
            'MODEL_PRICES must be a JSON object like {"model": {"input": "0.15", "output": '
            f'"0.60"}}}}, got {type(parsed).__name__}'
        )
    prices = _default_prices()
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


# Settings field type (its annotation) -> its kind.
_KINDS: dict[str, Kind] = {
    "str": Kind(lambda env, raw: raw, _check_text, "text"),
    "int": Kind(_parse_int, _check_int, "integer"),
    "float": Kind(_parse_float, _check_positive, "number > 0"),
    "PayloadMismatch": _choice(_MISMATCH_MODES),
    "Destinations": _choice(_DESTINATIONS),
    "tuple[str, ...]": Kind(_parse_names, _check_names, "names, comma-separated"),
    "dict[str, ModelPrice]": Kind(_parse_prices, _check_prices, "JSON object"),
}


def kind(f: Any) -> Kind:
    """How the setting of field `f` is parsed, checked and documented."""
    return _KINDS[str(f.type)]


def settings_from_env(env: dict[str, str] | os._Environ[str]) -> Settings:
    """Settings from environment variables; unset or empty variables keep the defaults.

    Raises ValueError, naming the variable, for any value that does not parse or validate.
    """
    values: dict[str, Any] = {}
    for f, spec in declared():
        raw = env.get(spec.env, "")
        if raw != "":
            values[f.name] = kind(f).parse(spec.env, raw)
    return Settings(**values)


@cache
def get_settings() -> Settings:
    """This execution environment's settings (cached; tests call `get_settings.cache_clear()`)."""
    return settings_from_env(os.environ)
