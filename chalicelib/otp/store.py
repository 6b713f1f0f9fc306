"""The code store: every rule of the security model about codes is a write condition here.

One item per identifier (``pk = email#<keyed digest>``) holds the live code's digest, its expiry, the guesses
made at it, the resend cooldown and the failure budget's count for its window (``fails`` and the window it
counts, ``fails_w``: two fixed attributes, so the budget never grows the item). The same item is the home of
the account the identifier created, if any (:mod:`chalicelib.accounts.store` owns those attributes). Send
quotas are counted in items of their own, one per subject and window (:class:`WindowCounter`), which TTL
removes when their window ends.

Failed verifies are also counted per source network, and per source network and identifier, in counter items
of their own (read alongside each guess, :meth:`CodeStore.check_guess`), so a stranger spends only their own
network's budgets; the identifier's ``fails`` is the ceiling over all of them, counted at live codes only.

Round trips: a send is one ``TransactWriteItems`` (identifier, its send counter, the source network's); a
verify is one conditional ``UpdateItem`` that reserves a guess and opens the session before the guess is
compared, so concurrent guesses can never exceed the per-code limit, and a right guess needs nothing more in
sequence (the network's budgets are read alongside). A wrong guess costs a second write (the ceiling, taking its
session out again) with the network's counters written alongside.
"""

from __future__ import annotations

import enum
import hmac
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

from chalicelib.accounts.identifiers import PHONE
from chalicelib.accounts.store import AccountStore, NewSession
from chalicelib.aws.dependencies import DependencyError, guarded
from chalicelib.aws.writes import conditional_update, transact
from chalicelib.config import Limits
from chalicelib.core.expressions import Item, Update, read_number, read_string
from chalicelib.core.refusals import Throttled
from chalicelib.core.schema import FAILS, FAILS_WINDOW
from chalicelib.core.windows import EmbeddedCount, WindowCounter
from chalicelib.otp.codes import code_ttl, resend_cooldown

logger = logging.getLogger(__name__)

WRITE_ATTEMPTS = 3
STAGE_SMS = "stage#sms"  # the subject of the stage-wide SMS budget
NO_SESSION = "-"  # a session nonce no session has (nonces are base64url of 8 random bytes, 11 characters)
# Reads made alongside a write rather than before it (one per verify): a few threads per container.
_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="otp-gate")


class GuessResult(enum.Enum):
    RIGHT = "right"
    WRONG = "wrong"
    REPLAYED = "replayed"  # the code that was already used, presented again: wrong, but no one's failure


class Guess(NamedTuple):
    result: GuessResult
    before: Item  # the item as the guess found it (with the guess's own session if its write was retried)


class SendTicket(NamedTuple):
    """One send: what :meth:`CodeStore.record_send` writes and :meth:`CodeStore.undo_send` takes back.

    A text message also names the number's block (``prefix_key``) and ``country``, which have quotas of their own.
    """

    identifier_key: str
    kind: str
    network_key: str | None
    code_digest: str
    now: int
    prefix_key: str | None = None
    country: str = ""


class Quota(NamedTuple):
    """One send quota of a ticket: its counter item and the answer when it is spent."""

    reason: str
    counter: WindowCounter
    subject_key: str

    @property
    def key(self) -> str:
        return self.counter.key(self.subject_key)


def failure_budget(limits: Limits, now: int) -> EmbeddedCount:
    """Failed codes per identifier and fixed window, in the identifier item's ``fails`` / ``fails_w``."""
    return EmbeddedCount(limits.failure_budget, now, (), FAILS, FAILS_WINDOW)


class CodeStore:
    """Codes, guesses and rate limits in one DynamoDB table (partition key ``pk``, TTL on ``expires_at``)."""

    def __init__(
        self,
        client: Any,
        table_name: str,
        limits: Limits,
        accounts: AccountStore,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._client = client
        self._table = table_name
        self._limits = limits
        self._accounts = accounts
        self._sleep = sleep

    # -- sending -----------------------------------------------------------------------------------------

    def record_send(self, ticket: SendTicket) -> None:
        """Make the ticket's code the identifier's only live code, if every send limit allows it.

        Raises :class:`Throttled` without changing anything. The answer names the first limit spent in this
        order: those that are not about the identifier (for a text: the stage's budget, the country's, the
        number block's, then the source network's), the failure budget, the identifier's quotas, its cooldown.
        """
        limits, now = self._limits, ticket.now
        cooldown = resend_cooldown(limits, ticket.kind)
        fails = failure_budget(limits, now)
        update = Update()
        a, v = update.name, update.value
        update.require(f"attribute_not_exists({a('sent_at')}) OR {a('sent_at')} <= {v(now - cooldown)}")
        update.require(fails.left(update))
        update.set(f"{a('code')} = {v(ticket.code_digest)}")
        update.set(f"{a('code_expires_at')} = {v(now + code_ttl(limits, ticket.kind))}")
        update.set(f"{a('guesses')} = {v(0)}")
        update.set(f"{a('prev_sent_at')} = if_not_exists({a('sent_at')}, {v(0)})")
        update.set(f"{a('sent_at')} = {v(now)}")
        update.keep_until(now + self._limits.retention_seconds)
        update.remove("last_guess")
        self._accounts.prepare(update)
        others, own = self._quotas(ticket)
        quotas = [*others, *own]
        reasons = transact(
            self._client,
            self._table,
            [(ticket.identifier_key, update), *((q.key, q.counter.count_one()) for q in quotas)],
            self._sleep,
        )
        if reasons is None:
            return
        found = dict(zip((q.key for q in quotas), reasons[1:], strict=True))
        for quota in others:
            if quota.counter.exhausted(found[quota.key]):
                raise Throttled(quota.reason, quota.counter.seconds_left)
        if fails.spent(reasons[0]):
            raise Throttled("too_many_failures", fails.seconds_left)
        for quota in own:
            if quota.counter.exhausted(found[quota.key]):
                raise Throttled(quota.reason, quota.counter.seconds_left)
        raise Throttled("resend_cooldown", read_number(reasons[0], "sent_at") + cooldown - now)

    def undo_send(self, ticket: SendTicket) -> None:
        """Take back a send whose message never left: no live code, cooldown and quotas as they were.

        Does nothing if the ticket's code is not the live one: the send never landed, or a newer one replaced it.
        """
        update = Update()
        a = update.name
        update.require(f"{a('code')} = {update.value(ticket.code_digest)}")
        update.set(f"{a('sent_at')} = {a('prev_sent_at')}")
        for name in ("code", "code_expires_at", "guesses", "last_guess"):
            update.remove(name)
        others, own = self._quotas(ticket)
        transact(
            self._client,
            self._table,
            [(ticket.identifier_key, update), *((q.key, q.counter.count_one(-1)) for q in (*others, *own))],
            self._sleep,
        )

    def _quotas(self, ticket: SendTicket) -> tuple[list[Quota], list[Quota]]:
        """The ticket's quotas: those not about the identifier, in the order they are answered, and its own.

        Texts have quotas of their own on every axis SMS pumping moves along: the whole stage (a daily budget
        that refuses before the AWS account's spend limit silently drops texts), a country, a block of numbers,
        a source network, and the number itself over two windows. Email sends count per network and address.
        """
        limits, now = self._limits, ticket.now
        if ticket.kind == PHONE:
            others = [Quota("sms_budget_exceeded", WindowCounter("sms", limits.sms_budget, now), STAGE_SMS)]
            if limits.sms_sends_per_country.enabled:
                counter = WindowCounter("sms", limits.sms_sends_per_country, now)
                others.append(Quota("country_quota_exceeded", counter, f"country#{ticket.country}"))
            if limits.sms_sends_per_prefix.enabled and ticket.prefix_key:
                counter = WindowCounter("sms", limits.sms_sends_per_prefix, now)
                others.append(Quota("prefix_quota_exceeded", counter, ticket.prefix_key))
            network, window = "sms", limits.sms_sends_per_ip
            own = [
                Quota(
                    "send_quota_exceeded",
                    WindowCounter("sends", limits.sms_sends_per_number, now),
                    ticket.identifier_key,
                ),
                Quota(
                    "send_quota_exceeded",
                    WindowCounter("sends_d", limits.sms_sends_per_number_daily, now),
                    ticket.identifier_key,
                ),
            ]
        else:
            others, network, window = [], "sends", limits.sends_per_ip
            own = [
                Quota(
                    "send_quota_exceeded", WindowCounter("sends", limits.sends_per_address, now), ticket.identifier_key
                )
            ]
        if window.enabled and ticket.network_key:
            others.append(Quota("ip_quota_exceeded", WindowCounter(network, window, now), ticket.network_key))
        return others, own

    # -- verifying ---------------------------------------------------------------------------------------

    def check_guess(
        self, key: str, guess_digest: str, now: int, session: NewSession, network_key: str | None = None
    ) -> Guess:
        """Spend one guess on the identifier's live code and say whether it was right.

        A right guess consumes the code and opens ``session`` (the caller settles the account). A wrong one
        counts against the source network's budgets (per identifier, and across identifiers) and, if it was
        made at a live code, against the identifier's ceiling; a guess when there is no live code to guess
        (none requested, expired, used, replaced, out of guesses) counts against the network's budgets only,
        and writes nothing to the identifier. Raises :class:`Throttled`: the network's budget across
        identifiers first, whatever the identifier's state, then its budget for this identifier, then the
        identifier's ceiling.

        The network's budgets are read alongside the guess's own write, not before it, so a right code still
        costs one write in sequence; a guess from a network over its budget is withdrawn again.
        """
        gate = _POOL.submit(self._network_gate, key, network_key, now) if network_key else None
        for attempt in (1, 2):
            reserved, before = conditional_update(
                self._client, self._table, key, self._reservation(guess_digest, now, session), "ALL_OLD"
            )
            if not reserved:
                if self._accounts.session_opened(before, session.nonce):
                    # botocore retried a write whose answer was lost but which had landed: this very request's
                    # session is there. The guess was compared then; compare it now against what it found.
                    return self._compared(key, before, guess_digest, session, now, network_key, gate)
                refusal = _refusal(gate)
                if refusal is not None:
                    self._record_failure(key, before, now, network_key)
                    raise refusal
                if failure_budget(self._limits, now).spent(before):
                    raise Throttled("too_many_failures", failure_budget(self._limits, now).seconds_left)
                if _replays_used_code(before, guess_digest):
                    return Guess(GuessResult.REPLAYED, before)  # e.g. a double submit of the code that signed in
                if attempt == 1 and self._guessable(before, now) and self._accounts.is_full(before):
                    self._accounts.make_room(key, before, now)  # only after faults left speculative sessions
                    continue
                self._record_failure(key, before, now, network_key)
                return Guess(GuessResult.WRONG, before)
            return self._compared(key, before, guess_digest, session, now, network_key, gate)
        raise AssertionError("unreachable: the second attempt returns")

    def _network_gate(self, key: str, network_key: str, now: int) -> Throttled | None:
        """Whether the source network has spent a verify budget (an eventually consistent read of both)."""
        across, pair = self._failure_counters(now)
        keys = {across.key(network_key): across, pair.key(f"{network_key}/{key}"): pair}
        request = {
            "Keys": [{"pk": {"S": k}} for k in keys],
            "ProjectionExpression": "pk, #n",
            "ExpressionAttributeNames": {"#n": "n"},
        }
        with guarded("dynamodb"):
            answer = self._client.batch_get_item(RequestItems={self._table: request})
        if answer.get("UnprocessedKeys"):
            raise DependencyError("dynamodb", True, "the network's budgets could not be read")
        found = {item["pk"]["S"]: item for item in answer.get("Responses", {}).get(self._table, [])}
        # Across identifiers first: that answer tells nothing about this one.
        if across.exhausted(found.get(across.key(network_key), {})):
            return Throttled("ip_failure_quota_exceeded", across.seconds_left)
        if pair.exhausted(found.get(pair.key(f"{network_key}/{key}"), {})):
            return Throttled("too_many_failures", pair.seconds_left)
        return None

    def _failure_counters(self, now: int) -> tuple[WindowCounter, WindowCounter]:
        return (
            WindowCounter("fails", self._limits.failures_per_ip, now),
            WindowCounter("fails", self._limits.failures_per_ip_and_address, now),
        )

    def _reservation(self, guess_digest: str, now: int, session: NewSession) -> Update:
        update = Update()
        a, v = update.name, update.value
        update.require(f"{a('code_expires_at')} > {v(now)}")
        update.require(f"{a('guesses')} < {v(self._limits.max_guesses_per_code)}")
        update.require(code_unused(update))
        update.require(failure_budget(self._limits, now).left(update))
        update.set(f"{a('guesses')} = {a('guesses')} + {v(1)}")
        update.set(f"{a('last_guess')} = {v(guess_digest)}")
        self._accounts.open_speculatively(update, session)
        return update

    def _guessable(self, item: Item, now: int) -> bool:
        code = read_string(item, "code")
        return (
            bool(code)
            and read_number(item, "code_expires_at") > now
            and read_number(item, "guesses") < self._limits.max_guesses_per_code
            and read_string(item, "last_guess") != code
        )

    def _compared(
        self,
        key: str,
        before: Item,
        guess_digest: str,
        session: NewSession,
        now: int,
        network_key: str | None,
        gate: Future[Throttled | None] | None,
    ) -> Guess:
        """Compare a guess whose write landed. From a network over its budget, a right guess is given back
        (the code stays live for its owner elsewhere) and a wrong one counts as any other; both answer 429."""
        right = hmac.compare_digest(read_string(before, "code"), guess_digest)
        refusal = _refusal(gate)
        if right and refusal is None:
            return Guess(GuessResult.RIGHT, before)
        if right:
            self.withdraw_guess(key, guess_digest, session.nonce)
        else:
            self._record_failure(key, before, now, network_key, discard=session.nonce)
        if refusal is not None:
            raise refusal
        return Guess(GuessResult.WRONG, before)

    def failures_cleared(self, before: Item, now: int) -> Callable[[Update], None] | None:
        """Clauses that clear the failure budget after a right guess, if this window counted any failure."""
        budget = failure_budget(self._limits, now)
        return budget.clear if budget.current(before) else None

    def withdraw_guess(self, key: str, guess_digest: str, nonce: str) -> None:
        """Take back a right guess whose session is not handed out (signing failed, or its network is over
        budget): the session goes, and the guess is given back (the code is live again) while it is still the
        last one made. Keyed on the guess's own session, so nothing of it is left behind whatever came since.
        """
        give_back = True
        for _ in range(WRITE_ATTEMPTS):
            update = Update()
            self._accounts.discard_speculative(update, nonce)
            if give_back:
                a = update.name
                update.require(f"{a('last_guess')} = {update.value(guess_digest)}")
                update.set(f"{a('guesses')} = {a('guesses')} - {update.value(1)}")
                update.remove("last_guess")
            done, found = conditional_update(self._client, self._table, key, update)
            if done or not self._accounts.session_opened(found, nonce):
                return  # taken back, or nothing of this guess is left to take back
            give_back = False  # a newer send or guess has moved on: take only the session out

    def _record_failure(self, key: str, before: Item, now: int, network_key: str | None, discard: str = "") -> None:
        """Count a failure against the network's budgets and, for a guess at a live code (``discard``: its
        speculative session, taken out again in the same write), against the identifier's ceiling.

        The network's counters are their own items, written alongside (a transaction on the identifier's item
        would make DynamoDB refuse every other write to it while it runs). The ceiling's window is assumed from
        the guess's own answer, so a refusal retries with what the refusal showed.
        """
        counted = None
        if network_key:
            across, pair = self._failure_counters(now)
            counters = [
                (across.key(network_key), across.count_one(limited=False)),
                (pair.key(f"{network_key}/{key}"), pair.count_one(limited=False)),
            ]
            counted = _POOL.submit(transact, self._client, self._table, counters, self._sleep)
        self._count_at_live_code(key, before, now, discard)
        if counted is not None:
            counted.result()

    def _count_at_live_code(self, key: str, before: Item, now: int, nonce: str) -> None:
        """Count the failure at the identifier, taking the guess's session out. Without a landed guess
        (``nonce`` empty) the same write is made with a condition no item meets, and refused: the requests a
        verify makes then do not tell whether the identifier had a live code, and nothing is written to it.
        """
        fails = failure_budget(self._limits, now)
        if not nonce:
            decoy = Update()
            fails.count(decoy, fresh=not fails.in_window(before), limited=False)
            self._accounts.discard_speculative(decoy, NO_SESSION)
            conditional_update(self._client, self._table, key, decoy)
            return
        seen, discard = before, True
        for _ in range(WRITE_ATTEMPTS):
            update = Update()
            fails.count(update, fresh=not fails.in_window(seen), limited=False)
            update.keep_until(now + self._limits.retention_seconds)
            if discard:
                self._accounts.discard_speculative(update, nonce)
            done, seen = conditional_update(self._client, self._table, key, update)
            if done:
                return
            discard = self._accounts.session_opened(seen, nonce)
        raise DependencyError("dynamodb", True, "the failure count kept changing under concurrent guesses")


def _refusal(gate: Future[Throttled | None] | None) -> Throttled | None:
    """The network's refusal, if any. A read that failed refuses nothing: the per-code limit and the
    identifier's ceiling, which are conditions of the writes, still hold."""
    if gate is None:
        return None
    try:
        return gate.result()
    except DependencyError as error:
        logger.warning("could not read the source network's budgets: %s", error.detail)
        return None


def code_unused(update: Update) -> str:
    """A code works once: a guess is reserved only while the code has not been guessed right.

    ``last_guess`` holds the digest of the last guess, equal to ``code`` once the code is used up.
    """
    last, code = update.name("last_guess"), update.name("code")
    return f"attribute_not_exists({last}) OR {last} <> {code}"


def _replays_used_code(item: Item, guess_digest: str) -> bool:
    """Whether the guess is the code that was already used: only its rightful holder can present it."""
    code, last = read_string(item, "code"), read_string(item, "last_guess")
    return bool(code) and code == last and hmac.compare_digest(code, guess_digest)
