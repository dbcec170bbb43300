"""A retrying client for the retryproof API.

    from retryproof_client import Client

    client = Client("http://127.0.0.1:3000", "rp_test_acme_0123456789abcdef")
    result = client.generate("Write a haiku about retries.")
    result.data.content, result.replayed, result.idempotency_key

Each write gets one `Idempotency-Key`, reused on every retry, so retries are always safe.
"""

from retryproof_client._client import Client, RetryEvent
from retryproof_client._retry import RetryPolicy, is_retryable_status
from retryproof_client._transport import HttpRequest, HttpResponse, Transport, UrllibTransport
from retryproof_client._version import __version__
from retryproof_client.errors import ApiError, InvalidResponse, NetworkError, RetryproofError
from retryproof_client.models import (
    Account,
    AgentRun,
    AgentStep,
    Generation,
    KeyStatus,
    Result,
    Summary,
    TokenUsage,
    Transfer,
    UsagePage,
    UsageRecord,
    WebhookAccepted,
    WebhookEvent,
)
from retryproof_client.webhooks import sign_webhook

__all__ = [
    "Account",
    "AgentRun",
    "AgentStep",
    "ApiError",
    "Client",
    "Generation",
    "HttpRequest",
    "HttpResponse",
    "InvalidResponse",
    "KeyStatus",
    "NetworkError",
    "Result",
    "RetryEvent",
    "RetryPolicy",
    "RetryproofError",
    "Summary",
    "TokenUsage",
    "Transfer",
    "Transport",
    "UrllibTransport",
    "UsagePage",
    "UsageRecord",
    "WebhookAccepted",
    "WebhookEvent",
    "__version__",
    "is_retryable_status",
    "sign_webhook",
]
