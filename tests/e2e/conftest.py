"""End-to-end tier: `python -m local` (what `make dev` runs) started once, called over HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.client import Reply, call
from tests.support.llm import FakeLLMControl

ROOT = Path(__file__).resolve().parents[2]
ACME_KEY = "rp_test_acme_0123456789abcdef"
GLOBEX_KEY = "rp_test_globex_0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LocalApi:
    url: str
    llm: FakeLLMControl
    emulator_port: int
    process: subprocess.Popen[bytes]
    log: Path

    def call(
        self,
        method: str,
        path: str,
        *,
        key: str | None = ACME_KEY,
        idempotency_key: str | None = None,
        body: object = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        all_headers = dict(headers or {})
        if key is not None:
            all_headers["Authorization"] = f"Bearer {key}"
        if idempotency_key is not None:
            all_headers["Idempotency-Key"] = idempotency_key
        return call(method, f"{self.url}{path}", body=body, raw=raw, headers=all_headers)


def start_stack(log_path: Path, args: Sequence[str] = (), **env: str) -> LocalApi:
    port, llm_port, emu_port = free_port(), free_port(), free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENAI_"))} | {
        "PORT": str(port),
        "FAKE_LLM_PORT": str(llm_port),
        "AWS_EMULATOR_PORT": str(emu_port),
        "LLM_MAX_RETRIES": "1",
        "AGENT_STEP_ATTEMPTS": "2",
        **env,
    }
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "local", *args], cwd=ROOT, env=environ, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # a busy CI machine is slow, not broken
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited: {log_path.read_text()[-2000:]}")
        try:
            if call("GET", f"{url}/health", timeout=1).status == 200:
                llm = FakeLLMControl(f"http://127.0.0.1:{llm_port}")
                return LocalApi(url, llm, emu_port, process, log_path)
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError("the local stack did not become healthy in 180 s")


def stop_stack(api: LocalApi) -> int:
    api.process.send_signal(signal.SIGTERM)
    return api.process.wait(timeout=60)


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalApi]:
    log = tmp_path_factory.mktemp("stack") / "local.log"
    stack = start_stack(log)
    yield stack
    assert stop_stack(stack) == 0, log.read_text()[-2000:]
    # Keys and prompts never reach the logs.
    text = log.read_text()
    assert ACME_KEY not in text
    assert "Tell me about retries" not in text


# `make e2e` runs on 2 xdist workers with --dist loadgroup: each module is one group (its
# module-scoped stacks start once), unless it names its own group (modules that must not run at
# the same time as another, e.g. the two that build or read the TypeScript client's dist/).
@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))


@pytest.fixture(autouse=True)
def _clear_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "api" in request.fixturenames:
        request.getfixturevalue("api").llm.clear()
