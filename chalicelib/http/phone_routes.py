"""``/me/phone``: a signed-in person adds a phone number to their account, or removes it.

Adding is a code to the number (``POST /me/phone``) and that code back (``POST /me/phone/verify``): the same
code state, limits and budgets as signing in by the number, but a code of its own purpose, whose text says what it
does and which cannot sign in (nor a sign-in code link). Whether a number already belongs to an account is said
only to someone who has just proven the number is theirs, and never whose it is. Every step is an account change:
app.py asks each for a recent proof (``Needs.RECENT``), so a stolen token alone never adds a way into the account.
"""

from __future__ import annotations

from typing import Any

from chalicelib import wiring
from chalicelib.accounts.identifiers import PHONE
from chalicelib.accounts.sessions import Principal
from chalicelib.accounts.store import Link
from chalicelib.core.refusals import SessionRejected
from chalicelib.http import errors
from chalicelib.http.exchange import Exchange
from chalicelib.http.otp_routes import code_sent, identifier, shown
from chalicelib.http.session_routes import listed
from chalicelib.otp.codes import Purpose, parse_code
from chalicelib.otp.service import NotLinked

Answer = tuple[int, dict[str, Any]]
REFUSALS = {Link.TAKEN: errors.PHONE_ALREADY_LINKED, Link.ACCOUNT_HAS_ONE: errors.ACCOUNT_HAS_PHONE}


def add(exchange: Exchange, principal: Principal) -> Answer:
    if PHONE in principal.account.identifiers:
        raise errors.ACCOUNT_HAS_PHONE.error()
    to = identifier(exchange.json_object(), (PHONE,))
    exchange.channel(to)
    sent = wiring.get_service().send_code(to, exchange.source_network(), Purpose.LINK)
    return code_sent(sent, errors.LINK_CODE_SENT)


def verify(exchange: Exchange, principal: Principal) -> Answer:
    body = exchange.json_object()
    phone = identifier(body, (PHONE,))
    exchange.channel(phone)
    code = parse_code(body.get("otp"), wiring.get_settings().limits.code_digits)
    try:
        account = wiring.get_service().link(principal, phone, code, exchange.source_network())
    except NotLinked as refused:
        if refused.reason not in REFUSALS:
            raise SessionRejected(refused.reason.value) from None
        raise REFUSALS[refused.reason].error() from None
    return errors.PHONE_LINKED.answer(
        {"phone": phone.value, "identifiers": listed(account.identifiers)}, phone=shown(phone)
    )


def remove(exchange: Exchange, principal: Principal) -> Answer:
    if PHONE not in principal.account.identifiers:
        raise errors.PHONE_NOT_LINKED.error()
    if principal.ref.home.startswith(f"{PHONE}#"):
        raise errors.PHONE_IS_PRIMARY.error()
    if not wiring.get_service().unlink(principal, PHONE):
        raise errors.PHONE_NOT_LINKED.error()
    return errors.PHONE_REMOVED.answer()
