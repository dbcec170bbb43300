"""GET /usage: the tenant's cost records, paginated."""

from __future__ import annotations

from retryproof.dal.usage import UsageRepository
from retryproof.models.usage import UsageList, UsageRecordOut
from retryproof.money import format_usd

MAX_LIMIT = 100
DEFAULT_LIMIT = 50


def list_usage(
    usage: UsageRepository,
    *,
    tenant_id: str,
    idempotency_key: str | None,
    limit: int,
    next_token: str | None,
) -> UsageList:
    items, token = usage.list(tenant_id, idempotency_key, limit, next_token)
    if idempotency_key is not None:
        # The sort-key prefix matches exactly one idempotency key; keep the check explicit anyway.
        items = [i for i in items if i.idempotency_key == idempotency_key]
    records = [
        UsageRecordOut(
            idempotency_key=i.idempotency_key,
            operation=i.operation,
            model=i.model,
            prompt_tokens=i.prompt_tokens,
            completion_tokens=i.completion_tokens,
            cost_usd=format_usd(i.cost_micro_usd),
            created_at=i.created_at,
        )
        for i in items
    ]
    if idempotency_key is not None:  # the key's own records: summed as listed, exact
        total, as_of = sum(i.cost_micro_usd for i in items), None
    else:  # the tenant's running total, counted from the table's stream (eventually exact)
        total, _, as_of = usage.total(tenant_id)
    return UsageList(
        records=records,
        total_cost_usd=format_usd(total),
        total_as_of=as_of,
        next_token=token,
    )
