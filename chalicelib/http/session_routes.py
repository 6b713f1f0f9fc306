"""Session routes: refresh, revoke, sign out, who am I, and what verifies access tokens (keys, discovery)."""

from __future__ import annotations

from typing import Any

from chalicelib import wiring
from chalicelib.accounts.identifiers import EMAIL, PHONE
from chalicelib.accounts.sessions import IssuedSession
from chalicelib.admin.access import is_admin
from chalicelib.core.assurance import Factors, Needs, aal
from chalicelib.http import errors
from chalicelib.http.exchange import Exchange

Answer = tuple[int, dict[str, Any]]


def session_body(session: IssuedSession, now: int) -> dict[str, Any]:
    """The token fields of an answer that opens or renews a session (OAuth 2.0 names)."""
    return {
        "user_id": session.account.id,
        **session.account.identifiers,
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
    exchange.identify(session.account)
    return errors.REFRESHED.answer(session_body(session, now))


def revoke(exchange: Exchange) -> Answer:
    wiring.get_sessions().revoke(_refresh_token(exchange))
    return errors.REVOKED.answer()


def sign_out(exchange: Exchange) -> Answer:
    principal = exchange.principal(Needs.ENROLLMENT)  # a session that may only enroll can still sign out
    everywhere = exchange.json_object(optional=True).get("everywhere", False)
    if not isinstance(everywhere, bool):
        raise errors.EVERYWHERE_NOT_BOOLEAN.error()
    wiring.get_sessions().sign_out(principal, everywhere)
    exchange.log["everywhere"] = everywhere
    return (errors.SIGNED_OUT_EVERYWHERE if everywhere else errors.SIGNED_OUT).answer()


def me(exchange: Exchange) -> Answer:
    principal = exchange.principal()
    account = principal.account
    identifiers = account.identifiers
    return errors.SIGNED_IN.answer(
        {
            "user_id": account.id,
            **identifiers,
            "identifiers": listed(identifiers),
            "created_at": account.created_at,
            "last_sign_in_at": account.last_sign_in_at,
            "mfa": Factors.of(account.mfa).summary(),
            # Named in OTP_ADMIN_EMAILS: the admin routes open to it once its session has its second factor.
            "admin": is_admin(wiring.get_settings(), identifiers.get(EMAIL)),
            "session": {
                "id": principal.ref.id,
                "signed_in_at": principal.session.created_at,
                "amr": list(principal.session.amr),
                "aal": aal(principal.session.amr),
                "auth_time": principal.session.auth_time,
                "access_token_issued_at": principal.issued_at,
                "access_token_expires_at": principal.expires_at,
                "expires_at": principal.session.expires_at,
            },
        },
        who=identifiers.get(EMAIL) or identifiers.get(PHONE) or account.id,
    )


def listed(identifiers: dict[str, str]) -> list[dict[str, str]]:
    """An account's identifiers as answers list them."""
    return [{"type": kind, "value": value} for kind, value in sorted(identifiers.items())]


def jwks(exchange: Exchange) -> Answer:
    return errors.JWKS.answer({"keys": [jwk for keys in wiring.get_keys().values() for jwk in keys.jwks()["keys"]]})


def _refresh_token(exchange: Exchange) -> str:
    token = exchange.json_object().get("refresh_token")
    if not isinstance(token, str) or not token:
        raise errors.INVALID_REFRESH_TOKEN.error()
    return token
