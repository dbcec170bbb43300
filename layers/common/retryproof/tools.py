"""The agent's tool registry: a name, an argument shape and a handler, nothing more.

A tool joins by being added to `REGISTRY`. Arguments are validated against the shape; a validation
failure or a business rejection becomes an error result the LLM can read, never a crash. Tools that
have side effects must be idempotent by `ToolContext.idempotency_key` (unique per run and tool
call): `transfer_funds` goes through the exactly-once transfer path with it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from retryproof.dal.accounts import AccountRepository
from retryproof.dal.transfers import TransferStore
from retryproof.errors import ProblemError
from retryproof.idempotency import body_hash
from retryproof.models.transfers import TransferRequest
from retryproof.shapes import Invalid, Shape, spec
from retryproof.transfers import get_account, transfer_funds, transfer_out

# The agent's transfers have ids of their own: no client key can reach them (transfer_id_for).
AGENT_SCOPE = "agent"


@dataclass(frozen=True)
class ToolContext:
    tenant_id: str
    run_id: str
    tool_call_id: str
    transfers: TransferStore
    accounts: AccountRepository

    @property
    def idempotency_key(self) -> str:
        """Stable across retries of the run: the tool call id comes from the checkpoint."""
        return f"agent:{self.run_id}:{self.tool_call_id}"


@dataclass(frozen=True)
class ToolOutput:
    result: dict[str, Any]
    replayed: bool = False  # the side effect had already happened (found, not done again)


@dataclass(frozen=True)
class Tool[ArgsT: Shape]:
    name: str
    description: str
    args_model: type[ArgsT]
    handler: Callable[[ArgsT, ToolContext], ToolOutput]

    def spec(self) -> dict[str, Any]:
        """The OpenAI `tools` entry."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.args_model.json_schema(),
            },
        }

    def run(self, arguments: str, context: ToolContext) -> ToolOutput:
        try:
            args = self.args_model.parse(json.loads(arguments), name="arguments")
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            return _invalid([("arguments", "Invalid JSON")])
        except Invalid as exc:
            return _invalid(exc.errors)
        try:
            return self.handler(args, context)
        except ProblemError as exc:
            if exc.status >= 500:
                raise  # infrastructure: fail the run; the retry resumes here
            return ToolOutput({"error": exc.code, "detail": exc.detail})


def _invalid(errors: list[tuple[str, str]]) -> ToolOutput:
    problems = [{"field": path, "message": message} for path, message in errors]
    return ToolOutput({"error": "invalid_arguments", "details": problems})


def _transfer(args: TransferRequest, ctx: ToolContext) -> ToolOutput:
    request = args.to_json_dict()
    result = transfer_funds(
        args,
        tenant_id=ctx.tenant_id,
        idempotency_key=ctx.idempotency_key,
        scope=AGENT_SCOPE,
        request_hash=body_hash(request),
        store=ctx.transfers,
    )
    return ToolOutput(transfer_out(result.entry).to_json_dict(), replayed=result.replayed)


@dataclass(frozen=True)
class BalanceArgs(Shape):
    account_id: str = spec(min_length=1, max_length=128)


def _balance(args: BalanceArgs, ctx: ToolContext) -> ToolOutput:
    account = get_account(ctx.accounts, tenant_id=ctx.tenant_id, account_id=args.account_id)
    return ToolOutput(account.to_json_dict())


TRANSFER_FUNDS = Tool(
    name="transfer_funds",
    description="Move an amount (integer minor units, e.g. cents) between two accounts.",
    args_model=TransferRequest,
    handler=_transfer,
)
GET_BALANCE = Tool(
    name="get_balance",
    description="Read an account's balance (integer minor units) and currency.",
    args_model=BalanceArgs,
    handler=_balance,
)

REGISTRY: dict[str, Tool[Any]] = {t.name: t for t in (TRANSFER_FUNDS, GET_BALANCE)}


def parse_arguments(arguments: str) -> Any:
    """Arguments as JSON for the response (the raw text when the model sent invalid JSON)."""
    try:
        return json.loads(arguments)
    except (ValueError, RecursionError):
        return arguments
