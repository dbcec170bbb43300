"""Money is integer micro-USD and decimal strings; the LLM attempt budget fits the time left."""

from __future__ import annotations

from decimal import Decimal

import pytest

from retryproof.config import DEFAULT_PRICES, ModelPrice
from retryproof.llm import (
    MIN_ATTEMPT_SECONDS,
    RESERVED_MS,
    attempt_budget,
    cost_micro_usd,
    format_usd,
)

pytestmark = pytest.mark.unit

MINI = DEFAULT_PRICES["gpt-4o-mini"]


@pytest.mark.parametrize(
    ("prompt", "completion", "expected"),
    [
        (1000, 0, 150),
        (0, 1000, 600),
        (1000, 500, 450),
        (0, 0, 0),
        (1, 0, 0),  # 0.15 -> 0
        (0, 1, 1),  # 0.60 -> 1
        (10, 0, 2),  # 1.5 -> 2 (half up)
        (1_000_000, 1_000_000, 750_000),
    ],
)
def test_cost_micro_usd_gpt_4o_mini(prompt: int, completion: int, expected: int) -> None:
    cost = cost_micro_usd(MINI, prompt, completion)
    assert cost == expected
    assert isinstance(cost, int)


@pytest.mark.parametrize(
    ("prompt", "completion", "expected"),
    [(2, 0, 1), (10, 0, 3), (0, 1, 1), (0, 5, 3), (0, 3, 2), (0, 2, 1), (1, 0, 0)],
)
def test_cost_rounds_half_up_not_to_even(prompt: int, completion: int, expected: int) -> None:
    # Given 0.25 / 0.5 USD per 1M tokens, exact halves arise: 0.5 -> 1, 2.5 -> 3 (not 0 and 2)
    price = ModelPrice(input=Decimal("0.25"), output=Decimal("0.5"))
    assert cost_micro_usd(price, prompt, completion) == expected


def test_cost_of_a_large_call_is_exact() -> None:
    price = ModelPrice(input=Decimal("2.50"), output=Decimal("10.00"))
    # 308_641_972.5 + 9_876_543_210 = 10_185_185_182.5 -> rounded half up
    assert cost_micro_usd(price, 123_456_789, 987_654_321) == 10_185_185_183


@pytest.mark.parametrize(
    ("micro", "expected"),
    [
        (0, "0.000000"),
        (1, "0.000001"),
        (150, "0.000150"),
        (1_000_000, "1.000000"),
        (123_456_789, "123.456789"),
        (10_185_185_182_500, "10185185.182500"),
        (10**18 + 1, "1000000000000.000001"),
    ],
)
def test_format_usd_is_a_six_place_decimal_string(micro: int, expected: str) -> None:
    text = format_usd(micro)
    assert text == expected
    assert isinstance(text, str)
    assert "E" not in text.upper()


def test_gpt_4o_mini_1000_prompt_tokens_cost_is_0_000150() -> None:
    assert format_usd(cost_micro_usd(MINI, 1000, 0)) == "0.000150"


def test_attempt_budget_without_remaining_time_uses_config() -> None:
    assert attempt_budget(None, 60.0, 2) == (60.0, 2)


@pytest.mark.parametrize(
    ("remaining_ms", "expected"),
    [
        (63_000, (20.0, 2)),  # 60 s budget: 3 attempts of 20 s
        (33_000, (10.0, 2)),  # 30 s budget: 3 attempts of exactly 10 s
        (30_000, (13.5, 1)),  # 27 s budget: 3 x 9 s is too short, so 2 x 13.5 s
        (10_000, (7.0, 0)),  # 7 s budget: one attempt
        (1_000, (MIN_ATTEMPT_SECONDS, 0)),  # floor of 2 s
        (0, (MIN_ATTEMPT_SECONDS, 0)),
    ],
)
def test_attempt_budget_shrinks_with_remaining_time(
    remaining_ms: int, expected: tuple[float, int]
) -> None:
    assert attempt_budget(remaining_ms, 60.0, 2) == pytest.approx(expected)


@pytest.mark.parametrize("remaining_ms", [0, 2_500, 5_000, 9_000, 14_000, 27_000, 45_000, 900_000])
@pytest.mark.parametrize(("timeout_s", "max_retries"), [(60.0, 2), (5.0, 5), (30.0, 0)])
def test_attempts_fit_in_the_remaining_time(
    remaining_ms: int, timeout_s: float, max_retries: int
) -> None:
    timeout, retries = attempt_budget(remaining_ms, timeout_s, max_retries)
    budget_s = max((remaining_ms - RESERVED_MS) / 1000, MIN_ATTEMPT_SECONDS)
    assert 0 <= retries <= max_retries
    assert 0 < timeout <= timeout_s
    assert timeout * (retries + 1) <= budget_s + 1e-9
