"""The admin's view of the table: accounts found by id or identifier, the actions, and the audit trail.

- **By id**: a sparse global secondary index (``account``, keys only) on the home item's ``account`` attribute,
  which only homes carry; the home is then read consistently. **By identifier**: its item's key is the keyed
  digest, so only an exact identifier can be looked up (there is no substring search), and a linked identifier's
  item names its ``home``.
- **Actions** are each one ``TransactWriteItems``: the change, conditioned on the home still holding that
  account, and the audit entry (a ``Put`` that must not overwrite anything). No action lands without its entry,
  and no entry without its action. ``ClientRequestToken`` is the entry's id, so a retry of a transaction that
  landed is recognised by DynamoDB instead of applied twice.
- **Audit entries** (``audit#<uuid>``) carry ``audit_month`` ("2026-12") and ``audit_at`` (zero-padded epoch
  milliseconds, ``#``, the request id): the partition and sort key of a second sparse index (``audit``), read
  newest first month by month, at most :data:`AUDIT_MONTHS_PER_REQUEST` months a request. The reason is sealed
  (an admin may quote personal data in it); TTL removes an entry after ``OTP_AUDIT_RETENTION_DAYS``.
"""

from __future__ import annotations

import calendar
import json
import re
import time
import uuid
from typing import Any, NamedTuple

from chalicelib.accounts.passkeys import OWNER, Passkey, credential_key, listed
from chalicelib.accounts.store import Account, AccountStore, live_sessions
from chalicelib.admin.actions import Action
from chalicelib.aws.dependencies import guarded
from chalicelib.aws.writes import transact
from chalicelib.core.expressions import (
    TTL,
    Expression,
    Item,
    Update,
    read_map,
    read_number,
    read_string,
    to_attribute,
)
from chalicelib.core.refusals import PasskeyNotFound, UserNotFound
from chalicelib.core.schema import (
    ACTIVE,
    FAILS,
    FAILS_WINDOW,
    HOME,
    HOME_ACCOUNT,
    LOCKED,
    MFA,
    PASSKEYS,
    SESSIONS,
    STATUS,
)
from chalicelib.crypto import Sealed, Sealer

USER_INDEX = "account"  # partition key: the home item's ``account``; keys only
AUDIT_INDEX = "audit"  # partition key ``audit_month``, sort key ``audit_at``; every attribute projected
AUDIT_PREFIX = "audit#"
FAILURE_FIELDS = (FAILS, FAILS_WINDOW)
# An entry's ``audit_at``, or with no request id the start of a month: where a page cut short by
# AUDIT_MONTHS_PER_REQUEST stopped (:meth:`AdminStore.audit`).
CURSOR = re.compile(r"\d{13}#[0-9A-Za-z-]{0,64}")
# The month partitions one request reads at most, one Query each, whatever its cursor and whatever the table holds.
# 15 is the most that the default retention (400 days) spans (from 1 March 2026, back to January 2025), so with
# the default a request still reads the whole trail and an empty trail is known empty at once; a longer retention
# (up to 3650 days, 121 months) pages instead of spending up to 121 queries on one request.
AUDIT_MONTHS_PER_REQUEST = 15
DAY_SECONDS = 86_400


class Actor(NamedTuple):
    """The admin acting: account id and masked address (what the audit shows of them)."""

    account_id: str
    hint: str


class AuditEntry(NamedTuple):
    at_ms: int
    actor: str
    actor_hint: str
    action: str
    target: str
    target_identifiers: dict[str, str]  # kind -> identifier, as the account held them when the admin acted
    reason: str
    request_id: str
    cursor: str  # its ``audit_at``: the ``before`` that starts the next page after it
    passkey: str = ""  # the id of the passkey a delete-passkey removed (its keyed digest: nothing personal)


class Found(NamedTuple):
    """A home item as a consistent read found it, with the account it holds."""

    key: str
    item: Item
    account: Account


class AdminStore:
    def __init__(
        self, client: Any, table_name: str, accounts: AccountStore, sealer: Sealer, retention_days: int
    ) -> None:
        self._client = client
        self._table = table_name
        self._accounts = accounts
        self._sealer = sealer
        self._retention_seconds = retention_days * DAY_SECONDS

    # -- lookup ----------------------------------------------------------------------------------------------

    def read(self, key: str) -> Item:
        with guarded("dynamodb"):
            return self._client.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get(
                "Item", {}
            )

    def home(self, key: str) -> Found | None:
        """The account whose home is ``key``, or that the identifier item at ``key`` is linked to."""
        item = self.read(key)
        if "account" not in item and read_string(item, HOME):
            linked_to = read_string(item, "home_account")
            key, item = read_string(item, HOME), self.read(read_string(item, HOME))
            if read_string(item, "account") != linked_to:
                return None  # a link being undone: its account no longer lists it
        if "account" not in item:
            return None
        return Found(key, item, self._accounts.account(key, item))

    def home_by_id(self, account_id: str) -> Found | None:
        """The account with id ``account_id``: its home's key from the index, the home read consistently."""
        names = Expression()
        condition = f"{names.name('account')} = {names.value(account_id)}"
        with guarded("dynamodb"):
            answer = self._client.query(
                **names.params(TableName=self._table, IndexName=USER_INDEX, KeyConditionExpression=condition, Limit=1)
            )
        keys = [read_string(item, "pk") for item in answer.get("Items", [])]
        found = self.home(keys[0]) if keys else None
        return found if found is not None and found.account.id == account_id else None

    @staticmethod
    def live_sessions(found: Found, now: int) -> int:
        return live_sessions(found.item, now)

    def passkeys(self, found: Found) -> list[Passkey]:
        """The account's passkeys as its home lists them, names opened."""
        return listed(self._sealer, found.key, read_map(found.item, PASSKEYS))

    # -- actions ---------------------------------------------------------------------------------------------

    def act(
        self,
        action: Action,
        found: Found,
        linked: list[str],
        actor: Actor,
        reason: str,
        request_id: str,
        now_ms: int,
        passkey: str = "",
    ) -> AuditEntry:
        """Apply ``action`` to the account ``found`` and write its audit entry, in one transaction.

        ``linked`` are the keys of the account's identifier items other than its home (clear-failures clears
        them too); ``passkey`` the digest of the passkey that delete-passkey removes (its list entry and its
        credential item). Raises :class:`UserNotFound` when the home no longer holds the account, and
        :class:`PasskeyNotFound` when it no longer lists the passkey.
        """
        account_id = found.account.id
        home = Update()
        home.require(f"{home.name('account')} = {home.value(account_id)}")
        writes = [(found.key, home)]
        if action is Action.LOCK:
            home.set(f"{home.name(STATUS)} = {home.value(LOCKED)}")
        if action is Action.UNLOCK:
            home.set(f"{home.name(STATUS)} = {home.value(ACTIVE)}")
        if action is Action.DELETE_MFA:
            home.remove(MFA)
        deletes: tuple[dict[str, Any], ...] = ()
        if action is Action.DELETE_PASSKEY:
            home.require(f"attribute_exists({home.name(PASSKEYS, passkey)})")
            home.remove(PASSKEYS, passkey)
            credential = Expression()
            deletes = (
                credential.params(
                    TableName=self._table,
                    Key={"pk": {"S": credential_key(passkey)}},
                    ConditionExpression=f"{credential.name(OWNER)} = {credential.value(account_id)}",
                ),
            )
        if action is Action.CLEAR_FAILURES:
            for name in FAILURE_FIELDS:
                home.remove(name)
            for key in linked:
                other = Update()
                # Only an item that is still this account's: clearing must not create or reach another's.
                other.require(f"{other.name(HOME_ACCOUNT)} = {other.value(account_id)}")
                for name in FAILURE_FIELDS:
                    other.remove(name)
                writes.append((key, other))
        else:
            # Every action but clearing failures ends every session: a locked, unlocked (so that nothing opened
            # before the lock comes back) or de-factored account signs in afresh.
            home.set(f"{home.name(SESSIONS)} = {home.value({})}")
        entry_id = str(uuid.uuid4())
        entry = AuditEntry(
            now_ms,
            actor.account_id,
            actor.hint,
            action.value,
            account_id,
            dict(found.account.identifiers),
            reason,
            request_id,
            f"{now_ms:013d}#{request_id}",
            passkey,
        )
        refused = transact(
            self._client, self._table, writes, puts=(self._audit_put(entry_id, entry),), token=entry_id, deletes=deletes
        )
        if refused is not None:
            home_was = refused[0]
            if (
                passkey
                and read_string(home_was, "account") == account_id
                and passkey not in read_map(home_was, PASSKEYS)
            ):
                raise PasskeyNotFound()  # removed meanwhile (by its owner, or another admin)
            # The home no longer holds the account, or a linked identifier was unlinked meanwhile: either way the
            # admin acted on what is no longer there and looks the account up again.
            raise UserNotFound()
        return entry

    def _audit_put(self, entry_id: str, entry: AuditEntry) -> dict[str, Any]:
        key = AUDIT_PREFIX + entry_id
        at = entry.at_ms // 1000
        values = {
            "pk": key,
            "v": 1,
            "audit_month": time.strftime("%Y-%m", time.gmtime(at)),
            "audit_at": entry.cursor,
            "at": entry.at_ms,
            "actor": entry.actor,
            "actor_hint": entry.actor_hint,
            "action": entry.action,
            "target": entry.target,
            "target_ids": self._sealer.seal(json.dumps(entry.target_identifiers), _target_context(key)),
            "reason": self._sealer.seal(entry.reason, _reason_context(key)),
            "request_id": entry.request_id,
            TTL: at + self._retention_seconds,
        }
        if entry.passkey:
            values["passkey"] = entry.passkey
        names = Expression()
        return names.params(
            TableName=self._table,
            Item={name: to_attribute(value) for name, value in values.items()},
            ConditionExpression=f"attribute_not_exists({names.name('pk')})",
        )

    # -- the audit trail ---------------------------------------------------------------------------------------

    def audit(self, limit: int, before: str | None, now: int) -> tuple[list[AuditEntry], str | None]:
        """Up to ``limit`` entries older than the cursor ``before`` (else the newest), newest first, and the
        cursor of the next page (None when there is none).

        A cursor later than now reads as now: a client whose clock runs ahead still pages. The index is read month
        by month back to the retention horizon, one query per month and at most :data:`AUDIT_MONTHS_PER_REQUEST`
        months: when those are read before ``limit`` entries are found, the next cursor is the start of the oldest
        month read, so a page may hold fewer entries than ``limit`` (even none) and still have a next one.
        """
        latest = f"{(now + 1) * 1000:013d}#"  # every entry of the current second is older than this
        # Both begin with 13 zero-padded digits, so they compare as their times do.
        cursor = min(before, latest) if before else latest
        entries: list[AuditEntry] = []
        horizon = _month(now - self._retention_seconds)
        month, months_read = _month(_newest_ms(cursor) // 1000), 0
        while len(entries) < limit and month >= horizon:
            if months_read == AUDIT_MONTHS_PER_REQUEST:
                return entries, cursor
            names = Expression()
            condition = (
                f"{names.name('audit_month')} = {names.value(month)} AND "
                f"{names.name('audit_at')} < {names.value(cursor)}"
            )
            with guarded("dynamodb"):
                answer = self._client.query(
                    **names.params(
                        TableName=self._table,
                        IndexName=AUDIT_INDEX,
                        KeyConditionExpression=condition,
                        ScanIndexForward=False,
                        Limit=limit - len(entries),
                    )
                )
            entries += [self._entry(item) for item in answer.get("Items", [])]
            # One query reads the month to its start, or fills the page (whose last entry's cursor is then the
            # next): it stops short only at 1 MB, and 100 entries of under 3.5 KB (docs/item-layout.md) are far less.
            cursor, month, months_read = f"{_month_start(month) * 1000:013d}#", _previous_month(month), months_read + 1
        # A full page may be the last one: the next then answers no entries.
        return entries, (entries[-1].cursor if len(entries) == limit else None)

    def _entry(self, item: Item) -> AuditEntry:
        key = read_string(item, "pk")
        try:
            reason = self._sealer.open(read_string(item, "reason"), _reason_context(key))
        except Sealed:
            reason = ""  # never shown wrong; the rest of the entry still stands
        try:
            identifiers = json.loads(self._sealer.open(read_string(item, "target_ids"), _target_context(key)))
        except Sealed:
            identifiers = {}  # an entry written before the identifiers were recorded, or one that does not open
        return AuditEntry(
            read_number(item, "at"),
            read_string(item, "actor"),
            read_string(item, "actor_hint"),
            read_string(item, "action"),
            read_string(item, "target"),
            identifiers,
            reason,
            read_string(item, "request_id"),
            read_string(item, "audit_at"),
            read_string(item, "passkey"),
        )


def valid_cursor(cursor: str) -> bool:
    return CURSOR.fullmatch(cursor) is not None


def _reason_context(key: str) -> str:
    # Bound to the entry's item and the field: a sealed reason copied onto another entry does not open.
    return f"{key}\x00reason"


def _target_context(key: str) -> str:
    return f"{key}\x00target_ids"


def _month(epoch: int) -> str:
    return time.strftime("%Y-%m", time.gmtime(max(0, epoch)))


def _newest_ms(cursor: str) -> int:
    """The time of the newest entry older than ``cursor`` can have: its own millisecond if it names a request (an
    entry of that millisecond with a smaller request id sorts before it), else the millisecond before."""
    at_ms = int(cursor[:13])
    return at_ms if cursor[14:] else at_ms - 1


def _month_start(month: str) -> int:
    """The epoch second ``month`` ("2026-12") begins, UTC."""
    return calendar.timegm((int(month[:4]), int(month[5:]), 1, 0, 0, 0))


def _previous_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"
