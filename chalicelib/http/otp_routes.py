"""``POST /otp``: the earlier prototype's contract, ``{"action": "send_otp" | "verify_otp", ...}``, for an
``"email"`` or, in its place, a ``"phone"``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import wiring
from chalicelib.accounts.addresses import normalize_address
from chalicelib.accounts.identifiers import EMAIL, PHONE, Identifier
from chalicelib.http import errors
from chalicelib.http.errors import Success
from chalicelib.http.exchange import Exchange
from chalicelib.http.session_routes import session_body
from chalicelib.mfa.challenge import MfaRequired
from chalicelib.otp.codes import parse_code
from chalicelib.otp.service import SentCode

Body = Mapping[str, Any]
Answer = tuple[int, dict[str, Any]]


def handle(exchange: Exchange) -> Answer:
    body = exchange.json_object()
    action = body.get("action")
    if action is None:
        raise errors.MISSING_ACTION.error()
    run = ACTIONS.get(action) if isinstance(action, str) else None
    if run is None:
        raise errors.UNKNOWN_ACTION.error()
    exchange.log["action"] = action
    return run(exchange, body)


def send_otp(exchange: Exchange, body: Body) -> Answer:
    to = identifier(body)
    exchange.identify(to)
    return code_sent(wiring.get_service().send_code(to, exchange.source_network()))


def verify_otp(exchange: Exchange, body: Body) -> Answer:
    who = identifier(body)
    exchange.identify(who)
    code = parse_code(body.get("otp"), wiring.get_settings().limits.code_digits)
    session = wiring.get_service().verify_code(who, code, exchange.source_network())
    if isinstance(session, MfaRequired):  # the account has a second factor: no tokens yet (POST /mfa/verify)
        return errors.MFA_REQUIRED.answer(
            {"mfa_token": session.mfa_token, "factors": session.factors, "expires_in": session.expires_in}
        )
    return errors.VERIFIED.answer(session_body(session, wiring.now()))


def identifier(body: Body, kinds: tuple[str, ...] = (EMAIL, PHONE)) -> Identifier:
    """The one identifier of ``kinds`` the body names, normalised; the stage must be able to send to it."""
    given = [kind for kind in (EMAIL, PHONE) if body.get(kind) is not None]
    if len(given) != 1 or given[0] not in kinds:
        raise (errors.ONE_IDENTIFIER if kinds == (EMAIL, PHONE) else errors.INVALID_BODY_PHONE).error()
    if given[0] == EMAIL:
        return Identifier(EMAIL, normalize_address(body[EMAIL]))
    # Imported here: the phone library's metadata is loaded by the requests that name a phone, and only them.
    from chalicelib.accounts.phones import normalize_phone

    settings = wiring.get_settings()
    return normalize_phone(body[PHONE], settings.sms_countries, settings.allow_voip)


def shown(who: Identifier) -> str:
    """The identifier as its owner reads it back (a number in international format)."""
    if who.kind != PHONE:
        return who.value
    from chalicelib.accounts.phones import display_phone

    return display_phone(who.value)


def code_sent(sent: SentCode, answer: Success = errors.CODE_SENT) -> Answer:
    """``code_sent`` in ``answer``'s words (a sign-in code's, a linking code's, a re-authentication code's)."""
    extra = {"to": shown(sent.to), "expires_in": sent.expires_in, "resend_after": sent.resend_after}
    return answer.answer(extra, to=shown(sent.to), minutes=sent.expires_in // 60)


ACTIONS: dict[str, Callable[[Exchange, Body], Answer]] = {
    "send_otp": send_otp,
    "verify_otp": verify_otp,
}
