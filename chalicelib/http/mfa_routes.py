"""Two-step sign-in routes: enroll and confirm an authenticator app, redeem an mfa_token, step up, remove.

Which session each route needs is declared in app.py (``exchange.bearer(Needs...., handler)``); ``/mfa/verify``
takes no bearer token: its mfa_token is the credential. Under ``OTP_MFA=OFF`` every route here answers 403
``mfa_disabled_here``. The TOTP library is imported only when one of these routes first runs
(``wiring.get_mfa``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib import wiring
from chalicelib.accounts.sessions import Principal
from chalicelib.config import OFF
from chalicelib.core.assurance import RECOVERY_CODES_LOW, TOTP_DIGITS
from chalicelib.core.refusals import InvalidCode
from chalicelib.http import errors
from chalicelib.http.exchange import Exchange, Handler
from chalicelib.http.session_routes import session_body
from chalicelib.mfa import recovery
from chalicelib.mfa.answers import NEW_RECOVERY_CODES, Proof, Upgraded
from chalicelib.otp.codes import parse_code

Answer = tuple[int, dict[str, Any]]


def enroll(exchange: Exchange, principal: Principal) -> Answer:
    enrollment = wiring.get_mfa().enroll(principal, wiring.now())
    return errors.TOTP_ENROLLMENT.answer(
        {"secret": enrollment.secret, "otpauth_uri": enrollment.otpauth_uri, "qr_svg": enrollment.qr_svg}
    )


def confirm(exchange: Exchange, principal: Principal) -> Answer:
    code = parse_code(exchange.json_object().get("otp"), TOTP_DIGITS)
    now = wiring.now()
    upgraded = wiring.get_mfa().confirm(principal, code, now)
    return errors.MFA_ENABLED.answer({NEW_RECOVERY_CODES: upgraded.recovery_codes, **_upgraded(upgraded, now)})


def verify(exchange: Exchange) -> Answer:
    body = exchange.json_object()
    proof = _proof(body)
    now = wiring.now()
    upgraded = wiring.get_mfa().verify(body.get("mfa_token"), proof, now)
    exchange.identify(upgraded.session.account)
    return errors.VERIFIED.answer(_upgraded(upgraded, now))


def reauthenticate(exchange: Exchange, principal: Principal) -> Answer:
    proof = _proof(exchange.json_object())
    now = wiring.now()
    return errors.REAUTHENTICATED.answer(_upgraded(wiring.get_mfa().reauthenticate(principal, proof, now), now))


def disable(exchange: Exchange, principal: Principal) -> Answer:
    wiring.get_mfa().disable(principal, wiring.now())
    return errors.MFA_DISABLED.answer()


def regenerate(exchange: Exchange, principal: Principal) -> Answer:
    return errors.RECOVERY_CODES.answer({NEW_RECOVERY_CODES: wiring.get_mfa().regenerate(principal, wiring.now())})


def enabled(handler: Handler) -> Handler:
    """``handler``, answered 403 ``mfa_disabled_here`` instead where the stage has ``OTP_MFA=OFF`` (before
    anything else, a bearer token included)."""

    def serve(exchange: Exchange) -> Answer:
        if wiring.get_settings().limits.mfa_policy == OFF:
            raise errors.MFA_DISABLED_HERE.error()
        return handler(exchange)

    return serve


def _proof(body: Mapping[str, Any]) -> Proof:
    """Exactly one of ``otp`` (a TOTP code) and ``recovery_code``; a malformed recovery code is a wrong one."""
    if ("otp" in body) == ("recovery_code" in body):
        raise errors.MFA_PROOF_BODY.error()
    if "otp" in body:
        return Proof(parse_code(body["otp"], TOTP_DIGITS), totp=True)
    code = recovery.normalised(body["recovery_code"])
    if code is None:
        raise InvalidCode()
    return Proof(code, totp=False)


def _upgraded(upgraded: Upgraded, now: int) -> dict[str, Any]:
    left = upgraded.recovery_codes_left
    return {
        **session_body(upgraded.session, now),
        "recovery_codes_left": left,
        "recovery_codes_low": left < RECOVERY_CODES_LOW,
    }
