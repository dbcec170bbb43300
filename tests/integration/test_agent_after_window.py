"""An agent key retried after its idempotency window: the run's own record answers — the same run,
as it is now (a first 202 `running` may become a 200 `completed`) — and no second run starts.

Within the window a retry replays the stored first answer byte for byte (test_agent_integration);
after it, Powertools treats the key as new, and the run id derived from tenant and key finds the
run. A stack of its own in a child process: the window is never shorter than the function's
timeout (a lease), so its agent function runs with a 3 s timeout, which the session's stack
cannot change for one test.
"""

from __future__ import annotations

import pytest

from tests.integration.test_durable_two_stacks import run_script

pytestmark = pytest.mark.integration

SCRIPT = """
import json, time, uuid
from local.inprocess import InProcess
from tests.support.events import http_event

env = {"LLM_MAX_RETRIES": "0", "POWERTOOLS_LOG_LEVEL": "CRITICAL", "IDEMPOTENCY_TTL_AGENT": "1"}
stack = InProcess(environment=env)
stack.start()
try:
    key = str(uuid.uuid4())
    def post():
        body = {"input": "hello", "tools": ["get_balance"]}
        headers = {"idempotency-key": key, "prefer": "wait=0"}
        event = http_event("agent_run_post.json", tenant="t-window", body=body, headers=headers)
        out = stack.invoke("AgentFunction", event, timeout_s=3)  # a 4 s lease, so a 4 s window
        return out["statusCode"], json.loads(out["body"]), dict(out.get("headers") or {})
    stack.fake.add_fault(delay_ms=1500)
    first = post()
    inside = post()  # within the window: the stored first answer, replayed
    run_id = first[1]["runId"]
    get = http_event("agent_run_get.json", tenant="t-window")
    get["pathParameters"] = {"runId": run_id}
    get["rawPath"] = get["requestContext"]["http"]["path"] = f"/agent/runs/{run_id}"
    deadline = time.monotonic() + 30
    while json.loads(stack.invoke("AgentFunction", get)["body"])["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    paid = stack.fake.completions
    time.sleep(5)  # past the window
    late = post()
    runs = [i for i in stack.items("RunsTable") if i["item"]["S"] == "run"]
    print(json.dumps({
        "first": first[:2], "inside": inside[:2], "late": late[:2],
        "insideReplayed": inside[2].get("Idempotent-Replayed"),
        "lateReplayed": late[2].get("Idempotent-Replayed"),
        "paidAfter": stack.fake.completions - paid, "runs": len(runs),
    }))
finally:
    stack.stop()
"""


def test_after_the_window_a_run_first_answered_202_answers_as_it_is_now() -> None:
    got = run_script(SCRIPT)
    first_status, first = got["first"]
    assert first_status == 202, got
    assert first["status"] == "running", got
    assert got["inside"] == got["first"]
    assert got["insideReplayed"] == "true"
    late_status, late = got["late"]
    assert late_status == 200, got
    assert (late["runId"], late["status"]) == (first["runId"], "completed"), got
    assert got["lateReplayed"] is None  # answered by the run's record, not a replay
    assert got["paidAfter"] == 0
    assert got["runs"] == 1
