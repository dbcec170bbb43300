"""settings_from_env: defaults, parsing and validation of the deployment's configuration."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from retryproof.config import DEFAULT_PRICES, ModelPrice, Settings, settings_from_env

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
        {"IDEMPOTENCY_TTL_GENERATE": "120.5"},
        {"IDEMPOTENCY_TTL_GENERATE": "120.0"},
        {"IDEMPOTENCY_TTL_GENERATE": "1e3"},
        {"LLM_MAX_RETRIES": "6"},
        {"LLM_MAX_RETRIES": "-1"},
        {"LLM_MAX_RETRIES": "two"},
        {"LLM_TIMEOUT_SECONDS": "0"},
        {"LLM_TIMEOUT_SECONDS": "-1.5"},
        {"LLM_TIMEOUT_SECONDS": "nan"},
        {"LLM_TIMEOUT_SECONDS": "soon"},
        {"MODEL_PRICES": "not json"},
        {"MODEL_PRICES": '[{"input": 1, "output": 1}]'},
        {"MODEL_PRICES": "null"},
        {"MODEL_PRICES": '{"gpt-4o-mini": [1, 2]}'},
        {"MODEL_PRICES": '{"gpt-4o-mini": {"input": "abc", "output": "0"}}'},
        {"MODEL_PRICES": '{"gpt-4o-mini": {"input": true, "output": 0}}'},
        {"MODEL_PRICES": '{"gpt-4o-mini": {"input": null, "output": 0}}'},
        {"MODEL_PRICES": '{"gpt-4o-mini": {"input": "NaN", "output": 0}}'},
        {"MODEL_PRICES": '{"gpt-4o-mini": {"input": NaN, "output": 0}}'},
        {"MODEL_PRICES": '{"gpt-4o-mini": {"input": "Infinity", "output": 0}}'},
        {"MODEL_PRICES": '{"gpt-4o-mini": {"input": 0, "output": -0.01}}'},
    ],
)
def test_invalid_configuration_is_rejected(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the messages are checked below
        settings_from_env(env)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ALLOWED_MODELS": "gpt-4o-mini,unpriced-model"},
            "allowed models without a price: unpriced-model",
        ),
        (
            {"ALLOWED_MODELS": "gpt-4o", "DEFAULT_MODEL": "gpt-4o-mini"},
            "DEFAULT_MODEL must be one of ALLOWED_MODELS",
        ),
        ({"IDEMPOTENCY_TTL_TRANSFER": "0"}, r"IDEMPOTENCY_TTL_TRANSFER\) must be > 0, got 0"),
        ({"IDEMPOTENCY_TTL_AGENT": "soon"}, "IDEMPOTENCY_TTL_AGENT must be an integer, got 'soon'"),
        ({"LLM_MAX_RETRIES": "6"}, r"LLM_MAX_RETRIES\) must be between 0 and 5, got 6"),
        ({"LLM_TIMEOUT_SECONDS": "fast"}, "LLM_TIMEOUT_SECONDS must be a number, got 'fast'"),
        ({"LLM_TIMEOUT_SECONDS": "0"}, r"LLM_TIMEOUT_SECONDS\) must be > 0"),
        (
            {"IDEMPOTENCY_PAYLOAD_MISMATCH": "ignore"},
            "IDEMPOTENCY_PAYLOAD_MISMATCH must be one of reject, replay, got 'ignore'",
        ),
        ({"MODEL_PRICES": "{oops"}, "MODEL_PRICES must be valid JSON"),
        ({"MODEL_PRICES": "[]"}, "MODEL_PRICES must be a JSON object"),
        (
            {"MODEL_PRICES": '{"m": "cheap"}'},
            r"MODEL_PRICES\['m'\] must be an object with input and output",
        ),
        ({"MODEL_PRICES": '{"m": {"input": 1}}'}, r"MODEL_PRICES\['m'\] is missing output"),
        (
            {"MODEL_PRICES": '{"m": {"input": "-1", "output": 0}}'},
            r"MODEL_PRICES\['m'\]\.input must be a finite number >= 0, got '-1'",
        ),
        (
            {"MODEL_PRICES": '{"m": {"input": 0, "output": "lots"}}'},
            r"MODEL_PRICES\['m'\]\.output must be a decimal number, got 'lots'",
        ),
    ],
)
def test_errors_name_the_problem(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings_from_env(env)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("120", 120), (" 120 ", 120), ("+120", 120), ("1_000", 1000), ("007", 7)],
)
def test_integers_are_read_with_pythons_integer_syntax(raw: str, expected: int) -> None:
    assert settings_from_env({"IDEMPOTENCY_TTL_WEBHOOK": raw}).idempotency_ttl_webhook == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("5", 5.0), (" 0.5 ", 0.5), (".5", 0.5), ("1e2", 100.0), ("inf", float("inf"))],
)
def test_timeouts_are_floats(raw: str, expected: float) -> None:
    timeout = settings_from_env({"LLM_TIMEOUT_SECONDS": raw}).llm_timeout_seconds
    assert (timeout, type(timeout)) == (expected, float)


def test_prices_are_exact_decimals_and_extra_keys_are_ignored() -> None:
    prices = (
        '{"gpt-4o-mini": {"input": 0.1, "output": 1e-7, "note": "x"},'
        ' "mine": {"input": " 2.50 ", "output": 3}}'
    )
    s = settings_from_env({"MODEL_PRICES": prices})
    # A JSON float becomes the Decimal of its shortest repr, never Decimal(0.1)'s binary noise.
    assert s.model_prices["gpt-4o-mini"] == ModelPrice(input=Decimal("0.1"), output=Decimal("1E-7"))
    assert s.model_prices["mine"] == ModelPrice(input=Decimal("2.50"), output=Decimal(3))
    assert all(isinstance(p.input, Decimal) for p in s.model_prices.values())


def test_model_prices_default_is_a_fresh_copy_per_instance() -> None:
    a, b = Settings(), settings_from_env({})
    assert a.model_prices == b.model_prices == DEFAULT_PRICES
    assert a.model_prices is not b.model_prices
    assert a.model_prices is not DEFAULT_PRICES


def test_settings_are_frozen_and_replace_validates() -> None:
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.usage_table = "other"  # type: ignore[misc]
    assert dataclasses.replace(s, payload_mismatch="replay").payload_mismatch == "replay"
    with pytest.raises(ValueError, match=r"IDEMPOTENCY_TTL_GENERATE\) must be > 0"):
        dataclasses.replace(s, idempotency_ttl_generate=0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"idempotency_ttl_generate": 0},
        {"idempotency_ttl_transfer": "60"},
        {"llm_max_retries": 6},
        {"llm_max_retries": True},
        {"llm_timeout_seconds": 0.0},
        {"payload_mismatch": "ignore"},
        {"allowed_models": ["gpt-4o-mini"]},
        {"allowed_models": ("gpt-4o-mini", "unpriced")},
        {"default_model": "gpt-4o"},
        {"model_prices": {"gpt-4o-mini": {"input": 1, "output": 1}}},
        {"usage_table": None},
    ],
)
def test_direct_construction_is_validated(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - any of the rules above
        Settings(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"input": Decimal("-0.01"), "output": Decimal(0)},
        {"input": Decimal(0), "output": Decimal("NaN")},
        {"input": Decimal("Infinity"), "output": Decimal(0)},
        {"input": 1, "output": Decimal(0)},
    ],
)
def test_model_price_is_validated(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"ModelPrice\.(input|output) must be"):
        ModelPrice(**kwargs)  # type: ignore[arg-type]


def test_int_timeout_is_stored_as_float() -> None:
    s = Settings(llm_timeout_seconds=5)
    assert (s.llm_timeout_seconds, type(s.llm_timeout_seconds)) == (5.0, float)


def test_importing_config_does_not_import_pydantic() -> None:
    # Cold start: the config module keeps to the standard library.
    layer = Path(__file__).resolve().parents[2] / "layers" / "common"
    code = (
        f"import sys; sys.path.insert(0, {str(layer)!r}); import retryproof.config; "
        "print('pydantic' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


def test_docs_settings_table_is_generated_from_the_declarations() -> None:
    from tools.settings import DOC, render

    assert DOC.read_text() == render(), "run: python -m tools.settings"
