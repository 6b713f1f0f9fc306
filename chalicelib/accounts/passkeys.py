"""What an account's passkeys are, read from its home: shared by the passkeys' routes (chalicelib/passkeys) and the
admin's account card (chalicelib/admin), which sit side by side and import neither the other.

The layout is chalicelib/passkeys/store.py's (the credential's item ``passkey#<digest>``, the home's ``passkeys``
map); this module only names the item's key and owner and opens a list entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from chalicelib.core.expressions import read_number, read_string
from chalicelib.crypto import Sealed, Sealer

# The credential item's account id. Not ``account``: the table's ``account`` index holds the homes only, and the
# admin's lookup by id takes the first item it names for the account's home.
OWNER = "owner"


def credential_key(digest: str) -> str:
    return f"passkey#{digest}"


class Passkey(NamedTuple):
    """A passkey as its owner sees it."""

    id: str
    name: str
    created_at: int
    last_used_at: int | None  # None: never used to sign in (the entry's ``u`` is 0 until then)
    synced: bool  # backup eligible: a synced (multi-device) passkey, else bound to one device
    backed_up: bool
    aaguid: str

    def body(self) -> dict[str, Any]:
        return self._asdict()


def listed(sealer: Sealer, home: str, listing: Mapping[str, Any] | None) -> list[Passkey]:
    """The passkeys a home's raw ``passkeys`` map lists, oldest first (also the admin's account card)."""
    found = [opened(sealer, home, digest, entry.get("M", {})) for digest, entry in (listing or {}).items()]
    return sorted(found, key=lambda passkey: (passkey.created_at, passkey.id))


def opened(sealer: Sealer, home: str, digest: str, entry: Mapping[str, Any]) -> Passkey:
    """A list entry with its name opened from its seal."""
    try:
        name = sealer.open(read_string(entry, "n"), name_context(home, digest))
    except Sealed:
        name = ""  # never shown wrong; the passkey still works and can be renamed
    return Passkey(
        digest,
        name,
        read_number(entry, "c"),
        read_number(entry, "u") or None,
        read_number(entry, "be") == 1,
        read_number(entry, "bs") == 1,
        read_string(entry, "ag"),
    )


def name_context(home: str, digest: str) -> str:
    """What a passkey's sealed name is bound to: its home and its digest."""
    return f"{home}/passkey/{digest}"
