"""A tenant's agent policy: its overrides of the deployment's agent guard rails (`AGENT_*`).

One item per tenant in the runs table, in a key space of its own (`runId = "tenant#<tenantId>"`,
`item = "policy"`; run ids begin with `run_`), read with a consistent read by a run's check step
when a call would move money — never by the paid paths (generate, transfer). Set by an operator
(`python -m tools.agent_policy`), never through the API. A field left out falls back to the
deployment's setting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from retryproof.dal.errors import storage_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

DESTINATIONS: Final = ("own", "listed", "any")
MAX_LISTED: Final = 100


@dataclass(frozen=True)
class TenantPolicy:
    tenant_id: str
    max_transfer_per_call: int | None = None
    max_transfer_per_run: int | None = None
    # own: the tenant's accounts and the listed ones; listed: only the listed ones; any: anywhere
    destinations: str | None = None
    allowed_account_ids: tuple[str, ...] = ()
    # a transfer_funds call moving more than this waits for a person (as if in approveTools)
    approval_above: int | None = None
    updated_at: str = ""

    def __post_init__(self) -> None:
        for name in ("max_transfer_per_call", "max_transfer_per_run", "approval_above"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} must be an integer >= 0")
        if self.destinations is not None and self.destinations not in DESTINATIONS:
            raise ValueError(f"destinations must be one of {', '.join(DESTINATIONS)}")
        if len(self.allowed_account_ids) > MAX_LISTED or not all(
            isinstance(a, str) and 0 < len(a) <= 128 for a in self.allowed_account_ids
        ):
            raise ValueError(f"at most {MAX_LISTED} account ids of 1-128 characters")

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "tenantId": self.tenant_id,
            "maxTransferPerCall": self.max_transfer_per_call,
            "maxTransferPerRun": self.max_transfer_per_run,
            "destinations": self.destinations,
            "allowedAccountIds": list(self.allowed_account_ids),
            "approvalAbove": self.approval_above,
            "updatedAt": self.updated_at,
        }


class TenantPolicyRepository(Protocol):
    def get(self, tenant_id: str) -> TenantPolicy | None: ...


def policy_key(tenant_id: str) -> dict[str, Any]:
    return {"runId": {"S": f"tenant#{tenant_id}"}, "item": {"S": "policy"}}


_NUMBERS: Final = {
    "maxTransferPerCall": "max_transfer_per_call",
    "maxTransferPerRun": "max_transfer_per_run",
    "approvalAbove": "approval_above",
}


class DynamoTenantPolicyRepository:
    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table

    def get(self, tenant_id: str) -> TenantPolicy | None:
        with storage_errors("policy.get"):
            out = self._client.get_item(
                TableName=self._table, Key=policy_key(tenant_id), ConsistentRead=True
            )
        item = out.get("Item")
        if not item:
            return None
        listed = item.get("allowedAccountIds", {}).get("L", ())
        numbers = {attr: int(item[name]["N"]) for name, attr in _NUMBERS.items() if name in item}
        return TenantPolicy(
            tenant_id=tenant_id,
            destinations=item["destinations"]["S"] if "destinations" in item else None,
            allowed_account_ids=tuple(a["S"] for a in listed),
            updated_at=item.get("updatedAt", {}).get("S", ""),
            **numbers,
        )

    def put(self, policy: TenantPolicy) -> None:
        """Replace the tenant's policy (an operator's tool)."""
        item: dict[str, Any] = policy_key(policy.tenant_id) | {
            "tenantId": {"S": policy.tenant_id},
            "updatedAt": {"S": policy.updated_at},
            "allowedAccountIds": {"L": [{"S": a} for a in policy.allowed_account_ids]},
        }
        for name, attr in _NUMBERS.items():
            value = getattr(policy, attr)
            if value is not None:
                item[name] = {"N": str(value)}
        if policy.destinations is not None:
            item["destinations"] = {"S": policy.destinations}
        with storage_errors("policy.put"):
            self._client.put_item(TableName=self._table, Item=item)

    def delete(self, tenant_id: str) -> None:
        with storage_errors("policy.delete"):
            self._client.delete_item(TableName=self._table, Key=policy_key(tenant_id))
