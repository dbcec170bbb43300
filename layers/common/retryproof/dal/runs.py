"""Agent runs, the durable record clients read: the run, each LLM response, each tool result, each
approval — the effects' records written once, the run's status moved by conditional updates.

Items share the partition `runId`:
- `run`: the request, `status` (running | completed | failed), `attempt` (0, +1 per resume),
  the output or the error once the run ended;
- `step#0001`…: an LLM response with its tool calls, written once, before any of them runs (the
  run never requests a step again once this item exists);
- `tool#<toolCallId>`: a tool call's outcome, written once (the run never executes a tool call id
  again once this item exists, in whatever step it appears);
- `approval#<approvalId>`: a call waiting for a person, its callback id and the decision (set once).

The durable execution's own history (AWS's) holds the same results while it lives; this table
outlives it and is the reference for exactly-once effects across executions (a resumed run is a
new execution that finds every completed step here).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from retryproof.dal.errors import ConditionFailed, storage_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

RUNNING, COMPLETED, FAILED = "running", "completed", "failed"
PENDING = "pending"


@dataclass(frozen=True)
class RunHeader:
    run_id: str
    tenant_id: str
    idempotency_key: str
    request_hash: str
    created_at: str
    request: str = "{}"  # the validated request body (JSON text)
    status: str = RUNNING
    attempt: int = 0
    updated_at: str = ""
    output: str | None = None
    error_code: str | None = None
    error_detail: str | None = None


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
    replayed: bool  # the effect had already happened when this call ran (found, not done again)
    refused: bool = False  # a guard rail refused it: not executed
    approval_id: str | None = None


@dataclass(frozen=True)
class Approval:
    approval_id: str
    tool_call_id: str
    name: str
    arguments: str
    callback_id: str
    expires_at: str
    created_at: str
    status: str = PENDING  # pending | approve | reject
    decided_at: str | None = None
    comment: str | None = None
    decided_by: str | None = None  # "person" | "timeout"


@dataclass
class RunState:
    header: RunHeader | None = None
    steps: list[StepCheckpoint] = field(default_factory=list)
    tools: dict[str, ToolCheckpoint] = field(default_factory=dict)
    approvals: dict[str, Approval] = field(default_factory=dict)


class RunStore(Protocol):
    def load(self, run_id: str) -> RunState: ...

    def get_header(self, run_id: str) -> RunHeader | None: ...

    def start(self, header: RunHeader) -> RunHeader:
        """Write the header unless one exists; return the stored one."""
        ...

    def get_step(self, run_id: str, index: int) -> StepCheckpoint | None: ...

    def save_step(self, run_id: str, step: StepCheckpoint) -> StepCheckpoint:
        """Write the step unless one with its index exists; return the stored one."""
        ...

    def get_tool(self, run_id: str, tool_call_id: str) -> ToolCheckpoint | None: ...

    def save_tool(self, run_id: str, tool: ToolCheckpoint) -> ToolCheckpoint: ...

    def get_approval(self, run_id: str, approval_id: str) -> Approval | None: ...

    def save_approval(self, run_id: str, approval: Approval) -> Approval: ...

    def decide(
        self, run_id: str, approval_id: str, decision: str, decided_at: str, comment: str | None,
        decided_by: str,
    ) -> Approval:  # fmt: skip
        """Set the decision of a pending approval; return the stored approval (decided once)."""
        ...

    def finish(
        self, run_id: str, attempt: int, status: str, updated_at: str, *, output: str | None = None,
        error_code: str | None = None, error_detail: str | None = None,
    ) -> bool:  # fmt: skip
        """End a running run of this attempt; False when it is not (ended, or resumed since)."""
        ...

    def resume(self, run_id: str, attempt: int, updated_at: str) -> bool:
        """Move a failed run of this attempt back to running, attempt + 1; False otherwise."""
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
                elif kind.startswith("approval#"):
                    approval = _approval(item)
                    state.approvals[approval.approval_id] = approval
            if "LastEvaluatedKey" not in out:
                break
            params["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        state.steps.sort(key=lambda s: s.index)
        return state

    def _get(self, run_id: str, kind: str, operation: str) -> dict[str, Any] | None:
        with storage_errors(operation):
            out = self._client.get_item(
                TableName=self._table,
                Key={"runId": {"S": run_id}, "item": {"S": kind}},
                ConsistentRead=True,
            )
        item: dict[str, Any] | None = out.get("Item")
        return item

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
            return exc.item or self._get(item["runId"]["S"], item["item"]["S"], operation)
        return None

    def get_header(self, run_id: str) -> RunHeader | None:
        item = self._get(run_id, "run", "runs.get")
        return _header(item) if item else None

    def start(self, header: RunHeader) -> RunHeader:
        item = {
            "runId": {"S": header.run_id},
            "item": {"S": "run"},
            "tenantId": {"S": header.tenant_id},
            "idempotencyKey": {"S": header.idempotency_key},
            "requestHash": {"S": header.request_hash},
            "request": {"S": header.request},
            "status": {"S": header.status},
            "attempt": {"N": str(header.attempt)},
            "createdAt": {"S": header.created_at},
            "updatedAt": {"S": header.updated_at or header.created_at},
        }
        existing = self._put_once(item, "runs.start")
        return _header(existing) if existing else header

    def get_step(self, run_id: str, index: int) -> StepCheckpoint | None:
        item = self._get(run_id, f"step#{index:04d}", "runs.get_step")
        return _step(item) if item else None

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

    def get_tool(self, run_id: str, tool_call_id: str) -> ToolCheckpoint | None:
        item = self._get(run_id, f"tool#{tool_call_id}", "runs.get_tool")
        return _tool(item) if item else None

    def save_tool(self, run_id: str, tool: ToolCheckpoint) -> ToolCheckpoint:
        item = {
            "runId": {"S": run_id},
            "item": {"S": f"tool#{tool.tool_call_id}"},
            "name": {"S": tool.name},
            "arguments": {"S": tool.arguments},
            "result": {"S": json.dumps(tool.result)},
            "replayed": {"BOOL": tool.replayed},
            "refused": {"BOOL": tool.refused},
        }
        if tool.approval_id:
            item["approvalId"] = {"S": tool.approval_id}
        existing = self._put_once(item, "runs.save_tool")
        return _tool(existing) if existing else tool

    def get_approval(self, run_id: str, approval_id: str) -> Approval | None:
        item = self._get(run_id, f"approval#{approval_id}", "runs.get_approval")
        return _approval(item) if item else None

    def save_approval(self, run_id: str, approval: Approval) -> Approval:
        item = {
            "runId": {"S": run_id},
            "item": {"S": f"approval#{approval.approval_id}"},
            "toolCallId": {"S": approval.tool_call_id},
            "name": {"S": approval.name},
            "arguments": {"S": approval.arguments},
            "callbackId": {"S": approval.callback_id},
            "expiresAt": {"S": approval.expires_at},
            "createdAt": {"S": approval.created_at},
            "status": {"S": approval.status},
        }
        existing = self._put_once(item, "runs.save_approval")
        return _approval(existing) if existing else approval

    def decide(
        self, run_id: str, approval_id: str, decision: str, decided_at: str, comment: str | None,
        decided_by: str,
    ) -> Approval:  # fmt: skip
        values: dict[str, Any] = {
            ":p": {"S": PENDING},
            ":d": {"S": decision},
            ":t": {"S": decided_at},
            ":b": {"S": decided_by},
        }
        update = "SET #s = :d, decidedAt = :t, decidedBy = :b"
        if comment is not None:
            update += ", #c = :c"
            values[":c"] = {"S": comment}
        try:
            with storage_errors("runs.decide"):
                out = self._client.update_item(
                    TableName=self._table,
                    Key={"runId": {"S": run_id}, "item": {"S": f"approval#{approval_id}"}},
                    UpdateExpression=update,
                    ConditionExpression="attribute_exists(runId) AND #s = :p",
                    ExpressionAttributeNames={
                        "#s": "status",
                        **({"#c": "comment"} if comment is not None else {}),
                    },
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailed as exc:
            stored = exc.item or self._get(run_id, f"approval#{approval_id}", "runs.decide")
            if not stored:
                raise
            return _approval(stored)
        return _approval(out["Attributes"])

    def finish(
        self, run_id: str, attempt: int, status: str, updated_at: str, *, output: str | None = None,
        error_code: str | None = None, error_detail: str | None = None,
    ) -> bool:  # fmt: skip
        names = {"#s": "status"}
        values: dict[str, Any] = {
            ":s": {"S": status},
            ":r": {"S": RUNNING},
            ":a": {"N": str(attempt)},
            ":u": {"S": updated_at},
        }
        update = "SET #s = :s, updatedAt = :u"
        for attribute, value in (("output", output), ("errorCode", error_code),
                                 ("errorDetail", error_detail)):  # fmt: skip
            if value is not None:
                names[f"#{attribute}"] = attribute
                values[f":{attribute}"] = {"S": value}
                update += f", #{attribute} = :{attribute}"
        try:
            with storage_errors("runs.finish"):
                self._client.update_item(
                    TableName=self._table,
                    Key={"runId": {"S": run_id}, "item": {"S": "run"}},
                    UpdateExpression=update,
                    ConditionExpression="#s = :r AND attempt = :a",
                    ExpressionAttributeNames=names,
                    ExpressionAttributeValues=values,
                )
        except ConditionFailed:
            return False
        return True

    def resume(self, run_id: str, attempt: int, updated_at: str) -> bool:
        try:
            with storage_errors("runs.resume"):
                self._client.update_item(
                    TableName=self._table,
                    Key={"runId": {"S": run_id}, "item": {"S": "run"}},
                    UpdateExpression="SET #s = :r, attempt = :n, updatedAt = :u "
                    "REMOVE errorCode, errorDetail",
                    ConditionExpression="#s = :f AND attempt = :a",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues={
                        ":r": {"S": RUNNING},
                        ":f": {"S": FAILED},
                        ":a": {"N": str(attempt)},
                        ":n": {"N": str(attempt + 1)},
                        ":u": {"S": updated_at},
                    },
                )
        except ConditionFailed:
            return False
        return True


def _opt(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {}).get("S")
    return str(value) if value is not None else None


def _header(item: dict[str, Any]) -> RunHeader:
    return RunHeader(
        run_id=item["runId"]["S"],
        tenant_id=item["tenantId"]["S"],
        idempotency_key=item["idempotencyKey"]["S"],
        request_hash=item["requestHash"]["S"],
        created_at=item["createdAt"]["S"],
        request=item.get("request", {}).get("S", "{}"),
        status=item.get("status", {}).get("S", RUNNING),
        attempt=int(item.get("attempt", {}).get("N", "0")),
        updated_at=item.get("updatedAt", item["createdAt"])["S"],
        output=_opt(item, "output"),
        error_code=_opt(item, "errorCode"),
        error_detail=_opt(item, "errorDetail"),
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
        refused=bool(item.get("refused", {}).get("BOOL", False)),
        approval_id=_opt(item, "approvalId"),
    )


def _approval(item: dict[str, Any]) -> Approval:
    return Approval(
        approval_id=item["item"]["S"].removeprefix("approval#"),
        tool_call_id=item["toolCallId"]["S"],
        name=item["name"]["S"],
        arguments=item["arguments"]["S"],
        callback_id=item["callbackId"]["S"],
        expires_at=item["expiresAt"]["S"],
        created_at=item["createdAt"]["S"],
        status=item["status"]["S"],
        decided_at=_opt(item, "decidedAt"),
        comment=_opt(item, "comment"),
        decided_by=_opt(item, "decidedBy"),
    )
