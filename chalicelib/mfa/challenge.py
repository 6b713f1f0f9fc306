"""The mfa_token: what a right first-factor code earns on an account with a second factor, instead of tokens.

``mt1.<session id>.<secret>.<tag>``: the session the first factor opened (pending: its ``amr`` lacks ``"mfa"``),
the 128-bit secret of the refresh token prepared for it, and a keyed tag over both that only this service can
make. The pending entry's refresh tag ``h`` is the keyed tag of that same secret, so nothing new is stored: the
token is valid while the entry still carries that ``h`` (the upgrade replaces it, so it works once), was opened
less than ``OTP_MFA_TOKEN_SECONDS`` ago and has tries left (``t``), all checked as write conditions by
:mod:`chalicelib.mfa.store`. The refresh token itself is never handed out; the upgrade makes a new one.
"""

from __future__ import annotations

import hmac
import re
from typing import NamedTuple

from chalicelib.accounts.sessions import SECRET_CHARS, PendingSession, SessionRef
from chalicelib.accounts.store import Account
from chalicelib.config import Limits
from chalicelib.core.assurance import PASSKEY, Factors, pending
from chalicelib.core.refusals import InvalidMfaToken, SessionRejected
from chalicelib.crypto import DIGEST_HEX_CHARS, KeyedHasher

MFA_TOKEN_VERSION = "mt1"
MAX_MFA_TOKEN_CHARS = 256
_SECRET = re.compile(rf"[A-Za-z0-9_-]{{{SECRET_CHARS}}}")
_TAG = re.compile(rf"[0-9a-f]{{{DIGEST_HEX_CHARS}}}")


class MfaRequired(NamedTuple):
    """The answer to a right first factor on an account with an active second factor."""

    mfa_token: str
    factors: list[str]
    expires_in: int


class Ticket(NamedTuple):
    """A genuine mfa_token: its pending session and the refresh tag that entry must still hold."""

    ref: SessionRef
    pending_tag: str


class Challenges:
    def __init__(self, hasher: KeyedHasher, limits: Limits, passkeys: bool = False) -> None:
        """``passkeys``: whether the stage offers passkeys (names a relying party), so that an account's passkeys
        redeem its mfa_token too (``POST /passkeys/verify``)."""
        self._hasher = hasher
        self._limits = limits
        self._passkeys = passkeys

    def challenge(self, session: PendingSession, account: Account) -> MfaRequired | None:
        """An mfa_token for the just-opened ``session``, if its account owes a second factor; else ``None``."""
        if not pending(self._limits.mfa_policy, account.mfa, session.record.amr, account.passkeys):
            return None
        secret = session.refresh_token.split(".")[2]
        session_id = session.ref.id
        token = ".".join((MFA_TOKEN_VERSION, session_id, secret, self._hasher.tag("mfa", session_id, secret)))
        app = Factors.of(account.mfa)
        factors = (app.available() if app.active else []) + ([PASSKEY] if self._passkeys and account.passkeys else [])
        return MfaRequired(token, factors, self._limits.mfa_token_seconds)

    def parse(self, raw: object) -> Ticket:
        """The pending session a genuine mfa_token names; anything else raises :class:`InvalidMfaToken`
        before any lookup."""
        parts = raw.split(".") if isinstance(raw, str) and len(raw) <= MAX_MFA_TOKEN_CHARS else []
        if len(parts) != 4 or parts[0] != MFA_TOKEN_VERSION:
            raise InvalidMfaToken()
        _, session_id, secret, tag = parts
        try:
            ref = SessionRef.parse(session_id)
        except SessionRejected:
            raise InvalidMfaToken() from None
        if not (_SECRET.fullmatch(secret) and _TAG.fullmatch(tag)):
            raise InvalidMfaToken()
        if not hmac.compare_digest(self._hasher.tag("mfa", session_id, secret), tag):
            raise InvalidMfaToken()
        return Ticket(ref, self._hasher.tag("refresh", session_id, secret))
