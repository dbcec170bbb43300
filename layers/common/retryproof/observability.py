"""Logs, traces and metrics with Powertools: one decorator for every handler, one namespace.

Logs are JSON with the API Gateway request id as correlation id, plus the tenant and a hash of the
idempotency key — never the key itself, a prompt, a document or a secret. Traces never capture
responses (they hold customer data). Metrics go out as EMF under `Retryproof`.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import jmespath_utils

NAMESPACE = "Retryproof"
HTTP_API = correlation_paths.API_GATEWAY_HTTP

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)
# Powertools keeps the metric set per process, not per invocation, and its flush iterates it:
# adds from another thread during a flush raise "dictionary changed size during iteration". Lambda
# runs one invocation at a time per environment (never contended there); the local stack runs its
# environments as threads of one process, so adds and the flush take this lock.
_metrics_lock = threading.Lock()

Handler = TypeVar("Handler", bound=Callable[..., Any])


def instrument(correlation_id_path: str | None = HTTP_API) -> Callable[[Handler], Handler]:
    """The decorators of a Lambda handler: logger context, tracing, metrics flush."""

    def decorate(handler: Handler) -> Handler:
        wrapped: Callable[..., Any] = _flush_metrics(handler)
        if tracing_enabled():
            # Imported only when traces are sent: the X-Ray SDK costs ~150 ms of cold start.
            from aws_lambda_powertools import Tracer

            wrapped = Tracer().capture_lambda_handler(wrapped, capture_response=False)
        wrapped = _request_keys(wrapped, correlation_id_path)
        wrapped = logger.inject_lambda_context(
            wrapped, correlation_id_path=correlation_id_path, clear_state=True
        )
        return wrapped  # type: ignore[return-value]

    return decorate


def _request_keys(
    handler: Callable[..., Any], correlation_id_path: str | None
) -> Callable[..., Any]:
    """The keys that tie a log line to its request — correlation id, tenant, key hash — kept with
    Powertools' thread-safe keys.

    `inject_lambda_context` keeps its keys per process: right in Lambda, where an environment runs
    one invocation at a time, but the local stack runs its environments as threads of one process,
    where another invocation's `clear_state` erased a request's key hash before its "answered" line
    (and gave it another request's correlation id). Thread-safe keys win over the process-wide ones,
    so in Lambda both hold the same values. `clear_state=True` clears the calling thread's
    thread-safe keys at the start of each invocation; a function without a correlation id path sets
    None, which drops a correlation id another thread's invocation left in the process-wide keys.
    Threads a handler starts (the durable SDK's, for one) begin without these keys.
    """

    @functools.wraps(handler)
    def keyed(event: Any, context: Any) -> Any:
        correlation_id = (
            jmespath_utils.query(envelope=correlation_id_path, data=event)
            if correlation_id_path
            else None
        )
        logger.thread_safe_append_keys(correlation_id=correlation_id)
        return handler(event, context)

    return keyed


def _flush_metrics(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Powertools' `log_metrics`, minus its warning when an invocation added no metric (a read, an
    authorizer call): that is normal here, and the warning filled every log with noise."""

    @functools.wraps(handler)
    def flushing(event: Any, context: Any) -> Any:
        try:
            return handler(event, context)
        finally:
            with _metrics_lock:
                if metrics.metric_set:
                    metrics.flush_metrics()

    return flushing


def tracing_enabled() -> bool:
    """In Lambda, unless POWERTOOLS_TRACE_DISABLED (the `EnableTracing` stack parameter)."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "").lower() in ("1", "true")
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME")) and not disabled


def key_hash(idempotency_key: str) -> str:
    """A short hash that correlates log lines of one key without revealing it."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:16]


def annotate(*, tenant_id: str | None = None, idempotency_key: str | None = None) -> None:
    keys: dict[str, str] = {}
    if tenant_id:
        keys["tenant_id"] = tenant_id
    if idempotency_key:
        keys["idempotency_key_hash"] = key_hash(idempotency_key)
    logger.thread_safe_append_keys(**keys)


def count(name: str, value: float = 1, unit: MetricUnit = MetricUnit.Count) -> None:
    with _metrics_lock:
        metrics.add_metric(name=name, unit=unit, value=value)


# The metric names (CloudWatch alarms and the dashboard in template.yaml use them).
IDEMPOTENT_REPLAY = "IdempotentReplay"
IDEMPOTENCY_CONFLICT = "IdempotencyConflict"
PAYLOAD_MISMATCH = "PayloadMismatch"
LLM_COMPLETION = "LLMCompletion"
LLM_ERROR = "LLMError"
LLM_TOKENS = "LLMTokens"
LLM_COST = "LLMCostMicroUSD"
TRANSFER_APPLIED = "TransferApplied"
TRANSFER_REPLAYED = "TransferReplayedFromLedger"
WEBHOOK_DUPLICATE = "WebhookDuplicate"
WORKER_ALREADY_PROCESSED = "WorkerAlreadyProcessed"
WORKER_FAILED = "WorkerFailed"
AGENT_RUN_COMPLETED = "AgentRunCompleted"
AGENT_RUN_FAILED = "AgentRunFailed"
AGENT_RUN_RESUMED = "AgentRunResumed"
AGENT_TOOL_REFUSED = "AgentToolRefused"
RATE_LIMITED = "TenantRateLimited"
RATE_UNCHECKED = "TenantRateUnchecked"
SPEND_LIMITED = "TenantSpendLimited"
