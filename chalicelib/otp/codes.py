"""One-time codes: how they are drawn and how a submitted one is read."""

from __future__ import annotations

import enum
import re
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


# Between two digits, one of: space, no-break space, thin space, narrow no-break space, hyphen-minus, hyphen,
# non-breaking hyphen, figure dash, en dash. Only ASCII digits count: "١٢٣٤٥٦" is not a code here.
_SEPARATORS = " \u00a0\u2009\u202f\u002d\u2010\u2011\u2012\u2013"
_SEPARATOR = re.compile(f"[{re.escape(_SEPARATORS)}]")
_TYPED_CODE = re.compile(f"[0-9]+(?:[{re.escape(_SEPARATORS)}]+[0-9]+)*")


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
    """The ``digits`` ASCII digits of ``raw``, as people type, paste or read them out: surrounding white space
    dropped, and spaces or hyphens between digits ("123 456", "123-456"; a pasted no-break or thin space,
    a typographic hyphen or dash alike). Anything else, or another number of digits, is :class:`MalformedCode`."""
    code = raw.strip() if isinstance(raw, str) else ""
    if not _TYPED_CODE.fullmatch(code):
        raise MalformedCode(f"{digits} digits")
    code = _SEPARATOR.sub("", code)
    if len(code) != digits:
        raise MalformedCode(f"{digits} digits")
    return code
