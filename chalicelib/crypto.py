"""Keyed digests and sealing: the only forms in which secret or personal values reach the table or the logs.

Both are derived from one key (the hashing secret, fetched once per container): digests are HMAC-SHA256 with a
purpose label, sealing is AES-256-GCM under a subkey. A dumped table therefore reveals no code, token, address
or IP: lookups use digests, and what must be shown again (an account's own identifiers) is sealed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MIN_KEY_BYTES = 32
DIGEST_HEX_CHARS = 32  # 128 bits: no collision among any number of identifiers a table will ever hold
NONCE_BYTES = 12
SEAL_VERSION = "s1"


class KeyedHasher:
    """Keyed digests (HMAC-SHA256) of everything secret or personal that the service stores or logs.

    A stolen table reveals no code: without the key a 6-digit code cannot be brute-forced offline, and binding
    the identifier means a digest is worthless for any other identifier.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the code-hashing key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def digest(self, identifier: str, code: str) -> str:
        """The stored form of ``code`` sent to ``identifier`` (128 bits: a code has far fewer)."""
        return self._mac("otp", identifier, code)[:DIGEST_HEX_CHARS]

    def subject_key(self, kind: str, value: str) -> str:
        """The storage key of an identifier or source network (``email#<128-bit digest>``): names neither."""
        return f"{kind}#{self._mac(kind, value)[:DIGEST_HEX_CHARS]}"

    def tag(self, purpose: str, *parts: str) -> str:
        """A 128-bit keyed tag over ``parts`` that only this service can make (e.g. a refresh token's)."""
        return self._mac(purpose, *parts)[:DIGEST_HEX_CHARS]

    def pseudonym(self, value: str) -> str:
        """A short stable tag for ``value`` that lets logs correlate requests without holding the value."""
        return self._mac("log", value)[:16]

    def sealer(self) -> Sealer:
        return Sealer(hmac.new(self._key, b"seal\x00v1", hashlib.sha256).digest())

    def _mac(self, purpose: str, *parts: str) -> str:
        # The purpose label keeps digests made for one use from ever matching those made for another.
        message = "\x00".join((purpose, *parts)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()


class Sealed(ValueError):
    """A sealed value that does not open: tampered, moved to another item, or sealed under another key."""


class Sealer:
    """AES-256-GCM for values the service must show again; ``context`` binds a value to where it is stored."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    @functools.cached_property
    def _aead(self) -> AESGCM:
        # Imported here and in open(): a send seals nothing, so a container that only sends never loads cryptography.
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        return AESGCM(self._key)

    def seal(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(NONCE_BYTES)  # random 96-bit nonces: safe far beyond the values one key will seal
        sealed = nonce + self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{SEAL_VERSION}.{base64.urlsafe_b64encode(sealed).decode()}"

    def open(self, sealed: str, context: str) -> str:
        from cryptography.exceptions import InvalidTag

        version, _, body = sealed.partition(".")
        try:
            if version != SEAL_VERSION:
                raise Sealed("unknown seal version")
            raw = base64.urlsafe_b64decode(body)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode()).decode()
        except (InvalidTag, binascii.Error, ValueError) as error:
            raise Sealed("a sealed value did not open") from error
