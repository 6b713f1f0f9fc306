"""Passkeys in DynamoDB: a credential's item, the account's list on its home item, and the ceremonies.

- ``passkey#<keyed digest of the credential id>``: what verifies the credential (``owner`` the account id,
  ``home``, ``cose`` the COSE public key, ``sc`` the sign count, ``be``/``bs``/``uv`` the flags as 0/1, ``ag``
  the AAGUID, ``c`` created, ``lu`` last used). A sign-in finds it by the credential id alone: one key, no index.
- the home's ``passkeys`` map, digest → ``{i: the credential id, n: the name sealed bound to the home and the
  digest, c, u: last used, be, bs, ag}``: what ``GET /me/passkeys`` shows and the registration's
  ``excludeCredentials``, at most ``OTP_MAX_PASSKEYS`` (10) entries. An entry is what makes its credential sign
  in (a condition of the sign-in's write), so removing it refuses the passkey at once.
- ``ceremony#<keyed digest of the challenge>``: one ceremony (``p`` its purpose, ``s`` the session it is bound
  to, ``t`` made, ``expires_at`` its end, ``u`` when spent). The challenge is the ceremony's handle: the item is
  found by it and spent by the write that uses it, whose conditions are that it is live, unspent and of this
  purpose and session (registration, re-authentication and a second factor are bound to the session that asked,
  sign-in to none). TTL only cleans up.

No attribute grows with use: counts and times are numbers, the list is bounded (docs/item-layout.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from chalicelib.accounts.passkeys import OWNER, Passkey, credential_key, listed, name_context, opened
from chalicelib.accounts.store import AccountStore, NewSession, SessionView, reauthentication
from chalicelib.aws.dependencies import DependencyError, guarded
from chalicelib.aws.writes import conditional_update, transact
from chalicelib.config import Limits
from chalicelib.core.expressions import TTL, Item, Update, read_map, read_number, read_string, to_attribute
from chalicelib.core.refusals import (
    AccountLocked,
    InvalidMfaToken,
    InvalidPasskey,
    PasskeyLimit,
    PasskeyNotFound,
    SessionRejected,
)
from chalicelib.core.schema import ACTIVE, PASSKEYS, SESSIONS, STATUS
from chalicelib.core.windows import WindowCounter
from chalicelib.crypto import Sealer

LAYOUT_VERSION = 1
# A ceremony's purpose: registering, signing in, re-authenticating a session, the second factor of a pending one.
REGISTER, SIGN_IN, REAUTHENTICATE, SECOND_FACTOR = "register", "signin", "reauth", "mfa"
MAX_NAME_CHARS = 64
# The access log's reason for a passkey whose signature counter did not grow: worth an alarm (a cloned key?).
SIGN_COUNT_REGRESSION = "sign count regression"


def ceremony_key(digest: str) -> str:
    return f"ceremony#{digest}"


class Credential(NamedTuple):
    """A verified credential, as registration records it."""

    digest: str
    credential_id: str  # base64url
    public_key: str  # the COSE key, base64url
    sign_count: int
    backup_eligible: bool
    backed_up: bool
    user_verified: bool
    aaguid: str


class Assertion(NamedTuple):
    """What a verified sign-in records on its credential."""

    digest: str
    sign_count: int
    backed_up: bool


class SignInRead(NamedTuple):
    """The one read of a passkey sign-in: the credential's item, the home it names and the network's failures."""

    credential: Item
    home: Item
    network_failures: Item


def _flag(value: bool) -> int:
    return 1 if value else 0


class PasskeyStore:
    def __init__(self, client: Any, table: str, sealer: Sealer, accounts: AccountStore, limits: Limits) -> None:
        self._client = client
        self._table = table
        self._sealer = sealer
        self._accounts = accounts
        self._limits = limits

    # -- ceremonies ------------------------------------------------------------------------------------------

    def begin(
        self, digest: str, purpose: str, now: int, session: str = "", also: tuple[tuple[str, Update], ...] = ()
    ) -> list[Item] | None:
        """Record a new ceremony, with ``also``'s writes in the same transaction (a refusal's items, else None).

        The ceremony's item found already there is this very write, landed with its answer lost (botocore's retry
        was refused): its key is the digest of a 256-bit random challenge, never drawn twice. So it is done."""
        update = Update()
        update.require(f"attribute_not_exists({update.name('pk')})")
        fields: dict[str, Any] = {"p": purpose, "t": now, TTL: now + self._limits.passkey_ceremony_seconds}
        if session:
            fields["s"] = session
        for name, value in fields.items():
            update.set(f"{update.name(name)} = {update.value(value)}")
        refused = transact(self._client, self._table, [(ceremony_key(digest), update), *also])
        return None if refused is not None and refused[0] else refused

    def _spend(self, purpose: str, now: int, session: str = "") -> Update:
        """The ceremony's part of the write that completes it: live, unspent, of ``purpose`` and ``session``."""
        update = Update()
        spent = update.name("u")
        update.require(f"attribute_not_exists({spent})")
        update.require(f"{update.name('p')} = {update.value(purpose)}")
        update.require(f"{update.name(TTL)} > {update.value(now)}")
        if session:
            update.require(f"{update.name('s')} = {update.value(session)}")
        else:
            update.require(f"attribute_not_exists({update.name('s')})")
        update.set(f"{spent} = {update.value(now)}")
        return update

    def prepare_home(self, home: str, account: str) -> tuple[str, Update]:
        """A registration's options make sure the home has its (empty) list, so that registering is one nested
        write whose condition is the list's size."""
        update = Update()
        update.require(f"{update.name('account')} = {update.value(account)}")
        listing = update.name(PASSKEYS)
        update.set(f"{listing} = if_not_exists({listing}, {update.value({})})")
        return home, update

    def network_counter(self, network_key: str, now: int) -> tuple[str, Update] | None:
        """The count of a sign-in ceremony begun from ``network_key``; None where the limit is off."""
        counter = WindowCounter("passkeys", self._limits.passkey_ceremonies_per_ip, now)
        return (counter.key(network_key), counter.count_one()) if counter.window.enabled else None

    # -- registration ----------------------------------------------------------------------------------------

    def register(
        self,
        ceremony: str,
        home: str,
        account: str,
        session: str,
        nonce: str,
        credential: Credential,
        name: str,
        now: int,
    ) -> Passkey:
        """Spend the ceremony, write the credential's item and list it on the home, in one transaction."""
        item = Update()
        item.require(f"attribute_not_exists({item.name('pk')})")
        for field, value in {
            OWNER: account,
            "home": home,
            "cose": credential.public_key,
            "sc": credential.sign_count,
            "be": _flag(credential.backup_eligible),
            "bs": _flag(credential.backed_up),
            "uv": _flag(credential.user_verified),
            "ag": credential.aaguid,
            "c": now,
            "lu": 0,
            "v": LAYOUT_VERSION,
        }.items():
            item.set(f"{item.name(field)} = {item.value(value)}")
        listing = Update()
        listing.require(f"{listing.name('account')} = {listing.value(account)}")
        # Registered only by a live session of the account (a session signed out meanwhile registers nothing).
        listing.require(f"attribute_exists({listing.name('sessions', nonce)})")
        listing.require(f"size({listing.name(PASSKEYS)}) < {listing.value(self._limits.max_passkeys)}")
        entry = {
            "i": credential.credential_id,
            "n": self._seal_name(name, home, credential.digest),
            "c": now,
            "u": 0,
            "be": _flag(credential.backup_eligible),
            "bs": _flag(credential.backed_up),
            "ag": credential.aaguid,
        }
        listing.set(f"{listing.name(PASSKEYS, credential.digest)} = {listing.value(entry)}")
        writes = [
            (ceremony_key(ceremony), self._spend(REGISTER, now, session)),
            (credential_key(credential.digest), item),
            (home, listing),
        ]
        refused = transact(self._client, self._table, writes)
        if refused is not None and _registered_by(refused[1], account, now):
            refused = None  # this very write landed and its answer was lost: botocore's retry found it done
        if refused is not None:
            before = refused[2]
            if before and len(read_map(before, PASSKEYS)) >= self._limits.max_passkeys:
                raise PasskeyLimit()
            raise InvalidPasskey("registration refused")
        return self.passkey(home, credential.digest, entry_item(entry))

    # -- sign-in ---------------------------------------------------------------------------------------------

    def read_for_sign_in(self, digest: str, home: str, network_key: str | None, now: int) -> SignInRead:
        """The sign-in's one read (one consistent ``BatchGetItem``): the credential, the home the authenticator
        named, and the network's failures (the same counter as wrong codes')."""
        failures = WindowCounter("fails", self._limits.failures_per_ip, now)
        keys = {"credential": credential_key(digest), "home": home}
        if network_key:
            keys["failures"] = failures.key(network_key)
        with guarded("dynamodb"):
            answer = self._client.batch_get_item(
                RequestItems={
                    self._table: {"Keys": [{"pk": {"S": key}} for key in keys.values()], "ConsistentRead": True}
                }
            )
        if answer.get("UnprocessedKeys"):
            raise DependencyError("dynamodb", True, "a passkey sign-in's items could not be read")
        found = {read_string(item, "pk"): item for item in answer.get("Responses", {}).get(self._table, [])}
        return SignInRead(
            found.get(keys["credential"], {}), found.get(home, {}), found.get(keys.get("failures", ""), {})
        )

    def count_failure(self, network_key: str | None, now: int) -> None:
        """One more failure from the network (recorded, never refused: it has happened)."""
        if not network_key:
            return
        counter = WindowCounter("fails", self._limits.failures_per_ip, now)
        with guarded("dynamodb"):
            self._client.update_item(**counter.count_one(limited=False).request(self._table, counter.key(network_key)))

    def sign_in(
        self, ceremony: str, home: str, before: Item, account: str, assertion: Assertion, session: NewSession, now: int
    ) -> None:
        """One transaction: the ceremony spent, the sign count and last use recorded (the count must grow, or
        stay 0 for an authenticator that counts nothing), and the session opened on the home, which must still
        be active and list the passkey. ``before``: the home as read, from which the write makes room for the
        session; a refusal for want of room is retried once with the home as it then stood.

        Raises :class:`InvalidPasskey` or :class:`AccountLocked`.
        """
        credential = _counted(account, assertion, now)
        for attempt in (1, 2):
            listing = Update()
            listing.require(f"{listing.name(STATUS)} = {listing.value(ACTIVE)}")
            _used(listing, account, assertion, now)
            self._accounts.open_beside(listing, before, session, now)
            writes = [
                (ceremony_key(ceremony), self._spend(SIGN_IN, now)),
                (credential_key(assertion.digest), credential),
                (home, listing),
            ]
            refused = transact(self._client, self._table, writes)
            if refused is None:
                return
            _, credential_was, home_was = refused
            opened = read_map(home_was, SESSIONS).get(session.nonce, {}).get("M", {})
            if read_string(opened, "h") == session.refresh_tag:
                return  # this very write landed and its answer was lost: botocore's retry found the ceremony spent
            if home_was and read_string(home_was, STATUS) != ACTIVE:
                raise AccountLocked()
            _refused_use(assertion, credential_was, home_was)
            if not home_was or attempt == 2:
                raise InvalidPasskey("ceremony not live")
            before = home_was  # the sessions changed since the read (or it was full): make room from what it holds
        raise AssertionError("unreachable: the second attempt returns or raises")

    # -- re-authentication (step-up) -------------------------------------------------------------------------

    def reauthenticate(
        self,
        ceremony: str,
        home: str,
        account: str,
        session: str,
        nonce: str,
        generation: int,
        tag: str,
        amr: tuple[str, ...],
        assertion: Assertion,
        now: int,
    ) -> None:
        """One transaction: the ceremony (bound to session ``session``) spent, the sign count and last use recorded,
        and the session's new proof on the home (:func:`~chalicelib.accounts.store.reauthentication`: its next
        generation with refresh tag ``tag``, proven at ``now``, with ``amr``), which must still list the passkey.

        Raises :class:`InvalidPasskey`, or :class:`SessionRejected` if the session ended, or was upgraded by
        another request, meanwhile.
        """
        listing = reauthentication(nonce, generation, tag, now)
        listing.set(f"{listing.name(SESSIONS, nonce, 'amr')} = {listing.value(list(amr))}")
        refused = self._upgrade(REAUTHENTICATE, ceremony, session, account, assertion, home, listing, nonce, tag, now)
        if refused is None:
            return
        credential_was, home_was = refused
        entry = read_map(home_was, SESSIONS).get(nonce, {}).get("M", {})
        _refused_use(assertion, credential_was, home_was)
        if home_was and (  # an item is returned only where its own condition failed
            read_number(entry, "x") <= now
            or read_number(entry, "g") != generation
            or read_string(home_was, STATUS) != ACTIVE
        ):
            raise SessionRejected("session ended or upgraded meanwhile")
        raise InvalidPasskey("ceremony not live")

    # -- the second factor of a pending session --------------------------------------------------------------

    def read_home(self, home: str) -> Item:
        """The home item, read consistently: a second factor's options offer the passkeys it lists."""
        with guarded("dynamodb"):
            return self._client.get_item(TableName=self._table, Key={"pk": {"S": home}}, ConsistentRead=True).get(
                "Item", {}
            )

    def second_factor(
        self,
        ceremony: str,
        home: str,
        account: str,
        session: str,
        nonce: str,
        pending_tag: str,
        tag: str,
        view: SessionView,
        assertion: Assertion,
        now: int,
    ) -> None:
        """One transaction: the ceremony (bound to the pending session ``session``) spent, the sign count and last
        use recorded, and the pending session upgraded on the home (``view``: its two factors, its full lifetime,
        its next generation, refresh tag ``tag``), which must still hold the mfa_token's ``pending_tag`` within
        ``OTP_MFA_TOKEN_SECONDS`` of its opening, be active and list the passkey. The mfa_token works once: the
        upgrade replaces the tag it names.

        Raises :class:`InvalidPasskey`, :class:`InvalidMfaToken` or :class:`AccountLocked`.
        """
        listing = Update()
        field = _fields(listing, nonce)
        listing.require(f"{listing.name(STATUS)} = {listing.value(ACTIVE)}")
        listing.require(f"{field('h')} = {listing.value(pending_tag)}")
        listing.require(f"{field('c')} > {listing.value(now - self._limits.mfa_token_seconds)}")
        upgrade = {"amr": list(view.amr), "h": tag, "a": now, "x": view.expires_at, "g": view.generation}
        for name, value in upgrade.items():
            listing.set(f"{field(name)} = {listing.value(value)}")
        for name in ("hp", "hg", "r", "t"):  # no earlier refresh token is honoured, the mfa_token's tries go
            listing.remove(SESSIONS, nonce, name)
        refused = self._upgrade(SECOND_FACTOR, ceremony, session, account, assertion, home, listing, nonce, tag, now)
        if refused is None:
            return
        credential_was, home_was = refused
        entry = read_map(home_was, SESSIONS).get(nonce, {}).get("M", {})
        if home_was and read_string(home_was, STATUS) != ACTIVE:
            raise AccountLocked()
        _refused_use(assertion, credential_was, home_was)
        if home_was and (
            read_string(entry, "h") != pending_tag or read_number(entry, "c") <= now - self._limits.mfa_token_seconds
        ):
            raise InvalidMfaToken()  # redeemed (by a code or another passkey), ended or too old meanwhile
        raise InvalidPasskey("ceremony not live")

    def _upgrade(
        self,
        purpose: str,
        ceremony: str,
        session: str,
        account: str,
        assertion: Assertion,
        home: str,
        listing: Update,
        nonce: str,
        tag: str,
        now: int,
    ) -> tuple[Item, Item] | None:
        """One transaction: the ceremony of ``purpose`` (bound to ``session``) spent, the passkey's use counted and
        recorded, and ``listing``'s upgrade of session ``nonce`` (to refresh tag ``tag``) on the home. None when
        done, also when this very write landed and its answer was lost (botocore's retry, refused, finds the
        session holding ``tag``); else the credential and the home as they stood."""
        _used(listing, account, assertion, now)
        writes = [
            (ceremony_key(ceremony), self._spend(purpose, now, session)),
            (credential_key(assertion.digest), _counted(account, assertion, now)),
            (home, listing),
        ]
        refused = transact(self._client, self._table, writes)
        if refused is None:
            return None
        _, credential_was, home_was = refused
        entry = read_map(home_was, SESSIONS).get(nonce, {}).get("M", {})
        return None if read_string(entry, "h") == tag else (credential_was, home_was)

    # -- the list --------------------------------------------------------------------------------------------

    def passkeys(self, home: str, listing: Mapping[str, Any] | None) -> list[Passkey]:
        return listed(self._sealer, home, listing)

    def passkey(self, home: str, digest: str, entry: Mapping[str, Any]) -> Passkey:
        return opened(self._sealer, home, digest, entry)

    def rename(self, home: str, account: str, digest: str, name: str) -> Passkey:
        update = Update()
        update.require(f"{update.name('account')} = {update.value(account)}")
        update.require(f"attribute_exists({update.name(PASSKEYS, digest)})")
        update.set(f"{update.name(PASSKEYS, digest, 'n')} = {update.value(self._seal_name(name, home, digest))}")
        done, item = conditional_update(self._client, self._table, home, update, "ALL_NEW")
        if not done:
            raise PasskeyNotFound()
        return self.passkey(home, digest, read_map(item, PASSKEYS).get(digest, {}).get("M", {}))

    def remove(self, home: str, account: str, digest: str) -> None:
        """Take the passkey off the list and delete its item, in one transaction. The account keeps the
        identifier it was created with (a home's is never removed), so a passkey is never its last way in."""
        listing = Update()
        listing.require(f"{listing.name('account')} = {listing.value(account)}")
        listing.require(f"attribute_exists({listing.name(PASSKEYS, digest)})")
        listing.remove(PASSKEYS, digest)
        item = Update()
        delete = item.params(
            TableName=self._table,
            Key={"pk": {"S": credential_key(digest)}},
            ConditionExpression=f"{item.name('home')} = {item.value(home)}",
        )
        if transact(self._client, self._table, [(home, listing)], deletes=(delete,)) is not None:
            raise PasskeyNotFound()

    def _seal_name(self, name: str, home: str, digest: str) -> str:
        return self._sealer.seal(name, name_context(home, digest))


def _counted(account: str, assertion: Assertion, now: int) -> Update:
    """The credential's part of a write that uses it: its account's, and its sign count grown (or still 0 for an
    authenticator that counts nothing), recorded with the last use."""
    credential = Update()
    count = credential.name("sc")
    credential.require(f"{credential.name(OWNER)} = {credential.value(account)}")
    if assertion.sign_count:
        credential.require(f"{count} < {credential.value(assertion.sign_count)}")
    else:  # an authenticator that counts nothing (synced passkeys) must never have counted
        credential.require(f"{count} = {credential.value(0)}")
    for field, value in {"sc": assertion.sign_count, "lu": now, "bs": _flag(assertion.backed_up)}.items():
        credential.set(f"{credential.name(field)} = {credential.value(value)}")
    return credential


def _registered_by(credential_was: Item, account: str, now: int) -> bool:
    """Whether a registration refused for its credential's item found the item its own write made: of ``account``,
    created at ``now`` (a credential registered earlier has an earlier ``c``; another account's, another owner)."""
    return read_string(credential_was, OWNER) == account and read_number(credential_was, "c") == now


def _used(listing: Update, account: str, assertion: Assertion, now: int) -> None:
    """The home's clauses for a use of the passkey: the account's, still listing it; its last use recorded."""
    listing.require(f"{listing.name('account')} = {listing.value(account)}")
    listing.require(f"attribute_exists({listing.name(PASSKEYS, assertion.digest)})")
    listing.set(f"{listing.name(PASSKEYS, assertion.digest, 'u')} = {listing.value(now)}")
    listing.set(f"{listing.name(PASSKEYS, assertion.digest, 'bs')} = {listing.value(_flag(assertion.backed_up))}")


def _refused_use(assertion: Assertion, credential_was: Item, home_was: Item) -> None:
    """Why a write that uses the passkey was refused, where the passkey is why: removed, or its count regressed."""
    if home_was and assertion.digest not in read_map(home_was, PASSKEYS):
        raise InvalidPasskey("passkey removed")
    counted = read_number(credential_was, "sc")
    if credential_was and counted and assertion.sign_count <= counted:
        raise InvalidPasskey(SIGN_COUNT_REGRESSION)


def _fields(update: Update, nonce: str) -> Any:
    return lambda name: update.name(SESSIONS, nonce, name)


def entry_item(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A list entry as written (plain values) in the attribute form a read returns."""
    return to_attribute(dict(entry))["M"]
