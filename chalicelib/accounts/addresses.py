"""Email addresses: the one place that decides what an address is and how it is written."""

from __future__ import annotations

import unicodedata

MAX_ADDRESS_LENGTH = 254  # RFC 5321 path limit
# Cc: C0 (tab, CR, LF...), DEL and C1 (NEL...); Zl and Zp: U+2028 and U+2029, line breaks to Unicode-aware readers.
CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})


class InvalidAddress(ValueError):
    """The input is not an address we can mail a code to."""


def normalize_address(raw: object) -> str:
    """The canonical form of ``raw``: syntax-checked (no DNS look-up), ASCII, lower-cased.

    Lower-casing the whole address makes ``Bob@x.com`` and ``bob@x.com`` one identity, so that case variants
    cannot be used to get a second set of rate limits or failure budget for the same mailbox.
    """
    if not isinstance(raw, str) or not raw.strip(" ") or len(raw) > MAX_ADDRESS_LENGTH:
        raise InvalidAddress("email must be an address of at most 254 characters")
    # Checked before anything is stripped: a line break at either end is as much a header injection as one inside.
    if any(unicodedata.category(char) in CONTROL_CATEGORIES for char in raw):
        raise InvalidAddress("email must not contain line breaks or other control characters")
    # Imported here: its patterns take ~35 ms to compile, and only requests that name an address need them.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(raw.strip(" "), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise InvalidAddress(str(error)) from None
    return result.ascii_email.lower()


def mask_address(email: str) -> str:
    """``b***@example.com``: enough for a person reading logs, never the full address."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
