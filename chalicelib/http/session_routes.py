"""Session routes: refresh, revoke, sign out, who am I, and the public keys that verify access tokens."""

from __future__ import annotations

from typing import Any

from chalicelib import wiring
from chalicelib.accounts.sessions import IssuedSession
from chalicelib.http import errors
from chalicelib.http.exchange import Exchange

Answer = tuple[int, dict[str, Any]]


def session_body(session: IssuedSession, now: int) -> dict[str, Any]:
    """The token fields of an answer that opens or renews a session (OAuth 2.0 names)."""
    return {
        "email": session.email,
        "access_token": session.access_token,
        "token_type": "Bearer",
        "expires_in": session.access_expires_at - now,
        "refresh_token": session.refresh_token,
        "refresh_expires_in": session.session_expires_at - now,
    }


def refresh(exchange: Exchange) -> Answer:
    token = _refresh_token(exchange)
    now = wiring.now()
    session = wiring.get_sessions().refresh(token, now)
    exchange.identify(session.email)
    return errors.REFRESHED.answer(session_body(session, now))


def revoke(exchange: Exchange) -> Answer:
    wiring.get_sessions().revoke(_refresh_token(exchange))
    return errors.REVOKED.answer()


def sign_out(exchange: Exchange) -> Answer:
    principal = exchange.principal()
    everywhere = exchange.json_object(optional=True).get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise errors.EVERYWHERE_NOT_BOOLEAN.error()
    wiring.get_sessions().sign_out(principal, everywhere)
    exchange.log["everywhere"] = everywhere
    return (errors.SIGNED_OUT_EVERYWHERE if everywhere else errors.SIGNED_OUT).answer()


def me(exchange: Exchange) -> Answer:
    principal = exchange.principal()
    session = {
        "id": principal.session_id,
        "signed_in_at": principal.session.created_at,
        "access_token_issued_at": principal.issued_at,
        "access_token_expires_at": principal.expires_at,
        "expires_at": principal.session.expires_at,
    }
    return errors.SIGNED_IN.answer({"email": principal.email, "session": session}, email=principal.email)


def jwks(exchange: Exchange) -> Answer:
    return errors.JWKS.answer(wiring.get_keys().jwks())


def _refresh_token(exchange: Exchange) -> str:
    token = exchange.json_object().get("refresh_token")
    if not isinstance(token, str) or not token:
        raise errors.INVALID_REFRESH_TOKEN.error()
    return token
