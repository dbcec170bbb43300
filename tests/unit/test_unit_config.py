"""settings_from_env: defaults, parsing and validation of the deployment's configuration."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from retryproof.config import DEFAULT_PRICES, ModelPrice, settings_from_env

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "env", [{}, {"MODEL_PRICES": "", "ALLOWED_MODELS": "", "LLM_MAX_RETRIES": ""}]
)
def test_defaults(env: dict[str, str]) -> None:
    # Given no variables, or the empty strings a template passes for unset parameters
    s = settings_from_env(env)
    assert (s.allowed_models, s.default_model) == (("gpt-4o-mini",), "gpt-4o-mini")
    assert s.model_prices == DEFAULT_PRICES
    assert (s.idempotency_ttl_generate, s.idempotency_ttl_transfer) == (86400, 3600)
    assert (s.idempotency_ttl_webhook, s.idempotency_ttl_agent) == (86400, 86400)
    assert (s.payload_mismatch, s.llm_timeout_seconds, s.llm_max_retries) == ("reject", 60.0, 2)


def test_env_values_are_read_and_coerced() -> None:
    s = settings_from_env(
        {
            "USAGE_TABLE": "usage",
            "IDEMPOTENCY_TTL_GENERATE": "120",
            "IDEMPOTENCY_PAYLOAD_MISMATCH": "replay",
            "LLM_TIMEOUT_SECONDS": "12.5",
            "LLM_MAX_RETRIES": "0",
            "ALLOWED_MODELS": " gpt-4o , gpt-4o-mini,, gpt-4.1-nano ,",
            "DEFAULT_MODEL": "gpt-4o",
        }
    )
    assert (s.usage_table, s.idempotency_ttl_generate, s.payload_mismatch) == (
        "usage",
        120,
        "replay",
    )
    assert (s.llm_timeout_seconds, s.llm_max_retries) == (12.5, 0)
    assert (s.allowed_models, s.default_model) == (
        ("gpt-4o", "gpt-4o-mini", "gpt-4.1-nano"),
        "gpt-4o",
    )


def test_model_prices_override_and_extend_the_defaults() -> None:
    prices = (
        '{"gpt-4o-mini": {"input": "0.20", "output": "0.80"}, "mine": {"input": 1, "output": 0.6}}'
    )
    s = settings_from_env(
        {"ALLOWED_MODELS": "gpt-4o-mini,mine", "DEFAULT_MODEL": "mine", "MODEL_PRICES": prices}
    )
    assert s.model_prices["gpt-4o-mini"] == ModelPrice(
        input=Decimal("0.20"), output=Decimal("0.80")
    )
    assert s.model_prices["mine"] == ModelPrice(input=Decimal(1), output=Decimal("0.6"))
    assert s.model_prices["gpt-4o"] == DEFAULT_PRICES["gpt-4o"]


@pytest.mark.parametrize(
    "env",
    [
        {"ALLOWED_MODELS": "gpt-4o-mini,unpriced-model"},
        {"DEFAULT_MODEL": "gpt-4o"},
        {"ALLOWED_MODELS": " , "},
        {"MODEL_PRICES": '{"gpt-4o-mini": {"input": "-1", "output": "0"}}'},
        {"MODEL_PRICES": '{"gpt-4o-mini": {"input": "0.1"}}'},
        {"IDEMPOTENCY_PAYLOAD_MISMATCH": "ignore"},
        {"IDEMPOTENCY_PAYLOAD_MISMATCH": "REJECT"},
        {"IDEMPOTENCY_TTL_GENERATE": "0"},
        {"IDEMPOTENCY_TTL_TRANSFER": "-1"},
        {"IDEMPOTENCY_TTL_WEBHOOK": "0"},
        {"IDEMPOTENCY_TTL_AGENT": "0"},
        {"IDEMPOTENCY_TTL_GENERATE": "soon"},
        {"LLM_MAX_RETRIES": "6"},
    ],
)
def test_invalid_configuration_is_rejected(env: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        settings_from_env(env)


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValidationError, match="allowed models without a price: unpriced-model"):
        settings_from_env({"ALLOWED_MODELS": "gpt-4o-mini,unpriced-model"})
    with pytest.raises(ValidationError, match="DEFAULT_MODEL must be one of ALLOWED_MODELS"):
        settings_from_env({"ALLOWED_MODELS": "gpt-4o", "DEFAULT_MODEL": "gpt-4o-mini"})
