"""Email addresses: the one place that decides what an address is and how it is written.

email-validator decides, but importing it costs ~35 ms of a cold start (its patterns span U+0080-U+10FFFF), so the
common address is answered without it: a plain ASCII address in a grammar where the library is known to accept
and to give back the input, lower-cased. That shortcut is exact, not an approximation: it answers only what the
library would accept, with the library's answer, and everything else (every rejection included) goes to the
library. tests/test_addresses.py proves it against the library alone.
"""

from __future__ import annotations

import re
import unicodedata

from chalicelib.core.refusals import InvalidAddress

MAX_ADDRESS_LENGTH = 254  # RFC 5321 path limit
# Cc: C0 (tab, CR, LF...), DEL and C1 (NEL...); Zl and Zp: U+2028 and U+2029, line breaks to Unicode-aware readers.
CONTROL_CATEGORIES = frozenset({"Cc", "Zl", "Zp"})

# A subset of what email_validator 2.4 accepts with normalize_address's options, on which its ASCII form is the
# input but for case (it lower-cases the domain and RFC 2142 names like Postmaster). At most 254 characters, as the
# library requires. Local part: a dot-atom of RFC 5322 atext, at most 64 characters (the library checks that only
# when strict, so the bound only narrows the shortcut). Domain: two or more LDH labels of 1-63 characters (at most
# 252 in all, as the local part takes one, so within the library's 253), ending in a label of letters only (the
# library wants a last letter). No "--" anywhere in the domain: that keeps Punycode ("xn--") and the R-LDH labels
# RFC 5890 reserves on the library's path, where they are decoded or refused. The character classes are spelled
# out, never re.IGNORECASE, which would also match the Kelvin sign and the long s: only ASCII can match. Kept as a
# string, compiled by re on first use and cached there: a cold start that names no address skips its ~0.4 ms.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
PLAIN_ADDRESS = (
    rf"(?=.{{1,254}}\Z)(?=[^@]{{1,64}}@){_ATEXT}+(?:\.{_ATEXT}+)*"
    rf"@(?!.*--)(?:{_LABEL}\.)+[A-Za-z]{{1,63}}"
)
# email_validator.SPECIAL_USE_DOMAIN_NAMES (a test keeps the two equal): refused under any spelling of case.
SPECIAL_USE_DOMAIN_NAMES = ("arpa", "invalid", "local", "localhost", "onion", "test")


def is_plain_address(address: str) -> bool:
    """Whether ``address`` (already stripped) is in the grammar that normalize_address answers without the library."""
    if not re.fullmatch(PLAIN_ADDRESS, address):
        return False
    domain = "." + address.rpartition("@")[2].lower()
    return not any(domain.endswith("." + name) for name in SPECIAL_USE_DOMAIN_NAMES)


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
    address = raw.strip(" ")
    if is_plain_address(address):
        return address.lower()
    # Imported here: its patterns take ~35 ms to compile, and only addresses outside the plain grammar need them.
    from email_validator import EmailNotValidError, validate_email

    try:
        result = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise InvalidAddress(str(error)) from None
    # None only for an address that needs SMTPUTF8, which allow_smtputf8=False has refused already.
    if result.ascii_email is None:
        raise InvalidAddress("email must be an address in ASCII")
    return result.ascii_email.lower()


def mask_address(email: str) -> str:
    """``b***@example.com``: enough for a person reading logs, never the full address."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
