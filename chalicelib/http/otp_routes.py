"""``POST /otp``: the earlier prototype's contract, ``{"action": "send_otp" | "verify_otp", ...}``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import wiring
from chalicelib.accounts.addresses import normalize_address
from chalicelib.http import errors
from chalicelib.http.exchange import Exchange
from chalicelib.http.session_routes import session_body
from chalicelib.mfa.challenge import MfaRequired
from chalicelib.otp.codes import parse_code

Body = Mapping[str, Any]


def handle(exchange: Exchange) -> tuple[int, dict[str, Any]]:
    body = exchange.json_object()
    action = body.get("action")
    if action is None:
        raise errors.MISSING_ACTION.error()
    run = ACTIONS.get(action) if isinstance(action, str) else None
    if run is None:
        raise errors.UNKNOWN_ACTION.error()
    exchange.log["action"] = action
    return run(exchange, body)


def send_otp(exchange: Exchange, body: Body) -> tuple[int, dict[str, Any]]:
    email = _address(exchange, body)
    sent = wiring.get_service().send_code(email, exchange.source_network())
    extra = {"expires_in": sent.expires_in, "resend_after": sent.resend_after}
    return errors.CODE_SENT.answer(extra, email=email, minutes=sent.expires_in // 60)


def verify_otp(exchange: Exchange, body: Body) -> tuple[int, dict[str, Any]]:
    email = _address(exchange, body)
    code = parse_code(body.get("otp"), wiring.get_settings().limits.code_digits)
    session = wiring.get_service().verify_code(email, code, exchange.source_network())
    if isinstance(session, MfaRequired):  # the account has a second factor: no tokens yet (POST /mfa/verify)
        return errors.MFA_REQUIRED.answer({"mfa_token": session.mfa_token, "factors": session.factors,
                                           "expires_in": session.expires_in})
    return errors.VERIFIED.answer(session_body(session, wiring.now()))


def _address(exchange: Exchange, body: Body) -> str:
    email = normalize_address(body.get("email"))
    exchange.identify(email)
    return email


ACTIONS: dict[str, Callable[[Exchange, Body], tuple[int, dict[str, Any]]]] = {
    "send_otp": send_otp,
    "verify_otp": verify_otp,
}
