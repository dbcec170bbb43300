"""generate(): one paid completion per key; the usage record is the durable result."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pytest

from retryproof.config import Settings
from retryproof.dal.usage import UsageTotal
from retryproof.errors import IdempotencyKeyReused, LlmError, LlmTimeout, ModelNotAllowed
from retryproof.generate import OPERATION, generate, resolve_model
from retryproof.idempotency import body_hash
from retryproof.llm import Completion
from retryproof.models.generate import GenerateRequest
from retryproof.models.outcome import StoredOutcome
from retryproof.models.usage import UsageItem, usage_record_key

pytestmark = pytest.mark.unit

ISO_MS_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BODY: dict[str, Any] = {"prompt": "Say hello", "maxTokens": 50}


class FakeLlm:
    """An `LlmClient` that counts calls and answers a fixed completion, or raises `error`."""

    def __init__(self, error: Exception | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.error = error

    def complete(
        self,
        *,
        model: str,
        messages: Sequence[dict[str, Any]],
        temperature: float | None = None,
        max_tokens: int | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
        remaining_ms: int | None = None,
    ) -> Completion:
        self.calls.append((model, list(messages), temperature, max_tokens, remaining_ms))
        if self.error is not None:
            raise self.error
        return Completion(f"chatcmpl-{len(self.calls)}", "Hello!", "stop", model, 1000, 500)


class FakeUsageRepository:
    """A `UsageRepository` over a dict. `race`: a record another execution wrote first."""

    def __init__(self, race: UsageItem | None = None) -> None:
        self.items: dict[tuple[str, str], UsageItem] = {}
        self.race = race

    def get(
        self, tenant_id: str, idempotency_key: str, operation: str, step: int = 0
    ) -> UsageItem | None:
        return self.items.get((tenant_id, usage_record_key(idempotency_key, operation, step)))

    def put_once(self, item: UsageItem) -> UsageItem | None:
        existing = self.race or self.items.get((item.tenant_id, item.record_key))
        if existing is None:
            self.items[(item.tenant_id, item.record_key)] = item
        return existing

    def list(
        self, tenant_id: str, idempotency_key: str | None, limit: int, next_token: str | None
    ) -> tuple[list[UsageItem], str | None]:
        return [i for (t, _), i in self.items.items() if t == tenant_id][:limit], None

    def total(self, tenant_id: str) -> UsageTotal:
        mine = [i for (t, _), i in self.items.items() if t == tenant_id]
        return UsageTotal(sum(i.cost_micro_usd for i in mine), len(mine), None)


def stored(result: str, request_hash: str) -> UsageItem:
    return UsageItem(
        tenant_id="acme",
        idempotency_key="k1",
        operation="generate",
        model="m",
        prompt_tokens=10,
        completion_tokens=20,
        cost_micro_usd=14,
        created_at="2025-01-02T03:04:05.678Z",
        request_hash=request_hash,
        result=result,
    )


def run(
    llm: FakeLlm,
    usage: FakeUsageRepository,
    *,
    body: dict[str, Any] = BODY,
    settings: Settings | None = None,
) -> StoredOutcome:
    return generate(
        GenerateRequest.parse(body),
        tenant_id="acme",
        idempotency_key="k1",
        body_hash=body_hash(body),
        model="gpt-4o-mini",
        settings=settings or Settings(),
        llm=llm,
        usage=usage,
        remaining_ms=25_000,
    )


def test_first_call_pays_once_and_records_usage() -> None:
    llm, usage = FakeLlm(), FakeUsageRepository()

    outcome = run(llm, usage)

    assert (outcome.status, outcome.replayed) == (200, False)
    body = json.loads(outcome.body)
    created = body.pop("createdAt")
    assert ISO_MS_UTC.match(created)
    assert outcome.original_request_time == created
    assert body == {
        "id": "chatcmpl-1",
        "content": "Hello!",
        "tokens": 1500,
        "finishReason": "stop",
        "model": "gpt-4o-mini",
        "usage": {"promptTokens": 1000, "completionTokens": 500, "totalTokens": 1500},
        "costUsd": "0.000450",  # 1000 x 0.15 + 500 x 0.60 micro-USD
    }
    assert llm.calls == [
        ("gpt-4o-mini", [{"role": "user", "content": "Say hello"}], None, 50, 25_000)
    ]
    # Then exactly one usage record, carrying the cost, the body hash and the result
    assert list(usage.items.values()) == [
        UsageItem(
            tenant_id="acme",
            idempotency_key="k1",
            operation=OPERATION,
            model="gpt-4o-mini",
            prompt_tokens=1000,
            completion_tokens=500,
            cost_micro_usd=450,
            created_at=created,
            request_hash=body_hash(BODY),
            result=outcome.body,
        )
    ]


def test_retry_is_answered_from_the_durable_record_without_llm_call() -> None:
    # Given a first execution that completed
    llm, usage = FakeLlm(), FakeUsageRepository()
    first = run(llm, usage)

    # When the same key and body come again (idempotency record expired)
    second = run(llm, usage, body={"maxTokens": 50, "prompt": "Say hello"})

    # Then nothing is paid again and the body is byte-identical
    assert (len(llm.calls), len(usage.items)) == (1, 1)
    assert (second.replayed, second.body) == (True, first.body)
    assert (second.status, second.original_request_time) == (200, first.original_request_time)


def test_durable_record_with_other_body_is_rejected_in_reject_mode() -> None:
    llm, usage = FakeLlm(), FakeUsageRepository()
    run(llm, usage)

    with pytest.raises(IdempotencyKeyReused) as info:
        run(llm, usage, body={"prompt": "Something else"})

    assert (info.value.status, info.value.code) == (422, "idempotency_key_reused")
    assert len(llm.calls) == 1


def test_durable_record_with_other_body_is_replayed_in_replay_mode() -> None:
    llm, usage = FakeLlm(), FakeUsageRepository()
    first = run(llm, usage)

    outcome = run(
        llm, usage, body={"prompt": "Other"}, settings=Settings(payload_mismatch="replay")
    )

    assert (outcome.replayed, outcome.body) == (True, first.body)
    assert len(llm.calls) == 1


@pytest.mark.parametrize("error", [LlmError("upstream 500"), LlmTimeout("too slow")])
def test_llm_failure_propagates_and_records_nothing(error: Exception) -> None:
    llm, usage = FakeLlm(error=error), FakeUsageRepository()

    with pytest.raises(type(error)):
        run(llm, usage)

    assert usage.items == {}
    assert len(llm.calls) == 1


def test_lost_race_returns_the_existing_result_not_the_new_one() -> None:
    # Given another execution that recorded this key between our get and our put
    winner = stored('{"id": "chatcmpl-winner"}', body_hash(BODY))
    llm, usage = FakeLlm(), FakeUsageRepository(race=winner)

    outcome = run(llm, usage)

    assert outcome.body == '{"id": "chatcmpl-winner"}'
    assert (outcome.replayed, outcome.original_request_time) == (True, winner.created_at)
    assert usage.items == {}


def test_lost_race_with_other_body_is_rejected() -> None:
    winner = stored('{"id": "chatcmpl-winner"}', body_hash({"prompt": "other"}))
    with pytest.raises(IdempotencyKeyReused):
        run(FakeLlm(), FakeUsageRepository(race=winner))


def test_resolve_model_uses_the_default_or_an_allowed_model() -> None:
    settings = Settings(allowed_models=("gpt-4o-mini", "gpt-4o"))
    assert resolve_model(GenerateRequest(prompt="x"), settings) == "gpt-4o-mini"
    assert resolve_model(GenerateRequest(prompt="x", model="gpt-4o"), settings) == "gpt-4o"


@pytest.mark.parametrize("model", ["gpt-4o", "GPT-4O-MINI", "gpt-4o-mini ", "o1"])
def test_resolve_model_rejects_models_outside_the_allow_list(model: str) -> None:
    with pytest.raises(ModelNotAllowed) as info:
        resolve_model(GenerateRequest(prompt="x", model=model), Settings())
    assert (info.value.status, info.value.code) == (422, "model_not_allowed")


def test_body_hash_ignores_key_order_and_whitespace() -> None:
    a = json.loads('{"prompt": "hi", "maxTokens": 5, "temperature": 0.5}')
    b = json.loads('{ "temperature":0.5,"maxTokens" :5 ,"prompt":"hi" }')
    assert body_hash(a) == body_hash(b)
    assert re.fullmatch(r"[0-9a-f]{64}", body_hash(a))


def test_body_hash_is_value_sensitive() -> None:
    base = {"prompt": "hi", "maxTokens": 5}
    others = [{**base, "prompt": "hi "}, {**base, "maxTokens": 6}, {**base, "maxTokens": "5"}]
    assert len({body_hash(b) for b in [base, *others, {"prompt": "hi"}]}) == 5
