"""``/admin/...``: account lookup, the actions on an account, the audit trail and the statistics.

Every route needs an admin's bearer token at AAL2; the routes that change an account also need the admin's last
proof within ``OTP_ADMIN_STEP_UP_SECONDS`` (chalicelib/admin/access.py). The caller is checked before anything
of the request is read, so a stranger learns nothing from the answers but that the route exists.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from chalicelib import wiring
from chalicelib.accounts.identifiers import EMAIL, PHONE, mask
from chalicelib.accounts.sessions import Principal
from chalicelib.admin.access import require_admin
from chalicelib.admin.actions import Action
from chalicelib.admin.service import UserCard
from chalicelib.admin.store import Actor, AuditEntry, valid_cursor
from chalicelib.crypto import DIGEST_HEX_CHARS
from chalicelib.http import errors
from chalicelib.http.exchange import Exchange, Handler
from chalicelib.http.otp_routes import identifier

Answer = tuple[int, dict[str, Any]]
AdminHandler = Callable[[Exchange, Principal], Answer]
USER_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")  # str(uuid.uuid4())
PASSKEY_ID = re.compile(rf"[0-9a-f]{{{DIGEST_HEX_CHARS}}}")  # the digest of its credential id, as /me/passkeys
MAX_REASON_CHARS = 500
DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT = 50, 100
DEFAULT_HOURS, MAX_HOURS = 24, 336  # two weeks: the last 7 days and the 7 before them
DONE = {
    Action.LOCK: errors.USER_LOCKED,
    Action.UNLOCK: errors.USER_UNLOCKED,
    Action.SIGN_OUT: errors.USER_SIGNED_OUT,
    Action.DELETE_MFA: errors.USER_MFA_REMOVED,
    Action.DELETE_PASSKEY: errors.USER_PASSKEY_REMOVED,
    Action.CLEAR_FAILURES: errors.USER_FAILURES_CLEARED,
}


def reading(handler: AdminHandler) -> Handler:
    """A route that only reads: an admin at AAL2."""
    return lambda exchange: handler(exchange, _admin(exchange, changing=False))


def acting(action: Action, user_id: str, passkey_id: str = "") -> Handler:
    """The route of ``action`` on the account ``user_id`` (and its passkey ``passkey_id``, for delete-passkey):
    an admin at AAL2 who proved it recently."""

    def serve(exchange: Exchange) -> Answer:
        principal = _admin(exchange, changing=True)
        if USER_ID.fullmatch(user_id) is None:
            raise errors.INVALID_USER_ID.error()
        if action is Action.DELETE_PASSKEY and PASSKEY_ID.fullmatch(passkey_id) is None:
            raise errors.PASSKEY_NOT_FOUND.error()
        reason = exchange.json_object(optional=True).get("reason")
        reason = reason.strip() if isinstance(reason, str) else ""
        if not 0 < len(reason) <= MAX_REASON_CHARS:
            raise errors.REASON_REQUIRED.error(most=MAX_REASON_CHARS)
        email = principal.account.identifiers[EMAIL]  # an admin is named by their address
        actor = Actor(principal.account.id, mask(EMAIL, email))
        exchange.log["action"] = action.value
        entry = wiring.get_admin().act(action, user_id, actor, reason, exchange.request_id(), passkey_id)
        answer = {"user_id": user_id, "audit": audit_entry(entry)}
        if passkey_id:
            answer["passkey_id"] = passkey_id
        return DONE[action].answer(answer)

    return serve


def users(exchange: Exchange, principal: Principal) -> Answer:
    query = _query(exchange)
    given = [name for name in ("id", EMAIL, PHONE) if name in query]
    if len(given) != 1:
        raise errors.INVALID_LOOKUP.error()
    service = wiring.get_admin()
    if given == ["id"]:
        if USER_ID.fullmatch(query["id"]) is None:
            raise errors.INVALID_USER_ID.error()
        card = service.find_by_id(query["id"])
    else:
        card = service.find_by_identifier(identifier(query))
    if card is None:
        raise errors.USER_NOT_FOUND.error()
    return errors.USER_FOUND.answer({"user": user_card(card)})


def audit(exchange: Exchange, principal: Principal) -> Answer:
    query = _query(exchange)
    limit = _whole(query.get("limit"), DEFAULT_AUDIT_LIMIT, MAX_AUDIT_LIMIT, errors.INVALID_LIMIT)
    before = query.get("before")
    if before is not None and not valid_cursor(before):
        raise errors.INVALID_BEFORE.error()
    entries, next_before = wiring.get_admin().audit(limit, before)
    return errors.AUDIT_ENTRIES.answer(
        {"entries": [audit_entry(entry) for entry in entries], "next_before": next_before}
    )


def stats(exchange: Exchange, principal: Principal) -> Answer:
    hours = _whole(_query(exchange).get("hours"), DEFAULT_HOURS, MAX_HOURS, errors.INVALID_HOURS)
    settings = wiring.get_settings()
    found = wiring.get_metrics().hourly(hours, wiring.now(), errors.THROTTLE_CODES)
    budget = settings.limits.sms_budget
    prices = {country: float(settings.sms_price(country)) for country in settings.sms_countries}
    return errors.ADMIN_STATS.answer(
        {
            "hours": hours,
            **found,
            "sms_budget": {"texts": budget.limit, "window_seconds": budget.seconds, "prices_usd": prices},
        }
    )


def user_card(card: UserCard) -> dict[str, Any]:
    answer = card._asdict()
    answer["identifiers"] = [
        {
            "type": state.kind,
            "value": state.value,
            "failures": {"count": state.failures, "limit": state.limit, "resets_in": state.resets_in},
        }
        for state in card.identifiers
    ]
    # What an admin needs to tell them apart and remove one: never the credential id or the public key.
    answer["passkeys"] = [
        {
            "id": passkey.id,
            "name": passkey.name,
            "created_at": passkey.created_at,
            "last_used_at": passkey.last_used_at,
            "synced": passkey.synced,
        }
        for passkey in card.passkeys
    ]
    return answer


def audit_entry(entry: AuditEntry) -> dict[str, Any]:
    return {
        "at": entry.at_ms / 1000,
        "actor": {"user_id": entry.actor, "email": entry.actor_hint},
        "action": entry.action,
        "user_id": entry.target,
        # The account's identifiers when the admin acted (the account may have changed or gone since).
        "identifiers": [{"type": kind, "value": value} for kind, value in sorted(entry.target_identifiers.items())],
        "reason": entry.reason,
        "request_id": entry.request_id,
        "cursor": entry.cursor,
        **({"passkey_id": entry.passkey} if entry.passkey else {}),  # which passkey a delete_passkey removed
    }


def _admin(exchange: Exchange, changing: bool) -> Principal:
    principal = exchange.principal()
    require_admin(principal, wiring.get_settings(), wiring.now(), changing)
    return principal


def _query(exchange: Exchange) -> Mapping[str, str]:
    return dict(exchange.request.query_params or {})


def _whole(raw: str | None, default: int, most: int, refusal: errors.ErrorKind) -> int:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= most):
        raise refusal.error(most=most)
    return int(raw)
