"""Agent run checkpoints: the run, each LLM response, each tool result — each written once.

Items share the partition `runId`: `run` (the request), `step#0001`… (an LLM response with its
tool calls, written before any of them runs), `tool#<toolCallId>` (a tool's result).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from retryproof.dal.errors import ConditionFailed, storage_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class RunHeader:
    run_id: str
    tenant_id: str
    idempotency_key: str
    request_hash: str
    created_at: str
    result: str | None = None  # the finished run's response body (JSON text)


@dataclass(frozen=True)
class StepCheckpoint:
    """One LLM response. `tool_calls`: [{"id", "name", "arguments"}] in the model's order."""

    index: int
    completion_id: str
    content: str
    tool_calls: list[dict[str, str]]
    model: str
    prompt_tokens: int
    completion_tokens: int
    created_at: str


@dataclass(frozen=True)
class ToolCheckpoint:
    tool_call_id: str
    name: str
    arguments: str
    result: dict[str, Any]
    replayed: bool


@dataclass
class RunState:
    header: RunHeader | None = None
    steps: list[StepCheckpoint] = field(default_factory=list)
    tools: dict[str, ToolCheckpoint] = field(default_factory=dict)


class RunStore(Protocol):
    def load(self, run_id: str) -> RunState: ...

    def start(self, header: RunHeader) -> RunHeader:
        """Write the header unless one exists; return the stored one."""
        ...

    def save_step(self, run_id: str, step: StepCheckpoint) -> StepCheckpoint:
        """Write the step unless one with its index exists; return the stored one."""
        ...

    def save_tool(self, run_id: str, tool: ToolCheckpoint) -> ToolCheckpoint: ...

    def finish(self, run_id: str, result: str) -> None:
        """Keep the finished run's response (answers retries after the idempotency window)."""
        ...


class DynamoRunStore:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def load(self, run_id: str) -> RunState:
        state = RunState()
        params: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "runId = :r",
            "ExpressionAttributeValues": {":r": {"S": run_id}},
            "ConsistentRead": True,
        }
        while True:
            with storage_errors("runs.load"):
                out = self._client.query(**params)
            for item in out.get("Items", []):
                kind = item["item"]["S"]
                if kind == "run":
                    state.header = _header(item)
                elif kind.startswith("step#"):
                    state.steps.append(_step(item))
                elif kind.startswith("tool#"):
                    tool = _tool(item)
                    state.tools[tool.tool_call_id] = tool
            if "LastEvaluatedKey" not in out:
                break
            params["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        state.steps.sort(key=lambda s: s.index)
        return state

    def _put_once(self, item: dict[str, Any], operation: str) -> dict[str, Any] | None:
        try:
            with storage_errors(operation):
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(runId)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailed as exc:
            return exc.item or item
        return None

    def start(self, header: RunHeader) -> RunHeader:
        item = {
            "runId": {"S": header.run_id},
            "item": {"S": "run"},
            "tenantId": {"S": header.tenant_id},
            "idempotencyKey": {"S": header.idempotency_key},
            "requestHash": {"S": header.request_hash},
            "createdAt": {"S": header.created_at},
        }
        existing = self._put_once(item, "runs.start")
        return _header(existing) if existing else header

    def save_step(self, run_id: str, step: StepCheckpoint) -> StepCheckpoint:
        item = {
            "runId": {"S": run_id},
            "item": {"S": f"step#{step.index:04d}"},
            "completionId": {"S": step.completion_id},
            "content": {"S": step.content},
            "toolCalls": {"S": json.dumps(step.tool_calls)},
            "model": {"S": step.model},
            "promptTokens": {"N": str(step.prompt_tokens)},
            "completionTokens": {"N": str(step.completion_tokens)},
            "createdAt": {"S": step.created_at},
        }
        existing = self._put_once(item, "runs.save_step")
        return _step(existing) if existing else step

    def save_tool(self, run_id: str, tool: ToolCheckpoint) -> ToolCheckpoint:
        item = {
            "runId": {"S": run_id},
            "item": {"S": f"tool#{tool.tool_call_id}"},
            "name": {"S": tool.name},
            "arguments": {"S": tool.arguments},
            "result": {"S": json.dumps(tool.result)},
            "replayed": {"BOOL": tool.replayed},
        }
        existing = self._put_once(item, "runs.save_tool")
        return _tool(existing) if existing else tool

    def finish(self, run_id: str, result: str) -> None:
        with storage_errors("runs.finish"):
            self._client.update_item(
                TableName=self._table,
                Key={"runId": {"S": run_id}, "item": {"S": "run"}},
                UpdateExpression="SET #r = if_not_exists(#r, :r)",
                ExpressionAttributeNames={"#r": "result"},
                ExpressionAttributeValues={":r": {"S": result}},
            )


def _header(item: dict[str, Any]) -> RunHeader:
    result = item.get("result", {}).get("S")
    return RunHeader(
        run_id=item["runId"]["S"],
        tenant_id=item["tenantId"]["S"],
        idempotency_key=item["idempotencyKey"]["S"],
        request_hash=item["requestHash"]["S"],
        created_at=item["createdAt"]["S"],
        result=result,
    )


def _step(item: dict[str, Any]) -> StepCheckpoint:
    return StepCheckpoint(
        index=int(item["item"]["S"].removeprefix("step#")),
        completion_id=item["completionId"]["S"],
        content=item["content"]["S"],
        tool_calls=json.loads(item["toolCalls"]["S"]),
        model=item["model"]["S"],
        prompt_tokens=int(item["promptTokens"]["N"]),
        completion_tokens=int(item["completionTokens"]["N"]),
        created_at=item["createdAt"]["S"],
    )


def _tool(item: dict[str, Any]) -> ToolCheckpoint:
    return ToolCheckpoint(
        tool_call_id=item["item"]["S"].removeprefix("tool#"),
        name=item["name"]["S"],
        arguments=item["arguments"]["S"],
        result=json.loads(item["result"]["S"]),
        replayed=bool(item["replayed"]["BOOL"]),
    )
