"""Agent guard rails: what a run may do whatever the LLM asks (text in `input` can carry injected
instructions, so the LLM's tool arguments are untrusted).

A refused call is not executed: the LLM gets a tool result `{"refused": true, "reason": ...}` and
the run goes on. The limits are the deployment's (`AGENT_*` settings):

- at most `MAX_TOOL_CALLS_PER_STEP` (5) tool calls of one LLM response run; the rest are refused;
- `transfer_funds` moves at most `agent_max_transfer_per_call` per call and
  `agent_max_transfer_per_run` in total per run (money actually moved by earlier calls);
- `transfer_funds` moves money only between the tenant's own accounts unless
  `agent_transfer_destinations` is `any` (the source is always the tenant's own: the transfer
  path checks it).
"""

from __future__ import annotations

import json
from typing import Any

from retryproof.config import Settings
from retryproof.dal.accounts import AccountRepository
from retryproof.models.transfers import TransferRequest
from retryproof.shapes import Invalid

MAX_TOOL_CALLS_PER_STEP = 5


def refusal(
    name: str,
    arguments: str,
    *,
    position: int,
    spent: int,
    tenant_id: str,
    settings: Settings,
    accounts: AccountRepository,
) -> str | None:
    """Why this call must not run, or None. `position`: its index in its LLM response;
    `spent`: what this run's earlier calls moved."""
    if position >= MAX_TOOL_CALLS_PER_STEP:
        return f"at most {MAX_TOOL_CALLS_PER_STEP} tool calls run per step"
    if name != "transfer_funds":
        return None
    try:
        args = TransferRequest.parse(json.loads(arguments), name="arguments")
    except (ValueError, RecursionError, Invalid):
        return None  # not a transfer: the tool itself answers invalid_arguments, moving nothing
    if args.amount > settings.agent_max_transfer_per_call:
        return f"the amount exceeds the limit per call ({settings.agent_max_transfer_per_call})"
    if spent + args.amount > settings.agent_max_transfer_per_run:
        return f"the run would exceed its transfer limit ({settings.agent_max_transfer_per_run})"
    if settings.agent_transfer_destinations == "own":
        target = accounts.get(args.to_account_id)
        if target is None or target.tenant_id != tenant_id:
            return "transfers go only to the tenant's own accounts"
    return None


def moved(name: str, result: Any) -> int:
    """The money a completed tool call moved (counts against the run's limit)."""
    if name != "transfer_funds" or not isinstance(result, dict) or "transferId" not in result:
        return 0
    amount = result.get("amount")
    return amount if isinstance(amount, int) else 0
