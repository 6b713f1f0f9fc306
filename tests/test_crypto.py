"""Keyed digests and sealing (chalicelib/crypto.py): what reaches the table is worthless without the key."""

from __future__ import annotations

import base64

import pytest

from chalicelib.crypto import KeyedHasher, Sealed

KEY = b"a" * 32


def test_digests_are_keyed_and_bound_to_the_address() -> None:
    hasher = KeyedHasher(KEY)
    digest = hasher.digest("a@example.com", "123456")
    assert digest == KeyedHasher(KEY).digest("a@example.com", "123456")
    assert digest != hasher.digest("b@example.com", "123456")
    assert digest != KeyedHasher(b"b" * 32).digest("a@example.com", "123456")
    assert "123456" not in digest and len(digest) == 32


def test_storage_keys_and_log_tags_never_contain_their_input() -> None:
    hasher = KeyedHasher(KEY)
    key = hasher.subject_key("email", "a@example.com")
    assert key.startswith("email#") and len(key) == len("email#") + 32
    assert "a@example.com" not in key
    assert hasher.subject_key("email", "x") != hasher.subject_key("ip", "x")
    assert len(hasher.pseudonym("a@example.com")) == 16


def test_tags_are_keyed_and_separated_by_purpose() -> None:
    hasher = KeyedHasher(KEY)
    assert hasher.tag("refresh", "s", "x") == KeyedHasher(KEY).tag("refresh", "s", "x")
    assert hasher.tag("refresh", "s", "x") != KeyedHasher(b"b" * 32).tag("refresh", "s", "x")
    assert hasher.tag("refresh", "s", "x") != hasher.tag("other", "s", "x")
    assert hasher.tag("refresh", "s", "x") != hasher.tag("refresh", "sx")  # parts are delimited
    assert len(hasher.tag("refresh", "s")) == 32


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        KeyedHasher(b"short")


def test_a_sealed_value_opens_only_where_it_was_sealed() -> None:
    sealer = KeyedHasher(KEY).sealer()
    sealed = sealer.seal("alice@example.com", "email#1\x00email")
    assert "alice" not in sealed and "example" not in sealed
    assert sealer.open(sealed, "email#1\x00email") == "alice@example.com"
    assert sealer.seal("alice@example.com", "email#1\x00email") != sealed  # a fresh nonce every time
    for context in ("email#2\x00email", "email#1\x00phone"):
        with pytest.raises(Sealed):
            sealer.open(sealed, context)  # copied to another item or kind: refused
    with pytest.raises(Sealed):
        KeyedHasher(b"b" * 32).sealer().open(sealed, "email#1\x00email")  # another deployment's key


@pytest.mark.parametrize("tamper", ["flip", "truncate", "version", "garbage"])
def test_a_tampered_seal_is_refused(tamper: str) -> None:
    sealer = KeyedHasher(KEY).sealer()
    sealed = sealer.seal("alice@example.com", "ctx")
    version, body = sealed.split(".")
    raw = bytearray(base64.urlsafe_b64decode(body))
    if tamper == "flip":
        raw[-1] ^= 1
        sealed = f"{version}.{base64.urlsafe_b64encode(bytes(raw)).decode()}"
    elif tamper == "truncate":
        sealed = f"{version}.{base64.urlsafe_b64encode(bytes(raw[:10])).decode()}"
    elif tamper == "version":
        sealed = f"s9.{body}"
    else:
        sealed = "s1.***"
    with pytest.raises(Sealed):
        sealer.open(sealed, "ctx")
