"""Run a function's handler in-process, as Lambda would: its module, a context, a deadline."""

from __future__ import annotations

import importlib.util
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from local.template import ACCOUNT_ID, REGION, ROOT, FunctionSpec, physical_name

LAYER_DIR = ROOT / "layers" / "common"


def add_layer_to_path() -> None:
    """What Lambda does with /opt/python: the layer's packages become importable."""
    if str(LAYER_DIR) not in sys.path:
        sys.path.insert(0, str(LAYER_DIR))


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
    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._module: ModuleType | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return physical_name(self.spec.logical_id)

    def _handler(self) -> Any:
        with self._lock:
            if self._module is None:
                add_layer_to_path()
                module_file, _, _ = self.spec.handler.rpartition(".")
                path = self.spec.code_dir / f"{module_file.replace('.', '/')}.py"
                name = f"retryproof_fn_{self.spec.logical_id}"
                loader = importlib.util.spec_from_file_location(name, path)
                if loader is None or loader.loader is None:
                    raise ImportError(f"cannot load {path}")
                module = importlib.util.module_from_spec(loader)
                sys.modules[name] = module
                loader.loader.exec_module(module)
                self._module = module
            return getattr(self._module, self.spec.handler.rpartition(".")[2])

    def invoke(self, event: Any) -> Any:
        context = LocalContext(
            function_name=self.name,
            memory_limit_in_mb=self.spec.memory,
            timeout_s=self.spec.timeout,
        )
        return self._handler()(event, context)
