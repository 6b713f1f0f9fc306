"""Accounts in DynamoDB: each lives on the item of the identifier it was created with, its *home*.

Keeping the account, its sessions and its first identifier's code state on one item is what keeps a right code
at one write (the write that reserves the guess also opens the session), "sign out everywhere" at one write,
and the revocation check at one consistent key lookup. Attributes of the home item owned here:

- ``account`` (UUID), ``status``, ``created_at``, ``ids`` (identifier kind → sealed value), ``v`` (layout
  version) and ``pinned`` (no TTL: an account outlives every window);
- ``last_sign_in_at``: when a sign-in that needed a write of its own happened (see :meth:`AccountStore.account`);
- ``sessions``: one entry per session nonce, ``{c: created, x: expires, amr, h: current refresh tag,
  hp: a second current tag (after a grace use), hg: the tag retired last and r: when (honoured once more
  within the grace window), a: when the person last proved who they are again (a second factor or a
  re-authentication code), g: the generation of its tokens, counted up by every such proof (absent: 0)}``. A
  refresh token carries its own keyed tag, so a retired token is recognised as genuine without remembering it:
  any genuine tag that is neither current nor in grace is reuse. Two-step sign-in (:mod:`chalicelib.mfa.store`)
  adds ``t`` (an mfa_token's tries) to an entry, and owns the item's ``mfa`` and ``mfa_p``;
  :meth:`AccountStore.find` reads ``mfa`` too, so that a session's check also tells whether it still owes a
  second factor.

An identifier linked to an account later (a phone added to an email account) keeps its code state on its own
item, which then names the account's home (``home``, ``home_account``) and is pinned like a home; the account's
home lists it among its ``ids``. Sessions always live on the home.

Size bound: at most ``max_sessions`` live entries after every sign-in, and the guess-reserving write refuses
to add one past ``max_sessions + max_guesses_per_code``; an entry holds a fixed set of short fields. Nothing
here grows with use (docs/item-layout.md has the arithmetic).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

from chalicelib.aws.dependencies import guarded
from chalicelib.aws.writes import conditional_update, transact
from chalicelib.config import Limits
from chalicelib.core.assurance import MFA_AMR, pending
from chalicelib.core.expressions import NEVER, PINNED, TTL, Expression, Item, Update, read_map, read_number, read_string
from chalicelib.core.schema import (
    ACTIVE,
    CONSENTS,
    HOME,
    HOME_ACCOUNT,
    MFA,
    PASSKEYS,
    SESSION_CLIENT,
    SESSION_SCOPE,
    SESSIONS,
    STATUS,
)
from chalicelib.crypto import Sealed, Sealer

LAYOUT_VERSION = 1
ACCOUNT_FIELDS = ("account", STATUS, "created_at", "last_sign_in_at", "ids", CONSENTS, PASSKEYS)
EXPIRED_SLACK = 2  # expired sessions a sign-in may leave behind for a later one to drop (see surplus_sessions)


class Link(enum.Enum):
    LINKED = "linked"
    TAKEN = "taken"  # the identifier has an account of its own, or is linked to another one
    ACCOUNT_HAS_ONE = "account_has_one"  # the account already holds an identifier of this kind
    ACCOUNT_GONE = "account_gone"
    SESSION_GONE = "session_gone"  # the session that asked ended, or was upgraded, before the write


class Unlink(enum.Enum):
    UNLINKED = "unlinked"
    NOT_LINKED = "not_linked"
    SESSION_GONE = "session_gone"


class Asking(NamedTuple):
    """The session that asks for an account change, as the caller's token found it (its nonce and generation).

    The change's write requires that session still live and at that generation: the recency the bearer check read
    from it (``a``, ``c``) changes only with the generation, so a sign-out or an upgrade in between refuses the
    change instead of letting a check made moments earlier stand for it.
    """

    nonce: str
    generation: int

    def require(self, update: Update, now: int) -> None:
        update.require(f"{_fields(update, self.nonce)('x')} > {update.value(now)}")
        update.require(generation_is(update, self.nonce, self.generation))

    def still_in(self, item: Item, now: int) -> bool:
        view = _view(_entries(item).get(self.nonce), now)
        return view is not None and view.generation == self.generation


class Refresh(enum.Enum):
    ROTATED = "rotated"
    GRACE = "grace"  # the token retired last, presented again within the grace window: honoured once
    REUSED = "reused"  # a genuine token that is no longer current: the session is revoked
    INVALID = "invalid"


class NewSession(NamedTuple):
    nonce: str
    refresh_tag: str
    created_at: int
    expires_at: int
    amr: tuple[str, ...]

    def entry(self) -> dict[str, Any]:
        entry = {"c": self.created_at, "x": self.expires_at, "h": self.refresh_tag, "amr": list(self.amr)}
        if MFA_AMR in self.amr:  # both factors proven at once (a passkey): its last proof is its start
            entry["a"] = self.created_at
        return entry


class SessionView(NamedTuple):
    created_at: int
    expires_at: int
    amr: tuple[str, ...]
    authenticated_at: int = 0  # the entry's ``a``: the last proof since sign-in (chalicelib/mfa, a code), if any
    generation: int = 0  # the entry's ``g``: how many times the session was upgraded (see SessionService)
    client: str = ""  # the entry's ``cl``: the OpenID Connect client it was opened for (chalicelib/oauth); "": none
    scope: str = ""  # the entry's ``sc``: the scopes that client was granted

    @property
    def auth_time(self) -> int:
        """When the person last proved who they are: the second factor's time if there was one, else sign-in."""
        return self.authenticated_at or self.created_at


class LinkedMeanwhile(NamedTuple):
    """What :meth:`AccountStore.settle` answers when the identifier was linked to an account after its guess and
    before the write that would have created an account of its own: ``item``, as that write found it."""

    item: Item


class Account(NamedTuple):
    id: str
    identifiers: dict[str, str]  # kind ("email") → the identifier, opened from its seal
    status: str
    created_at: int
    last_sign_in_at: int
    mfa: dict[str, Any]  # the raw ``mfa`` map: chalicelib/core/assurance.py reads it
    consents: dict[str, Any] | None  # the raw ``consents`` map: client id -> what it may have (chalicelib/oauth);
    # None: the item has no such attribute (an empty map is there, and a write must not create it anew)
    passkeys: dict[str, Any] | None = None  # the raw ``passkeys`` map (chalicelib/passkeys); None: not there yet


def _entries(item: Item) -> dict[str, dict[str, Any]]:
    return {nonce: entry.get("M", {}) for nonce, entry in read_map(item, SESSIONS).items()}


def _amr(entry: dict[str, Any]) -> tuple[str, ...]:
    return tuple(element.get("S", "") for element in entry.get("amr", {}).get("L", []))


def _view(entry: dict[str, Any] | None, now: int) -> SessionView | None:
    if entry is None or read_number(entry, "x") <= now:
        return None
    return SessionView(
        read_number(entry, "c"),
        read_number(entry, "x"),
        _amr(entry),
        read_number(entry, "a"),
        read_number(entry, "g"),
        read_string(entry, SESSION_CLIENT),
        read_string(entry, SESSION_SCOPE),
    )


def live_sessions(item: Item, now: int) -> int:
    """How many sessions of the home item are live (speculative ones of guesses in flight included)."""
    return sum(1 for entry in _entries(item).values() if read_number(entry, "x") > now)


def surplus_sessions(
    item: Item,
    now: int,
    keep: int,
    slack: int = 0,
    owing: Callable[[dict[str, Any]], bool] | None = None,
    owing_for: int = 0,
    spare: str = "",
) -> list[str]:
    """The nonces to drop so that at most ``keep`` live sessions stay: the oldest, and every expired one.

    Up to ``slack`` expired entries may stay, when nothing else has to go: a later sign-in drops them with
    others, so that most sign-ins need no second write while the item stays small. A session ``owing`` its
    second factor neither counts towards ``keep`` nor is ended for it, so that someone who holds only the
    mailbox cannot push the person's real sessions out (the guess's write bounds the map all the same); once
    older than ``owing_for`` seconds (its mfa_token has expired) it counts as expired. The live session ``spare``
    (the one asking for the new session, chalicelib/oauth) is never ended for it, and counts towards ``keep``.
    """
    entries = _entries(item)
    owes = owing or (lambda _: False)
    expired = [
        nonce
        for nonce, entry in entries.items()
        if read_number(entry, "x") <= now or (owes(entry) and read_number(entry, "c") <= now - owing_for)
    ]
    live = sorted(
        (read_number(entry, "c"), nonce) for nonce, entry in entries.items() if nonce not in expired and not owes(entry)
    )
    over = [nonce for _, nonce in live if nonce != spare][: max(0, len(live) - keep)]
    return expired + over if over or len(expired) > slack else []


class AccountStore:
    """Accounts and their sessions on their home items (table partition key ``pk``)."""

    def __init__(self, client: Any, table_name: str, sealer: Sealer, limits: Limits) -> None:
        self._client = client
        self._table = table_name
        self._sealer = sealer
        self._limits = limits

    # -- the sign-in, in the code store's writes ---------------------------------------------------------

    @property
    def most_entries(self) -> int:
        """Entries the sessions map may hold: the cap plus one speculative entry per guess of one code."""
        return self._limits.max_sessions + self._limits.max_guesses_per_code

    @staticmethod
    def prepare(update: Update) -> None:
        """Clauses of a send: the item can take a session, and says which layout it is written in."""
        sessions = update.name(SESSIONS)
        update.set(f"{sessions} = if_not_exists({sessions}, {update.value({})})")
        update.set(f"{update.name('v')} = {update.value(LAYOUT_VERSION)}")

    def open_speculatively(self, update: Update, session: NewSession) -> None:
        """Clauses that open ``session`` in the write that reserves a guess, before the guess is compared.

        Its refresh secret exists only in this process until the guess proves right; a wrong guess's own
        second write takes it out again (:meth:`discard_speculative`).
        """
        sessions, entry = update.name(SESSIONS), update.name(SESSIONS, session.nonce)
        update.require(f"size({sessions}) < {update.value(self.most_entries)}")
        # A retry of this write after a lost answer is refused, and recognised by this session being there.
        update.require(f"attribute_not_exists({entry})")
        update.set(f"{entry} = {update.value(session.entry())}")

    def open_beside(self, update: Update, before: Item, session: NewSession, now: int) -> None:
        """Clauses that open ``session`` on the home item ``before`` (as read) in another module's write (a
        passkey's sign-in), making room in that same write: the sessions :func:`surplus_sessions` would end for a
        new one go, each on the condition that it is still there, so the map stays within its bound."""
        surplus = surplus_sessions(
            before,
            now,
            self._limits.max_sessions - 1,
            slack=EXPIRED_SLACK,
            owing=self._owing(before),
            owing_for=self._limits.mfa_token_seconds,
        )
        for nonce in surplus:
            update.require(f"attribute_exists({update.name(SESSIONS, nonce)})")
            update.remove(SESSIONS, nonce)
        # What the write removes is there (above), so the map ends no larger than a guess's write leaves it.
        update.require(f"size({update.name(SESSIONS)}) < {update.value(self.most_entries + len(surplus))}")
        entry = update.name(SESSIONS, session.nonce)
        update.require(f"attribute_not_exists({entry})")
        update.set(f"{entry} = {update.value(session.entry())}")

    @staticmethod
    def session_opened(item: Item, nonce: str) -> bool:
        return nonce in read_map(item, SESSIONS)

    def is_full(self, item: Item) -> bool:
        return len(read_map(item, SESSIONS)) >= self.most_entries

    @staticmethod
    def discard_speculative(update: Update, nonce: str) -> None:
        """The clause that takes a wrong (or withdrawn) guess's session out again, on the condition that it is
        there (the caller stops when it is not: nothing of that guess is left to take out)."""
        entry = update.name(SESSIONS, nonce)
        update.require(f"attribute_exists({entry})")
        update.remove(SESSIONS, nonce)

    def settle(
        self,
        key: str,
        kind: str,
        identifier: str,
        nonce: str,
        before: Item,
        now: int,
        also: Callable[[Update], None] | None = None,
    ) -> Account | LinkedMeanwhile:
        """The account a right guess signs in to, after the write it needs, if any (``also`` adds clauses).

        That write creates the account on its identifier's first sign-in and ends the oldest sessions past the
        cap (the new one is the newest); with nothing to do, there is no write and the guess's own was all. It
        creates an account only while the identifier has none *and is linked to none*: one linked since the
        guess (``/me/phone/verify`` between the guess and this write) answers :class:`LinkedMeanwhile`, so an
        identifier never ends up in two accounts.
        """
        # The new session is the newest: keep it and the cap's worth of others, less one for it unless
        # ``before`` already holds it (a retried write that had landed) or it owes a second factor.
        owing = self._owing(before)
        keep = self._limits.max_sessions - (0 if self.session_opened(before, nonce) or owing else 1)
        for create in ("account" not in before, False):
            update = Update()
            if create:
                ids = {kind: self._sealer.seal(identifier, _seal_context(key, kind))}
                for name, value in (
                    ("account", str(uuid.uuid4())),
                    (STATUS, ACTIVE),
                    ("created_at", now),
                    ("ids", ids),
                    ("v", LAYOUT_VERSION),
                    (PINNED, NEVER),
                    (TTL, NEVER),
                ):
                    update.set(f"{update.name(name)} = {update.value(value)}")
                update.require(f"attribute_not_exists({update.name('account')})")
                update.require(f"attribute_not_exists({update.name(HOME)})")
            for surplus in surplus_sessions(
                before, now, keep, slack=EXPIRED_SLACK, owing=owing, owing_for=self._limits.mfa_token_seconds
            ):
                update.remove(SESSIONS, surplus)
            if also:
                also(update)
            if not (update.sets or update.removes):
                return self.account(key, before)
            # A write that ends sessions must not lose when the account last signed in.
            update.set(f"{update.name('last_sign_in_at')} = {update.value(now)}")
            done, item = self._conditional(key, update, "ALL_NEW")
            if done:
                return self.account(key, item)
            if HOME in item:
                return LinkedMeanwhile(item)
            before = item  # created meanwhile by an earlier code's sign-in: settle into that account
        raise AssertionError("unreachable: a write without a condition is not refused")

    def make_room(
        self, key: str, before: Item, now: int, keep: int | None = None, slack: int = 0, spare: str = ""
    ) -> None:
        """Drop expired and the oldest sessions so that ``keep`` stay (by default: room for a new one); never the
        live session ``spare``."""
        update = Update()
        keep = self._limits.max_sessions - 1 if keep is None else keep
        for nonce in surplus_sessions(
            before, now, keep, slack, owing=self._owing(before), owing_for=self._limits.mfa_token_seconds, spare=spare
        ):
            update.remove(SESSIONS, nonce)
        if update.removes:
            with guarded("dynamodb"):
                self._client.update_item(**update.request(self._table, key))

    def _owing(self, item: Item) -> Callable[[dict[str, Any]], bool] | None:
        """Whether a session entry of ``item`` owes its second factor; None where no entry can."""
        mfa, passkeys = read_map(item, MFA), read_map(item, PASSKEYS)
        if not pending(self._limits.mfa_policy, mfa, (), passkeys):
            return None
        return lambda entry: pending(self._limits.mfa_policy, mfa, _amr(entry), passkeys)

    def account(self, key: str, item: Item) -> Account:
        """The account an item holds (its identifiers opened from their seals)."""
        identifiers = {}
        for kind, sealed in read_map(item, "ids").items():
            try:
                identifiers[kind] = self._sealer.open(sealed.get("S", ""), _seal_context(key, kind))
            except Sealed:
                continue  # never shown rather than shown wrong; the account's id and sessions still work
        # The last sign-in: the newest session's, or the one recorded when a write ended older sessions. The
        # guess-reserving write records nothing more, so a wrong guess never passes for a sign-in (but for the
        # moment its speculative session exists). Nor does a first factor whose second is still owed.
        mfa, passkeys = read_map(item, MFA), read_map(item, PASSKEYS)
        created = [
            read_number(entry, "c")
            for entry in _entries(item).values()
            if not pending(self._limits.mfa_policy, mfa, _amr(entry), passkeys)
        ]
        return Account(
            id=read_string(item, "account"),
            identifiers=identifiers,
            status=read_string(item, STATUS),
            created_at=read_number(item, "created_at"),
            last_sign_in_at=max([read_number(item, "last_sign_in_at"), *created]),
            mfa=read_map(item, MFA),
            consents=read_map(item, CONSENTS) if CONSENTS in item else None,
            passkeys=read_map(item, PASSKEYS) if PASSKEYS in item else None,
        )

    # -- identifiers linked to an account's home ---------------------------------------------------------

    @staticmethod
    def linked_home(item: Item) -> str:
        """The home of the account an identifier's item is linked to; empty if it is not linked."""
        return read_string(item, HOME)

    def sign_in_linked(self, before: Item, session: NewSession, now: int) -> Account | None:
        """Open ``session`` on the home of the account a linked identifier belongs to (``before``: its item as a
        right guess found it); None if the link no longer leads to that account.

        The guess's own write could not know the identifier was linked, so it opened a speculative session on
        the identifier's item; :meth:`tidy_linked` takes it out once the new session is handed out.
        """
        home, account_id = read_string(before, HOME), read_string(before, HOME_ACCOUNT)
        for attempt in (1, 2):
            update = Update()
            entry = update.name(SESSIONS, session.nonce)
            update.require(f"{update.name('account')} = {update.value(account_id)}")
            update.require(f"size({update.name(SESSIONS)}) < {update.value(self.most_entries)}")
            update.require(f"attribute_not_exists({entry})")  # a retry of a write that landed is recognised
            update.set(f"{entry} = {update.value(session.entry())}")
            done, item = self._conditional(home, update, "ALL_NEW")
            if done or self.session_opened(item, session.nonce):
                break
            if attempt == 2 or read_string(item, "account") != account_id:
                return None
            self.make_room(home, item, now)
        self.make_room(home, item, now, keep=self._limits.max_sessions, slack=EXPIRED_SLACK)
        return self.account(home, item)

    def tidy_linked(self, key: str, speculative: str, also: Callable[[Update], None] | None = None) -> None:
        """Take a right guess's speculative session out of a linked identifier's item, with ``also``'s clauses."""
        update = Update()
        update.remove(SESSIONS, speculative)
        if also:
            also(update)
        with guarded("dynamodb"):
            self._client.update_item(**update.request(self._table, key))

    def link(
        self,
        key: str,
        kind: str,
        identifier: str,
        speculative: str,
        home: str,
        account_id: str,
        asking: Asking,
        now: int,
        also: Callable[[Update], None] | None = None,
    ) -> Link:
        """Link the identifier at ``key``, just proven with a right guess (which opened ``speculative``), to the
        account at ``home`` for the session ``asking``, in one transaction over both items: neither changes unless
        both may."""
        mine = Update()
        mine.require(f"attribute_not_exists({mine.name('account')})")
        mine.require(f"attribute_not_exists({mine.name(HOME)}) OR {mine.name(HOME)} = {mine.value(home)}")
        for name, value in ((HOME, home), (HOME_ACCOUNT, account_id), (PINNED, NEVER), (TTL, NEVER)):
            mine.set(f"{mine.name(name)} = {mine.value(value)}")
        mine.remove(SESSIONS, speculative)
        if also:
            also(mine)
        theirs = Update()
        theirs.require(f"{theirs.name('account')} = {theirs.value(account_id)}")
        theirs.require(f"attribute_not_exists({theirs.name('ids', kind)})")
        asking.require(theirs, now)
        sealed = self._sealer.seal(identifier, _seal_context(home, kind))
        theirs.set(f"{theirs.name('ids', kind)} = {theirs.value(sealed)}")
        refused = transact(self._client, self._table, [(key, mine), (home, theirs)])
        if refused is None:
            return Link.LINKED
        identifier_item, home_item = refused
        self.revoke(key, speculative)
        if read_string(identifier_item, HOME) == home and kind in read_map(home_item, "ids"):
            return Link.LINKED  # linked by an earlier request: saying so is the same answer
        if "account" in identifier_item or HOME in identifier_item:
            return Link.TAKEN
        # Past here the home's condition failed (a refusal returns only the items whose condition failed).
        if read_string(home_item, "account") != account_id:
            return Link.ACCOUNT_GONE
        if not asking.still_in(home_item, now):
            return Link.SESSION_GONE
        return Link.ACCOUNT_HAS_ONE

    def unlink(self, key: str, kind: str, home: str, account_id: str, asking: Asking, now: int) -> Unlink:
        """Take the identifier of ``kind`` at ``key`` out of the account at ``home``, for the session ``asking``.

        Its item forgets the account and expires like any identifier's code state.
        """
        theirs = Update()
        theirs.require(f"{theirs.name('account')} = {theirs.value(account_id)}")
        theirs.require(f"attribute_exists({theirs.name('ids', kind)})")
        asking.require(theirs, now)
        theirs.remove("ids", kind)
        mine = Update()
        mine.require(f"{mine.name(HOME)} = {mine.value(home)}")
        for name in (HOME, HOME_ACCOUNT, PINNED):
            mine.remove(name)
        mine.set(f"{mine.name(TTL)} = {mine.value(now + self._limits.retention_seconds)}")
        refused = transact(self._client, self._table, [(home, theirs), (key, mine)])
        if refused is None:
            return Unlink.UNLINKED
        home_item = refused[0]  # empty unless the home's own condition failed
        return Unlink.SESSION_GONE if home_item and not asking.still_in(home_item, now) else Unlink.NOT_LINKED

    # -- sessions ----------------------------------------------------------------------------------------

    def find(self, key: str, nonce: str, now: int) -> tuple[Account, SessionView] | None:
        """The live session and its active account, read consistently so that a revocation counts at once."""
        names = Expression()
        # The whole sessions map (the last sign-in is its newest entry): a GetItem's read units are the item's
        # size, whatever it projects.
        projection = [names.name(name) for name in (*ACCOUNT_FIELDS, SESSIONS, MFA)]
        with guarded("dynamodb"):
            item = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": key}},
                ProjectionExpression=", ".join(projection),
                ExpressionAttributeNames=names.names,
                ConsistentRead=True,
            ).get("Item", {})
        session = _view(_entries(item).get(nonce), now)
        if session is None or read_string(item, STATUS) != ACTIVE:
            return None
        return self.account(key, item), session

    def rotate(
        self, key: str, nonce: str, presented: str, replacement: str, now: int, grace: int, client: str = ""
    ) -> tuple[Refresh, Account | None, SessionView | None]:
        """Make ``replacement`` the session's current refresh tag in place of the genuine tag ``presented``, if the
        session was opened for ``client`` ("": none, a session of the API itself): a refresh token works only for
        the client it was issued to."""
        update = Update()
        field = _fields(update, nonce)
        update.require(f"{field('h')} = {update.value(presented)} OR {field('hp')} = {update.value(presented)}")
        if client:
            update.require(f"{field(SESSION_CLIENT)} = {update.value(client)}")
        else:
            update.require(f"attribute_not_exists({field(SESSION_CLIENT)})")
        update.require(f"{field('x')} > {update.value(now)}")
        update.require(f"{update.name(STATUS)} = {update.value(ACTIVE)}")
        update.set(f"{field('h')} = {update.value(replacement)}")
        update.set(f"{field('hg')} = {update.value(presented)}")
        update.set(f"{field('r')} = {update.value(now)}")
        update.remove(SESSIONS, nonce, "hp")
        done, item = self._conditional(key, update, "ALL_NEW")
        if done:
            return Refresh.ROTATED, self.account(key, item), _view(_entries(item).get(nonce), now)
        return self._refused_rotation(key, item, nonce, presented, replacement, now, grace, client)

    def _refused_rotation(
        self, key: str, before: Item, nonce: str, presented: str, replacement: str, now: int, grace: int, client: str
    ) -> tuple[Refresh, Account | None, SessionView | None]:
        entry = _entries(before).get(nonce)
        view = _view(entry, now)
        if view is None or read_string(before, STATUS) != ACTIVE or view.client != client:
            return Refresh.INVALID, None, None  # another client's token proves nothing of this session: not reuse
        assert entry is not None
        if read_string(entry, "hg") == presented and now - read_number(entry, "r") <= grace:
            # Honoured once: the current token stays current beside the new one, and the retired one leaves
            # grace, so presenting it again, or letting one fork rotate out the other, is reuse.
            update = Update()
            field = _fields(update, nonce)
            update.require(f"{field('hg')} = {update.value(presented)}")
            update.require(f"{field('r')} >= {update.value(now - grace)}")
            update.require(f"{update.name(STATUS)} = {update.value(ACTIVE)}")
            update.set(f"{field('hp')} = {field('h')}")
            update.set(f"{field('h')} = {update.value(replacement)}")
            update.remove(SESSIONS, nonce, "hg")
            update.remove(SESSIONS, nonce, "r")
            done, item = self._conditional(key, update, "ALL_NEW")
            if done:
                return Refresh.GRACE, self.account(key, item), _view(_entries(item).get(nonce), now)
        self.revoke(key, nonce)
        return Refresh.REUSED, None, None

    def reauthenticated(
        self, key: str, nonce: str, generation: int, tag: str, now: int, also: Callable[[Update], None] | None = None
    ) -> bool:
        """Record that the person of session ``nonce`` (at ``generation``) proved who they are again at ``now``: its
        next generation, with the refresh tag ``tag`` current and every earlier one retired without grace (``also``
        adds clauses). False if the session ended, or was upgraded by another request, meanwhile."""
        update = reauthentication(nonce, generation, tag, now)
        if also:
            also(update)
        done, item = self._conditional(key, update, "ALL_NEW")
        # Refused with this very tag in place: botocore retried a write that had landed.
        return done or read_string(_entries(item).get(nonce, {}), "h") == tag

    def revoke(self, key: str, nonce: str, presented: str | None = None, client: str | None = None) -> None:
        """End one session; with ``presented``, only if that refresh tag is one of its current ones; with ``client``,
        only if it is that OpenID Connect client's session."""
        update = Update()
        field = _fields(update, nonce)
        if presented is None:
            update.require(f"attribute_exists({update.name(SESSIONS, nonce)})")
        else:
            update.require(f"{field('h')} = {update.value(presented)} OR {field('hp')} = {update.value(presented)}")
        if client is not None:
            update.require(f"{field(SESSION_CLIENT)} = {update.value(client)}")
        update.remove(SESSIONS, nonce)
        self._conditional(key, update, "NONE")

    def revoke_all(self, key: str) -> None:
        """End every session of the account at once."""
        update = Update()
        update.require(f"attribute_exists({update.name('account')})")
        update.set(f"{update.name(SESSIONS)} = {update.value({})}")
        self._conditional(key, update, "NONE")

    def _conditional(self, key: str, update: Update, returns: str) -> tuple[bool, Item]:
        return conditional_update(self._client, self._table, key, update, returns)


def reauthentication(nonce: str, generation: int, tag: str, now: int) -> Update:
    """The home's write that records a new proof by session ``nonce`` (see :meth:`AccountStore.reauthenticated`),
    also a part of a transaction that spends the proof in the same write (a passkey's ceremony)."""
    update = Update()
    field = _fields(update, nonce)
    update.require(f"{field('x')} > {update.value(now)}")
    update.require(f"{update.name(STATUS)} = {update.value(ACTIVE)}")
    update.require(generation_is(update, nonce, generation))
    for name, value in (("a", now), ("g", generation + 1), ("h", tag)):
        update.set(f"{field(name)} = {update.value(value)}")
    for name in ("hp", "hg", "r"):
        update.remove(SESSIONS, nonce, name)
    return update


def generation_is(update: Update, nonce: str, generation: int) -> str:
    """The condition that session ``nonce`` is at ``generation`` (an entry never upgraded has no ``g``)."""
    field = update.name(SESSIONS, nonce, "g")
    return f"attribute_not_exists({field}) OR {field} = {update.value(generation)}"


def _fields(update: Update, nonce: str) -> Any:
    return lambda name: update.name(SESSIONS, nonce, name)


def _seal_context(key: str, kind: str) -> str:
    # A sealed identifier opens only on the item and under the kind it was sealed for: one copied elsewhere
    # in the table does not.
    return f"{key}\x00{kind}"
