"""Standard Webhooks signing (https://www.standardwebhooks.com/), as the API verifies it."""

from __future__ import annotations

import base64
import hashlib
import hmac

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix, not a secret


def _secret_bytes(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from exc


def signature(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """`v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">` keyed by the secret's bytes."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    signed = f"{msg_id}.{int(timestamp)}.".encode() + raw
    digest = hmac.new(_secret_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def sign_webhook(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> dict[str, str]:
    """The three headers of a signed delivery. Send `body` byte for byte as signed."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": signature(secret, msg_id, timestamp, body),
    }
