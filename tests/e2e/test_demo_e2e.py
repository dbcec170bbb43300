"""`make demo` against the test session's stack: exit code 0 and the story's key lines."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from tests.e2e.conftest import ROOT, LocalApi

pytestmark = pytest.mark.e2e


def test_the_demo_tells_its_story(api: LocalApi) -> None:
    env = {**os.environ, "PYTHONPATH": "clients/python/src:."}
    done = subprocess.run(
        [sys.executable, "-m", "tools.demo", "--url", api.url, "--llm-url", api.llm.root],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out + done.stderr
    for line in (
        "1. A generation whose response is lost",
        "replayed=true",
        "OK: charged once: one completion",
        "OK: money moved once",
        "OK: the transfer waited for a person's approval (awaiting_approval)",
        "OK: the run retried its failed LLM step itself and completed",
        "the transfer ran once",
        "Usage: the cost records",
        "Ledger: the transfers this demo made",
        "Every claim held",
    ):
        assert line in out, line
    assert "OK: summarised once" in out or "skipped: POST /webhooks" in out
    assert "FAILED" not in out
    assert api.llm.completions >= 0  # the fake LLM survived the demo's faults
    # The local console shows every kind of record the demo created.
    console = api.call("GET", "/console?tenant=acme").text
    for transfer_id in set(re.findall(r"tr_[0-9a-f]{32}", out)):
        assert transfer_id in console, transfer_id
    for event_id in set(re.findall(r"evt_demo_[0-9a-f]+", out)):
        assert f"<code>{event_id}" in console, event_id  # (the demo prints some shortened)
    for operation in ("generate", "transfer", "agent_run", "agent_step", "summarize"):
        assert f"<td>{operation}</td>" in console, operation


def test_the_demo_explains_a_missing_stack() -> None:
    env = {**os.environ, "PYTHONPATH": "clients/python/src:."}
    done = subprocess.run(
        [sys.executable, "-m", "tools.demo", "--url", "http://127.0.0.1:9"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "make dev" in done.stderr
