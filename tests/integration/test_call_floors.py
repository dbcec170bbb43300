"""Every route at its floor of DynamoDB calls (the deterministic part of `make bench`)."""

from __future__ import annotations

import pytest

from bench.calls import measure_calls
from tests.integration.conftest import Stack

pytestmark = pytest.mark.integration

EXPECTED_STATUS = {
    "first request": 200,
    "replay (cold cache)": 200,
    "replay (warm cache)": 200,
    "payload mismatch": 422,
    "in-flight conflict": 409,
    "valid key": 200,
    "read": 200,
}


def test_every_route_sits_at_its_floor_of_dynamodb_calls(stack: Stack) -> None:
    rows = measure_calls(stack)
    assert {r.route for r in rows} >= {
        "POST /generate", "POST /transfer", "POST /agent/runs", "authorizer",
        "GET /accounts/{id}", "GET /transfers/{id}", "GET /usage",
    }  # fmt: skip
    for row in rows:
        assert row.status == EXPECTED_STATUS[row.situation], row
        assert row.calls == row.floor, row
