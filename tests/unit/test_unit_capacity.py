"""The capacity-unit arithmetic of `make bench` (bench/capacity.py), against DynamoDB's rules."""

from __future__ import annotations

from bench.capacity import item_size, read_units, write_units


def test_item_size_counts_names_and_values_by_type() -> None:
    # Strings: UTF-8 bytes of name and value; "é" is 2 bytes.
    assert item_size({"id": {"S": "abc"}}) == 2 + 3
    assert item_size({"n": {"S": "é"}}) == 1 + 2
    # Numbers: one byte per two significant digits (leading/trailing zeros trimmed), plus one.
    assert item_size({"n": {"N": "12345"}}) == 1 + 3 + 1
    assert item_size({"n": {"N": "1000"}}) == 1 + 1 + 1
    assert item_size({"n": {"N": "-0.0012"}}) == 1 + 1 + 1
    # Binary: raw bytes (the wire form is base64); booleans and nulls: one byte.
    assert item_size({"b": {"B": "AAEC"}}) == 1 + 3
    assert item_size({"t": {"BOOL": True}, "z": {"NULL": True}}) == 2 + 2
    # Lists and maps: 3 bytes, plus one per element, plus the elements (map keys included).
    assert item_size({"l": {"L": []}}) == 1 + 3
    assert item_size({"l": {"L": [{"S": "ab"}, {"N": "7"}]}}) == 1 + 3 + (2 + 1) + (2 + 1)
    assert item_size({"m": {"M": {"k": {"S": "v"}}}}) == 1 + 3 + (1 + 1 + 1)
    assert item_size({"s": {"SS": ["a", "bc"]}}) == 1 + 3
    assert item_size(None) == 0


def test_write_units_per_started_kb_doubled_in_a_transaction() -> None:
    assert write_units(0, 1) == 1  # at least one
    assert write_units(0, 1024) == 1
    assert write_units(0, 1025) == 2
    assert write_units(16_600, 300) == 17  # the larger of before and after
    assert write_units(300, 100, transactional=True) == 2


def test_read_units_per_started_4kb_halved_when_eventually_consistent() -> None:
    assert read_units(0, consistent=True) == 1  # a read that finds nothing still costs
    assert read_units(0, consistent=False) == 0.5
    assert read_units(4096, consistent=True) == 1
    assert read_units(16_600, consistent=True) == 5
    assert read_units(16_600, consistent=False) == 2.5
    assert read_units(100, consistent=True, transactional=True) == 2
