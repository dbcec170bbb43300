"""A log line carries its own request's keys while another invocation runs in the same process.

The local stack runs its Lambda environments as threads of one process; Powertools'
`inject_lambda_context` keeps its keys per process. Overlapping invocations: one's `clear_state`
must not take another's tenant, key hash or correlation id off its next line, and an invocation
without a correlation id (the worker) must not log one set by an invocation that started after it.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from local.lambda_runtime import LocalContext
from retryproof import observability as obs


def _event(request_id: str) -> dict[str, Any]:
    return {"requestContext": {"requestId": request_id}}


def _context() -> LocalContext:
    return LocalContext(function_name="f", memory_limit_in_mb=128, timeout_s=3)


@pytest.fixture
def log_lines() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(obs.logger.registered_formatter)
    std = logging.getLogger(obs.logger.name)
    std.addHandler(handler)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        std.removeHandler(handler)
        obs.logger.clear_state()


def _run(target: Callable[..., None], *args: Any) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target(*args)
        except BaseException as exc:  # noqa: BLE001 — reported by the test, not lost in the thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, errors


def test_overlapping_invocations_keep_their_own_request_keys(
    log_lines: Callable[[], list[dict[str, Any]]],
) -> None:
    first_annotated, worker_started = threading.Event(), threading.Event()
    others_done = threading.Event()

    def http(tenant: str, key: str, *, wait: bool) -> Callable[[Any, Any], None]:
        @obs.instrument()
        def handler(event: Any, context: Any) -> None:
            obs.annotate(tenant_id=tenant, idempotency_key=key)
            if wait:
                first_annotated.set()
                assert others_done.wait(10)
            obs.logger.info("answered")

        return handler

    @obs.instrument(correlation_id_path=None)
    def worker(event: Any, context: Any) -> None:
        worker_started.set()
        assert others_done.wait(10)
        obs.logger.info("record done")

    first = _run(http("acme", "key-1", wait=True), _event("req-1"), _context())
    assert first_annotated.wait(10)
    worker_thread = _run(worker, {}, _context())
    assert worker_started.wait(10)
    # Starts after the worker: its correlation id is the process-wide one when the worker logs.
    http("globex", "key-2", wait=False)(_event("req-2"), _context())
    others_done.set()
    for thread, errors in (first, worker_thread):
        thread.join(10)
        assert not thread.is_alive()
        assert errors == []

    lines = {
        (r["message"], r.get("correlation_id"), r.get("tenant_id"), r.get("idempotency_key_hash"))
        for r in log_lines()
    }
    assert lines == {
        ("answered", "req-1", "acme", obs.key_hash("key-1")),
        ("answered", "req-2", "globex", obs.key_hash("key-2")),
        ("record done", None, None, None),
    }
