"""The DynamoDB store: every rule of the security model that needs shared state is a write condition here.

One item per address (``pk = addr#<keyed digest of the address>``) holds the live code's digest, its expiry,
the guesses made at it, the resend cooldown and the fixed-window counters of sends and failures; one item per
source IP and window holds that IP's send count. Counters are attributes named after their window
(``sends@<n>``, ``fails@<n>``) so that a new window starts from zero without reading the old one first.

Round trips: a send is one ``TransactWriteItems`` (address + IP); a verify is one conditional ``UpdateItem``
that reserves a guess before the guess is compared, so concurrent guesses can never exceed the per-code limit.
A wrong guess costs a second write (the failure budget); so does a right one that must clear earlier failures.
"""

from __future__ import annotations

import enum
import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.accounts.session_store import SESSIONS, NewSession, expired_sessions
from chalicelib.aws.dependencies import CONDITION_FAILED, DependencyError, guarded
from chalicelib.aws.expressions import Counter, Expression, Item, read_number
from chalicelib.config import Limits

TRANSACTION_ATTEMPTS = 3
TRANSACTION_CANCELLED = frozenset({"TransactionCanceledException"})


class Throttled(Exception):
    """A rate limit refused the request; the caller may try again after ``retry_after`` seconds."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = max(1, retry_after)


class GuessResult(enum.Enum):
    RIGHT = "right"
    WRONG = "wrong"


@dataclass(frozen=True)
class SendTicket:
    """One send: what :meth:`CodeStore.record_send` writes and :meth:`CodeStore.undo_send` takes back."""

    address_key: str
    ip_key: str | None
    code_digest: str
    now: int


def _replays_used_code(item: Item, guess_digest: str) -> bool:
    """Whether the guess is the code that was already used: only its rightful holder can present it."""
    code, last = item.get("code", {}).get("S"), item.get("last_guess", {}).get("S")
    return code is not None and code == last and hmac.compare_digest(code, guess_digest)


def _holds_session(item: Item, session_id: str) -> bool:
    return session_id in item.get(SESSIONS, {}).get("M", {})


class CodeStore:
    """Codes, guesses and rate limits in one DynamoDB table (partition key ``pk``, TTL on ``expires_at``)."""

    def __init__(
        self, client: Any, table_name: str, limits: Limits, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._client = client
        self._table = table_name
        self._limits = limits
        self._sleep = sleep

    # -- sending -----------------------------------------------------------------------------------------

    def record_send(self, ticket: SendTicket) -> None:
        """Make the ticket's code the address's only live code, if every send limit allows it.

        Raises :class:`Throttled` (cooldown, address quota, IP quota, exhausted failure budget) without
        changing anything.
        """
        limits = self._limits
        address_key, code_digest, now = ticket.address_key, ticket.code_digest, ticket.now
        sends = Counter("sends", limits.sends_per_address, now)
        fails = Counter("fails", limits.failure_budget, now)
        expr = Expression()
        sessions = expr.name(SESSIONS)
        condition = " AND ".join(
            [
                f"(attribute_not_exists(sent_at) OR sent_at <= {expr.value(now - limits.resend_cooldown_seconds)})",
                expr.below_limit(sends),
                expr.below_limit(fails),
            ]
        )
        update = (
            f"SET code = {expr.value(code_digest)}, code_expires_at = {expr.value(now + limits.code_ttl_seconds)}, "
            f"guesses = {expr.value(0)}, prev_sent_at = if_not_exists(sent_at, {expr.value(0)}), "
            f"sent_at = {expr.value(now)}, {expr.increment(sends.current)}, "
            f"{sessions} = if_not_exists({sessions}, {expr.value({})}), "
            f"expires_at = {expr.value(now + limits.retention_seconds)} "
            f"REMOVE last_guess, {expr.name(sends.previous)}, {expr.name(fails.previous)}"
        )
        items = [self._update(address_key, expr, update, condition)]
        ip = self._ip_counter(ticket)
        if ip:
            items.append(self._ip_update(ticket.ip_key, ip, now))
        reasons = self._transact(items)
        if reasons is not None:
            raise self._send_refusal(reasons, now, sends, fails, ip)

    def undo_send(self, ticket: SendTicket) -> None:
        """Take back a send whose mail never left: no live code, cooldown and quotas as they were.

        Does nothing if the ticket's code is not the live one: the send never landed, or a newer one replaced it.
        """
        limits = self._limits
        sends = Counter("sends", limits.sends_per_address, ticket.now)
        expr = Expression()
        update = (
            f"SET sent_at = prev_sent_at, {expr.increment(sends.current, -1)} "
            "REMOVE code, code_expires_at, guesses, last_guess"
        )
        items = [self._update(ticket.address_key, expr, update, f"code = {expr.value(ticket.code_digest)}")]
        ip = self._ip_counter(ticket)
        if ip:
            ip_expr = Expression()
            items.append(self._update(ticket.ip_key, ip_expr, f"SET {ip_expr.increment(ip.current, -1)}"))
        self._transact(items)

    def _ip_counter(self, ticket: SendTicket) -> Counter | None:
        if not (ticket.ip_key and self._limits.sends_per_ip.enabled):
            return None
        return Counter("sends", self._limits.sends_per_ip, ticket.now)

    def _ip_update(self, ip_key: str, counter: Counter, now: int) -> dict[str, Any]:
        expr = Expression()
        update = (
            f"SET {expr.increment(counter.current)}, expires_at = {expr.value(now + counter.seconds_left)} "
            f"REMOVE {expr.name(counter.previous)}"
        )
        return self._update(ip_key, expr, update, expr.below_limit(counter))

    def _send_refusal(
        self, reasons: list[Item], now: int, sends: Counter, fails: Counter, ip: Counter | None
    ) -> Throttled:
        address, ip_item = reasons[0], reasons[1] if len(reasons) > 1 else {}
        if fails.exhausted(address):
            return Throttled("too_many_failures", fails.seconds_left)
        if sends.exhausted(address):
            return Throttled("send_quota_exceeded", sends.seconds_left)
        if ip is not None and ip.exhausted(ip_item):
            return Throttled("ip_quota_exceeded", ip.seconds_left)
        next_send = read_number(address, "sent_at") + self._limits.resend_cooldown_seconds
        return Throttled("resend_cooldown", next_send - now)

    # -- verifying ---------------------------------------------------------------------------------------

    def check_guess(self, address_key: str, guess_digest: str, now: int, session: NewSession) -> GuessResult:
        """Spend one guess on the address's live code and say whether it was right.

        A right guess consumes the code, opens ``session`` and clears the failure budget; a wrong one, or one
        made when there is no live code to guess (none requested, expired, used, replaced, out of guesses),
        counts against the budget. Raises :class:`Throttled` once the budget is spent, whether or not a code
        was ever requested.

        The session is written in the same write that reserves the guess, before anyone knows whether the
        guess is right, so that a right guess costs one write; a wrong guess's second write removes it again.
        Its id and refresh token exist only in this process until the guess proves right.
        """
        limits = self._limits
        fails = Counter("fails", limits.failure_budget, now)
        expr = Expression()
        condition = " AND ".join(
            [
                f"code_expires_at > {expr.value(now)}",
                f"guesses < {expr.value(limits.max_guesses_per_code)}",
                "(attribute_not_exists(last_guess) OR last_guess <> code)",
                expr.below_limit(fails),
            ]
        )
        update = (
            f"SET guesses = guesses + {expr.value(1)}, last_guess = {expr.value(guess_digest)}, "
            f"{expr.name(SESSIONS, session.session_id)} = {expr.value(session.attribute())}, "
            f"expires_at = {expr.value(now + limits.retention_seconds)}"
        )
        try:
            with guarded("dynamodb", expected=CONDITION_FAILED):
                before = self._client.update_item(
                    **self._update(address_key, expr, update, condition), ReturnValues="ALL_OLD"
                )["Attributes"]
        except ClientError as refused:
            before = refused.response.get("Item", {})
            if _holds_session(before, session.session_id):
                # botocore retried a write whose answer was lost but which had landed: this very request's
                # session is there. The guess was compared then; compare it now against what it found.
                return self._after_landed_retry(address_key, before, guess_digest, fails, session, now)
            if fails.exhausted(before):
                raise Throttled("too_many_failures", fails.seconds_left) from None
            if _replays_used_code(before, guess_digest):
                return GuessResult.WRONG  # a double submit of the code that just signed in: refused, not a guess
            self._record_failure(address_key, fails, now)
            return GuessResult.WRONG
        if hmac.compare_digest(before["code"]["S"], guess_digest):
            self._tidy_after_sign_in(address_key, before, now)
            return GuessResult.RIGHT
        self._record_failure(address_key, fails, now, discard_session=session.session_id)
        return GuessResult.WRONG

    def _after_landed_retry(
        self, address_key: str, after: Item, guess_digest: str, fails: Counter, session: NewSession, now: int
    ) -> GuessResult:
        if hmac.compare_digest(after.get("code", {}).get("S", ""), guess_digest):
            self._tidy_after_sign_in(address_key, after, now)
            return GuessResult.RIGHT
        self._record_failure(address_key, fails, now, discard_session=session.session_id)
        return GuessResult.WRONG

    def reopen_code(self, address_key: str, guess_digest: str, session_id: str) -> None:
        """Undo a right guess whose session could not be handed out: the code is live again, the session gone."""
        expr = Expression()
        update = (
            f"SET guesses = guesses - {expr.value(1)} "
            f"REMOVE last_guess, {expr.name(SESSIONS, session_id)}"
        )
        condition = f"last_guess = {expr.value(guess_digest)}"
        try:
            with guarded("dynamodb", expected=CONDITION_FAILED):
                self._client.update_item(**self._update(address_key, expr, update, condition))
        except ClientError:
            pass  # a newer send or guess has moved on: nothing of ours is left to undo

    def _record_failure(self, address_key: str, fails: Counter, now: int, discard_session: str = "") -> None:
        expr = Expression()
        removals = [expr.name(fails.previous)]
        if discard_session:
            removals.append(expr.name(SESSIONS, discard_session))
        update = (
            f"SET {expr.increment(fails.current)}, expires_at = {expr.value(now + self._limits.retention_seconds)} "
            f"REMOVE {', '.join(removals)}"
        )
        with guarded("dynamodb"):
            self._client.update_item(**self._update(address_key, expr, update))

    def _tidy_after_sign_in(self, address_key: str, before: Item, now: int) -> None:
        """Clear the failure budget and drop expired sessions, in one write, when there is anything to do."""
        expr = Expression()
        removals = [expr.name(name) for name in before if name.startswith("fails@")]
        removals += [expr.name(SESSIONS, sid) for sid in expired_sessions(before, now)]
        if removals:
            with guarded("dynamodb"):
                self._client.update_item(**self._update(address_key, expr, "REMOVE " + ", ".join(removals)))

    # -- plumbing ----------------------------------------------------------------------------------------

    def _update(self, key: str, expr: Expression, update: str, condition: str | None = None) -> dict[str, Any]:
        extra: dict[str, Any] = {"ConditionExpression": condition} if condition else {}
        if condition:
            extra["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return expr.params(
            TableName=self._table, Key={"pk": {"S": key}}, UpdateExpression=update, **extra
        )

    def _transact(self, updates: list[dict[str, Any]]) -> list[Item] | None:
        """Run the updates atomically; ``None`` when done, else the old items (``{}`` where absent) of a refusal.

        Transactions touching a busy item are cancelled with ``TransactionConflict``; those are retried.
        """
        for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
            try:
                with guarded("dynamodb", expected=TRANSACTION_CANCELLED):
                    self._client.transact_write_items(TransactItems=[{"Update": u} for u in updates])
                return None
            except ClientError as cancelled:
                reasons = cancelled.response.get("CancellationReasons", [])
                codes = {str(reason.get("Code")) for reason in reasons}
                if "ConditionalCheckFailed" in codes:
                    return [reason.get("Item", {}) for reason in reasons]
                if not codes <= {"TransactionConflict", "None"} or attempt == TRANSACTION_ATTEMPTS:
                    detail = f"transaction cancelled: {', '.join(sorted(codes))}"
                    raise DependencyError("dynamodb", "ValidationError" not in codes, detail) from cancelled
                self._sleep(0.05 * attempt)
        raise AssertionError("unreachable: the last attempt returns or raises")
