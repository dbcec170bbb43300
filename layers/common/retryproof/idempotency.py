"""Idempotency on Powertools: tenant-scoped keys, one store per operation, replay headers.

The key is read case-insensitively from the headers and scoped by tenant and route; the body is
validated *before* `IdempotencyStore.run`, so a request rejected by validation is never stored.
What is stored is a `StoredOutcome` (status + body + original time) of every execution that
finished — successes and business rejections. An exception from the operation releases the claim
(Powertools deletes the in-progress record), so infrastructure and LLM failures are never stored.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

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
from botocore.exceptions import ClientError

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
# Seconds a client is told to wait when the key is in flight and its lease end is not known.
RETRY_AFTER_SECONDS = 1
MAX_IN_FLIGHT_RETRY_AFTER_S = 5
# Powertools' DynamoDB attribute for the lease's end (DynamoDBPersistenceLayer's default name).
IN_PROGRESS_EXPIRY_ATTR = "in_progress_expiration"
# Records kept in an execution environment's local cache, per operation.
LOCAL_CACHE_ITEMS = 512

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


def same_numbers(value: Any) -> Any:
    """The JSON value with numbers compared by value: an integral float (`1.0`, `1e2`) becomes
    the int it equals (`1`, `100`), so two bodies that differ only in how a number is written are
    the same request (JSON numbers are values; RFC 8259 section 6)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, dict):
        return {k: same_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [same_numbers(v) for v in value]
    return value


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
        if data.durable_body:  # the body's bytes are the durable record's: not written twice
            return {
                "status": data.status,
                "body": "",
                "original_request_time": data.original_request_time,
                "durable_body": True,
            }
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
            durable_body=bool(data.get("durable_body", False)),
        )


class ClaimKept(BaseException):
    """Raised by an operation that failed *after* paying for its side effect (e.g. the LLM
    answered but its record could not be written). A BaseException, so Powertools does not
    release the claim: the key stays leased until this invocation's lease ends, as after a crash,
    and the retry then takes over with `Claim.fresh == False` and checks the durable record
    before paying again. `IdempotencyStore.run` turns it into 503 `storage_unavailable`."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Claim(NamedTuple):
    """What claiming the key found. `fresh`: no earlier record was replaced — no earlier
    execution can have left a side effect, so the durable record need not be read first.
    False when the claim took over an expired record or a dead invocation's lease."""

    fresh: bool


class _ObservingClient:
    """The DynamoDB client of one store: the claim's conditional put also asks for the item it
    replaced (`ReturnValues=ALL_OLD`, free on success), so `Claim.fresh` costs no extra call.
    Everything else (`meta` included, where Powertools registers its User-Agent hook once per
    store) is the client's own."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client
        self.replaced: bool = False
        # When the lease of the execution that holds the key ends (epoch ms), from the item the
        # failed claim returned (Powertools asks for it: ReturnValuesOnConditionCheckFailure).
        self.lease_ends_ms: int | None = None

    def put_item(self, **kwargs: Any) -> Any:
        kwargs.setdefault("ReturnValues", "ALL_OLD")
        try:
            out = self._client.put_item(**kwargs)
        except ClientError as exc:
            response: dict[str, Any] = dict(exc.response)
            held: dict[str, Any] = response.get("Item") or {}
            lease = held.get(IN_PROGRESS_EXPIRY_ATTR, {}).get("N")
            self.lease_ends_ms = int(lease) if lease else None
            raise
        self.replaced = bool(out.get("Attributes"))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def retry_after_s(lease_ends_ms: int | None, now_ms: int | None = None) -> int:
    """Seconds a client should wait before retrying a key in flight: until the lease ends (when a
    retry can take the key over if the execution holding it died), at most
    `MAX_IN_FLIGHT_RETRY_AFTER_S` (the execution usually finishes well before its lease ends,
    and then the retry is answered with its result), at least 1."""
    if lease_ends_ms is None:
        return RETRY_AFTER_SECONDS
    now = int(time.time() * 1000) if now_ms is None else now_ms
    return min(MAX_IN_FLIGHT_RETRY_AFTER_S, max(1, -(-(lease_ends_ms - now) // 1000)))


def lease_ends_iso(lease_ends_ms: int) -> str:
    return datetime.fromtimestamp(lease_ends_ms / 1000, UTC).isoformat(timespec="milliseconds")


class _Layer(NamedTuple):
    """A persistence layer, its configuration and the operation wrapped around them."""

    spec: tuple[object, ...]  # (client, table, ttl_seconds, payload validation)
    lease_s: int  # the longest lease its TTL covers
    client: _ObservingClient
    config: IdempotencyConfig
    run: Callable[..., StoredOutcome]


class IdempotencyStore:
    """One idempotent operation's store, for the life of the execution environment.

    Declared once at module scope of the function's handler, as Powertools' examples declare the
    persistence layer; Powertools' `DynamoDBPersistenceLayer` (and its local cache, which answers
    a warm replay with no DynamoDB call) is built on first use and kept. Powertools configures a
    layer once, from the first `IdempotencyConfig` it sees, so a layer serves one configuration:
    one per operation, rebuilt only if the table, client or settings change (in Lambda they never
    do within an environment; tests change them between cases).

    An execution environment serves one invocation at a time, so the layer's per-call state
    (its cache, the client's `replaced`, the config's Lambda context) needs no lock.
    """

    def __init__(self, operation: str) -> None:
        self.operation = operation
        self._layer: _Layer | None = None
        # Bodies kept in the durable record (`StoredOutcome.durable_body`) that this environment
        # wrote or read, per (tenant, key): a warm replay needs no read, as with Powertools' cache.
        self._bodies: OrderedDict[tuple[str, str], str] = OrderedDict()

    def _layer_for(
        self, client: DynamoDBClient, table: str, ttl_seconds: int, validation: str, lease_s: int
    ) -> _Layer:
        spec = (client, table, ttl_seconds, validation)
        layer = self._layer
        # In Lambda the first invocation has the longest lease (the whole timeout), so a layer is
        # built once; a longer lease than the layer covers (tests vary timeouts) rebuilds it.
        if layer is None or layer.spec != spec or lease_s > layer.lease_s:
            observed = _ObservingClient(client)
            config = IdempotencyConfig(
                event_key_jmespath="[tenant, key]",
                payload_validation_jmespath=validation,
                raise_on_no_idempotency_key=True,
                # Never shorter than a lease: Powertools lets a claim take over a record whose
                # TTL has passed, even one still in progress, and its completion write is not
                # fenced, so a live execution would be run a second time beside it.
                expires_after_seconds=max(ttl_seconds, lease_s),
                use_local_cache=True,
                local_cache_max_items=LOCAL_CACHE_ITEMS,
                hash_function="sha256",
                response_hook=_mark_replayed,
            )
            persistence = DynamoDBPersistenceLayer(
                table_name=table,
                boto3_client=observed,  # type: ignore[arg-type]
            )

            def execute_claimed(
                data: dict[str, Any], execute: Callable[[Claim], StoredOutcome]
            ) -> StoredOutcome:
                return execute(Claim(fresh=not observed.replaced))

            run = idempotent_function(
                execute_claimed,
                data_keyword_argument="data",
                persistence_store=persistence,
                config=config,
                output_serializer=OutcomeSerializer(),
                key_prefix=f"{KEY_PREFIX}.{self.operation}",
            )
            layer = self._layer = _Layer(spec, lease_s, observed, config, run)
        return layer

    def run(
        self,
        request: IdempotentRequest,
        execute: Callable[[Claim], StoredOutcome],
        *,
        client: DynamoDBClient,
        table: str,
        ttl_seconds: int,
        payload_mismatch: str,
        context: LambdaContext | None,
        durable_body: Callable[[], str | None] | None = None,
    ) -> StoredOutcome:
        """Run `execute` at most once per (tenant, operation, key); replay its outcome afterwards.

        Raises `IdempotencyKeyReused` (422), `IdempotencyKeyInUse` (409) and `StorageUnavailable`
        (503) for the store's answers; exceptions from `execute` pass through and release the claim.
        `durable_body` reads the body of a replayed outcome whose body is in the durable record
        (`StoredOutcome.durable_body`); None when that record has none.
        """
        validation = "body" if payload_mismatch == "reject" else ""
        # The longest lease of this environment: its first invocation's whole remaining time.
        lease_s = -(-context.get_remaining_time_in_millis() // 1000) + 1 if context else 0
        layer = self._layer_for(client, table, ttl_seconds, validation, lease_s)
        # The lease (in-progress expiry) ends when this invocation would time out.
        layer.config.lambda_context = context  # what register_lambda_context does, None included
        layer.client.replaced = False
        layer.client.lease_ends_ms = None
        data = {"tenant": request.tenant_id, "key": request.key, "body": request.body}
        obs.annotate(tenant_id=request.tenant_id, idempotency_key=request.key)
        try:
            outcome: StoredOutcome = layer.run(data=data, execute=execute)
        except IdempotencyValidationError as exc:
            obs.count(obs.PAYLOAD_MISMATCH)
            raise IdempotencyKeyReused(
                "this Idempotency-Key was used with a different request body; use a new key"
            ) from exc
        except IdempotencyAlreadyInProgressError as exc:
            obs.count(obs.IDEMPOTENCY_CONFLICT)
            lease = layer.client.lease_ends_ms
            raise IdempotencyKeyInUse(
                "a request with this Idempotency-Key is in progress; retry later",
                headers={"Retry-After": str(retry_after_s(lease))},
                extra={"leaseExpiresAt": lease_ends_iso(lease)} if lease else None,
            ) from exc
        except IdempotencyPersistenceLayerError as exc:
            raise StorageUnavailable("the idempotency store is unavailable") from exc
        except ClaimKept as kept:
            remaining = context.get_remaining_time_in_millis() if context is not None else 0
            raise StorageUnavailable(
                "the result could not be recorded",
                advice="the result could not be recorded; retry after the Retry-After delay",
                headers={"Retry-After": str(max(1, -(-remaining // 1000)))},
            ) from kept.cause
        if outcome.durable_body:
            outcome = self._with_body(request, outcome, durable_body)
        return outcome

    def _with_body(
        self,
        request: IdempotentRequest,
        outcome: StoredOutcome,
        read: Callable[[], str | None] | None,
    ) -> StoredOutcome:
        """The outcome with its body: as executed, from this environment's cache, or read from
        the durable record (a replay in another execution environment: one read)."""
        cached = (request.tenant_id, request.key)
        body = outcome.body or self._bodies.get(cached) or (read() if read else None)
        if not body:
            raise StorageUnavailable("the stored result could not be read")
        self._bodies[cached] = body
        self._bodies.move_to_end(cached)
        while len(self._bodies) > LOCAL_CACHE_ITEMS:
            self._bodies.popitem(last=False)
        return replace(outcome, body=body)
