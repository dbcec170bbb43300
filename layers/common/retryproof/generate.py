"""Generate: one LLM completion per idempotency key, paid for and recorded once.

Two levels: the idempotency store (`IdempotencyStore.run`) answers retries while its record lives;
the usage record — written once, with the response in it — answers a retry that arrives after the
record expired or after a crash between paying for the completion and storing the result.

The usage record is read (consistently) before every paid call, even when the claim replaced no
earlier idempotency record: DynamoDB's TTL deletes an expired record within days, after which a
retry's claim looks like a first request. One GetItem per first request is the price; with a
daily spend limit (docs/limits.md) it is one BatchGetItem that reads the tenant's spend today too.

The completion's bytes are written once per key, in the usage record: the idempotency record keeps
the status and the original time (`StoredOutcome.durable_body`), and a replay in another execution
environment reads the completion with `stored_completion` (docs/cost.md).
"""

from __future__ import annotations

import json
from typing import Final

from retryproof import observability as obs
from retryproof.clock import now_iso
from retryproof.config import Settings
from retryproof.dal.usage import SpendReader, UsageRepository
from retryproof.errors import IdempotencyKeyReused, ModelNotAllowed, StorageUnavailable
from retryproof.faults import crash_point, disabled
from retryproof.idempotency import ClaimKept
from retryproof.limits import check_spend, utc_day
from retryproof.llm import LlmClient
from retryproof.models.generate import GenerateRequest, GenerateResponse, TokenUsage
from retryproof.models.outcome import StoredOutcome
from retryproof.models.usage import UsageItem
from retryproof.money import cost_micro_usd, format_usd
from retryproof.persist import after_payment

OPERATION: Final = "generate"


def resolve_model(request: GenerateRequest, settings: Settings) -> str:
    """The model to use; raises `ModelNotAllowed` (a validation failure, never stored)."""
    model = request.model or settings.default_model
    if model not in settings.allowed_models:
        raise ModelNotAllowed(
            f"model {model!r} is not allowed; allowed: {', '.join(settings.allowed_models)}"
        )
    return model


def generate(
    request: GenerateRequest,
    *,
    tenant_id: str,
    idempotency_key: str,
    body_hash: str,
    model: str,
    settings: Settings,
    llm: LlmClient,
    usage: UsageRepository,
    remaining_ms: int | None = None,
    spend: SpendReader | None = None,
) -> StoredOutcome:
    # An earlier execution may have paid already (it crashed, or its record expired and was
    # deleted): its usage record answers, and a different body is refused before anything is paid.
    # With a daily spend limit, the same call reads the tenant's spend today (docs/limits.md).
    limit = settings.tenant_daily_spend_limit_micro_usd
    spent = 0
    if spend is not None and limit > 0:
        durable, spent = spend.get_with_day_total(tenant_id, idempotency_key, OPERATION, utc_day())
        durable = None if disabled("durable_check") else durable
    else:
        durable = (
            None if disabled("durable_check") else usage.get(tenant_id, idempotency_key, OPERATION)
        )
    if durable is not None:
        return _from_durable(durable, body_hash, settings)
    # New work: refused once today's spend reached the limit (a replay answered above).
    check_spend(spent, limit)

    completion = llm.complete(
        model=model,
        messages=[{"role": "user", "content": request.prompt}],
        temperature=request.temperature,
        max_tokens=request.max_tokens,
        remaining_ms=remaining_ms,
    )
    crash_point("generate.after_llm")  # paid, not yet recorded: the window that stays
    micro = cost_micro_usd(
        settings.model_prices[model], completion.prompt_tokens, completion.completion_tokens
    )
    created_at = now_iso()
    response = GenerateResponse(
        id=completion.id,
        content=completion.content,
        tokens=completion.total_tokens,
        finish_reason=completion.finish_reason,
        model=model,
        usage=TokenUsage(
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            total_tokens=completion.total_tokens,
        ),
        cost_usd=format_usd(micro),
        created_at=created_at,
    )
    body = json.dumps(response.to_json_dict())
    record = UsageItem(
        tenant_id=tenant_id,
        idempotency_key=idempotency_key,
        operation=OPERATION,
        model=model,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost_micro_usd=micro,
        created_at=created_at,
        request_hash=body_hash,
        result=body,
    )
    try:
        existing = after_payment(lambda: usage.put_once(record))
    except StorageUnavailable as exc:
        raise ClaimKept(exc) from exc  # paid, not recorded: keep the key leased
    crash_point("generate.after_usage_record")
    if existing is None or existing.result == body:  # ours: a put whose answer was lost and resent
        obs.count(obs.LLM_COST, micro)
    else:
        # Another execution recorded this key first (its lease had expired): keep its result.
        return _from_durable(existing, body_hash, settings)
    return StoredOutcome(status=200, body=body, original_request_time=created_at, durable_body=True)


def stored_completion(usage: UsageRepository, tenant_id: str, idempotency_key: str) -> str | None:
    """The completion a replay answers, from its usage record (the idempotency record keeps
    status and time only). One consistent read: the record is written before the idempotency
    record completes, so it is there (an eventually consistent read would cost half the units,
    but a stale one would miss it and cost a second read)."""
    item = usage.get(tenant_id, idempotency_key, OPERATION)
    return item.result if item is not None else None


def _from_durable(item: UsageItem, body_hash: str, settings: Settings) -> StoredOutcome:
    if item.request_hash != body_hash and settings.payload_mismatch == "reject":
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different request body; use a new key"
        )
    assert item.result is not None, "generate usage records carry their result"
    return StoredOutcome(
        status=200,
        body=item.result,
        original_request_time=item.created_at,
        replayed=True,
        durable_body=True,
    )
