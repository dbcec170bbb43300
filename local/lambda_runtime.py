"""Run a function's handler in-process, as Lambda would: its module, a context, a deadline."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from local.patches.lambda_timeout import Ended, deadline, end_invocations_at_their_timeout
from local.template import ACCOUNT_ID, REGION, ROOT, FunctionSpec, physical_name

LAYER_DIR = ROOT / "layers" / "common"


def add_layer_to_path() -> None:
    """What Lambda does with /opt/python: the layer's packages become importable."""
    if str(LAYER_DIR) not in sys.path:
        sys.path.insert(0, str(LAYER_DIR))


class FunctionTimedOut(Exception):
    """The invocation ran past its timeout: Lambda ends it there ("Task timed out after N
    seconds"); API Gateway answers 503, an event source mapping retries the batch."""


@dataclass
class LocalContext:
    """The LambdaContext attributes handlers and Powertools use."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return "local"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self.started
        return max(0, int((self.timeout_s - elapsed) * 1000))


class LocalFunction:
    """A function's execution environments, as Lambda scales them: one request at a time each.

    A request takes an idle environment, or a new one (a cold start: the handler module is
    executed again under a name of its own, so its resolver, clients and caches are its own), up
    to `max_environments`; beyond that it waits for one to be free, as a function with reserved
    concurrency would throttle.
    """

    def __init__(self, spec: FunctionSpec, max_environments: int = 16) -> None:
        self.spec = spec
        self.max_environments = max_environments
        self._idle: list[Any] = []
        self._created = 0
        self._lock = threading.Lock()
        self._free = threading.Condition(self._lock)

    @property
    def name(self) -> str:
        return physical_name(self.spec.logical_id)

    @property
    def environments(self) -> int:
        return self._created

    def _new_environment(self, number: int) -> Any:
        add_layer_to_path()
        module_file, _, attribute = self.spec.handler.rpartition(".")
        path = self.spec.code_dir / f"{module_file.replace('.', '/')}.py"
        name = f"retryproof_fn_{self.spec.logical_id}_{number}"
        loader = importlib.util.spec_from_file_location(name, path)
        if loader is None or loader.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
        return getattr(module, attribute)

    def _acquire(self) -> Any:
        with self._free:
            while not self._idle and self._created >= self.max_environments:
                self._free.wait()
            if self._idle:
                return self._idle.pop()
            self._created += 1
            number = self._created
        try:
            return self._new_environment(number)
        except BaseException:
            with self._free:
                self._created -= 1
                self._free.notify()
            raise

    def invoke(self, event: Any, timeout_s: int | None = None) -> Any:
        """The handler's result; `FunctionTimedOut` when it ran into its timeout (after which
        Lambda starts a fresh execution environment, so this one is not reused)."""
        end_invocations_at_their_timeout()
        handler = self._acquire()
        context = LocalContext(
            function_name=self.name,
            memory_limit_in_mb=self.spec.memory,
            timeout_s=timeout_s or self.spec.timeout,
        )
        token = deadline.set(context.started + context.timeout_s)
        reuse = True
        try:
            return handler(event, context)
        except Ended:
            reuse = False
            raise FunctionTimedOut(f"Task timed out after {context.timeout_s} seconds") from None
        finally:
            deadline.reset(token)
            with self._free:
                if reuse:
                    self._idle.append(handler)
                else:
                    self._created -= 1
                self._free.notify()
