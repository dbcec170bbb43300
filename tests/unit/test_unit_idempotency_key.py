"""read_idempotency_key: header lookup, validation and Structured-Field unquoting."""

from __future__ import annotations

import socket

import pytest
from pytest_socket import SocketBlockedError

from retryproof.errors import IdempotencyKeyInvalid, IdempotencyKeyRequired
from retryproof.idempotency import read_idempotency_key

pytestmark = pytest.mark.unit


@pytest.mark.filterwarnings("ignore:A test tried to use socket.socket")
def test_network_is_blocked_in_unit_tests() -> None:
    with pytest.raises(SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


@pytest.mark.parametrize("name", ["Idempotency-Key", "IDEMPOTENCY-KEY", "idempotency-key"])
def test_header_name_is_case_insensitive(name: str) -> None:
    assert read_idempotency_key({"content-type": "application/json", name: "k-1"}) == "k-1"


@pytest.mark.parametrize("headers", [None, {}, {"x-idempotency": "k"}])
def test_missing_header_is_required_error(headers: dict[str, str] | None) -> None:
    with pytest.raises(IdempotencyKeyRequired) as info:
        read_idempotency_key(headers)
    assert (info.value.status, info.value.code) == (400, "idempotency_key_required")


@pytest.mark.parametrize(
    "value", ["", "   ", "k" * 256, "\x01", "ab\x01cd", "é", "caf\u00e9", "a\tb", "a\x7fb", '""']
)
def test_malformed_values_are_invalid(value: str) -> None:
    with pytest.raises(IdempotencyKeyInvalid) as info:
        read_idempotency_key({"Idempotency-Key": value})
    assert (info.value.status, info.value.code) == (400, "idempotency_key_invalid")


def test_255_printable_ascii_characters_are_accepted() -> None:
    key = ("a-Z_0 9~!" * 30)[:255]
    assert read_idempotency_key({"idempotency-key": key}) == key


def test_surrounding_whitespace_is_stripped() -> None:
    assert read_idempotency_key({"idempotency-key": "  \tabc-123 \t"}) == "abc-123"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"abc"', "abc"),
        (' "abc" ', "abc"),
        ('"a\\"b"', 'a"b'),
        ('"a\\\\b"', "a\\b"),
        ('" spaced "', " spaced "),
    ],
)
def test_structured_field_string_is_unquoted(raw: str, expected: str) -> None:
    assert read_idempotency_key({"idempotency-key": raw}) == expected


@pytest.mark.parametrize("raw", ['"a\\nb"', '"abc\\"', '"a"b"', '"\\x41"'])
def test_bad_structured_field_string_is_invalid(raw: str) -> None:
    with pytest.raises(IdempotencyKeyInvalid):
        read_idempotency_key({"idempotency-key": raw})


@pytest.mark.parametrize("value", ["abc\u00a0", "abc\x0b", "\x1fabc", "\u3000abc"])
def test_non_ows_whitespace_at_the_edges_is_invalid(value: str) -> None:
    with pytest.raises(IdempotencyKeyInvalid):
        read_idempotency_key({"idempotency-key": value})
