"""Phone numbers as the sign-in page takes them: a country picker, a number typed as people write it, and the
international format shown back. No UI in here.

The API does not list the countries a stage sends SMS to, so the picker offers those of ``OTP_SMS_COUNTRIES``
(the stage's own setting of that name: ISO 3166 alpha-2 codes, comma-separated), by default the stage's default
list. A country the stage refuses still gets the API's ``phone_not_supported`` answer: the picker is a
convenience, the API decides.

Numbers are parsed with ``phonenumbers`` (the library the API validates with) only to turn what was typed into
E.164 for the request: "07700 900123" with GB picked becomes "+447700900123". Whether a number is acceptable is
the API's business, so what is more than digits and separators, or cannot be parsed, is sent as typed and the
API's message is shown beside the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import phonenumbers

DEFAULT_COUNTRIES = ("US", "CA", "GB", "DE", "FR", "AU")
COUNTRIES_VARIABLE = "OTP_SMS_COUNTRIES"


@dataclass(frozen=True)
class Country:
    """A country the picker offers: its ISO 3166 alpha-2 code and dialling code (``1`` for US)."""

    code: str
    dialling_code: int

    @property
    def label(self) -> str:
        """What the picker shows: code and dialling code, e.g. "GB +44".

        No flag: regional-indicator flags render as two boxes wherever no emoji font is installed (Linux
        desktops, headless browsers), and no table of country names is needed for the codes people know.
        """
        return f"{self.code} +{self.dialling_code}"


def countries(environ: Mapping[str, str]) -> tuple[Country, ...]:
    """The countries of ``OTP_SMS_COUNTRIES`` in its order (the first is preselected), else the default list.

    Entries that are not a region with a dialling code are dropped; if none is left the default applies, so
    the picker is never empty.
    """
    configured = [entry.strip().upper() for entry in environ.get(COUNTRIES_VARIABLE, "").split(",")]
    known = tuple(dict.fromkeys(code for code in configured if _dialling_code(code)))
    return tuple(Country(code, _dialling_code(code)) for code in known or DEFAULT_COUNTRIES)


def _dialling_code(code: str) -> int:
    """The dialling code of region ``code``, 0 when phonenumbers knows no such region."""
    return phonenumbers.country_code_for_valid_region(code) if code in phonenumbers.SUPPORTED_REGIONS else 0


def to_e164(typed: str, country: str) -> str:
    """``typed`` as an E.164 number, read in ``country`` unless it starts with "+" (then the picker is ignored,
    as people paste full numbers).

    Only a number written with digits and the usual separators is converted. Anything else (letters as in
    "415-555-CALL", an extension as in "ext 2") goes to the API as typed, behind the picked country's dialling
    code, so that the API's refusal names what was typed: converting the letters or dropping the extension here
    would sign in, or fail, with a number the person never wrote."""
    text = typed.strip()
    if any(char not in _NUMBER_CHARS for char in text):
        return (
            text
            if text.startswith("+") or country not in phonenumbers.SUPPORTED_REGIONS
            else (f"+{phonenumbers.country_code_for_valid_region(country)} {text}")
        )
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException:
        return text
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


_NUMBER_CHARS = frozenset("0123456789+-(). /")


def international(e164: str) -> str:
    """An E.164 number as people read it, "+1 415-555-0123"; anything unreadable as it is."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return e164
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
