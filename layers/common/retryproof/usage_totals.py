"""Each tenant's usage total, kept off the paid path: every new cost record counted once.

The usage-totals function reads the usage table's DynamoDB stream (new records only) and runs
`count_new_record` for each one. The count is idempotent (`UsageRepository.count_once` writes the
record's marker in the same transaction that adds it to the total), so the stream's at-least-once
delivery, retries and batch bisection never count a record twice. A record that fails (throttling,
a `TransactionConflict` with another shard's consumer on the same total) is reported as a batch item
failure and delivered again; the total is exact once the stream has been read past it.
"""

from __future__ import annotations

from typing import Any, Protocol

from retryproof.dal.usage import COUNTED_PREFIX, TOTAL_PREFIX


class Counter(Protocol):
    def count_once(
        self, tenant_id: str, record_key: str, cost_micro_usd: int, now: str, day: str
    ) -> bool: ...


def count_new_record(new_image: dict[str, Any], usage: Counter, *, now: str) -> bool:
    """Count one new item of the usage table (its stream image); False if it is no cost record
    (a tenant's total itself) or was counted already."""
    tenant = new_image.get("tenantId", {}).get("S", "")
    if tenant.startswith((TOTAL_PREFIX, COUNTED_PREFIX)) or "costMicroUsd" not in new_image:
        return False
    # The record's own day (UTC), whenever it is counted: what the daily spend limit reads.
    created = new_image.get("createdAt", {}).get("S") or now
    return usage.count_once(
        tenant, new_image["recordKey"]["S"], int(new_image["costMicroUsd"]["N"]), now, created[:10]
    )
