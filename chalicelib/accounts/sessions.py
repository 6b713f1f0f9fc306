"""Sessions: what a proven address receives, how it is renewed, checked and ended.

A session is an access token (ES256 JWT, short-lived) and a refresh token (opaque, 256 bits, rotated on every
use). Both are refused the moment their session is revoked: every access token names its session (``sid``)
and every check looks that session up.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass

from chalicelib.accounts.session_store import NewSession, Refresh, SessionStore, SessionView
from chalicelib.accounts.tokens import AccessTokens, InvalidToken, b64url
from chalicelib.config import Limits
from chalicelib.otp.codes import KeyedHasher

REFRESH_TOKEN_VERSION = "rt1"
_TOKEN_PART = re.compile(r"[A-Za-z0-9_-]{16,64}")


class SessionRejected(Exception):
    """Missing, malformed, expired, revoked or reused credentials: one answer for all of them."""


@dataclass(frozen=True)
class PendingSession:
    """A session prepared for an address before its code is checked; it becomes real only if the code was right."""

    email: str
    record: NewSession
    refresh_token: str


@dataclass(frozen=True)
class IssuedSession:
    email: str
    session_id: str
    access_token: str
    access_expires_at: int
    refresh_token: str
    session_expires_at: int


@dataclass(frozen=True)
class Principal:
    email: str
    session_id: str
    issued_at: int
    expires_at: int
    session: SessionView


@dataclass(frozen=True)
class _RefreshToken:
    email: str
    session_id: str
    secret: str


class SessionService:
    def __init__(self, store: SessionStore, tokens: AccessTokens, hasher: KeyedHasher, limits: Limits) -> None:
        self._store = store
        self._tokens = tokens
        self._hasher = hasher
        self._limits = limits

    def prepare(self, email: str, now: int) -> PendingSession:
        session_id = secrets.token_urlsafe(16)
        secret = secrets.token_urlsafe(32)
        record = NewSession(
            session_id, self._hasher.refresh_digest(session_id, secret), now, now + self._limits.session_seconds
        )
        return PendingSession(email, record, _format_refresh_token(email, session_id, secret))

    def issue(self, pending: PendingSession, now: int) -> IssuedSession:
        """Tokens for a session whose code has been proven (signing may raise ``DependencyError``)."""
        return self._tokens_for(pending.email, pending.record.session_id, pending.refresh_token,
                                pending.record.expires_at, now)

    def refresh(self, raw_token: object, now: int) -> IssuedSession:
        """New tokens for a current refresh token, which is used up; reuse of a retired one ends the session."""
        token = _parse_refresh_token(raw_token)
        secret = secrets.token_urlsafe(32)
        outcome, session = self._store.rotate(
            self._hasher.subject_key("addr", token.email),
            token.session_id,
            self._hasher.refresh_digest(token.session_id, token.secret),
            self._hasher.refresh_digest(token.session_id, secret),
            now,
            self._limits.refresh_grace_seconds,
        )
        if outcome not in (Refresh.ROTATED, Refresh.GRACE) or session is None:
            raise SessionRejected(outcome.value)
        refresh_token = _format_refresh_token(token.email, token.session_id, secret)
        return self._tokens_for(token.email, token.session_id, refresh_token, session.expires_at, now)

    def revoke(self, raw_token: object) -> None:
        """End the session of a current refresh token; anything else is silently ignored (RFC 7009)."""
        try:
            token = _parse_refresh_token(raw_token)
        except SessionRejected:
            return
        self._store.revoke(
            self._hasher.subject_key("addr", token.email),
            token.session_id,
            presented=self._hasher.refresh_digest(token.session_id, token.secret),
        )

    def authenticate(self, access_token: str, now: int) -> Principal:
        try:
            claims = self._tokens.verify(access_token, now)
        except InvalidToken as error:
            raise SessionRejected(str(error)) from None
        session = self._store.find(self._hasher.subject_key("addr", claims.subject), claims.session_id, now)
        if session is None:
            raise SessionRejected("session ended")
        return Principal(claims.subject, claims.session_id, claims.issued_at, claims.expires_at, session)

    def sign_out(self, principal: Principal, everywhere: bool) -> None:
        address_key = self._hasher.subject_key("addr", principal.email)
        if everywhere:
            self._store.revoke_all(address_key)
        else:
            self._store.revoke(address_key, principal.session_id)

    def _tokens_for(
        self, email: str, session_id: str, refresh_token: str, session_expires_at: int, now: int
    ) -> IssuedSession:
        access_token, access_expires_at = self._tokens.issue(email, session_id, now)
        return IssuedSession(email, session_id, access_token, access_expires_at, refresh_token, session_expires_at)


def _format_refresh_token(email: str, session_id: str, secret: str) -> str:
    # The address rides along (encoded, not secret) so the token finds its session with one key lookup.
    return ".".join((REFRESH_TOKEN_VERSION, b64url(email.encode()), session_id, secret))


def _parse_refresh_token(raw: object) -> _RefreshToken:
    parts = raw.split(".") if isinstance(raw, str) and len(raw) <= 512 else []
    if len(parts) != 4 or parts[0] != REFRESH_TOKEN_VERSION:
        raise SessionRejected("malformed refresh token")
    _, encoded_email, session_id, secret = parts
    if not (_TOKEN_PART.fullmatch(session_id) and _TOKEN_PART.fullmatch(secret)):
        raise SessionRejected("malformed refresh token")
    try:
        email = base64.urlsafe_b64decode(encoded_email + "=" * (-len(encoded_email) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SessionRejected("malformed refresh token") from None
    return _RefreshToken(email, session_id, secret)
