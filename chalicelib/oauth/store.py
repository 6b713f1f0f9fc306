"""What the OpenID Connect provider keeps in DynamoDB: login challenges, client sessions and consents.

- A **login challenge** is an authorization request waiting for its sign-in: an item of its own
  (``oauth#<keyed tag of the challenge>``; the challenge itself is never stored), written by the authorization
  endpoint and spent, once, by the write that accepts or rejects it. It lasts ``OTP_OAUTH_LOGIN_SECONDS``, in its
  write conditions; TTL only cleans up. Bound: fixed fields, ``state`` at most 512 characters, the redirect URI at
  most 512, the nonce 255, the login hint sealed (an address is never stored in the clear): under 3 KB.
- A **client session** is a session entry on the account's home item like any other (so a sign-out everywhere, a
  lock, the revocation check and the cap of ``OTP_MAX_SESSIONS`` hold for it unchanged), with the client
  (``cl``), its scopes (``sc``) and the UI session it came from (``p``). Until its code is redeemed it also holds
  the code's keyed tag (``k``), the PKCE challenge (``kc``) and a digest of the redirect URI (``kr``), and it
  expires with the code: redeeming it is one conditional write on this entry, and a code redeemed twice finds its
  entry without ``k`` and ends that session (RFC 6749 4.1.2). The ID token's nonce travels in the code itself,
  under its keyed tag. Bound: a client session's fields add at most 260 bytes to an entry (docs/item-layout.md).
- **Consents**: ``consents`` on the home item, client id -> ``{s: scopes agreed to, t: when}``; at most one per
  declared client (``MAX_CLIENTS``).
"""

from __future__ import annotations

import enum
import hashlib
from typing import Any, NamedTuple

from chalicelib.accounts.store import Account, AccountStore, Asking
from chalicelib.aws.dependencies import guarded
from chalicelib.aws.writes import conditional_update, transact
from chalicelib.core.expressions import TTL, Expression, Item, Update, read_map, read_number, read_string
from chalicelib.core.schema import ACTIVE, CONSENTS, SESSION_CLIENT, SESSION_SCOPE, SESSIONS, STATUS
from chalicelib.crypto import Sealed, Sealer
from chalicelib.oauth.requests import AuthorizationRequest

CHALLENGE_PREFIX = "oauth#"
PARENT, CODE, CODE_CHALLENGE, CODE_REDIRECT = "p", "k", "kc", "kr"
CODE_FIELDS = (CODE, CODE_CHALLENGE, CODE_REDIRECT)


class LoginRequest(NamedTuple):
    """A stored authorization request, as the sign-in UI and the accepting write read it."""

    client_id: str
    redirect_uri: str
    scopes: tuple[str, ...]
    state: str
    code_challenge: str
    nonce: str
    prompt: tuple[str, ...]
    max_age: int | None
    login_hint: str
    two_factors: bool
    created_at: int
    expires_at: int


class Accepted(enum.Enum):
    ACCEPTED = "accepted"
    CHALLENGE_GONE = "challenge_gone"  # used, expired or never issued
    SESSION_GONE = "session_gone"  # the UI session that accepted ended or was upgraded meanwhile
    ACCOUNT_GONE = "account_gone"  # locked meanwhile
    CONSENT_CHANGED = "consent_changed"  # the consent it relied on was withdrawn meanwhile


class Redeemed(enum.Enum):
    REDEEMED = "redeemed"
    REPLAYED = "replayed"  # redeemed before: the session it opened has now ended
    INVALID = "invalid"  # expired, unknown, or not this client's, verifier's or redirect URI's


class NewClientSession(NamedTuple):
    """A client session as the accepting write opens it: the code's tag and what its redemption must match."""

    nonce: str
    client_id: str
    scope: str
    amr: tuple[str, ...]
    auth_time: int
    parent: str
    code_tag: str
    code_challenge: str
    redirect_uri: str

    def entry(self, now: int, code_seconds: int) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "c": now,
            "x": now + code_seconds,  # an unredeemed code's session ends with the code
            "amr": list(self.amr),
            "a": self.auth_time,
            SESSION_CLIENT: self.client_id,
            SESSION_SCOPE: self.scope,
            PARENT: self.parent,
            CODE: self.code_tag,
            CODE_CHALLENGE: self.code_challenge,
            CODE_REDIRECT: redirect_digest(self.redirect_uri),
        }
        return entry


def redirect_digest(uri: str) -> str:
    """What a session entry keeps of a redirect URI: enough to compare, in 32 characters whatever its length."""
    return hashlib.sha256(uri.encode()).hexdigest()[:32]


def challenge_key(tag: str) -> str:
    return CHALLENGE_PREFIX + tag


class OAuthStore:
    def __init__(self, client: Any, table_name: str, accounts: AccountStore, sealer: Sealer, code_seconds: int) -> None:
        self._client = client
        self._table = table_name
        self._accounts = accounts
        self._sealer = sealer
        self._code_seconds = code_seconds

    # -- login challenges ----------------------------------------------------------------------------------------

    def save_challenge(self, key: str, request: AuthorizationRequest, now: int, expires_at: int) -> None:
        update = Update()
        fields: dict[str, str | int] = {
            "cl": request.client.client_id,
            "ru": request.redirect_uri,
            "sc": " ".join(request.scopes),
            "st": request.state,
            "cc": request.code_challenge,
            "t": now,
            TTL: expires_at,
        }
        if request.nonce:
            fields["nc"] = request.nonce
        if request.prompt:
            fields["pr"] = " ".join(request.prompt)
        if request.max_age is not None:
            fields["ma"] = request.max_age
        if request.login_hint:
            fields["lh"] = self._sealer.seal(request.login_hint, key)  # an address is never stored in the clear
        if request.two_factors:
            fields["af"] = 1
        for name, value in fields.items():
            update.set(f"{update.name(name)} = {update.value(value)}")
        # 256 random bits never collide: the condition only keeps a retried write from landing twice.
        update.require(f"attribute_not_exists({update.name('cl')})")
        conditional_update(self._client, self._table, key, update)

    def challenge(self, key: str, now: int) -> LoginRequest | None:
        """The unspent, unexpired challenge at ``key`` (read consistently), or None."""
        with guarded("dynamodb"):
            item = self._client.get_item(TableName=self._table, Key={"pk": {"S": key}}, ConsistentRead=True).get(
                "Item", {}
            )
        return self._request(key, item, now)

    def _request(self, key: str, item: Item, now: int) -> LoginRequest | None:
        if not item or "u" in item or read_number(item, TTL) <= now:
            return None
        hint = ""
        if "lh" in item:
            try:
                hint = self._sealer.open(read_string(item, "lh"), key)
            except Sealed:
                hint = ""  # a hint only saves typing: never shown wrong
        max_age = item.get("ma")
        return LoginRequest(
            read_string(item, "cl"),
            read_string(item, "ru"),
            tuple(read_string(item, "sc").split()),
            read_string(item, "st"),
            read_string(item, "cc"),
            read_string(item, "nc"),
            tuple(read_string(item, "pr").split()),
            None if max_age is None else read_number(item, "ma"),
            hint,
            "af" in item,
            read_number(item, "t"),
            read_number(item, TTL),
        )

    def _spend(self, update: Update, now: int) -> None:
        update.require(f"attribute_exists({update.name('cl')})")
        update.require(f"{update.name(TTL)} > {update.value(now)}")
        update.require(f"attribute_not_exists({update.name('u')})")
        update.set(f"{update.name('u')} = {update.value(now)}")

    def spend(self, key: str, now: int) -> LoginRequest | None:
        """Spend the challenge at ``key`` without a sign-in (the person declined, or none is possible): the
        request as it was, or None if it was already spent or expired."""
        update = Update()
        self._spend(update, now)
        done, item = conditional_update(self._client, self._table, key, update, "ALL_OLD")
        return self._request(key, item, now) if done else None

    def accept(
        self,
        key: str,
        home: str,
        account: Account,
        asking: Asking,
        session: NewClientSession,
        consent: str | None,
        relied_on: str | None,
        now: int,
        token: str,
    ) -> Accepted:
        """Spend the challenge at ``key`` and open ``session`` on the account's home, in one transaction.

        ``consent``: the scopes the person agreed to just now, recorded; ``relied_on``: the scopes of an earlier
        consent this acceptance stands on, which must still be there. ``token`` makes a retried transaction land
        once.
        """
        for attempt in (1, 2):
            spent = Update()
            self._spend(spent, now)
            opened = Update()
            opened.require(f"{opened.name('account')} = {opened.value(account.id)}")
            opened.require(f"{opened.name(STATUS)} = {opened.value(ACTIVE)}")
            opened.require(f"size({opened.name(SESSIONS)}) < {opened.value(self._accounts.most_entries)}")
            opened.require(f"attribute_not_exists({opened.name(SESSIONS, session.nonce)})")
            asking.require(opened, now)
            opened.set(
                f"{opened.name(SESSIONS, session.nonce)} = {opened.value(session.entry(now, self._code_seconds))}"
            )
            if consent is not None:
                record = {"s": consent, "t": now}
                if account.consents:
                    opened.require(f"attribute_exists({opened.name(CONSENTS)})")
                    opened.set(f"{opened.name(CONSENTS, session.client_id)} = {opened.value(record)}")
                else:
                    opened.require(f"attribute_not_exists({opened.name(CONSENTS)})")
                    opened.set(f"{opened.name(CONSENTS)} = {opened.value({session.client_id: record})}")
            elif relied_on is not None:
                opened.require(f"{opened.name(CONSENTS, session.client_id, 's')} = {opened.value(relied_on)}")
            refused = transact(self._client, self._table, [(key, spent), (home, opened)], token=f"{token}{attempt}")
            if refused is None:
                return Accepted.ACCEPTED
            challenge_item, home_item = refused
            if challenge_item:
                return Accepted.CHALLENGE_GONE
            if read_string(home_item, "account") != account.id or read_string(home_item, STATUS) != ACTIVE:
                return Accepted.ACCOUNT_GONE
            if not asking.still_in(home_item, now):
                return Accepted.SESSION_GONE
            consents = read_map(home_item, CONSENTS)
            if (consent is not None and bool(consents) != bool(account.consents)) or (
                relied_on is not None
                and read_string(consents.get(session.client_id, {}).get("M", {}), "s") != relied_on
            ):
                return Accepted.CONSENT_CHANGED
            if attempt == 1:
                # The sessions map was full: end the oldest, never the session asking (the person's own, in use).
                self._accounts.make_room(home, home_item, now, spare=asking.nonce)
        return Accepted.SESSION_GONE

    # -- codes and client sessions ------------------------------------------------------------------------------

    def redeem(
        self,
        home: str,
        nonce: str,
        code_tag: str,
        client_id: str,
        code_challenge: str,
        redirect_uri: str,
        expires_at: int,
        refresh_tag: str | None,
        now: int,
    ) -> tuple[Redeemed, Item]:
        """Redeem a code: its session entry must hold its tag, be this client's, and match the verifier's
        challenge and the redirect URI, unexpired, on an active account. Redeemed: the session lasts until
        ``expires_at`` with ``refresh_tag`` current (None: no refresh token), and the item as it was comes back
        (the nonce, the account). A code redeemed before ends the session it opened."""
        update = Update()
        field = lambda name: update.name(SESSIONS, nonce, name)  # noqa: E731
        update.require(f"{field(CODE)} = {update.value(code_tag)}")
        update.require(f"{field('x')} > {update.value(now)}")
        update.require(f"{field(SESSION_CLIENT)} = {update.value(client_id)}")
        update.require(f"{field(CODE_CHALLENGE)} = {update.value(code_challenge)}")
        update.require(f"{field(CODE_REDIRECT)} = {update.value(redirect_digest(redirect_uri))}")
        update.require(f"{update.name(STATUS)} = {update.value(ACTIVE)}")
        update.set(f"{field('x')} = {update.value(expires_at)}")
        if refresh_tag is not None:
            update.set(f"{field('h')} = {update.value(refresh_tag)}")
        for name in CODE_FIELDS:
            update.remove(SESSIONS, nonce, name)
        done, item = conditional_update(self._client, self._table, home, update, "ALL_OLD")
        if done:
            return Redeemed.REDEEMED, item
        entry = read_map(item, SESSIONS).get(nonce, {}).get("M")
        if entry is not None and CODE not in entry and read_string(entry, SESSION_CLIENT) == client_id:
            # A retry of this very redemption after a lost answer would look the same; RFC 6749 4.1.2 prefers
            # ending a session a stolen code may have opened to keeping one a lost answer did.
            self._accounts.revoke(home, nonce)
            return Redeemed.REPLAYED, item
        return Redeemed.INVALID, item

    def unredeem(self, home: str, nonce: str, before: Item, expires_at: int) -> None:
        """Put a redeemed code back as it was (its tokens could not be signed), if nothing used its session since:
        the client's retry with the same code then works, instead of being taken for a replay. ``before``: the
        item as the redeeming write found it; ``expires_at``: the expiry that write set."""
        entry = read_map(before, SESSIONS).get(nonce, {}).get("M", {})
        update = Update()
        field = lambda name: update.name(SESSIONS, nonce, name)  # noqa: E731
        update.require(f"attribute_not_exists({field(CODE)})")
        update.require(f"{field('x')} = {update.value(expires_at)}")
        for name in (*CODE_FIELDS, "x"):
            value = entry.get(name, {})
            update.set(f"{field(name)} = {update.value(int(value['N']) if 'N' in value else value.get('S', ''))}")
        update.remove(SESSIONS, nonce, "h")
        conditional_update(self._client, self._table, home, update)

    def end_with_parent(self, home: str, nonce: str) -> None:
        """End a client session and the UI session it came from (RP-initiated logout)."""
        with guarded("dynamodb"):
            item = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": home}},
                ProjectionExpression="#s",
                ExpressionAttributeNames={"#s": SESSIONS},
                ConsistentRead=True,
            ).get("Item", {})
        entries = read_map(item, SESSIONS)
        parent = read_string(entries.get(nonce, {}).get("M", {}), PARENT)
        update = Update()
        update.require(f"attribute_exists({update.name('account')})")
        for ended in (nonce, parent):
            if ended and ended in entries:
                update.remove(SESSIONS, ended)
        if update.removes:
            conditional_update(self._client, self._table, home, update)

    def withdraw_consent(self, home: str, account_id: str, client_id: str) -> bool:
        """Forget the person's consent to ``client_id`` and end that client's sessions; False if there was none."""
        names = Expression()
        with guarded("dynamodb"):
            item = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": home}},
                ProjectionExpression=f"{names.name(SESSIONS)}, {names.name(CONSENTS)}",
                ExpressionAttributeNames=names.names,
                ConsistentRead=True,
            ).get("Item", {})
        sessions = [
            nonce
            for nonce, entry in read_map(item, SESSIONS).items()
            if read_string(entry.get("M", {}), SESSION_CLIENT) == client_id
        ]
        if client_id not in read_map(item, CONSENTS) and not sessions:
            return False
        update = Update()
        update.require(f"{update.name('account')} = {update.value(account_id)}")
        update.remove(CONSENTS, client_id)
        for nonce in sessions:
            update.remove(SESSIONS, nonce)
        done, _ = conditional_update(self._client, self._table, home, update)
        return done  # refused: the account is gone, and nothing of it is left to withdraw
