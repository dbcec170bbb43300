"""`make smoke`'s suite (tests/smoke) run against the test session's stack, as against AWS."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.e2e.conftest import ACME_KEY, ROOT, LocalApi

pytestmark = pytest.mark.e2e


def smoke(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SMOKE_")} | env
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "tests/smoke", "-q", "-rs"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_the_smoke_suite_passes_against_the_local_stack(api: LocalApi) -> None:
    done = smoke(
        {
            "SMOKE_URL": api.url,
            "SMOKE_API_KEY": ACME_KEY,
            "SMOKE_FROM_ACCOUNT": "acc_acme_main",
            "SMOKE_TO_ACCOUNT": "acc_acme_ops",
        }
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 passed" in done.stdout, done.stdout
    assert "skipped" not in done.stdout


def test_without_a_url_the_smoke_suite_skips_cleanly() -> None:
    done = smoke({})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 skipped" in done.stdout
    assert "SMOKE_URL is not set" in done.stdout
