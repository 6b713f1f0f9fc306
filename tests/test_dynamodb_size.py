"""The item size formula the bounds tests rely on, checked against the rules as documented."""

from __future__ import annotations

import pytest

from tests.dynamodb_size import item_size, number_size, value_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("0", 2),
        ("7", 2),
        ("12", 2),
        ("123", 3),
        ("1800000000", 2),
        ("1800000001", 6),
        ("1234567890", 6),
        ("-12.50", 3),
        ("100", 2),
    ],
)
def test_numbers_cost_a_byte_per_two_significant_digits_plus_one(text: str, size: int) -> None:
    assert number_size(text) == size


def test_strings_count_utf8_bytes_and_names_count_too() -> None:
    assert item_size({"pk": {"S": "abc"}}) == 2 + 3
    assert item_size({"n": {"S": "é"}}) == 1 + 2


def test_lists_and_maps_cost_three_bytes_and_one_per_element() -> None:
    assert value_size({"L": []}) == 3
    assert value_size({"M": {}}) == 3
    assert value_size({"L": [{"S": "ab"}, {"N": "1"}]}) == 3 + (1 + 2) + (1 + 2)
    assert value_size({"M": {"k": {"S": "ab"}}}) == 3 + 1 + 1 + 2
    nested = {"M": {"s": {"M": {"c": {"N": "1800000000"}}}}}
    assert value_size(nested) == 3 + 1 + 1 + (3 + 1 + 1 + 2)


def test_booleans_and_binary() -> None:
    assert item_size({"b": {"BOOL": True}, "x": {"B": b"\x00" * 16}}) == (1 + 1) + (1 + 16)
