"""Domain errors and the one map from error to RFC 9457 problem details."""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://retryproof.dev/problems/"


class ProblemError(Exception):
    """An error that reaches the client as problem details. Subclasses fix status, code, title."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        # What the logs say (the same, unless a subclass keeps internals out of `detail`).
        self.log_detail = self.detail
        self.headers = headers or {}
        self.extra = extra or {}

    def problem(self) -> dict[str, Any]:
        return problem_body(self.status, self.code, self.title, self.detail, **self.extra)


def problem_body(status: int, code: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": PROBLEM_TYPE_BASE + code.replace("_", "-"),
        "title": title,
        "status": status,
        "code": code,
        "detail": detail,
        **extra,
    }


class ValidationFailed(ProblemError):
    # The body, a path parameter or a query parameter: `errors` names each field.
    status, code, title = 422, "validation_error", "The request has invalid fields"


# A 422 stays small whatever the body: a 256 KiB body of unknown fields would otherwise list
# tens of thousands of them (a 2 MB answer), and one field name may itself be 256 KiB long.
MAX_LISTED_ERRORS = 20
MAX_FIELD_CHARS = 100


def _shown(path: str) -> str:
    return path if len(path) <= MAX_FIELD_CHARS else path[: MAX_FIELD_CHARS - 1] + "…"


def invalid_fields(errors: list[tuple[str, str]]) -> ValidationFailed:
    """422 `validation_error` naming the offending fields (docs/api.md, "Errors"): the first
    `MAX_LISTED_ERRORS` of them, each field path cut at `MAX_FIELD_CHARS` characters, and
    `errorsOmitted` counting the rest."""
    listed = [(_shown(path), message) for path, message in errors[:MAX_LISTED_ERRORS]]
    fields = sorted({path for path, _ in listed})
    omitted = len(errors) - len(listed)
    extra: dict[str, Any] = {
        "errors": [{"field": path, "message": message} for path, message in listed]
    }
    if omitted:
        extra["errorsOmitted"] = omitted
    more = f" and {omitted} more" if omitted else ""
    return ValidationFailed("invalid fields: " + ", ".join(fields) + more, extra=extra)


class PayloadTooLarge(ProblemError):
    status, code, title = 413, "payload_too_large", "The request body is too large"


class UnsupportedMediaType(ProblemError):
    status, code, title = 415, "unsupported_media_type", "The request body must be JSON"


class IdempotencyKeyRequired(ProblemError):
    status, code, title = 400, "idempotency_key_required", "An Idempotency-Key header is required"


class IdempotencyKeyInvalid(ProblemError):
    status, code, title = 400, "idempotency_key_invalid", "The Idempotency-Key header is malformed"


class IdempotencyKeyReused(ProblemError):
    status, code, title = (
        422,
        "idempotency_key_reused",
        "The Idempotency-Key was already used with a different request body",
    )


class IdempotencyKeyInUse(ProblemError):
    status, code, title = (
        409,
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still being processed",
    )


class StorageUnavailable(ProblemError):
    """A storage service (DynamoDB, SQS, Lambda) failed. `detail` names the operation and the
    AWS error code for the logs only: the client reads the generic `PUBLIC_DETAIL`, or `advice`
    (what to do, never what failed inside), and the response's request id."""

    status, code, title = 503, "storage_unavailable", "Storage is unavailable; retry later"
    PUBLIC_DETAIL = "a storage service failed; retry the same request with the same key"

    def __init__(
        self,
        detail: str | None = None,
        *,
        advice: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        # Every 503 says when to try again (a kept claim says when its lease ends).
        super().__init__(
            advice or self.PUBLIC_DETAIL,
            headers={"Retry-After": "1", **(headers or {})},
            extra=extra,
        )
        self.log_detail = detail or self.detail
        self.args = (self.log_detail,)  # str(exc), for tracebacks in the logs


class ModelNotAllowed(ProblemError):
    status, code, title = 422, "model_not_allowed", "The model is not allowed"


class LlmError(ProblemError):
    status, code, title = 502, "llm_error", "The language model failed"


class LlmTimeout(ProblemError):
    status, code, title = 504, "llm_timeout", "The language model did not answer in time"


class NoTimeForLlm(LlmTimeout):
    """Too little of the function's time is left to call the language model and record the
    result: the call is not started (nothing is paid); the operation can run again."""


class NotFound(ProblemError):
    status, code, title = 404, "not_found", "Not found"


class BadRequest(ProblemError):
    status, code, title = 400, "bad_request", "The request is invalid"


class Unauthorized(ProblemError):
    status, code, title = 401, "unauthorized", "Not authenticated"


class ApiKeyExpired(ProblemError):
    status, code, title = 401, "api_key_expired", "The API key has expired"


class InsufficientScope(ProblemError):
    status, code, title = 403, "insufficient_scope", "The API key lacks the scope this route needs"


class InternalError(ProblemError):
    status, code, title = 500, "internal_error", "Internal error"


class BusinessRejection(ProblemError):
    """An outcome of an operation that ran: stored under the key and replayed like a success."""


class InsufficientFunds(BusinessRejection):
    status, code, title = 400, "insufficient_funds", "The source account has insufficient funds"


class AccountNotFound(BusinessRejection):
    status, code, title = 404, "account_not_found", "Account not found"


class TransferNotFound(ProblemError):
    status, code, title = 404, "transfer_not_found", "Transfer not found"


class CurrencyMismatch(BusinessRejection):
    status, code, title = 422, "currency_mismatch", "The currencies do not match"


class SameAccount(ProblemError):
    status, code, title = 422, "same_account", "The source and target accounts are the same"


class AgentTimeout(ProblemError):
    status, code, title = (
        504,
        "agent_timeout",
        "The agent run could not finish in time; retry to resume",
    )


class RunNotFound(ProblemError):
    status, code, title = 404, "run_not_found", "Agent run not found"


class RunNotResumable(ProblemError):
    status, code, title = 409, "run_not_resumable", "Only a failed run can be resumed"


class ApprovalAlreadyDecided(ProblemError):
    status, code, title = 409, "approval_already_decided", "The approval was already decided"


class InvalidSignature(ProblemError):
    """A webhook delivery that is not authenticated (signature, timestamp or tenant)."""

    status, code, title = 401, "invalid_signature", "The webhook signature could not be verified"


class WebhookEventNotFound(ProblemError):
    status, code, title = 404, "webhook_event_not_found", "Webhook event not found"


class SummaryNotFound(ProblemError):
    status, code, title = 404, "summary_not_found", "Summary not found"


class RateLimited(ProblemError):
    """The tenant sent more requests in this window than its limit (docs/limits.md)."""

    status, code, title = 429, "rate_limited", "Too many requests from this tenant; retry later"


class SpendLimitReached(ProblemError):
    """The tenant's LLM spend today reached its daily limit: no new paid work until tomorrow
    (UTC). Not stored under the key: the same request succeeds once the limit allows it."""

    status, code, title = (
        429,
        "spend_limit_reached",
        "The tenant's daily LLM spend limit is reached",
    )
