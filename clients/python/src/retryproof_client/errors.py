"""What a call raises: the API's problem details, or a network failure that outlived the retries."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class RetryproofError(Exception):
    """Base class. `idempotency_key` is the key the operation used (None for reads): calling the
    same operation again with it later continues the same logical operation, never a second one."""

    def __init__(self, message: str, *, idempotency_key: str | None, attempts: int) -> None:
        super().__init__(message)
        self.idempotency_key = idempotency_key
        self.attempts = attempts


class ApiError(RetryproofError):
    """An HTTP error answer: RFC 9457 problem details (`code`, `status`, `title`, `detail`), or
    API Gateway's own `{"message": ...}` (401, 403, 404 of an unknown route)."""

    def __init__(
        self,
        *,
        status: int,
        problem: Mapping[str, Any],
        headers: Mapping[str, str],
        idempotency_key: str | None,
        attempts: int,
    ) -> None:
        self.status = status
        self.problem: dict[str, Any] = dict(problem)
        self.headers: dict[str, str] = dict(headers)
        self.code = str(problem.get("code") or f"http_{status}")
        self.title = str(problem.get("title") or "")
        self.detail = str(problem.get("detail") or problem.get("title") or "")
        self.type = str(problem.get("type") or "about:blank")
        super().__init__(
            f"{status} {self.code}: {self.detail}",
            idempotency_key=idempotency_key,
            attempts=attempts,
        )

    @property
    def replayed(self) -> bool:
        """True when this is the stored outcome of an earlier request (a business rejection such
        as `insufficient_funds` is stored and replayed like a success)."""
        return self.headers.get("idempotent-replayed", "").lower() == "true"

    @property
    def errors(self) -> list[dict[str, Any]]:
        """`validation_error`: the invalid fields (`field`, `message`)."""
        found = self.problem.get("errors")
        return list(found) if isinstance(found, list) else []

    @classmethod
    def from_response(
        cls,
        status: int,
        body: bytes,
        headers: Mapping[str, str],
        *,
        idempotency_key: str | None,
        attempts: int,
    ) -> ApiError:
        problem: dict[str, Any] = {}
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            problem = parsed
        if "code" not in problem and isinstance(problem.get("message"), str):
            # API Gateway's own answers: {"message": "Unauthorized"}.
            message = problem["message"]
            problem = {
                "status": status,
                "code": "_".join(message.lower().split()),
                "title": message,
                "detail": message,
            }
        problem.setdefault("status", status)
        return cls(
            status=status,
            problem=problem,
            headers=headers,
            idempotency_key=idempotency_key,
            attempts=attempts,
        )


class NetworkError(RetryproofError):
    """No HTTP answer within the attempts and the time allowed (connection refused or reset,
    timeout). The operation may or may not have run: retry it with `idempotency_key`."""

    def __init__(self, cause: BaseException, *, idempotency_key: str | None, attempts: int) -> None:
        super().__init__(
            f"network error after {attempts} attempt(s): {type(cause).__name__}: {cause}",
            idempotency_key=idempotency_key,
            attempts=attempts,
        )
        self.cause = cause


class InvalidResponse(RetryproofError):
    """A success answer whose body is not what the API promises."""
