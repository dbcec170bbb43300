"""Agent guard rails: what a run may do whatever the LLM asks (text in `input` can carry injected
instructions, so the LLM's tool arguments are untrusted).

A refused call is not executed: the LLM gets a tool result `{"refused": true, "reason": ...}` and
the run goes on. The limits are the deployment's (`AGENT_*` settings), unless the tenant's policy
(`retryproof.dal.agent_policy.TenantPolicy`, set by an operator) overrides them:

- at most `MAX_TOOL_CALLS_PER_STEP` (5) tool calls of one LLM response run, and at most
  `agent_max_tool_calls_per_run` (25) in the whole run; the rest are refused;
- `transfer_funds` moves at most `agent_max_transfer_per_call` per call and
  `agent_max_transfer_per_run` in total per run (money actually moved by earlier calls);
- `transfer_funds` moves money only between the tenant's own accounts unless
  `agent_transfer_destinations` is `any` (the source is always the tenant's own: the transfer
  path checks it); a tenant's policy may add listed account ids (`own`), allow only them
  (`listed`), or any account (`any`);
- a `transfer_funds` call moving more than the tenant's `approval_above` waits for a person, as if
  the client had named the tool in `approveTools` (`needs_approval`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from retryproof.config import Settings
from retryproof.dal.accounts import AccountRepository
from retryproof.dal.agent_policy import TenantPolicy
from retryproof.models.transfers import TransferRequest
from retryproof.shapes import Invalid

MAX_TOOL_CALLS_PER_STEP = 5


@dataclass(frozen=True)
class Limits:
    """The guard rails in force for one tenant: its policy over the deployment's settings."""

    per_call: int
    per_run: int
    destinations: str  # own | listed | any
    listed: frozenset[str] = frozenset()
    approval_above: int | None = None  # None: no call waits for a person because of its amount
    calls_per_run: int = 25  # tool calls one run executes (refused ones count too)

    @classmethod
    def of(cls, settings: Settings, policy: TenantPolicy | None = None) -> Limits:
        def pick(value: Any, default: Any) -> Any:
            return default if value is None else value

        p = policy or TenantPolicy(tenant_id="")
        return cls(
            per_call=pick(p.max_transfer_per_call, settings.agent_max_transfer_per_call),
            per_run=pick(p.max_transfer_per_run, settings.agent_max_transfer_per_run),
            destinations=pick(p.destinations, settings.agent_transfer_destinations),
            listed=frozenset(p.allowed_account_ids),
            approval_above=p.approval_above,
            calls_per_run=settings.agent_max_tool_calls_per_run,
        )


def transfer_args(name: str, arguments: str) -> TransferRequest | None:
    """The call's transfer, or None (another tool, or arguments the tool itself refuses)."""
    if name != "transfer_funds":
        return None
    try:
        return TransferRequest.parse(json.loads(arguments), name="arguments")
    except (ValueError, RecursionError, Invalid):
        return None  # the tool itself answers invalid_arguments, moving nothing


def refusal(
    name: str,
    arguments: str,
    *,
    position: int,
    spent: int,
    tenant_id: str,
    limits: Limits,
    accounts: AccountRepository,
    earlier_calls: int = 0,
) -> str | None:
    """Why this call must not run, or None. `position`: its index in its LLM response;
    `spent`: what this run's earlier calls moved; `earlier_calls`: the run's tool calls so far."""
    if position >= MAX_TOOL_CALLS_PER_STEP:
        return f"at most {MAX_TOOL_CALLS_PER_STEP} tool calls run per step"
    if earlier_calls >= limits.calls_per_run:
        return f"at most {limits.calls_per_run} tool calls run per run"
    args = transfer_args(name, arguments)
    if args is None:
        return None
    if args.amount > limits.per_call:
        return f"the amount exceeds the limit per call ({limits.per_call})"
    if spent + args.amount > limits.per_run:
        return f"the run would exceed its transfer limit ({limits.per_run})"
    if limits.destinations == "any" or args.to_account_id in limits.listed:
        return None
    if limits.destinations == "listed":
        return "transfers go only to the accounts the tenant's policy lists"
    target = accounts.get(args.to_account_id)
    if target is None or target.tenant_id != tenant_id:
        return "transfers go only to the tenant's own accounts"
    return None


def needs_approval(name: str, arguments: str, limits: Limits) -> bool:
    """A transfer above the tenant's approval threshold waits for a person."""
    args = transfer_args(name, arguments)
    return (
        args is not None
        and limits.approval_above is not None
        and (args.amount > limits.approval_above)
    )


def moved(name: str, result: Any) -> int:
    """The money a completed tool call moved (counts against the run's limit)."""
    if name != "transfer_funds" or not isinstance(result, dict) or "transferId" not in result:
        return 0
    amount = result.get("amount")
    return amount if isinstance(amount, int) else 0
