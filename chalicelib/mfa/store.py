"""Second factors on the account's home item: every rule about them is a condition of the write that uses them.

Attributes owned here (docs/item-layout.md has the bounds):

- ``mfa``: the active factor, ``{s: sealed TOTP secret, u: last time-step used, f/fw: failures in window fw,
  cf: consecutive failures, rc: {keyed digest of an unused recovery code: 1, ...}}``;
- ``mfa_p``: an enrollment not confirmed yet, ``{s: sealed secret, t: when}`` (one; a new one replaces it);
- in a session entry: ``a`` when the second factor was last proven, ``g`` the generation of its tokens (counted
  up by every upgrade, :mod:`chalicelib.accounts.sessions`) and ``t`` the tries made with its mfa_token.

Guessing is bounded without a read first: each try is *counted as a failure before it is compared*, in the write
that reserves it (window budget ``f``/``fw``, consecutive ``cf``, the mfa_token's ``t``), and a success clears
the counts in the write that spends the factor. So concurrent wrong codes can never be compared more often than
the budget allows, and a wrong code costs no second write. A TOTP code is spent by ``u < step`` and a recovery
code by removing its digest on condition that it is there: whichever of many concurrent submits lands first
wins, and every other one is refused by DynamoDB.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from chalicelib.accounts.store import generation_is
from chalicelib.aws.dependencies import DependencyError, guarded
from chalicelib.aws.writes import conditional_update
from chalicelib.config import Limits
from chalicelib.core.assurance import stepped_up_condition
from chalicelib.core.expressions import Item, Update, read_map, read_number, read_string
from chalicelib.core.refusals import InvalidMfaToken, MfaAlreadyEnabled, MfaNotEnabled, SessionRejected, Throttled
from chalicelib.core.schema import MFA, MFA_FAILS, MFA_FAILS_WINDOW, MFA_PENDING, SESSIONS
from chalicelib.core.windows import EmbeddedCount
from chalicelib.crypto import Sealer

CONSECUTIVE_CEILING = 100  # NIST SP 800-63B-4 §3.2.2: at most 100 consecutive failed attempts
WRITE_ATTEMPTS = 3


def seal_context(key: str) -> str:
    # The sealed secret opens only on the item it was sealed for, whether pending or active.
    return f"{key}\x00totp"


class TotpStep(NamedTuple):
    """Spend the time-step ``step`` of the factor whose sealed secret is ``sealed``."""

    step: int
    sealed: str


class RecoveryDigest(NamedTuple):
    digest: str


Spend = TotpStep | RecoveryDigest


def second_factor_budget(limits: Limits, now: int) -> EmbeddedCount:
    """Second-factor failures per account and fixed window, in ``mfa.f`` / ``mfa.fw``."""
    return EmbeddedCount(limits.mfa_failure_budget, now, (MFA,), MFA_FAILS, MFA_FAILS_WINDOW)


def _entry(item: Item, nonce: str) -> dict[str, Any] | None:
    entry = read_map(item, SESSIONS).get(nonce)
    return dict(entry.get("M", {})) if entry is not None else None


def plain(attribute: dict[str, Any]) -> Any:
    """A stored attribute value as the plain value :class:`Update` writes back."""
    if "N" in attribute:
        return int(attribute["N"])
    if "L" in attribute:
        return [plain(element) for element in attribute["L"]]
    if "M" in attribute:
        return {name: plain(value) for name, value in attribute["M"].items()}
    return attribute.get("S", "")


class MfaStore:
    def __init__(self, client: Any, table_name: str, sealer: Sealer, limits: Limits) -> None:
        self._client = client
        self._table = table_name
        self._sealer = sealer
        self._limits = limits

    # -- sealing -----------------------------------------------------------------------------------------

    def seal(self, key: str, secret: str) -> str:
        return self._sealer.seal(secret, seal_context(key))

    def open(self, key: str, sealed: str) -> str:
        return self._sealer.open(sealed, seal_context(key))

    # -- enrollment --------------------------------------------------------------------------------------

    def begin(self, key: str, secret: str, now: int) -> None:
        """Make ``secret`` the account's pending enrollment; raises :class:`MfaAlreadyEnabled`."""
        update = Update()
        update.require(f"attribute_exists({update.name('account')}) AND attribute_not_exists({update.name(MFA)})")
        update.set(f"{update.name(MFA_PENDING)} = {update.value({'s': self.seal(key, secret), 't': now})}")
        if not self._write(key, update)[0]:
            raise MfaAlreadyEnabled()

    def read(self, key: str) -> Item:
        """The whole home item, read consistently (confirming and removing a factor start from it)."""
        with guarded("dynamodb"):
            return self._client.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get(
                "Item", {}
            )

    def confirm(
        self,
        key: str,
        nonce: str,
        sealed: str,
        step: int,
        digests: list[str],
        entry: dict[str, Any],
        expect: str,
        now: int,
    ) -> tuple[bool, Item]:
        """Activate the pending secret ``sealed`` with ``step`` used, and make ``entry`` (the confirming
        session, upgraded) the account's only session; while the session still holds the refresh tag
        ``expect`` and no factor is active. The item as it stood if refused."""
        update = Update()
        a, v = update.name, update.value
        update.require(f"{a(MFA_PENDING, 's')} = {v(sealed)} AND attribute_not_exists({a(MFA)})")
        self._session_holds(update, nonce, expect, now)
        update.set(f"{a(MFA)} = {v({'s': sealed, 'u': step, 'rc': dict.fromkeys(digests, 1)})}")
        update.set(f"{a(SESSIONS)} = {v({nonce: entry})}")
        update.remove(MFA_PENDING)
        return self._write(key, update)

    # -- using the factor --------------------------------------------------------------------------------

    def reserve(
        self,
        key: str,
        nonce: str,
        totp: bool,
        now: int,
        pending_tag: str | None = None,
        seen: dict[str, Any] | None = None,
    ) -> Item:
        """Count one try as a failure before it is compared, and answer the item as it stood.

        With ``pending_tag`` (an mfa_token's), the session must still be that pending one, opened less than
        ``mfa_token_seconds`` ago, with tries left; without it (re-authentication), any live session. A TOTP
        try also needs fewer than :data:`CONSECUTIVE_CEILING` consecutive failures (a recovery code is how an
        account locked by that ceiling gets back in). Raises :class:`InvalidMfaToken`, ``SessionRejected``,
        :class:`MfaNotEnabled` or ``Throttled`` (the window's budget, or the ceiling).

        The count is written in one of two forms, a first try in the window or a further one; ``seen`` (the
        ``mfa`` map as last read, if any) picks the first attempt's, else a first try is assumed. A wrong guess
        costs one refused write more, never a wrong count: the condition checks the assumption.
        """
        budget = second_factor_budget(self._limits, now)
        fresh = seen is None or not budget.in_window(seen)
        for _ in range(WRITE_ATTEMPTS):
            update = Update()
            a, v = update.name, update.value
            if pending_tag is None:
                update.require(f"{a(SESSIONS, nonce, 'x')} > {v(now)}")
            else:
                tries = a(SESSIONS, nonce, "t")
                update.require(f"{a(SESSIONS, nonce, 'h')} = {v(pending_tag)}")
                update.require(f"{a(SESSIONS, nonce, 'c')} > {v(now - self._limits.mfa_token_seconds)}")
                update.require(f"attribute_not_exists({tries}) OR {tries} < {v(self._limits.mfa_attempts_per_token)}")
                update.set(f"{tries} = if_not_exists({tries}, {v(0)}) + {v(1)}")
            update.require(f"attribute_exists({a(MFA, 's')})")
            consecutive = a(MFA, "cf")
            if totp:
                update.require(f"attribute_not_exists({consecutive}) OR {consecutive} < {v(CONSECUTIVE_CEILING)}")
            update.set(f"{consecutive} = if_not_exists({consecutive}, {v(0)}) + {v(1)}")
            budget.count(update, fresh, limited=True)
            done, item = self._write(key, update, "ALL_OLD")
            if done:
                return item
            self._refused(item, nonce, totp, now, pending_tag, budget)
            fresh = not budget.in_window(read_map(item, MFA))  # only the window's assumption was wrong
        raise DependencyError("dynamodb", True, "the second-factor count kept changing under concurrent tries")

    def _refused(
        self, item: Item, nonce: str, totp: bool, now: int, pending_tag: str | None, budget: EmbeddedCount
    ) -> None:
        entry, mfa = _entry(item, nonce), read_map(item, MFA)
        if pending_tag is not None:
            if (
                entry is None
                or read_string(entry, "h") != pending_tag
                or "s" not in mfa
                or read_number(entry, "c") <= now - self._limits.mfa_token_seconds
                or read_number(entry, "t") >= self._limits.mfa_attempts_per_token
            ):
                raise InvalidMfaToken()
        elif entry is None or read_number(entry, "x") <= now:
            raise SessionRejected("session ended")
        elif "s" not in mfa:
            raise MfaNotEnabled()
        if budget.spent(mfa) or (totp and read_number(mfa, "cf") >= CONSECUTIVE_CEILING):
            raise Throttled("too_many_second_factor_failures", budget.seconds_left)

    def spend(
        self, key: str, nonce: str, spend: Spend, expect: str, entry_changes: Callable[[Update], None]
    ) -> tuple[bool, Item]:
        """Spend the factor and change the session entry in one write, clearing the failure counts; while the
        entry still holds the refresh tag ``expect``. The item as it stood if refused."""
        update = Update()
        a, v = update.name, update.value
        update.require(f"{a(SESSIONS, nonce, 'h')} = {v(expect)}")
        if isinstance(spend, TotpStep):
            used = a(MFA, "u")
            update.require(f"{a(MFA, 's')} = {v(spend.sealed)}")
            update.require(f"attribute_not_exists({used}) OR {used} < {v(spend.step)}")
            update.set(f"{used} = {v(spend.step)}")
        else:
            update.require(f"attribute_exists({a(MFA, 'rc', spend.digest)})")
            update.remove(MFA, "rc", spend.digest)
        # Zero rather than removed: the window ``fw`` stays, so concurrent tries keep counting in one form.
        update.set(f"{a(MFA, 'f')} = {v(0)}, {a(MFA, 'cf')} = {v(0)}")
        entry_changes(update)
        return self._write(key, update)

    # -- step-up actions ---------------------------------------------------------------------------------

    def disable(
        self, key: str, nonce: str, entry: dict[str, Any], expect: str, now: int, generation: int
    ) -> tuple[bool, Item]:
        """Remove the factor (and any pending enrollment) and keep ``entry`` as the account's only session,
        while that session is stepped up at ``generation`` and still holds ``expect``."""
        update = Update()
        update.require(f"attribute_exists({update.name(MFA, 's')})")
        self._session_holds(update, nonce, expect, now)
        self._stepped_up(update, nonce, now, generation)
        update.set(f"{update.name(SESSIONS)} = {update.value({nonce: entry})}")
        update.remove(MFA)
        update.remove(MFA_PENDING)
        return self._write(key, update)

    def replace_codes(self, key: str, nonce: str, digests: list[str], now: int, generation: int) -> tuple[bool, Item]:
        """Make ``digests`` the account's recovery codes, while the session is stepped up at ``generation``."""
        update = Update()
        update.require(f"attribute_exists({update.name(MFA, 's')})")
        update.require(f"{update.name(SESSIONS, nonce, 'x')} > {update.value(now)}")
        self._stepped_up(update, nonce, now, generation)
        update.set(f"{update.name(MFA, 'rc')} = {update.value(dict.fromkeys(digests, 1))}")
        return self._write(key, update)

    # -- plumbing ----------------------------------------------------------------------------------------

    @staticmethod
    def _session_holds(update: Update, nonce: str, expect: str, now: int) -> None:
        update.require(f"{update.name(SESSIONS, nonce, 'h')} = {update.value(expect)}")
        update.require(f"{update.name(SESSIONS, nonce, 'x')} > {update.value(now)}")

    def _stepped_up(self, update: Update, nonce: str, now: int, generation: int) -> None:
        """The step-up rule as a condition on the server's own entry, at the generation of the caller's token (so
        the entry's ``amr`` and ``a`` are the ones the token itself claims: an upgrade meanwhile refuses it)."""
        update.require(stepped_up_condition(update, (SESSIONS, nonce), now, self._limits.step_up_seconds))
        update.require(generation_is(update, nonce, generation))

    def _write(self, key: str, update: Update, returns: str = "NONE") -> tuple[bool, Item]:
        return conditional_update(self._client, self._table, key, update, returns)
