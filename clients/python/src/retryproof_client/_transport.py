"""One HTTP exchange, behind a small interface (tests and callers can supply their own)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class HttpRequest:
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes | None = None


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    # Header names in lower case.
    headers: Mapping[str, str] = field(default_factory=dict)


class Transport(Protocol):
    """Sends one request. A network failure (connection refused or reset, timeout) raises
    `OSError` or `http.client.HTTPException`; any HTTP status is a response."""

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse: ...


class UrllibTransport:
    """The standard library's HTTP client; no dependencies."""

    def send(self, request: HttpRequest, timeout: float) -> HttpResponse:
        if not request.url.startswith(("http://", "https://")):
            raise ValueError("only http and https URLs are supported")
        req = urllib.request.Request(  # noqa: S310 - the scheme is checked above
            request.url, data=request.body, method=request.method, headers=dict(request.headers)
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
                return HttpResponse(
                    status=int(response.status),
                    body=response.read(),
                    headers={k.lower(): v for k, v in response.headers.items()},
                )
        except urllib.error.HTTPError as error:
            with error:
                return HttpResponse(
                    status=int(error.code),
                    body=error.read(),
                    headers={k.lower(): v for k, v in (error.headers or {}).items()},
                )
