"""Money is integer micro-USD and decimal strings; the LLM attempt budget fits the time left."""

from __future__ import annotations

from decimal import Decimal

import pytest

from retryproof.config import DEFAULT_PRICES, ModelPrice
from retryproof.errors import NoTimeForLlm
from retryproof.llm import MIN_ATTEMPT_SECONDS, MIN_CALL_MS, RESERVED_MS, attempt_budget
from retryproof.money import cost_micro_usd
from retryproof.money import format_usd as usd

pytestmark = pytest.mark.unit

MINI = DEFAULT_PRICES["gpt-4o-mini"]  # 0.15 / 0.60 USD per 1M tokens
HALVES = ModelPrice(input=Decimal("0.25"), output=Decimal("0.5"))
BIG = ModelPrice(input=Decimal("2.50"), output=Decimal("10.00"))


@pytest.mark.parametrize(
    ("price", "prompt", "completion", "expected"),
    [
        (MINI, 1000, 0, 150),
        (MINI, 1000, 500, 450),
        (MINI, 0, 0, 0),
        (MINI, 1, 1, 1),  # 0.15 + 0.60 = 0.75 -> 1
        (MINI, 10, 0, 2),  # 1.5 -> 2
        (HALVES, 2, 0, 1),  # 0.5 -> 1 (half up, not half even: 0)
        (HALVES, 0, 5, 3),  # 2.5 -> 3 (half even would give 2)
        (HALVES, 1, 0, 0),  # 0.25 -> 0
        # 308_641_972.5 + 9_876_543_210 = 10_185_185_182.5 -> 10_185_185_183
        (BIG, 123_456_789, 987_654_321, 10_185_185_183),
    ],
)
def test_cost_micro_usd(price: ModelPrice, prompt: int, completion: int, expected: int) -> None:
    cost = cost_micro_usd(price, prompt, completion)
    assert cost == expected
    assert type(cost) is int


def test_format_usd_is_a_six_place_decimal_string() -> None:
    assert usd(cost_micro_usd(MINI, 1000, 0)) == "0.000150"
    assert [usd(0), usd(1), usd(1_000_000), usd(123_456_789)] == [
        "0.000000",
        "0.000001",
        "1.000000",
        "123.456789",
    ]
    assert usd(10**18 + 1) == "1000000000000.000001"  # no exponent, no float rounding
    assert type(usd(150)) is str


def test_attempt_budget_without_remaining_time_uses_config() -> None:
    assert attempt_budget(None, 60.0, 2) == (60.0, 2)


@pytest.mark.parametrize(
    ("remaining_ms", "expected"),
    [
        (63_000, (20.0, 2)),  # 60 s budget: 3 attempts of 20 s
        (33_000, (10.0, 2)),  # 30 s budget: 3 attempts of exactly 10 s
        (30_000, (13.5, 1)),  # 27 s budget: 3 x 9 s is too short, so 2 x 13.5 s
        (10_000, (7.0, 0)),  # 7 s budget: one attempt
        (MIN_CALL_MS, (MIN_ATTEMPT_SECONDS, 0)),  # the least time a call is started in
    ],
)
def test_attempt_budget_shrinks_with_remaining_time(
    remaining_ms: int, expected: tuple[float, int]
) -> None:
    assert attempt_budget(remaining_ms, 60.0, 2) == pytest.approx(expected)


@pytest.mark.parametrize("remaining_ms", [0, 1_000, 2_500, MIN_CALL_MS - 1])
def test_no_call_is_started_that_the_function_could_not_finish(remaining_ms: int) -> None:
    # Started, it would be cut off by the function's timeout after the provider billed it.
    with pytest.raises(NoTimeForLlm):
        attempt_budget(remaining_ms, 60.0, 2)


@pytest.mark.parametrize("remaining_ms", [5_000, 9_000, 14_000, 27_000, 45_000, 900_000])
@pytest.mark.parametrize(("timeout_s", "max_retries"), [(60.0, 2), (5.0, 5), (30.0, 0)])
def test_attempts_fit_in_the_remaining_time(
    remaining_ms: int, timeout_s: float, max_retries: int
) -> None:
    timeout, retries = attempt_budget(remaining_ms, timeout_s, max_retries)
    budget_s = (remaining_ms - RESERVED_MS) / 1000
    assert 0 <= retries <= max_retries
    assert 0 < timeout <= timeout_s
    assert timeout * (retries + 1) <= budget_s + 1e-9
