"""One retry behaviour, tested the same way for every client: the cases of
tests/support/retry_cases.json, against a local stack of their own (so no other test's LLM calls
or faults mix in) behind the fault-injecting proxy, for `Client`, `AsyncClient` and the
TypeScript client (Node's test runner). A client that drops its key on retry fails the table."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ACME_KEY, ROOT, start_stack, stop_stack
from tests.support import retry_table
from tests.support.fault_proxy import FaultProxy
from tests.support.retry_table import RUNNERS, TableEnv

# `npm pack` (its `prepare` script) rebuilds clients/typescript/dist/, which the other module of
# this group reads: the two run on one xdist worker (tests/e2e/conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("typescript")]

CASES = retry_table.cases()
TS = ROOT / "clients" / "typescript"


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TableEnv]:
    log = tmp_path_factory.mktemp("table-stack") / "local.log"
    # The checks read what the server did (usage records, balances) right after each case, with
    # the API's eventually consistent reads: this stack serves them up to date, so a check never
    # sees the state of a second ago (the emulator's stale reads are tested on their own).
    stack = start_stack(log, LOCAL_STALE_READ_MS="off")
    proxy = FaultProxy(stack.url).start()
    try:
        yield TableEnv(stack.url, proxy.url, stack.llm.root, ACME_KEY)
    finally:
        proxy.stop()
        assert stop_stack(stack) == 0, log.read_text()[-2000:]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.parametrize("flavour", sorted(RUNNERS))
def test_the_python_clients_hold_the_table(
    table: TableEnv, flavour: str, case: dict[str, object]
) -> None:
    before = table.arm(case)
    outcome = RUNNERS[flavour](table, case)
    assert retry_table.failures(table, case, outcome, before) == []


@pytest.mark.parametrize("flavour", sorted(RUNNERS))
def test_a_python_client_that_drops_the_key_fails_the_table(table: TableEnv, flavour: str) -> None:
    for case in CASES:
        if not retry_table.retries(case):
            continue
        before = table.arm(case)
        outcome = RUNNERS[flavour](table, case, drop_key=True)
        found = retry_table.failures(table, case, outcome, before)
        assert any("not one key" in f for f in found), (case["name"], found)


def node_table(table: TableEnv, *, drop_key: bool) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None or not (TS / "dist" / "index.js").is_file():
        pytest.skip("the TypeScript client is not built: make setup (npm ci in clients/typescript)")
    env = {
        **os.environ,
        "RETRY_TABLE": str(retry_table.TABLE),
        "RETRYPROOF_PROXY_URL": table.proxy_url,
        "RETRYPROOF_API_URL": table.api_url,
        "FAKE_LLM_URL": table.llm_root,
        "RETRYPROOF_API_KEY": table.api_key,
        "RETRY_TABLE_DROP_KEY": "1" if drop_key else "",
    }
    return subprocess.run(
        [node, "--test", "--test-concurrency=1", "test/retry-table.test.mjs"],
        cwd=TS, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_the_typescript_client_holds_the_table(table: TableEnv) -> None:
    done = node_table(table, drop_key=False)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert f"# pass {len(CASES) + 1}" in done.stdout  # + "the table is given", done.stdout[-2000:]


def test_a_typescript_client_that_drops_the_key_fails_the_table(table: TableEnv) -> None:
    # In this mode each node test asserts that the broken client FAILS its case.
    done = node_table(table, drop_key=True)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    expected = sum(1 for c in CASES if retry_table.retries(c))
    assert f"# pass {expected + 1}" in done.stdout, done.stdout[-2000:]


def test_the_table_covers_the_issue(table: TableEnv) -> None:
    names = {c["name"] for c in CASES}
    assert {
        "lost_response",
        "in_flight_409_retry_after",
        "rate_limited_429",
        "server_error_5xx",
        "validation_422",
        "timeout",
        "exhausted_attempts",
    } <= names
    assert Path(retry_table.TABLE).is_file()
