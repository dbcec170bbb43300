"""Standard Webhooks signatures (https://www.standardwebhooks.com/), HMAC-SHA256 ("v1").

The signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`; the key is the base64 part of
the tenant's `whsec_...` secret; `webhook-signature` holds one or more space-separated
`v1,<base64 signature>` entries (several while a secret is being rotated). Signatures are compared
in constant time. A timestamp more than `TOLERANCE_SECONDS` away from now is refused when the
headers are read (`read_headers`), before the body is looked at, so a captured delivery cannot be
replayed later.

A secret's key is at least `MIN_SECRET_BYTES` (24) bytes: a shorter one is refused when it is
created and never verifies anything (the empty `whsec_` included). While a secret is being
rotated, a tenant has two (`verify_any`): a delivery signed with either verifies.

The `standardwebhooks` package implements the same scheme. This one (about 40 lines of the
standard library) is kept because it fits the edge: the clock is an argument (tests and the
tolerance window need no time patching), every failure is the API's typed `InvalidSignature`
(401 `invalid_signature`, one message for a wrong signature and an unknown tenant), and the
timestamp and headers are checked before the tenant's secret is fetched.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from retryproof.errors import InvalidSignature

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
TOLERANCE_SECONDS = 5 * 60
MIN_SECRET_BYTES = 24  # Standard Webhooks: secrets of 24 to 64 bytes
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
MAX_HEADER_LENGTH = 4096
# One message for a wrong signature and an unknown tenant: a caller cannot probe tenant ids.
NO_MATCH = "no webhook-signature matches this delivery"


class SignedHeaders(NamedTuple):
    message_id: str
    timestamp: int
    signatures: str


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (the prefix is optional); `ValueError` if it is
    not base64 or shorter than `MIN_SECRET_BYTES`."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a webhook secret's key must be at least {MIN_SECRET_BYTES} bytes")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for a delivery: `v1,<base64 HMAC-SHA256>`."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def read_headers(headers: Mapping[str, str] | None, *, now: float) -> SignedHeaders:
    """The three signature headers (names case-insensitive), the timestamp within
    `TOLERANCE_SECONDS` of `now`; `InvalidSignature` if one is missing, malformed or stale."""
    found = {k.lower(): v for k, v in (headers or {}).items()}
    message_id = found.get(ID_HEADER, "").strip()
    timestamp = found.get(TIMESTAMP_HEADER, "").strip()
    signatures = found.get(SIGNATURE_HEADER, "").strip()
    if not (message_id and timestamp and signatures):
        raise InvalidSignature(
            f"send the {ID_HEADER}, {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers"
        )
    if max(len(message_id), len(signatures)) > MAX_HEADER_LENGTH:
        raise InvalidSignature("a webhook signature header is too long")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise InvalidSignature(f"{TIMESTAMP_HEADER} must be integer seconds since the epoch")
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        raise InvalidSignature(
            f"{TIMESTAMP_HEADER} is more than {TOLERANCE_SECONDS // 60} minutes away from now"
        )
    return SignedHeaders(message_id, int(timestamp), signatures)


def has_v1_signature(signed: SignedHeaders) -> bool:
    """Whether `webhook-signature` holds at least one well-formed `v1` entry (the base64 of 32
    bytes): without one nothing can verify, so the tenant's secret need not be fetched."""
    for entry in signed.signatures.split(" "):
        version, _, value = entry.partition(",")
        if version == "v1" and len(value) == 44:
            try:
                if len(base64.b64decode(value, validate=True)) == hashlib.sha256().digest_size:
                    return True
            except (binascii.Error, ValueError):
                continue
    return False


def verify(secret: str, signed: SignedHeaders, body: bytes) -> None:
    """Check that one `v1` signature matches the delivery; else `InvalidSignature`."""
    verify_any((secret,), signed, body)


def verify_any(secrets: Sequence[str], signed: SignedHeaders, body: bytes) -> None:
    """Check that one `v1` signature matches the delivery with one of `secrets` (the current one
    and, while a rotation overlaps, the previous one); else `InvalidSignature`. A secret that is
    malformed or too short verifies nothing."""
    expected: list[bytes] = []
    for secret in secrets:
        try:
            expected.append(sign(secret, signed.message_id, signed.timestamp, body).encode())
        except ValueError:
            continue
    matched = False
    for entry in signed.signatures.split(" "):
        version, _, value = entry.partition(",")
        if version != "v1":
            continue
        # Every entry is compared with every secret (no early exit), each in constant time.
        for candidate in expected:
            if hmac.compare_digest(f"v1,{value}".encode(), candidate):
                matched = True
    if not matched:
        raise InvalidSignature(NO_MATCH)
