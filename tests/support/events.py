"""Event fixtures from events/ (the same files `sam local invoke -e` takes), adapted per test."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).resolve().parents[2] / "events"


@cache
def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def event(name: str) -> dict[str, Any]:
    return copy.deepcopy(_load(name))


def http_event(
    name: str,
    *,
    tenant: str = "acme",
    body: Any = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
    drop_headers: tuple[str, ...] = (),
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An HTTP API v2 fixture with the tenant, body, headers and query of this test."""
    ev = event(name)
    ev["requestContext"]["authorizer"] = {"lambda": {"tenantId": tenant}}
    if raw_body is not None:
        ev["body"] = raw_body
    elif body is not None:
        ev["body"] = json.dumps(body)
    for h in drop_headers:
        ev["headers"].pop(h, None)
    ev["headers"].update(headers or {})
    if query is not None:
        ev["queryStringParameters"] = query
        ev["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    return ev
