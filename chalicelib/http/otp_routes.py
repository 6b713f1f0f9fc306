"""``POST /otp``: the earlier prototype's contract, ``{"action": "send_otp" | "verify_otp", ...}``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import wiring
from chalicelib.accounts.addresses import normalize_address
from chalicelib.http.exchange import ApiError, Exchange
from chalicelib.http.session_routes import session_body
from chalicelib.otp.codes import parse_code

Body = Mapping[str, Any]


def handle(exchange: Exchange) -> tuple[int, dict[str, Any]]:
    body = exchange.json_object()
    action = body.get("action")
    if action is None:
        raise ApiError(400, "missing_action", 'Say what to do: "action" is "send_otp" or "verify_otp".')
    run = ACTIONS.get(action) if isinstance(action, str) else None
    if run is None:
        raise ApiError(400, "unknown_action", 'Unknown action: use "send_otp" or "verify_otp".')
    exchange.log["action"] = action
    return run(exchange, body)


def send_otp(exchange: Exchange, body: Body) -> tuple[int, dict[str, Any]]:
    email = _address(exchange, body)
    sent = wiring.get_service().send_code(email, exchange.source_network())
    minutes = sent.expires_in // 60
    return 200, {
        "message": f"We sent a sign-in code to {email}. It is valid for {minutes} minutes.",
        "code": "code_sent",
        "expires_in": sent.expires_in,
        "resend_after": sent.resend_after,
    }


def verify_otp(exchange: Exchange, body: Body) -> tuple[int, dict[str, Any]]:
    email = _address(exchange, body)
    code = parse_code(body.get("otp"), wiring.get_settings().limits.code_digits)
    session = wiring.get_service().verify_code(email, code)
    return 200, {"message": "You are signed in.", "code": "verified", **session_body(session, wiring.now())}


def _address(exchange: Exchange, body: Body) -> str:
    email = normalize_address(body.get("email"))
    exchange.identify(email)
    return email


ACTIONS: dict[str, Callable[[Exchange, Body], tuple[int, dict[str, Any]]]] = {
    "send_otp": send_otp,
    "verify_otp": verify_otp,
}
