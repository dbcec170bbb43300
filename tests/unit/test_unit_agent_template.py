"""The durable agent run in template.yaml: DurableConfig, invoked by its alias, least privilege
for checkpointing and invoking, an alarm for failed runs, the routes of the API function."""

from __future__ import annotations

from typing import Any

import pytest

from local.template import Template

pytestmark = pytest.mark.unit


def _statements(props: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in props.get("Policies", []) for s in p["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def test_the_run_function_is_durable_with_the_run_timeout() -> None:
    template = Template()
    props = template.resources["AgentRunFunction"]["Properties"]
    assert props["DurableConfig"]["ExecutionTimeout"] == {"Ref": "AgentRunTimeout"}
    assert 1 <= int(props["DurableConfig"]["RetentionPeriodInDays"]) <= 90
    assert template.parameters["AgentRunTimeout"]["Default"] == 3600
    spec = template.functions()["AgentRunFunction"]
    assert spec.durable is not None
    assert spec.durable.execution_timeout == 3600
    assert "Events" not in props  # no route: only the API function starts it


def test_the_api_starts_runs_by_the_alias_and_may_only_invoke_and_wake_them() -> None:
    template = Template()
    api = template.resources["AgentFunction"]["Properties"]
    target = api["Environment"]["Variables"]["AGENT_RUN_FUNCTION"]
    assert target == {"Fn::Sub": "${AgentRunFunction.Arn}:live"}  # a qualified ARN
    lambda_statements = [s for s in _statements(api) if _actions(s)[0].startswith("lambda:")]
    granted = {(a, s["Resource"]["Fn::Sub"]) for s in lambda_statements for a in _actions(s)}
    assert granted == {
        ("lambda:InvokeFunction", "${AgentRunFunction.Arn}:live"),
        ("lambda:SendDurableExecutionCallbackSuccess", "${AgentRunFunction.Arn}:*"),
    }
    routes = {r.route_key for r in template.routes() if r.function_id == "AgentFunction"}
    assert routes == {
        "POST /agent/runs",
        "GET /agent/runs/{runId}",
        "POST /agent/runs/{runId}/resume",
        "POST /agent/runs/{runId}/approvals/{approvalId}",
    }


def test_the_run_function_checkpoints_only_its_own_executions() -> None:
    template = Template()
    props = template.resources["AgentRunFunction"]["Properties"]
    (checkpoint,) = [s for s in _statements(props) if _actions(s)[0].startswith("lambda:")]
    assert sorted(_actions(checkpoint)) == [
        "lambda:CheckpointDurableExecution", "lambda:GetDurableExecutionState"
    ]  # fmt: skip
    name = props["FunctionName"]["Fn::Sub"]
    assert checkpoint["Resource"]["Fn::Sub"].endswith(f":function:{name}:*")
    assert "lambda:InvokeFunction" not in str(_statements(props))


def test_failed_runs_raise_an_alarm() -> None:
    template = Template()
    alarm = template.resources["AgentRunsFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Retryproof", "AgentRunFailed")
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    executions = template.resources["AgentExecutionsFailedAlarm"]["Properties"]
    metrics = {m["MetricStat"]["Metric"]["MetricName"] for m in executions["Metrics"]
               if "MetricStat" in m}  # fmt: skip
    assert metrics == {"DurableExecutionFailed", "DurableExecutionTimedOut"}
