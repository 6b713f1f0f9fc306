"""One-time codes: how they are drawn and the only form in which they are ever stored."""

from __future__ import annotations

import hashlib
import hmac
import secrets

MIN_KEY_BYTES = 32


def generate_code(digits: int) -> str:
    """A uniformly random code over the full range 0..10**digits-1, zero-padded, from the OS CSPRNG."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


class MalformedCode(ValueError):
    """The submitted code is not a string of exactly the configured number of digits."""


def parse_code(raw: object, digits: int) -> str:
    """``raw`` without surrounding white space, if it is exactly ``digits`` ASCII digits."""
    code = raw.strip() if isinstance(raw, str) else ""
    if len(code) != digits or not (code.isascii() and code.isdigit()):
        raise MalformedCode(f"otp must be a string of exactly {digits} digits")
    return code


class KeyedHasher:
    """Keyed digests (HMAC-SHA256) of everything secret or personal that the service stores or logs.

    A stolen table reveals no code: without the key a 6-digit code cannot be brute-forced offline, and binding
    the address means a digest is worthless for any other address. Refresh tokens, addresses and source IPs
    are stored only as digests too.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the code-hashing key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    def digest(self, email: str, code: str) -> str:
        return self._mac("otp", email, code)

    def refresh_digest(self, session_id: str, secret: str) -> str:
        return self._mac("refresh", session_id, secret)

    def subject_key(self, kind: str, value: str) -> str:
        """The storage key of an address or IP: a stolen table names neither."""
        return f"{kind}#{self._mac(kind, value)}"

    def pseudonym(self, value: str) -> str:
        """A short stable tag for ``value`` that lets logs correlate requests without holding the value."""
        return self._mac("log", value)[:16]

    def _mac(self, purpose: str, *parts: str) -> str:
        # The purpose label keeps digests made for one use from ever matching those made for another.
        message = "\x00".join((purpose, *parts)).encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()
