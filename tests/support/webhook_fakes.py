"""In-memory repositories with the conditions of the DynamoDB ones, for the unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from retryproof.dal.events import Lease
from retryproof.dal.usage import UsageTotal
from retryproof.errors import LlmError
from retryproof.llm import Completion
from retryproof.models.messages import SummarizeJob
from retryproof.models.summaries import SummaryItem
from retryproof.models.usage import UsageItem
from retryproof.models.webhooks import WebhookEventItem, WebhookSecretSet


class FakeEvents:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], WebhookEventItem] = {}

    def get(self, tenant_id: str, event_id: str) -> WebhookEventItem | None:
        return self.items.get((tenant_id, event_id))

    def register(self, job: SummarizeJob, *, now: str) -> WebhookEventItem:
        key = (job.tenant_id, job.event_id)
        if key not in self.items:
            self.items[key] = WebhookEventItem(
                tenant_id=job.tenant_id,
                event_id=job.event_id,
                document_id=job.document_id,
                job_id=job.job_id,
                status="queued",
                event_time_ns=job.event_time_ns,
                created_at=now,
            )
        return self.items[key]

    def mark_accepted(self, tenant_id: str, event_id: str, *, now: str) -> str | None:
        item = self.items[(tenant_id, event_id)]
        if item.accepted_at is not None:
            return item.accepted_at
        self.items[(tenant_id, event_id)] = replace(item, accepted_at=now)
        return None

    def take_lease(
        self,
        job: SummarizeJob,
        *,
        owner: str,
        lease_until_ms: int,
        now_ms: int,
        final_attempt: bool,
        now: str,
    ) -> Lease:
        item = self.register(job, now=now)
        live = item.lease_expires_at_ms is not None and item.lease_expires_at_ms >= now_ms
        if item.status == "completed" or (item.status == "processing" and live):
            return Lease(held=False, event=item)
        item = replace(
            item,
            status="processing",
            lease_owner=owner,
            lease_expires_at_ms=lease_until_ms,
            final_attempt=final_attempt,
            attempts=item.attempts + 1,
            last_error=None,
        )
        self.items[(job.tenant_id, job.event_id)] = item
        return Lease(held=True, event=item)

    def _finish(self, tenant_id: str, event_id: str, owner: str, **update: Any) -> bool:
        item = self.items.get((tenant_id, event_id))
        if item is None or item.status != "processing" or item.lease_owner != owner:
            return False
        update |= {"lease_owner": None, "lease_expires_at_ms": None}
        self.items[(tenant_id, event_id)] = replace(item, **update)
        return True

    def complete(self, tenant_id: str, event_id: str, *, owner: str, now: str) -> bool:
        return self._finish(tenant_id, event_id, owner, status="completed", completed_at=now)

    def release(
        self,
        tenant_id: str,
        event_id: str,
        *,
        owner: str,
        status: Literal["queued", "failed"],
        error: str,
        now: str,
    ) -> bool:
        return self._finish(tenant_id, event_id, owner, status=status, last_error=error)


class FakeSummaries:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], SummaryItem] = {}
        self.writes = 0

    def get(self, tenant_id: str, document_id: str) -> SummaryItem | None:
        return self.items.get((tenant_id, document_id))

    def put_if_newer(self, summary: SummaryItem) -> bool:
        key = (summary.tenant_id, summary.document_id)
        current = self.items.get(key)
        # (the condition of DynamoSummaryRepository.put_if_newer, tested against the emulator)
        order = (summary.event_time_ns, summary.source_event_id)
        if current and order <= (current.event_time_ns, current.source_event_id):
            return False
        self.items[key] = summary
        self.writes += 1
        return True


class FakeUsage:
    def __init__(self) -> None:
        self.items: dict[tuple[str, str], UsageItem] = {}

    def get(
        self, tenant_id: str, idempotency_key: str, operation: str, step: int = 0
    ) -> UsageItem | None:
        return self.items.get((tenant_id, f"{idempotency_key}#{operation}#{step}"))

    def put_once(self, item: UsageItem) -> UsageItem | None:
        key = (item.tenant_id, f"{item.idempotency_key}#{item.operation}#{item.step}")
        if key in self.items:
            return self.items[key]
        self.items[key] = item
        return None

    def list(
        self, tenant_id: str, idempotency_key: str | None, limit: int, next_token: str | None
    ) -> tuple[list[UsageItem], str | None]:
        return [i for (t, _), i in self.items.items() if t == tenant_id], None

    def total(self, tenant_id: str) -> UsageTotal:
        mine = [i for (t, _), i in self.items.items() if t == tenant_id]
        return UsageTotal(sum(i.cost_micro_usd for i in mine), len(mine), None)


class FakeLlm:
    def __init__(self, fail: int = 0) -> None:
        self.calls = 0
        self.fail = fail  # the next `fail` calls raise LlmError
        self.prompts: list[str] = []

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
        if self.fail:
            self.fail -= 1
            raise LlmError("injected")
        self.calls += 1
        self.prompts.append(str(messages[-1]["content"]))
        return Completion(
            id=f"c{self.calls}",
            content=f"summary {self.calls}",
            finish_reason="stop",
            model=model,
            prompt_tokens=10,
            completion_tokens=5,
        )


class FakeQueue:
    def __init__(self, fail: bool = False) -> None:
        self.sent: list[SummarizeJob] = []
        self.fail = fail

    def send(self, job: SummarizeJob) -> str:
        from retryproof.errors import StorageUnavailable

        if self.fail:
            raise StorageUnavailable("jobs.send failed")
        self.sent.append(job)
        return f"m{len(self.sent)}"


class FakeSecrets:
    """A `WebhookSecretRepository`: each tenant's current secret (no rotation in progress)."""

    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    def get(self, tenant_id: str) -> WebhookSecretSet | None:
        secret = self.secrets.get(tenant_id)
        return WebhookSecretSet(current=secret, updated_at="t") if secret is not None else None
