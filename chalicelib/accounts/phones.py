"""Phone numbers: the one place that decides which numbers a code may be texted to, and how they are written.

Validation is libphonenumber's (``phonenumberslite``: the same metadata without geocoding or carrier data). A code
goes only to a valid number of a country the stage serves, of a type that receives text messages and is not
billed to the sender's disadvantage: premium-rate, shared-cost, toll-free, UAN, voicemail, pager and personal
numbers are what SMS pumping sends to, and landlines cannot receive a text at all. VoIP is a per-stage choice.
"""

from __future__ import annotations

import re
from collections.abc import Collection

import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType

from chalicelib.accounts.identifiers import PHONE, Identifier
from chalicelib.core.refusals import InvalidPhone, PhoneNotSupported

# International format only ("+" and the country code): without it a number means something else in every country.
_WRITTEN = re.compile(r"\+[0-9][0-9 ().-]{2,30}")
# An extension as people write one: "ext. 7", "x7", "#7", ";ext=7" (RFC 3966).
_EXTENSION = re.compile(r"(?i)(?:\bext\b\.?|;ext=|\bx\s*\d|#\s*\d)")
_TEXTABLE = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
REFUSED_TYPES = {
    PhoneNumberType.PREMIUM_RATE: "premium-rate numbers",
    PhoneNumberType.SHARED_COST: "shared-cost numbers",
    PhoneNumberType.TOLL_FREE: "toll-free numbers",
    PhoneNumberType.UAN: "universal access numbers",
    PhoneNumberType.VOICEMAIL: "voicemail numbers",
    PhoneNumberType.PAGER: "pagers",
    PhoneNumberType.PERSONAL_NUMBER: "personal (forwarding) numbers",
    PhoneNumberType.VOIP: "internet (VoIP) numbers",
    PhoneNumberType.FIXED_LINE: "landlines",
}


def normalize_phone(raw: object, countries: Collection[str], allow_voip: bool) -> Identifier:
    """The number ``raw`` as an E.164 identifier, if the stage may text a code to it.

    Raises :class:`InvalidPhone` or :class:`PhoneNotSupported`, whose messages say why in words meant for the
    person typing (they say nothing about any account).
    """
    # Only plain spaces are stripped: a line break or other control character is refused wherever it sits.
    written = raw.strip(" ") if isinstance(raw, str) else ""
    if _EXTENSION.search(written):
        raise InvalidPhone("leave out the extension: the code goes to the number itself")
    if any(char.isalpha() for char in written):
        raise InvalidPhone("write the number in digits, without letters")
    if not _WRITTEN.fullmatch(written):
        raise InvalidPhone("start with + and the country code, as in +1 415 555 0123")
    try:
        number = phonenumbers.parse(written, None)
    except phonenumbers.NumberParseException:
        raise InvalidPhone("this is not a phone number") from None
    if number.extension or not phonenumbers.is_valid_number(number):
        raise InvalidPhone("this is not a valid phone number")
    country = phonenumbers.region_code_for_number(number)
    if country is None or country not in countries:  # None: no region is known for it
        # Named, with its calling code: +44 7911 ... is Guernsey's (GG), not the United Kingdom's (GB).
        region = f"{country} (+{number.country_code})" if country else f"+{number.country_code}"
        served = ", ".join(sorted(countries)) or "none"
        raise PhoneNotSupported(f"we do not send text messages to numbers of {region}; we text numbers of {served}")
    kind = phonenumbers.number_type(number)
    if kind not in _TEXTABLE and not (kind == PhoneNumberType.VOIP and allow_voip):
        refused = REFUSED_TYPES.get(kind, "numbers of this kind")
        raise PhoneNotSupported(f"we do not send codes to {refused}")
    return Identifier(PHONE, phonenumbers.format_number(number, PhoneNumberFormat.E164), country)


def display_phone(e164: str) -> str:
    """``+1 415-555-0123``: how the number is shown back to the person it belongs to."""
    return phonenumbers.format_number(phonenumbers.parse(e164, None), PhoneNumberFormat.INTERNATIONAL)
