"""One process, two local stacks one after the other, each running a durable agent run to its end.

`make chaos` does this (the main storm's stack, then the durable storm's). The durable SDK, left to
itself, keeps one Lambda client per process: the second stack's runs then checkpointed to the first
stack's stopped runner and failed every invocation (`CheckpointError`) until the runner gave up,
and the runs read `running` for their whole timeout. Powertools' `parameters.get_secret` keeps one
provider per process too: the second stack's LLM calls used the first stack's secret (cached for
5 minutes), then failed to read it from the stopped endpoint. Each stack here sets its own LLM key
before its run, and its fake LLM must be paid with that key. Run in a child process, so this
module's stacks never meet the session's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.fake_llm import key_name

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def run_script(script: str) -> Any:
    """Runs `script` in a child process; what it printed last, as JSON."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = os.pathsep.join(["layers/common", "."])
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


SCRIPT = """
import json, uuid
import boto3
from local.inprocess import InProcess
from retryproof.config import get_settings
from tests.support.events import http_event

ended = []
for i in range(2):
    stack = InProcess(environment={"LLM_MAX_RETRIES": "0", "POWERTOOLS_LOG_LEVEL": "CRITICAL"})
    stack.start()
    try:
        secrets = boto3.Session().client("secretsmanager")
        secrets.put_secret_value(SecretId=get_settings().openai_secret_id, SecretString=f"sk-{i}")
        body = {"input": "Say hello.", "tools": ["get_balance"]}
        headers = {"idempotency-key": str(uuid.uuid4()), "prefer": "wait=30"}
        event = http_event("agent_run_post.json", tenant="t-two-stacks", body=body, headers=headers)
        out = stack.invoke("AgentFunction", event)
        ended.append([out["statusCode"], json.loads(out["body"]).get("status"), stack.fake.by_key])
    finally:
        stack.stop()
print(json.dumps(ended))
"""


def test_a_second_stack_in_the_same_process_runs_durable_runs_to_their_end() -> None:
    ended = run_script(SCRIPT)
    paid = [{key_name("Bearer sk-0"): 1}, {key_name("Bearer sk-1"): 1}]  # one LLM step each
    assert ended == [[200, "completed", paid[0]], [200, "completed", paid[1]]], ended


UNREADABLE = """
import json, uuid
import boto3
from local.inprocess import InProcess
from retryproof.config import get_settings
from tests.support.events import http_event

env = {"LLM_MAX_RETRIES": "0", "POWERTOOLS_LOG_LEVEL": "CRITICAL", "AGENT_STEP_ATTEMPTS": "2"}
stack = InProcess(environment=env)
stack.start()
try:
    secrets = boto3.Session().client("secretsmanager")
    secrets.delete_secret(SecretId=get_settings().openai_secret_id, ForceDeleteWithoutRecovery=True)
    body = {"input": "Say hello.", "tools": ["get_balance"]}
    headers = {"idempotency-key": str(uuid.uuid4()), "prefer": "wait=30"}
    event = http_event("agent_run_post.json", tenant="t-no-secret", body=body, headers=headers)
    out = stack.invoke("AgentFunction", event)
    run = json.loads(out["body"])
    paid = stack.fake.completions
    print(json.dumps([out["statusCode"], run.get("status"), run.get("error"), paid]))
finally:
    stack.stop()
"""


def test_a_run_whose_llm_key_cannot_be_read_ends_failed_with_its_end_recorded() -> None:
    # The key is read in the LLM step, so the step's retries apply, then the run's end is
    # recorded; read before the run (when the function starts), the engine ended the execution
    # with no end recorded and the run read `running` until its deadline.
    ended = run_script(UNREADABLE)
    error = {
        "code": "llm_error",
        "detail": "a step failed after all its attempts; resume the run once the cause is fixed",
    }
    assert ended == [200, "failed", error, 0], ended
