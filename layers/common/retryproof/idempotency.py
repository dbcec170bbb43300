"""Idempotency on Powertools: tenant-scoped keys, one config per operation, replay headers.

The key is read case-insensitively from the headers and scoped by tenant and route; the body is
validated *before* `run_idempotent`, so a request rejected by validation is never stored. What is
stored is a `StoredOutcome` (status + body + original time) of every execution that finished —
successes and business rejections. An exception from the operation releases the claim (Powertools
deletes the in-progress record), so infrastructure and LLM failures are never stored.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NamedTuple

from aws_lambda_powertools.shared.cache_dict import LRUDict
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.base import BaseIdempotencySerializer

from retryproof import observability as obs
from retryproof.dal.idempotency_records import KEY_PREFIX  # the records' ids are read there too
from retryproof.errors import (
    IdempotencyKeyInUse,
    IdempotencyKeyInvalid,
    IdempotencyKeyRequired,
    IdempotencyKeyReused,
    StorageUnavailable,
)
from retryproof.models.outcome import StoredOutcome

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext
    from mypy_boto3_dynamodb import DynamoDBClient

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 255
# Seconds a client is told to wait when the key is in flight.
RETRY_AFTER_SECONDS = 1

REPLAY_HEADERS = {
    "Idempotent-Replayed": "true",
    "X-Idempotency-Replayed": "true",
    "X-From-Cache": "true",
}


def read_idempotency_key(headers: Mapping[str, str] | None) -> str:
    """The Idempotency-Key header value, validated (1-255 printable ASCII characters).

    The header name is matched case-insensitively (HTTP API lowercases names, REST API does not);
    a Structured-Field string (`"..."`) is unquoted.
    """
    value = next((v for k, v in (headers or {}).items() if k.lower() == HEADER), None)
    if value is None:
        raise IdempotencyKeyRequired("send an Idempotency-Key header (a UUID is recommended)")
    key = value.strip(" \t")  # HTTP optional whitespace only
    if len(key) >= 2 and key[0] == '"' and key[-1] == '"':
        key = _unquote_sf_string(key[1:-1])
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not all(0x20 <= ord(c) <= 0x7E for c in key):
        raise IdempotencyKeyInvalid(
            f"the Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key


def _unquote_sf_string(inner: str) -> str:
    out: list[str] = []
    chars = iter(inner)
    for c in chars:
        if c == "\\":
            nxt = next(chars, "")
            if nxt not in ('"', "\\"):
                raise IdempotencyKeyInvalid("the quoted Idempotency-Key has an invalid escape")
            out.append(nxt)
        elif c == '"':
            raise IdempotencyKeyInvalid("the quoted Idempotency-Key has an unescaped quote")
        else:
            out.append(c)
    return "".join(out)


class IdempotentRequest(NamedTuple):
    """Who asked, with which key, on which route, with which (parsed JSON) body."""

    tenant_id: str
    key: str
    body: Any


def body_hash(body: Any) -> str:
    """Hash of the parsed JSON body (key order and whitespace do not matter)."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _mark_replayed(response: Any, idempotent_data: DataRecord) -> Any:
    if isinstance(response, StoredOutcome):
        return replace(response, replayed=True)
    return response


class OutcomeSerializer(BaseIdempotencySerializer):
    """A `StoredOutcome` as stored in the idempotency record: status, body, original time.

    The same shape the earlier pydantic serializer stored (`replayed` is never persisted), so
    records written before remain readable.
    """

    def to_dict(self, data: StoredOutcome) -> dict[str, Any]:
        return {
            "status": data.status,
            "body": data.body,
            "original_request_time": data.original_request_time,
        }

    def from_dict(self, data: dict[str, Any]) -> StoredOutcome:
        return StoredOutcome(
            status=int(data["status"]),
            body=data["body"],
            original_request_time=data["original_request_time"],
        )


class ClaimKept(BaseException):
    """Raised by an operation that failed *after* paying for its side effect (e.g. the LLM
    answered but its record could not be written). A BaseException, so Powertools does not
    release the claim: the key stays leased until this invocation's lease ends, as after a crash,
    and the retry then takes over with `Claim.fresh == False` and checks the durable record
    before paying again. `run_idempotent` turns it into 503 `storage_unavailable`."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Claim(NamedTuple):
    """What claiming the key found. `fresh`: no earlier record was replaced — no earlier
    execution can have left a side effect, so the durable record need not be read first.
    False when the claim took over an expired record or a dead invocation's lease."""

    fresh: bool


class _ObservingClient:
    """The DynamoDB client for one invocation's store: the claim's conditional put also asks
    for the item it replaced (`ReturnValues=ALL_OLD`, free on success), so `Claim.fresh` costs
    no extra call."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client
        self.replaced: bool = False
        self.meta = _ClientMeta(client.meta)

    def put_item(self, **kwargs: Any) -> Any:
        kwargs.setdefault("ReturnValues", "ALL_OLD")
        out = self._client.put_item(**kwargs)
        self.replaced = bool(out.get("Attributes"))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _ClientMeta:
    """`client.meta` whose event hooks register once per client. Powertools adds its User-Agent
    hook to the client each time a store is built, and a store is built per invocation around one
    shared client: without this, every warm invocation would add one more hook and one more
    User-Agent suffix, so each request got slower and its headers longer (found by `make chaos`)."""

    def __init__(self, meta: Any) -> None:
        self._meta = meta
        self.events = _OnceEvents(meta.events)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._meta, name)


class _OnceEvents:
    """Event hooks registered once: a second registration of the same hook is ignored (botocore
    ignores a `unique_id` it has seen). The same hook: same function and the same strings in its
    closure (Powertools' hooks differ only by their feature name)."""

    def __init__(self, events: Any) -> None:
        self._events = events

    def register(self, event_name: str, handler: Any, unique_id: Any = None, **kwargs: Any) -> None:
        self._events.register(
            event_name, handler, unique_id or _hook_id(event_name, handler), **kwargs
        )

    def register_first(
        self, event_name: str, handler: Any, unique_id: Any = None, **kwargs: Any
    ) -> None:
        self._events.register_first(
            event_name, handler, unique_id or _hook_id(event_name, handler), **kwargs
        )

    def register_last(
        self, event_name: str, handler: Any, unique_id: Any = None, **kwargs: Any
    ) -> None:
        self._events.register_last(
            event_name, handler, unique_id or _hook_id(event_name, handler), **kwargs
        )

    def __getattr__(self, name: str) -> Any:
        return getattr(self._events, name)


def _hook_id(event_name: str, handler: Any) -> str:
    texts = []
    for cell in getattr(handler, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, str):
            texts.append(value)
    name = f"{getattr(handler, '__module__', '')}.{getattr(handler, '__qualname__', repr(handler))}"
    return f"retryproof:{event_name}:{name}:{'|'.join(texts)}"


class _LockedLRU(LRUDict):
    """Powertools' LRU cache, safe to share between threads (the local stack serves concurrent
    requests of an execution environment's function in one process; in Lambda it is one)."""

    def __init__(self, max_items: int) -> None:
        super().__init__(max_items=max_items)  # type: ignore[no-untyped-call]
        self._lock = threading.RLock()

    def __getitem__(self, key: Any) -> Any:
        with self._lock:
            return super().__getitem__(key)  # type: ignore[no-untyped-call]

    def __setitem__(self, key: Any, value: Any) -> None:
        with self._lock:
            super().__setitem__(key, value)  # type: ignore[no-untyped-call]

    def __delitem__(self, key: Any) -> None:
        with self._lock:
            super().__delitem__(key)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return super().__contains__(key)

    def get(self, key: Any, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return super().get(key, *args, **kwargs)  # type: ignore[no-untyped-call]

    def pop(self, key: Any, *args: Any) -> Any:
        with self._lock:
            return super().pop(key, *args)


_cache_lock = threading.Lock()
_caches: dict[tuple[str, str], LRUDict] = {}
LOCAL_CACHE_ITEMS = 512


class _Store(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB store, one per invocation (its per-call state stays private), sharing
    one local cache per table and operation across the execution environment's invocations: a
    warm replay costs no DynamoDB call."""

    def __init__(self, table: str, client: _ObservingClient, cache: LRUDict) -> None:
        super().__init__(table_name=table, boto3_client=client)  # type: ignore[arg-type]
        self._shared_cache = cache

    def configure(
        self,
        config: IdempotencyConfig,
        function_name: str | None = None,
        key_prefix: str | None = None,
    ) -> None:
        super().configure(config, function_name, key_prefix)
        self._cache = self._shared_cache


def _shared_cache(table: str, operation: str) -> LRUDict:
    with _cache_lock:
        cache = _caches.get((table, operation))
        if cache is None:
            cache = _LockedLRU(LOCAL_CACHE_ITEMS)
            _caches[(table, operation)] = cache
        return cache


def run_idempotent(
    operation: str,
    request: IdempotentRequest,
    execute: Callable[[Claim], StoredOutcome],
    *,
    client: DynamoDBClient,
    table: str,
    ttl_seconds: int,
    payload_mismatch: str,
    context: LambdaContext | None,
) -> StoredOutcome:
    """Run `execute` at most once per (tenant, operation, key); replay its outcome afterwards.

    Raises `IdempotencyKeyReused` (422), `IdempotencyKeyInUse` (409) and `StorageUnavailable` (503)
    for the store's answers; exceptions from `execute` pass through and release the claim.
    """
    # Built per invocation: the persistence layer and config keep per-call state, and one
    # execution environment of the local stack serves requests on several threads.
    config = IdempotencyConfig(
        event_key_jmespath="[tenant, key]",
        payload_validation_jmespath="body" if payload_mismatch == "reject" else "",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=ttl_seconds,
        use_local_cache=True,
        local_cache_max_items=LOCAL_CACHE_ITEMS,
        hash_function="sha256",
        response_hook=_mark_replayed,
    )
    if context is not None:
        # The lease (in-progress expiry) ends when this invocation would time out.
        config.register_lambda_context(context)
    observed = _ObservingClient(client)
    store = _Store(table, observed, _shared_cache(table, operation))

    def _execute(data: dict[str, Any]) -> StoredOutcome:
        return execute(Claim(fresh=not observed.replaced))

    wrapped = idempotent_function(
        _execute,
        data_keyword_argument="data",
        persistence_store=store,
        config=config,
        output_serializer=OutcomeSerializer(),
        key_prefix=f"{KEY_PREFIX}.{operation}",
    )
    data = {"tenant": request.tenant_id, "key": request.key, "body": request.body}
    obs.annotate(tenant_id=request.tenant_id, idempotency_key=request.key)
    try:
        outcome: StoredOutcome = wrapped(data=data)
    except IdempotencyValidationError as exc:
        obs.count(obs.PAYLOAD_MISMATCH)
        raise IdempotencyKeyReused(
            "this Idempotency-Key was used with a different request body; use a new key"
        ) from exc
    except IdempotencyAlreadyInProgressError as exc:
        obs.count(obs.IDEMPOTENCY_CONFLICT)
        raise IdempotencyKeyInUse(
            "a request with this Idempotency-Key is in progress; retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from exc
    except IdempotencyPersistenceLayerError as exc:
        raise StorageUnavailable("the idempotency store is unavailable") from exc
    except ClaimKept as kept:
        remaining = context.get_remaining_time_in_millis() if context is not None else 0
        raise StorageUnavailable(
            "the result could not be recorded; retry after the Retry-After delay",
            headers={"Retry-After": str(max(1, -(-remaining // 1000)))},
        ) from kept.cause
    return outcome
