"""A 503 names no internal operation and no AWS error code (issue 19): the client reads a generic
detail (and its request id); the logs keep what failed."""

from __future__ import annotations

import json

import pytest

from retryproof.errors import StorageUnavailable
from tests.integration.conftest import Stack
from tests.integration.test_transfer_integration import body, open_account, transfer

pytestmark = pytest.mark.integration

INTERNALS = ("ResourceNotFound", "transfer", "ledger", "table", "dynamodb", "(", "Exception")


def test_a_storage_failure_is_a_generic_503_and_the_logs_say_what_failed(
    stack: Stack,
    settings_env: pytest.MonkeyPatch,
    tenant: str,
    key: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    src, dst = open_account(stack, tenant, 5000), open_account(stack, tenant, 0)
    settings_env.setenv("LEDGER_TABLE", "no-such-table")

    failed = transfer(stack, tenant, key, body(src, dst, 100))

    assert failed.status == 503
    problem = failed.json
    assert problem["code"] == "storage_unavailable"
    assert problem["detail"] == StorageUnavailable.PUBLIC_DETAIL
    assert set(problem) == {"type", "title", "status", "code", "detail"}
    text = json.dumps(problem)
    for internal in INTERNALS:
        assert internal not in text, internal
    # The operator still learns what failed, from the logs.
    (logged,) = [r for r in caplog.records if r.getMessage() == "request failed"]
    assert logged.__dict__["detail"] == "transfer failed (ResourceNotFoundException)"
