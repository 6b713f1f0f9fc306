"""Sessions: what a proven identifier receives, how it is renewed, checked and ended.

A session is an access token (ES256 JWT, short-lived) and a refresh token (opaque, rotated on every use). Both
are refused the moment their session is revoked: every access token names its session (``sid``) and every
check looks that session up. A session id names the account's home item and the session on it, so that
every check is one key lookup.

Refresh tokens are ``rt2.<sid>.<secret>.<tag>``: a 128-bit random secret and a keyed tag over the session and
the secret that only this service can make. The home item holds the tag of the current token (which, without
the secret, opens nothing); a presented token whose tag is genuine but no longer current is a retired one,
recognised as reuse without any list of retired tokens.

On an account with a second factor, a session whose ``amr`` lacks ``"mfa"`` is pending
(:func:`chalicelib.core.assurance.pending`): its access and refresh tokens are refused like revoked ones.

A token never carries more privilege than its own claims say (OWASP ASVS 5.0, V7.2: new session tokens on every
authentication and re-authentication). Every upgrade of a session (a factor confirmed, an mfa_token redeemed, a
re-authentication) counts its generation up (the entry's ``g``) and hands out new tokens of that generation, whose
access tokens carry it as ``gen``; an access token of another generation is refused, and the upgrade's own write
retires the earlier refresh token with no grace, so presenting it afterwards is reuse. A route's step-up rule then
reads the lesser of what the token claims and what the session entry holds (:attr:`Principal.aal`).
"""

from __future__ import annotations

import hmac
import re
import secrets
from typing import NamedTuple

from chalicelib.accounts.identifiers import EMAIL, KIND_LETTERS, PHONE
from chalicelib.accounts.store import Account, AccountStore, NewSession, Refresh, SessionView
from chalicelib.accounts.tokens import AccessTokens, InvalidToken
from chalicelib.config import Limits
from chalicelib.core.assurance import aal, pending
from chalicelib.core.refusals import SessionRejected
from chalicelib.crypto import DIGEST_HEX_CHARS, KeyedHasher

REFRESH_TOKEN_VERSION = "rt2"
_KINDS = {letter: kind for kind, letter in KIND_LETTERS.items()}
NONCE_CHARS = 11  # secrets.token_urlsafe(8): names a session among its account's few, nothing more
SECRET_CHARS = 22  # secrets.token_urlsafe(16): 128 bits
_SESSION_ID = re.compile(rf"([a-z])([0-9a-f]{{{DIGEST_HEX_CHARS}}})([A-Za-z0-9_-]{{{NONCE_CHARS}}})")
_SECRET = re.compile(rf"[A-Za-z0-9_-]{{{SECRET_CHARS}}}")
_TAG = re.compile(rf"[0-9a-f]{{{DIGEST_HEX_CHARS}}}")
MAX_REFRESH_TOKEN_CHARS = 256


class SessionRef(NamedTuple):
    """Where a session lives: its account's home item (``email#<digest>``, ``phone#<digest>``) and its nonce."""

    home: str
    nonce: str

    @property
    def id(self) -> str:
        kind, _, digest = self.home.partition("#")
        return f"{KIND_LETTERS[kind]}{digest}{self.nonce}"

    @classmethod
    def parse(cls, session_id: object) -> SessionRef:
        match = _SESSION_ID.fullmatch(session_id) if isinstance(session_id, str) else None
        if match is None or match.group(1) not in _KINDS:
            raise SessionRejected("malformed session id")
        return cls(f"{_KINDS[match.group(1)]}#{match.group(2)}", match.group(3))


class PendingSession(NamedTuple):
    """A session prepared before its code is checked; it becomes real only if the code was right."""

    ref: SessionRef
    record: NewSession
    refresh_token: str


class IssuedSession(NamedTuple):
    account: Account
    session_id: str
    access_token: str
    access_expires_at: int
    refresh_token: str
    session_expires_at: int
    scope: str = ""  # what the session's client was granted (an OpenID Connect client's session); "": not one


class Principal(NamedTuple):
    """A caller whose access token is genuine, live and of its session's current generation.

    ``aal`` and ``auth_time`` are the lesser of the token's own claims and the session entry's: what a route that
    needs a recent or two-factor proof reads.
    """

    account: Account
    ref: SessionRef
    issued_at: int
    expires_at: int
    session: SessionView
    aal: int
    auth_time: int


class SessionService:
    def __init__(self, accounts: AccountStore, tokens: AccessTokens, hasher: KeyedHasher, limits: Limits) -> None:
        self._accounts = accounts
        self._tokens = tokens
        self._hasher = hasher
        self._limits = limits

    def prepare(self, home: str, now: int, amr: tuple[str, ...] = ("otp",)) -> PendingSession:
        ref = SessionRef(home, secrets.token_urlsafe(8))
        refresh_token, tag = self._new_refresh_token(ref)
        record = NewSession(ref.nonce, tag, now, now + self._limits.session_seconds, amr)
        return PendingSession(ref, record, refresh_token)

    def issue(self, pending: PendingSession, account: Account, now: int) -> IssuedSession:
        """Tokens for a session whose code has been proven (signing may raise ``DependencyError``)."""
        view = SessionView(pending.record.created_at, pending.record.expires_at, pending.record.amr)
        return self.tokens_for(account, pending.ref, view, pending.refresh_token, now)

    def refresh(self, raw_token: object, now: int, client: str = "") -> IssuedSession:
        """New tokens for a current refresh token, which is used up; reuse of a retired one ends the session.

        ``client``: the OpenID Connect client presenting it ("": a caller of the API itself); a refresh token works
        only for the client its session was opened for."""
        ref, tag = self._parse_refresh_token(raw_token)
        refresh_token, replacement = self._new_refresh_token(ref)
        outcome, account, session = self._accounts.rotate(
            ref.home, ref.nonce, tag, replacement, now, self._limits.refresh_grace_seconds, client
        )
        if outcome not in (Refresh.ROTATED, Refresh.GRACE) or account is None or session is None:
            raise SessionRejected(outcome.value)
        self._refuse_pending(account, session)
        return self.tokens_for(account, ref, session, refresh_token, now)

    def reissue(self, account: Account, ref: SessionRef, session: SessionView, now: int) -> tuple[IssuedSession, str]:
        """Tokens for ``session`` as an upgrade's write is about to make it (its generation counted up), signed
        before that write, and the new refresh token's tag, which the write stores."""
        refresh_token, tag = self._new_refresh_token(ref)
        return self.tokens_for(account, ref, session, refresh_token, now), tag

    def revoke(self, raw_token: object) -> None:
        """End the session of a current refresh token; anything else is silently ignored (RFC 7009)."""
        try:
            ref, tag = self._parse_refresh_token(raw_token)
        except SessionRejected:
            return
        self._accounts.revoke(ref.home, ref.nonce, presented=tag)

    def refresh_token_session(self, raw_token: object) -> tuple[SessionRef, str]:
        """The session and tag of a refresh token this service made (:class:`SessionRejected` otherwise), not
        looked up: whether it is current is the store's answer."""
        return self._parse_refresh_token(raw_token)

    def authenticate(self, access_token: str, now: int) -> Principal:
        try:
            claims = self._tokens.verify(access_token, now)
        except InvalidToken as error:
            raise SessionRejected(str(error)) from None
        ref = SessionRef.parse(claims.session_id)
        found = self._accounts.find(ref.home, ref.nonce, now)
        if found is None:
            raise SessionRejected("session ended")
        account, session = found
        if not hmac.compare_digest(account.id, claims.subject):
            raise SessionRejected("session of another account")
        if claims.generation != session.generation:
            raise SessionRejected("superseded")  # issued before the session's last upgrade
        self._refuse_pending(account, session)
        return Principal(
            account,
            ref,
            claims.issued_at,
            claims.expires_at,
            session,
            min(claims.aal, aal(session.amr)),
            min(claims.auth_time, session.auth_time),
        )

    def sign_out(self, principal: Principal, everywhere: bool) -> None:
        if everywhere:
            self._accounts.revoke_all(principal.ref.home)
        else:
            self._accounts.revoke(principal.ref.home, principal.ref.nonce)

    def _refuse_pending(self, account: Account, session: SessionView) -> None:
        """A session that still owes its second factor opens nothing (chalicelib/core/assurance.py)."""
        if pending(self._limits.mfa_policy, account.mfa, session.amr, account.passkeys):
            raise SessionRejected("second factor pending")

    def tokens_for(
        self, account: Account, ref: SessionRef, session: SessionView, refresh_token: str, now: int
    ) -> IssuedSession:
        """An access token for ``session`` (signing may raise ``DependencyError``), beside ``refresh_token``."""
        profile: dict[str, object] = {
            "amr": list(session.amr),
            "auth_time": session.auth_time,
            "aal": aal(session.amr),
            "gen": session.generation,
        }
        if session.client:  # RFC 9068: the client it was issued to and what it was granted
            profile.update(client_id=session.client, scope=session.scope)
        # OpenID Connect's names; every identifier an account holds was proven with a code. A client's token
        # carries only what its scopes grant.
        scopes = session.scope.split() if session.client else ("email", "phone")
        if EMAIL in account.identifiers and "email" in scopes:
            profile.update(email=account.identifiers[EMAIL], email_verified=True)
        if PHONE in account.identifiers and "phone" in scopes:
            profile.update(phone_number=account.identifiers[PHONE], phone_number_verified=True)
        access_token, access_expires_at = self._tokens.issue(account.id, ref.id, now, profile)
        return IssuedSession(
            account, ref.id, access_token, access_expires_at, refresh_token, session.expires_at, session.scope
        )

    def new_refresh_token(self, ref: SessionRef) -> tuple[str, str]:
        """A new refresh token of session ``ref`` and its tag (what the session entry holds)."""
        return self._new_refresh_token(ref)

    def _new_refresh_token(self, ref: SessionRef) -> tuple[str, str]:
        secret = secrets.token_urlsafe(16)
        tag = self._hasher.tag("refresh", ref.id, secret)
        return ".".join((REFRESH_TOKEN_VERSION, ref.id, secret, tag)), tag

    def _parse_refresh_token(self, raw: object) -> tuple[SessionRef, str]:
        """The session and tag of a token this service made; anything else is refused before any lookup."""
        parts = raw.split(".") if isinstance(raw, str) and len(raw) <= MAX_REFRESH_TOKEN_CHARS else []
        if len(parts) != 4 or parts[0] != REFRESH_TOKEN_VERSION:
            raise SessionRejected("malformed refresh token")
        _, session_id, secret, tag = parts
        ref = SessionRef.parse(session_id)
        if not (_SECRET.fullmatch(secret) and _TAG.fullmatch(tag)):
            raise SessionRejected("malformed refresh token")
        if not hmac.compare_digest(self._hasher.tag("refresh", session_id, secret), tag):
            raise SessionRejected("forged refresh token")
        return ref, tag
