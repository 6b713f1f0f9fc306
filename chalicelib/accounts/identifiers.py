"""What a person signs in with: an email address or a phone number. The kinds are named here and nowhere else.

An identifier is stored under ``<kind>#<keyed digest of its value>`` (:meth:`~chalicelib.crypto.KeyedHasher.
subject_key`), and the value is always the normalised one (:mod:`~chalicelib.accounts.addresses`,
:mod:`~chalicelib.accounts.phones`), so that two spellings of one mailbox or number are one identity.
"""

from __future__ import annotations

from typing import NamedTuple

from chalicelib.accounts.addresses import mask_address

EMAIL = "email"
PHONE = "phone"
# The letter a session id starts with names the kind of its account's home item (see accounts.sessions).
KIND_LETTERS = {EMAIL: "e", PHONE: "p"}
SUFFIX_DIGITS = 4  # a number's prefix is the number without its last four digits: one block of subscribers


class Identifier(NamedTuple):
    """A normalised identifier: a lower-cased address, or an E.164 number with its ISO 3166 ``country``."""

    kind: str
    value: str
    country: str = ""

    @property
    def prefix(self) -> str:
        """A number's block (``+1415555``): SMS pumping walks through the numbers of a block."""
        return self.value[:-SUFFIX_DIGITS]


def mask(kind: str, value: str) -> str:
    return mask_address(value) if kind == EMAIL else mask_phone(value)


def mask_phone(e164: str) -> str:
    """``+*********23``: the number's length and last two digits, never its country or block."""
    return "+" + "*" * max(0, len(e164) - 3) + e164[-2:]
