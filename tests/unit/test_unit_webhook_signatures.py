"""Standard Webhooks signatures: the specification's vector, tolerance, rotation, headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest

from retryproof.errors import InvalidSignature
from retryproof.signatures import (
    MIN_SECRET_BYTES,
    TOLERANCE_SECONDS,
    SignedHeaders,
    has_v1_signature,
    read_headers,
    secret_key,
    sign,
    verify,
    verify_any,
)
from tests.support.events import EVENTS, event

pytestmark = pytest.mark.unit

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OTHER = "whsec_YW5vdGhlci1zZWNyZXQtb2YtMzItYnl0ZXMtMTIzNDU="
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TS = 1614265330
BODY = b'{"test": 2432232314}'


def signed(signatures: str, *, message_id: str = MSG_ID, timestamp: int = TS) -> SignedHeaders:
    return SignedHeaders(message_id, timestamp, signatures)


def test_the_specifications_test_vector() -> None:
    # From the Standard Webhooks reference libraries' tests.
    assert sign(SECRET, MSG_ID, TS, BODY) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_valid_signature_verifies() -> None:
    verify(SECRET, signed(sign(SECRET, MSG_ID, TS, BODY)), BODY)


@pytest.mark.parametrize(
    ("signing_secret", "body", "message_id"),
    [
        (SECRET, b'{"test": 2432232315}', MSG_ID),  # tampered body
        (SECRET, BODY + b" ", MSG_ID),  # the raw bytes count, not the parsed JSON
        (SECRET, BODY, "msg_other"),  # another message id
        (OTHER, BODY, MSG_ID),  # signed with another secret
    ],
)
def test_anything_else_does_not(signing_secret: str, body: bytes, message_id: str) -> None:
    header = sign(signing_secret, MSG_ID, TS, BODY)
    with pytest.raises(InvalidSignature) as raised:
        verify(SECRET, signed(header, message_id=message_id), body)
    assert raised.value.status == 401
    assert raised.value.code == "invalid_signature"


def test_a_signature_for_another_timestamp_does_not_verify() -> None:
    header = sign(SECRET, MSG_ID, TS, BODY)
    with pytest.raises(InvalidSignature):
        verify(SECRET, signed(header, timestamp=TS + 1), BODY)


def delivery_headers(timestamp: int = TS) -> dict[str, str]:
    return {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(SECRET, MSG_ID, timestamp, BODY),
    }


@pytest.mark.parametrize("skew", [0, TOLERANCE_SECONDS, -TOLERANCE_SECONDS, 299, -299])
def test_timestamps_within_five_minutes_verify(skew: int) -> None:
    verify(SECRET, read_headers(delivery_headers(), now=TS + skew), BODY)


@pytest.mark.parametrize("skew", [TOLERANCE_SECONDS + 1, -TOLERANCE_SECONDS - 1, 86400])
def test_timestamps_further_off_do_not_even_with_a_valid_signature(skew: int) -> None:
    with pytest.raises(InvalidSignature, match="5 minutes"):
        read_headers(delivery_headers(), now=TS + skew)


def test_one_matching_signature_among_several_is_enough() -> None:
    good = sign(SECRET, MSG_ID, TS, BODY)
    old = sign(OTHER, MSG_ID, TS, BODY)
    v1a = "v1a," + good.removeprefix("v1,")
    verify(SECRET, signed(f"{old} {v1a}  {good}"), BODY)
    with pytest.raises(InvalidSignature):
        verify(SECRET, signed(f"{old} {v1a}"), BODY)  # only v1 counts
    with pytest.raises(InvalidSignature):
        verify(SECRET, signed(good.removeprefix("v1,")), BODY)  # the version is required


def test_signatures_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    good = sign(SECRET, MSG_ID, TS, BODY)
    verify(SECRET, signed(f"{sign(OTHER, MSG_ID, TS, BODY)} {good}"), BODY)
    assert len(compared) == 2  # every v1 entry, through hmac.compare_digest


def test_headers_are_read_case_insensitively() -> None:
    headers = {"Webhook-Id": MSG_ID, "WEBHOOK-TIMESTAMP": str(TS), "webhook-signature": "v1,x"}
    assert read_headers(headers, now=TS) == SignedHeaders(MSG_ID, TS, "v1,x")


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-timestamp": str(TS), "webhook-signature": "v1,x"},
        {"webhook-id": MSG_ID, "webhook-signature": "v1,x"},
        {"webhook-id": MSG_ID, "webhook-timestamp": str(TS)},
        {"webhook-id": " ", "webhook-timestamp": str(TS), "webhook-signature": "v1,x"},
        {"webhook-id": MSG_ID, "webhook-timestamp": "16142653.5", "webhook-signature": "v1,x"},
        {"webhook-id": MSG_ID, "webhook-timestamp": "-1614265330", "webhook-signature": "v1,x"},
        {"webhook-id": MSG_ID, "webhook-timestamp": "١٢٣", "webhook-signature": "v1,x"},
        {
            "webhook-id": MSG_ID,
            "webhook-timestamp": str(TS),
            "webhook-signature": "v1," + "x" * 5000,
        },
    ],
)
def test_missing_or_malformed_headers_are_401(headers: dict[str, str]) -> None:
    with pytest.raises(InvalidSignature):
        read_headers(headers, now=TS)


def test_secrets_are_whsec_and_base64() -> None:
    assert secret_key(SECRET) == secret_key(SECRET.removeprefix("whsec_"))
    with pytest.raises(ValueError, match="base64"):
        secret_key("whsec_not base64!")


def test_the_fixture_is_signed_with_the_seed_secret_at_its_own_time() -> None:
    ev = event("webhook_document_uploaded.json")
    seed = json.loads((EVENTS.parent / "local" / "seed.json").read_text())
    tenant = json.loads(ev["body"])["tenantId"]
    secret = next(t["webhookSecret"] for t in seed["tenants"] if t["id"] == tenant)
    timestamp = int(ev["headers"]["webhook-timestamp"])
    verify(secret, read_headers(ev["headers"], now=timestamp), ev["body"].encode())
    with pytest.raises(InvalidSignature):  # stale now: `make webhook-invoke` re-signs it
        read_headers(ev["headers"], now=timestamp + 301)


# --- secrets of at least 24 bytes; two secrets during a rotation ----------------------------------


def whsec(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


@pytest.mark.parametrize("length", [0, 1, 16, MIN_SECRET_BYTES - 1])
def test_a_secret_shorter_than_24_bytes_is_refused_and_never_verifies(length: int) -> None:
    short = whsec(b"k" * length)
    with pytest.raises(ValueError, match="24 bytes"):
        secret_key(short)
    # A signature made with the same (short) key, as a careless sender would: still refused.
    forged = (
        "v1,"
        + base64.b64encode(
            hmac.new(b"k" * length, f"{MSG_ID}.{TS}.".encode() + BODY, hashlib.sha256).digest()
        ).decode()
    )
    with pytest.raises(InvalidSignature):
        verify(short, signed(forged), BODY)
    with pytest.raises(InvalidSignature):
        verify_any((short,), signed(forged), BODY)


def test_the_empty_secret_verifies_nothing() -> None:
    empty_key_signature = (
        "v1,"
        + base64.b64encode(
            hmac.new(b"", f"{MSG_ID}.{TS}.".encode() + BODY, hashlib.sha256).digest()
        ).decode()
    )
    with pytest.raises(InvalidSignature):
        verify("whsec_", signed(empty_key_signature), BODY)
    secret_key(whsec(b"k" * MIN_SECRET_BYTES))  # 24 bytes is enough


def test_either_secret_of_a_rotation_verifies_and_a_third_does_not() -> None:
    third = whsec(b"a third secret, not the tenant's")
    for secret in (SECRET, OTHER):
        verify_any((OTHER, SECRET), signed(sign(secret, MSG_ID, TS, BODY)), BODY)
    with pytest.raises(InvalidSignature):
        verify_any((OTHER, SECRET), signed(sign(third, MSG_ID, TS, BODY)), BODY)
    with pytest.raises(InvalidSignature):
        verify_any((), signed(sign(SECRET, MSG_ID, TS, BODY)), BODY)


@pytest.mark.parametrize(
    ("signatures", "usable"),
    [
        ("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", True),
        ("v1a,x v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", True),
        ("v1,x", False),
        ("v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", False),
        ("v1," + "!" * 44, False),
        ("g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", False),
    ],
)
def test_only_a_well_formed_v1_signature_is_worth_a_secret_lookup(
    signatures: str, usable: bool
) -> None:
    assert has_v1_signature(signed(signatures)) is usable
