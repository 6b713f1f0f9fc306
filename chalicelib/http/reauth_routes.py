"""``POST /reauthenticate``: a signed-in person proves again, with a fresh code, who they are before an account
change (adding or removing an identifier needs a proof within ``OTP_STEP_UP_SECONDS``).

Without ``"otp"`` it sends a code for this purpose to one of the account's own identifiers (``"via"``: ``"email"``
or ``"phone"``; by default the address, else the number), whose message says what it is for; with ``"otp"`` it
checks that code and answers new tokens whose ``auth_time`` is now, the session's earlier tokens refused from then
on. An account that uses a second factor re-proves with it instead (``POST /mfa/reauthenticate``): a code by mail
or text is the weaker proof, and is refused there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib import wiring
from chalicelib.accounts.identifiers import EMAIL, PHONE, Identifier
from chalicelib.accounts.sessions import Principal
from chalicelib.accounts.store import Account
from chalicelib.core.assurance import uses_second_factor
from chalicelib.http import errors
from chalicelib.http.exchange import Exchange
from chalicelib.http.otp_routes import code_sent, identifier
from chalicelib.http.session_routes import session_body
from chalicelib.otp.codes import Purpose, parse_code

Answer = tuple[int, dict[str, Any]]


def reauthenticate(exchange: Exchange, principal: Principal) -> Answer:
    body = exchange.json_object(optional=True)
    settings = wiring.get_settings()
    if uses_second_factor(settings.limits.mfa_policy, principal.account.mfa, principal.account.passkeys):
        raise errors.USE_SECOND_FACTOR.error()
    to = _own(principal.account, body)
    exchange.channel(to)
    service = wiring.get_service()
    if body.get("otp") is None:
        sent = service.send_code(to, exchange.source_network(), Purpose.REAUTHENTICATE)
        return code_sent(sent, errors.REAUTHENTICATION_CODE_SENT)
    code = parse_code(body["otp"], settings.limits.code_digits)
    session = service.reauthenticate(principal, to, code, exchange.source_network())
    return errors.REAUTHENTICATED.answer(session_body(session, wiring.now()))


def _own(account: Account, body: Mapping[str, Any]) -> Identifier:
    """The account's identifier that ``"via"`` names (by default its address, else its number), normalised as a
    request naming it would be (a number's country must still be one the stage texts)."""
    via = body.get("via", EMAIL if EMAIL in account.identifiers else PHONE)
    if via not in (EMAIL, PHONE) or via not in account.identifiers:
        raise errors.INVALID_VIA.error()
    return identifier({via: account.identifiers[via]}, (via,))
