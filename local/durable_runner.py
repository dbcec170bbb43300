"""AWS's local runner for Lambda durable executions (`dex-local-runner start-server`), as a part of
the local stack: a child process with its store on disk in the stack's state folder.

The runner (`python -m local.dex_runner`: AWS's CLI with local/patches/dex_reinvoke.py) keeps
each execution's history and checkpoints, schedules retries, waits and callbacks,
and invokes the durable function through the Lambda `Invoke` API at `lambda_endpoint` (served by
`local.lambda_service`). It is started and stopped with the stack; its log goes to the state
folder (`durable-runner.log`).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess  # nosec B404 - starts our own console script, no shell
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from local.template import REGION

RUNNER = "dex-local-runner"
ROOT = Path(__file__).resolve().parent.parent  # `python -m local.dex_runner` runs from here


def runner_command() -> str:
    """The runner's console script: next to this Python (the project's .venv), else on PATH."""
    beside = Path(sys.executable).parent / RUNNER
    if beside.exists():
        return str(beside)
    found = shutil.which(RUNNER)
    if found is None:
        raise RuntimeError(
            f"{RUNNER} not found: run `make setup` (aws-durable-execution-sdk-python-testing)"
        )
    return found


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the runner gets SIGTERM when the stack's process dies, even from SIGKILL."""
    try:
        libc = ctypes.CDLL(None)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class DurableRunner:
    def __init__(
        self,
        state_dir: Path,
        *,
        port: int,
        lambda_endpoint: str,
        invocation_timeout_s: int = 900,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.port = port
        self.lambda_endpoint = lambda_endpoint
        self.invocation_timeout_s = invocation_timeout_s
        self.environ = dict(environ if environ is not None else os.environ)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store(self) -> Path:
        return self.state_dir / "durable-executions.sqlite"

    def start(self, ready_timeout_s: float = 30) -> DurableRunner:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **self.environ,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
        }
        log = (self.state_dir / "durable-runner.log").open("ab")
        runner_command()  # installed (its console script is there), or a clear error
        # Its CLI, with the local stack's patch of its retry scheduling (local/dex_runner.py).
        command = [
            sys.executable, "-m", "local.dex_runner", "start-server",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--lambda-endpoint", self.lambda_endpoint,
            "--local-runner-endpoint", self.url,
            "--local-runner-region", REGION,
            "--store-type", "sqlite", "--store-path", str(self.store),
            "--invocation-timeout", str(self.invocation_timeout_s),
            "--log-level", "WARNING",
        ]  # fmt: skip
        self.process = subprocess.Popen(  # noqa: S603  # nosec B603 - our own script, no shell
            command,
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            cwd=ROOT,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        log.close()
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{RUNNER} exited ({self.process.returncode}): see {log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{RUNNER} did not answer /health within {ready_timeout_s} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:  # its store is on disk (sqlite): a kill loses nothing a terminate would keep
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


class DurableLocal:
    """The durable-execution part of the stack: `LambdaService` (Invoke, forwarding) and the
    runner, on free ports (or `LAMBDA_PORT` / `DURABLE_RUNNER_PORT`), with their state in
    `LOCAL_STATE_DIR` (default: a new temporary folder, removed on stop). Functions reach it
    through `AWS_ENDPOINT_URL_LAMBDA`, which `start` sets."""

    def __init__(self, functions: dict[str, Any], environ: Mapping[str, str]) -> None:
        from local.lambda_service import LambdaService

        given = environ.get("LOCAL_STATE_DIR", "")
        self._own_state = not given
        self.state_dir = Path(given) if given else Path(tempfile.mkdtemp(prefix="retryproof-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        runner_port = int(environ.get("DURABLE_RUNNER_PORT") or 0) or free_port()
        self.service = LambdaService(
            functions,
            f"http://127.0.0.1:{runner_port}",
            self.state_dir,
            port=int(environ.get("LAMBDA_PORT") or 0),
        )
        timeout = max(
            (f.spec.timeout for f in functions.values() if f.spec.durable is not None), default=900
        )
        self.runner = DurableRunner(
            self.state_dir,
            port=runner_port,
            lambda_endpoint=self.service.url,
            invocation_timeout_s=timeout,
            environ={k: v for k, v in environ.items() if not k.startswith("AWS_ENDPOINT_URL")},
        )

    @property
    def url(self) -> str:
        return self.service.url

    def start(self) -> DurableLocal:
        self.service.start()
        try:
            self.runner.start()
        except BaseException:
            self.service.stop()
            raise
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = self.service.url
        return self

    def stop(self) -> None:
        self.runner.stop()
        self.service.stop()
        if self._own_state:
            shutil.rmtree(self.state_dir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
