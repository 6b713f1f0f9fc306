"""What an admin can learn about an account and do to it; free of HTTP and of boto3.

An account card is read with at most three consistent reads (the identifier or index, the home, a linked
identifier's item); an action is one transaction with its audit entry (:mod:`chalicelib.admin.store`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import NamedTuple

from chalicelib.accounts.identifiers import Identifier
from chalicelib.accounts.passkeys import Passkey
from chalicelib.admin.actions import Action
from chalicelib.admin.store import Actor, AdminStore, AuditEntry, Found
from chalicelib.config import Limits
from chalicelib.core.assurance import Factors
from chalicelib.core.expressions import read_map
from chalicelib.core.refusals import CannotLockSelf, PasskeyNotFound, UserNotFound
from chalicelib.core.schema import PASSKEYS
from chalicelib.crypto import KeyedHasher
from chalicelib.otp.store import failure_budget

Clock = Callable[[], float]


class IdentifierState(NamedTuple):
    """One identifier of an account and its failure ceiling in the current window."""

    kind: str
    value: str
    failures: int
    limit: int
    resets_in: int


class UserCard(NamedTuple):
    id: str
    status: str
    created_at: int
    last_sign_in_at: int
    identifiers: list[IdentifierState]
    factors: list[str]
    recovery_codes_left: int
    live_sessions: int
    passkeys: list[Passkey]


class AdminService:
    def __init__(self, store: AdminStore, hasher: KeyedHasher, limits: Limits, clock: Clock = time.time) -> None:
        self._store = store
        self._hasher = hasher
        self._limits = limits
        self._clock = clock

    def find_by_id(self, account_id: str) -> UserCard | None:
        found = self._store.home_by_id(account_id)
        return self._card(found) if found else None

    def find_by_identifier(self, identifier: Identifier) -> UserCard | None:
        found = self._store.home(self._hasher.subject_key(identifier.kind, identifier.value))
        return self._card(found) if found else None

    def act(
        self, action: Action, account_id: str, actor: Actor, reason: str, request_id: str, passkey: str = ""
    ) -> AuditEntry:
        """Apply ``action`` to the account and record it (one transaction); ``passkey``: the id of the passkey
        that delete-passkey removes. Raises :class:`UserNotFound`, :class:`PasskeyNotFound` for a passkey the
        account does not list and, for an admin locking their own account, :class:`CannotLockSelf`."""
        if action is Action.LOCK and account_id == actor.account_id:
            raise CannotLockSelf()
        found = self._store.home_by_id(account_id)
        if found is None:
            raise UserNotFound()
        if action is Action.DELETE_PASSKEY and passkey not in read_map(found.item, PASSKEYS):
            raise PasskeyNotFound()
        linked = [key for key in self._identifier_keys(found) if key != found.key]
        return self._store.act(
            action, found, linked, actor, reason, request_id, int(self._clock() * 1000), passkey=passkey
        )

    def audit(self, limit: int, before: str | None) -> tuple[list[AuditEntry], str | None]:
        return self._store.audit(limit, before, int(self._clock()))

    def _identifier_keys(self, found: Found) -> list[str]:
        return [self._hasher.subject_key(kind, value) for kind, value in sorted(found.account.identifiers.items())]

    def _card(self, found: Found) -> UserCard:
        now = int(self._clock())
        budget = failure_budget(self._limits, now)
        states = []
        for (kind, value), key in zip(
            sorted(found.account.identifiers.items()), self._identifier_keys(found), strict=True
        ):
            item = found.item if key == found.key else self._store.read(key)
            failures = budget.current(item)
            states.append(IdentifierState(kind, value, failures, budget.limit, budget.seconds_left if failures else 0))
        factors, codes_left = _factors(found)
        account = found.account
        return UserCard(
            account.id,
            account.status,
            account.created_at,
            account.last_sign_in_at,
            states,
            factors,
            codes_left,
            self._store.live_sessions(found, now),
            self._store.passkeys(found),
        )


def _factors(found: Found) -> tuple[list[str], int]:
    """The second factors on the home's ``mfa`` map, as two-step sign-in reads them."""
    factors = Factors.of(read_map(found.item, "mfa"))
    return (factors.available() if factors.active else []), factors.recovery_codes_left
