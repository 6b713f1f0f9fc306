"""Code generation and address handling: the pieces with no state."""

from __future__ import annotations

import collections
import secrets

import pytest

from chalicelib.accounts.addresses import mask_address, normalize_address
from chalicelib.core.refusals import InvalidAddress, MalformedCode
from chalicelib.otp.codes import generate_code, parse_code


def test_codes_cover_the_full_range_including_leading_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = []

    def randbelow(n: int) -> int:
        asked.append(n)
        return 0 if len(asked) == 1 else n - 1

    monkeypatch.setattr(secrets, "randbelow", randbelow)
    assert (generate_code(6), generate_code(6)) == ("000000", "999999")
    assert asked == [1_000_000, 1_000_000]


def test_codes_are_uniform_over_their_digits() -> None:
    counts = collections.Counter(generate_code(6)[0] for _ in range(20_000))
    assert set(counts) == set("0123456789")  # the prototype never drew a leading 0
    assert all(1_700 < n < 2_300 for n in counts.values())  # ~2000 each; beyond 10 sigma is a bug


@pytest.mark.parametrize(
    "raw",
    [
        "123456",
        " 123456\n",
        "123 456",
        "123-456",
        "12 34 56",
        "1-2-3-4-5-6",
        "123\u00a0456",  # pasted from a mail: a no-break space
        "123\u2009456",  # a thin space
        "123\u2011456",  # a non-breaking hyphen
        "123\u2013456",  # an en dash
        " 123 456 ",
        "123 - 456",
    ],
)
def test_codes_typed_as_people_type_them(raw: str) -> None:
    assert parse_code(raw, 6) == "123456"


def test_a_code_keeps_its_leading_zeros() -> None:
    assert parse_code("000 001", 6) == "000001"


@pytest.mark.parametrize(
    "raw",
    [
        "12345",
        "1234567",
        "12 456",
        "123 4567",
        "-123456",
        "123456-",
        "123_456",
        "123.456",
        "123/456",
        "123\t456",
        "١٢٣٤٥٦",  # only ASCII digits are a code's
        "12345a",
        "123 45a",
        123456,
        None,
        "",
    ],
)
def test_malformed_codes(raw: object) -> None:
    with pytest.raises(MalformedCode, match=r"^6 digits$"):
        parse_code(raw, 6)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Bob@Example.COM", "bob@example.com"),
        ("  a.b+tag@sub.example.org ", "a.b+tag@sub.example.org"),
        ("a@bücher.de", "a@xn--bcher-kva.de"),
    ],
)
def test_addresses_are_normalised(raw: str, normalized: str) -> None:
    assert normalize_address(raw) == normalized


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "plain",
        "a@b",
        "a@localhost",
        "a@example.com\r\nBcc: b@example.com",
        "ü@example.com",
        "a" * 245 + "@example.com",
        None,
        7,
        ["a@example.com"],
    ],
)
def test_invalid_addresses(raw: object) -> None:
    with pytest.raises(InvalidAddress):
        normalize_address(raw)


CONTROL_CHARACTERS = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029)]


@pytest.mark.parametrize("char", CONTROL_CHARACTERS, ids=lambda char: f"U+{ord(char):04X}")
def test_line_breaks_and_control_characters_are_refused_anywhere(char: str) -> None:
    for raw in (f"a@example.com{char}", f"{char}a@example.com", f"a{char}b@example.com", f"a@example.com {char} "):
        with pytest.raises(InvalidAddress, match="control characters"):
            normalize_address(raw)


def test_only_plain_spaces_around_an_address_are_forgiven() -> None:
    assert normalize_address("   a@example.com  ") == "a@example.com"
    for space in ("\u00a0", "\u3000", "\u2003"):  # no-break, ideographic, em: not plain spaces
        with pytest.raises(InvalidAddress):
            normalize_address(f"{space}a@example.com")


def test_masked_addresses_keep_only_a_hint() -> None:
    assert mask_address("alice@example.com") == "a***@example.com"
