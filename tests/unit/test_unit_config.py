"""settings_from_env: defaults, parsing and validation of the deployment's configuration."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from retryproof.config import DEFAULT_PRICES, ModelPrice, settings_from_env

pytestmark = pytest.mark.unit


def test_defaults() -> None:
    s = settings_from_env({})
    assert s.allowed_models == ("gpt-4o-mini",)
    assert s.default_model == "gpt-4o-mini"
    assert s.model_prices == DEFAULT_PRICES
    assert (s.idempotency_ttl_generate, s.idempotency_ttl_transfer) == (86400, 3600)
    assert (s.idempotency_ttl_webhook, s.idempotency_ttl_agent) == (86400, 86400)
    assert s.payload_mismatch == "reject"
    assert (s.llm_timeout_seconds, s.llm_max_retries) == (60.0, 2)


def test_empty_values_fall_back_to_defaults() -> None:
    # Given a template that passes "" for unset parameters
    s = settings_from_env({"MODEL_PRICES": "", "ALLOWED_MODELS": "", "IDEMPOTENCY_TTL_GENERATE": ""})
    assert s.allowed_models == ("gpt-4o-mini",)
    assert s.idempotency_ttl_generate == 86400


def test_env_values_are_read_and_coerced() -> None:
    s = settings_from_env(
        {
            "IDEMPOTENCY_TABLE": "idem",
            "USAGE_TABLE": "usage",
            "API_KEYS_TABLE": "keys",
            "IDEMPOTENCY_TTL_GENERATE": "120",
            "IDEMPOTENCY_PAYLOAD_MISMATCH": "replay",
            "LLM_TIMEOUT_SECONDS": "12.5",
            "LLM_MAX_RETRIES": "0",
        }
    )
    assert (s.idempotency_table, s.usage_table, s.api_keys_table) == ("idem", "usage", "keys")
    assert s.idempotency_ttl_generate == 120
    assert s.payload_mismatch == "replay"
    assert (s.llm_timeout_seconds, s.llm_max_retries) == (12.5, 0)


def test_allowed_models_are_split_and_trimmed() -> None:
    s = settings_from_env({"ALLOWED_MODELS": " gpt-4o , gpt-4o-mini,, gpt-4.1-nano ,"})
    assert s.allowed_models == ("gpt-4o", "gpt-4o-mini", "gpt-4.1-nano")


def test_model_prices_override_and_extend_the_defaults() -> None:
    s = settings_from_env(
        {
            "ALLOWED_MODELS": "gpt-4o-mini,my-model",
            "DEFAULT_MODEL": "my-model",
            "MODEL_PRICES": '{"gpt-4o-mini": {"input": "0.20", "output": "0.80"},'
            ' "my-model": {"input": 1, "output": 0.6}}',
        }
    )
    assert s.default_model == "my-model"
    assert s.model_prices["gpt-4o-mini"] == ModelPrice(input=Decimal("0.20"), output=Decimal("0.80"))
    assert s.model_prices["my-model"].output == Decimal("0.6")
    assert s.model_prices["gpt-4o"] == DEFAULT_PRICES["gpt-4o"]


@pytest.mark.parametrize(
    "env",
    [
        {"ALLOWED_MODELS": "gpt-4o-mini,unpriced-model"},
        {"DEFAULT_MODEL": "gpt-4o"},
        {"ALLOWED_MODELS": "gpt-4o", "DEFAULT_MODEL": "gpt-4o-mini"},
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
        {"LLM_TIMEOUT_SECONDS": "0"},
        {"LLM_MAX_RETRIES": "6"},
    ],
)
def test_invalid_configuration_is_rejected(env: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        settings_from_env(env)


def test_unpriced_allowed_model_is_named_in_the_error() -> None:
    with pytest.raises(ValidationError, match="allowed models without a price: unpriced-model"):
        settings_from_env({"ALLOWED_MODELS": "gpt-4o-mini,unpriced-model"})
