"""Standard Webhooks signatures (https://www.standardwebhooks.com/), HMAC-SHA256 ("v1").

The signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`; the key is the base64 part of
the tenant's `whsec_...` secret; `webhook-signature` holds one or more space-separated
`v1,<base64 signature>` entries (several while a secret is being rotated). Signatures are compared
in constant time, and a timestamp more than `TOLERANCE_SECONDS` away from now is refused, so a
captured delivery cannot be replayed later. Implemented here (about 40 lines of the standard
library) rather than with the `standardwebhooks` package, which pulls an HTTP client and its
dependencies into the layer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import NamedTuple

from retryproof.errors import InvalidSignature

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
TOLERANCE_SECONDS = 5 * 60
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
    """The HMAC key of a `whsec_<base64>` secret (the prefix is optional)."""
    try:
        return base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for a delivery: `v1,<base64 HMAC-SHA256>`."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def read_headers(headers: Mapping[str, str] | None) -> SignedHeaders:
    """The three signature headers (names case-insensitive); `InvalidSignature` if one is bad."""
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
    return SignedHeaders(message_id, int(timestamp), signatures)


def check_timestamp(timestamp: int, now: float) -> None:
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise InvalidSignature(
            f"{TIMESTAMP_HEADER} is more than {TOLERANCE_SECONDS // 60} minutes away from now"
        )


def verify(secret: str, signed: SignedHeaders, body: bytes, now: float) -> None:
    """Check the timestamp, then that one `v1` signature matches; else `InvalidSignature`."""
    check_timestamp(signed.timestamp, now)
    expected = sign(secret, signed.message_id, signed.timestamp, body).encode()
    matched = False
    for entry in signed.signatures.split(" "):
        version, _, value = entry.partition(",")
        # Every entry is compared (no early exit), each in constant time.
        if version == "v1" and hmac.compare_digest(f"v1,{value}".encode(), expected):
            matched = True
    if not matched:
        raise InvalidSignature(NO_MATCH)
