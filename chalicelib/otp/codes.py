"""One-time codes: how they are drawn and how a submitted one is read."""

from __future__ import annotations

import secrets


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
