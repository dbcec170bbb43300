"""bench/duplicates.py: the baseline is measured, not assumed; retryproof pays once per key."""

from __future__ import annotations

import pytest

from bench.duplicates import measure_duplicates
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration


def test_concurrent_duplicates_pay_once_here(stack: Stack) -> None:
    (row,) = measure_duplicates(stack, levels=(4,), keys=3)

    assert row["retryproof side effects"] == 3  # one completion per key, 4 clients each
    assert row["retryproof duplicates per key"] == "0.00"
    # The check-then-set baseline really ran against the fake LLM: at least once per key, at
    # most once per request (how many raced through is timing, hence the bench, not a test).
    assert 3 <= row["check-then-set side effects"] <= 12
