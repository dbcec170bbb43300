"""A log line carries its own request's keys while another invocation runs in the same process.

The local stack runs its Lambda environments as threads of one process; Powertools'
`inject_lambda_context` keeps its keys per process. Two overlapping invocations: the second one's
`clear_state` must not take the first one's tenant, key hash or correlation id off its next line.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import Any

from local.lambda_runtime import LocalContext
from retryproof import observability as obs


def _event(request_id: str) -> dict[str, Any]:
    return {"requestContext": {"requestId": request_id}}


def test_overlapping_invocations_keep_their_own_request_keys() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(obs.logger.registered_formatter)
    std = logging.getLogger(obs.logger.name)
    std.addHandler(handler)
    annotated = threading.Event()
    other_done = threading.Event()

    @obs.instrument()
    def first(event: Any, context: Any) -> None:
        obs.annotate(tenant_id="acme", idempotency_key="key-1")
        annotated.set()
        assert other_done.wait(10)
        obs.logger.info("answered")

    @obs.instrument()
    def second(event: Any, context: Any) -> None:
        obs.annotate(tenant_id="globex", idempotency_key="key-2")
        obs.logger.info("answered")

    @obs.instrument(correlation_id_path=None)
    def worker(event: Any, context: Any) -> None:
        obs.logger.info("record done")

    def context() -> LocalContext:
        return LocalContext(function_name="f", memory_limit_in_mb=128, timeout_s=3)

    try:
        thread = threading.Thread(target=first, args=(_event("req-1"), context()))
        thread.start()
        assert annotated.wait(10)
        second(_event("req-2"), context())
        worker({}, context())
        other_done.set()
        thread.join(10)
    finally:
        std.removeHandler(handler)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = {
        (r["message"], r.get("correlation_id"), r.get("tenant_id"), r.get("idempotency_key_hash"))
        for r in lines
    }
    assert mine == {
        ("answered", "req-1", "acme", obs.key_hash("key-1")),
        ("answered", "req-2", "globex", obs.key_hash("key-2")),
        ("record done", None, None, None),
    }
