"""Session routes: refresh, revoke, sign out, who am I, and the public keys that verify access tokens."""

from __future__ import annotations

from typing import Any

from chalicelib import wiring
from chalicelib.accounts.sessions import IssuedSession
from chalicelib.http.exchange import ApiError, Exchange

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
    return 200, {"message": "Your session was renewed.", "code": "refreshed", **session_body(session, now)}


def revoke(exchange: Exchange) -> Answer:
    wiring.get_sessions().revoke(_refresh_token(exchange))
    return 200, {"message": "The session has ended.", "code": "revoked"}


def sign_out(exchange: Exchange) -> Answer:
    principal = exchange.principal()
    everywhere = exchange.json_object(optional=True).get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise ApiError(400, "invalid_body", '"everywhere" must be true or false.')
    wiring.get_sessions().sign_out(principal, everywhere)
    exchange.log["everywhere"] = everywhere
    message = "You are signed out on every device." if everywhere else "You are signed out."
    return 200, {"message": message, "code": "signed_out"}


def me(exchange: Exchange) -> Answer:
    principal = exchange.principal()
    return 200, {
        "message": f"Signed in as {principal.email}.",
        "code": "signed_in",
        "email": principal.email,
        "session": {
            "id": principal.session_id,
            "signed_in_at": principal.session.created_at,
            "access_token_issued_at": principal.issued_at,
            "access_token_expires_at": principal.expires_at,
            "expires_at": principal.session.expires_at,
        },
    }


def jwks(exchange: Exchange) -> Answer:
    return 200, {"message": "Public keys for verifying access tokens.", "code": "jwks", **wiring.get_keys().jwks()}


def _refresh_token(exchange: Exchange) -> str:
    token = exchange.json_object().get("refresh_token")
    if not isinstance(token, str) or not token:
        raise ApiError(400, "invalid_refresh_token", '"refresh_token" is required.')
    return token
