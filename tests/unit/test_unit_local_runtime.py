"""The local runtime ends an invocation that runs past its timeout, as Lambda does."""

from __future__ import annotations

import textwrap
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from local.lambda_runtime import FunctionTimedOut, LocalFunction
from local.template import FunctionSpec

pytestmark = pytest.mark.unit

HANDLER = textwrap.dedent(
    """
    import time

    import boto3

    LOADED = []
    CLIENT = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    LOADED.append(1)


    def handler(event, context):
        time.sleep(event["sleep"])
        if event.get("call"):
            CLIENT.list_queues()  # stubbed by the test, or ended by the deadline
        return {"remaining": context.get_remaining_time_in_millis(), "loads": len(LOADED)}
    """
)


@pytest.fixture
def function(tmp_path: Path) -> LocalFunction:
    (tmp_path / "app.py").write_text(HANDLER)
    spec = FunctionSpec(
        "SlowFunction", tmp_path, "app.handler", timeout=1, memory=128, environment={}
    )
    return LocalFunction(spec, max_environments=1)


def test_an_invocation_within_its_timeout_answers(function: LocalFunction) -> None:
    out = function.invoke({"sleep": 0})
    assert 0 < out["remaining"] <= 1000


def test_an_aws_call_past_the_timeout_ends_the_invocation(function: LocalFunction) -> None:
    function.invoke({"sleep": 0})
    (environment,) = function._idle
    # Given an invocation that is still running after its 1 s timeout
    with pytest.raises(FunctionTimedOut, match="Task timed out after 1 seconds"):
        # When it makes an AWS call (no request is sent: the call ends there)
        function.invoke({"sleep": 1.1, "call": True}, timeout_s=1)
    # Then that environment is gone, and the next invocation gets a fresh one (a cold start)
    assert function._idle == []
    assert function.invoke({"sleep": 0})["remaining"] > 0
    assert function._idle[0] is not environment
    assert function.environments == 1


def test_aws_calls_outside_an_invocation_are_not_affected(function: LocalFunction) -> None:
    function.invoke({"sleep": 0})
    client = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_response("list_queues", {"QueueUrls": []})
        assert client.list_queues()["QueueUrls"] == []
