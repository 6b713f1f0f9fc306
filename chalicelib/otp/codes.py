"""One-time codes: how they are drawn and how a submitted one is read."""

from __future__ import annotations

import enum
import secrets

from chalicelib.accounts.identifiers import PHONE
from chalicelib.config import Limits
from chalicelib.core.refusals import MalformedCode


class Purpose(enum.Enum):
    """What a code is sent for. A code works only for its own purpose (its digest is keyed by it), and its
    message says what it does, so a person asked for "your code" cannot be talked into linking their number to
    someone else's account with a sign-in code."""

    SIGN_IN = "sign_in"
    LINK = "link"  # adds the identifier to the signed-in account that asked
    REAUTHENTICATE = "reauthenticate"  # a recent proof before an account change


def code_ttl(limits: Limits, kind: str) -> int:
    """How long a code sent to an identifier of ``kind`` is valid: a text is read at once, a mail may wait."""
    return limits.sms_code_ttl_seconds if kind == PHONE else limits.code_ttl_seconds


def resend_cooldown(limits: Limits, kind: str) -> int:
    """The least time between two codes to one identifier of ``kind``."""
    return limits.sms_resend_cooldown_seconds if kind == PHONE else limits.resend_cooldown_seconds


def generate_code(digits: int) -> str:
    """A uniformly random code over the full range 0..10**digits-1, zero-padded, from the OS CSPRNG."""
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def parse_code(raw: object, digits: int) -> str:
    """``raw`` without surrounding white space, if it is exactly ``digits`` ASCII digits."""
    code = raw.strip() if isinstance(raw, str) else ""
    if len(code) != digits or not (code.isascii() and code.isdigit()):
        raise MalformedCode(f"otp must be a string of exactly {digits} digits")
    return code
