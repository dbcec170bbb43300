"""One process, two local stacks one after the other, each running a durable agent run to its end.

`make chaos` does this (the main storm's stack, then the durable storm's). The durable SDK, left to
itself, keeps one Lambda client per process: the second stack's runs then checkpointed to the first
stack's stopped runner and failed every invocation (`CheckpointError`) until the runner gave up,
and the runs read `running` for their whole timeout. Run in a child process, so this module's
stacks never meet the session's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, uuid
from local.inprocess import InProcess
from tests.support.events import http_event

ended = []
for _ in range(2):
    stack = InProcess(environment={"LLM_MAX_RETRIES": "0", "POWERTOOLS_LOG_LEVEL": "CRITICAL"})
    stack.start()
    try:
        body = {"input": "Say hello.", "tools": ["get_balance"]}
        headers = {"idempotency-key": str(uuid.uuid4()), "prefer": "wait=30"}
        event = http_event("agent_run_post.json", tenant="t-two-stacks", body=body, headers=headers)
        out = stack.invoke("AgentFunction", event)
        ended.append([out["statusCode"], json.loads(out["body"]).get("status")])
    finally:
        stack.stop()
print(json.dumps(ended))
"""


def test_a_second_stack_in_the_same_process_runs_durable_runs_to_their_end() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join(["layers/common", "."])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    ended = json.loads(done.stdout.strip().splitlines()[-1])
    assert ended == [[200, "completed"], [200, "completed"]], done.stderr[-3000:]
