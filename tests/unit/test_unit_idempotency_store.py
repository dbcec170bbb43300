"""The idempotency store's client view and its shared cache."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.shared import user_agent
from botocore.awsrequest import AWSRequest

from retryproof.idempotency import _LockedLRU, _ObservingClient, _shared_cache, _Store

pytestmark = pytest.mark.unit


@pytest.fixture
def hook_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The features of Powertools' User-Agent hooks, each time one runs."""
    runs: list[str] = []
    original = user_agent._create_feature_function

    def counted(feature: str) -> Callable[..., None]:
        hook = original(feature)

        def run(request: Any, **kwargs: Any) -> None:
            if feature != user_agent.DEFAULT_FEATURE:  # the session's own, on every client
                runs.append(feature)
            hook(request, **kwargs)

        return run

    monkeypatch.setattr(user_agent, "_create_feature_function", counted)
    return runs


def client() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x",
                        aws_secret_access_key="x")  # fmt: skip


def emit(shared: Any) -> None:
    """What the client does for each request it sends (signing included; nothing is sent)."""
    request = AWSRequest(method="POST", url="https://dynamodb.us-east-1.amazonaws.com/",
                         headers={"User-Agent": "Boto3/1"}, data=b"{}")  # fmt: skip
    shared.meta.events.emit("request-created.dynamodb.PutItem", request=request,
                            operation_name="PutItem")  # fmt: skip


def test_a_store_per_invocation_adds_its_hook_once(hook_runs: list[str]) -> None:
    shared = client()
    # Given one store built per invocation, 5 invocations, around one shared client
    for _ in range(5):
        _Store("t", _ObservingClient(shared), _LockedLRU(8))
    # When the client sends a request, the idempotency feature's hook runs once
    emit(shared)
    assert hook_runs == ["idempotency"]


def test_hooks_of_different_features_are_all_registered(hook_runs: list[str]) -> None:
    shared = client()
    observing = _ObservingClient(shared)
    for feature in ("idempotency", "other", "idempotency"):
        user_agent.register_feature_to_client(observing, feature)
    observing.meta.events.register_last("request-created", user_agent._create_feature_function("z"))
    observing.meta.events.register_last("request-created", user_agent._create_feature_function("z"))
    emit(shared)
    assert sorted(hook_runs) == ["idempotency", "other", "z"]


def test_the_shared_cache_survives_concurrent_use() -> None:
    cache = _LockedLRU(8)
    errors: list[BaseException] = []

    def hammer(n: int) -> None:
        try:
            for i in range(3000):
                key = f"{n}-{i % 20}"
                cache[key] = i
                cache.get(key)
                if key in cache:
                    cache.pop(key, None)
        except Exception as exc:  # noqa: BLE001 - the failure being tested for
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) <= 8


def test_one_cache_per_table_and_operation() -> None:
    assert _shared_cache("t", "op") is _shared_cache("t", "op")
    assert _shared_cache("t", "op") is not _shared_cache("t", "other")
