"""Recovery codes: ten one-time codes that stand in for a lost authenticator, each 80 random bits.

Shown once, stored only as keyed digests bound to the account's home item (a dumped table reveals none), used up
atomically by the write that removes their digest (:mod:`chalicelib.mfa.store`). Written ``xxxx-xxxx-xxxx-xxxx``
in lower-case base32 (no 0/1/8/9 to confuse); read back whatever the case, hyphens and spaces.
"""

from __future__ import annotations

import base64
import re
import secrets

from chalicelib.crypto import KeyedHasher

COUNT = 10
CODE_BYTES = 10  # 80 bits, NIST SP 800-63B-4's floor for a look-up secret that a limit on tries does not guard
_CHARS = CODE_BYTES * 8 // 5
_CODE = re.compile(rf"[a-z2-7]{{{_CHARS}}}")
_SEPARATORS = re.compile(r"[\s-]")
MAX_CHARS = 64  # anything longer is not a recovery code, however it is spaced


def new_codes() -> list[str]:
    return [_shown(base64.b32encode(secrets.token_bytes(CODE_BYTES)).decode().lower()) for _ in range(COUNT)]


def normalised(raw: object) -> str | None:
    """The code as it is digested, or ``None`` if ``raw`` cannot be a recovery code."""
    if not isinstance(raw, str) or len(raw) > MAX_CHARS:
        return None
    code = _SEPARATORS.sub("", raw).lower()
    return code if _CODE.fullmatch(code) else None


def digest(hasher: KeyedHasher, home: str, code: str) -> str:
    """The stored form of a normalised code: worthless on any other account's item."""
    return hasher.tag("recovery", home, code)


def _shown(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
