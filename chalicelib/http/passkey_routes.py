"""Passkey routes (WebAuthn Level 3): register one on the account, sign in with one, confirm it is you with one
(step-up), list, rename, remove.

Which session each route needs is declared in app.py. Imported at the first request of one of them (app.py's
LazyRoutes), and the service with the ``webauthn`` package at the first that needs it (``wiring.get_passkeys``):
a sign-in by code never loads either. A stage without ``OTP_WEBAUTHN_RP_ID`` answers 403
``passkeys_disabled_here`` before anything else. A sign-in with a passkey answers as a right code does; a step-up
with one as ``POST /mfa/reauthenticate`` does; a second factor with one (``/passkeys/verify``, redeeming an
mfa_token) as ``POST /mfa/verify`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import wiring
from chalicelib.accounts.sessions import Principal
from chalicelib.core.assurance import RECOVERY_CODES_LOW, Factors
from chalicelib.http import errors
from chalicelib.http.exchange import Exchange, Handler
from chalicelib.http.session_routes import session_body
from chalicelib.passkeys.service import Ceremony
from chalicelib.passkeys.store import MAX_NAME_CHARS

Answer = tuple[int, dict[str, Any]]
DEFAULT_NAME = "Passkey"


def enabled(handler: Handler) -> Handler:
    """``handler``, answered 403 ``passkeys_disabled_here`` instead where the stage names no relying party."""

    def serve(exchange: Exchange) -> Answer:
        if not wiring.get_settings().passkeys:
            raise errors.PASSKEYS_DISABLED_HERE.error()
        return handler(exchange)

    return serve


def registration_options(exchange: Exchange, principal: Principal) -> Answer:
    ceremony = wiring.get_passkeys().registration_options(principal, _network_key(exchange), wiring.now())
    return errors.PASSKEY_REGISTRATION_OPTIONS.answer(_ceremony(ceremony))


def register(exchange: Exchange, principal: Principal) -> Answer:
    body = exchange.json_object()
    handle, credential = _answer(body)
    name = _name(body.get("name", DEFAULT_NAME))
    passkey = wiring.get_passkeys().register(principal, handle, credential, name, wiring.now())
    return errors.PASSKEY_REGISTERED.answer({"passkey": passkey.body()})


def sign_in_options(exchange: Exchange) -> Answer:
    ceremony = wiring.get_passkeys().sign_in_options(_network_key(exchange), wiring.now())
    return errors.PASSKEY_SIGN_IN_OPTIONS.answer(_ceremony(ceremony))


def sign_in(exchange: Exchange) -> Answer:
    handle, credential = _answer(exchange.json_object())
    now = wiring.now()
    session = wiring.get_passkeys().sign_in(handle, credential, _network_key(exchange), now)
    exchange.identify(session.account)
    return errors.VERIFIED.answer(session_body(session, now))


def reauthentication_options(exchange: Exchange, principal: Principal) -> Answer:
    ceremony = wiring.get_passkeys().reauthentication_options(principal, _network_key(exchange), wiring.now())
    return errors.PASSKEY_REAUTHENTICATION_OPTIONS.answer(_ceremony(ceremony))


def reauthenticate(exchange: Exchange, principal: Principal) -> Answer:
    handle, credential = _answer(exchange.json_object())
    now = wiring.now()
    session = wiring.get_passkeys().reauthenticate(principal, handle, credential, now)
    # POST /mfa/reauthenticate's answer, so that a client handles both step-ups alike; no code was spent.
    factors = Factors.of(principal.account.mfa)
    return errors.REAUTHENTICATED.answer(
        {
            **session_body(session, now),
            "recovery_codes_left": factors.recovery_codes_left,
            "recovery_codes_low": factors.recovery_codes_low,
        }
    )


def second_factor_options(exchange: Exchange) -> Answer:
    body = exchange.json_object()
    ceremony = wiring.get_passkeys().second_factor_options(body.get("mfa_token"), _network_key(exchange), wiring.now())
    return errors.PASSKEY_SECOND_FACTOR_OPTIONS.answer(_ceremony(ceremony))


def second_factor(exchange: Exchange) -> Answer:
    body = exchange.json_object()
    handle, credential = _answer(body)
    now = wiring.now()
    session, left = wiring.get_passkeys().second_factor(
        body.get("mfa_token"), handle, credential, _network_key(exchange), now
    )
    exchange.identify(session.account)
    # POST /mfa/verify's answer, so that a client completes a two-step sign-in alike with either factor.
    return errors.VERIFIED.answer(
        {**session_body(session, now), "recovery_codes_left": left, "recovery_codes_low": left < RECOVERY_CODES_LOW}
    )


def passkeys(exchange: Exchange, principal: Principal) -> Answer:
    found = wiring.get_passkeys().passkeys(principal)
    most = wiring.get_settings().limits.max_passkeys
    return errors.PASSKEY_LIST.answer({"passkeys": [passkey.body() for passkey in found], "most": most})


def rename(passkey_id: str) -> Callable[[Exchange, Principal], Answer]:
    def serve(exchange: Exchange, principal: Principal) -> Answer:
        name = _name(exchange.json_object().get("name"))
        passkey = wiring.get_passkeys().rename(principal, passkey_id, name)
        return errors.PASSKEY_RENAMED.answer({"passkey": passkey.body()})

    return serve


def remove(passkey_id: str) -> Callable[[Exchange, Principal], Answer]:
    def serve(exchange: Exchange, principal: Principal) -> Answer:
        wiring.get_passkeys().remove(principal, passkey_id)
        return errors.PASSKEY_REMOVED.answer()

    return serve


def _ceremony(ceremony: Ceremony) -> dict[str, Any]:
    return {"options": ceremony.options, "ceremony": ceremony.handle, "expires_in": ceremony.expires_in}


def _answer(body: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]]:
    """The ceremony's handle and the credential (``PublicKeyCredential.toJSON()``) a body carries."""
    handle, credential = body.get("ceremony"), body.get("credential")
    if not isinstance(handle, str) or not isinstance(credential, Mapping):
        raise errors.PASSKEY_BODY.error()
    return handle, credential


def _name(raw: object) -> str:
    """A passkey's name: what its owner calls it, one line, at most MAX_NAME_CHARS (its item's bound)."""
    name = raw.strip() if isinstance(raw, str) else ""
    if not 0 < len(name) <= MAX_NAME_CHARS or any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in name):
        raise errors.PASSKEY_NAME.error(most=MAX_NAME_CHARS)
    return name


def _network_key(exchange: Exchange) -> str | None:
    network = exchange.source_network()
    return wiring.get_hasher().subject_key("ip", network) if network else None
