"""Writes after paying try again on storage failures, a bounded number of times."""

from __future__ import annotations

import pytest

from retryproof.errors import StorageUnavailable
from retryproof.persist import after_payment

pytestmark = pytest.mark.unit


def test_a_passing_storage_failure_is_retried_with_backoff() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def write() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise StorageUnavailable("throttled")
        return "written"

    assert after_payment(write, sleep=sleeps.append) == "written"
    assert len(calls) == 3
    assert sleeps == [0.1, 0.2]


def test_gives_up_after_the_attempts_and_other_errors_pass_through() -> None:
    calls: list[int] = []

    def down() -> None:
        calls.append(1)
        raise StorageUnavailable("down")

    with pytest.raises(StorageUnavailable):
        after_payment(down, attempts=4, sleep=lambda _: None)
    assert len(calls) == 4

    def broken() -> None:
        raise ValueError("a bug is not retried")

    with pytest.raises(ValueError, match="a bug"):
        after_payment(broken, sleep=lambda _: None)
