"""chalicelib/admin/store.py's AdminStore on its own, over the in-process AWS: lookups, an action and its audit
entry as one transaction, and the audit trail's pages, as the module's docstrings state them. An account is made
the way a person makes one (a code sent and verified, tests/test_service.py's service); the admin routes and the
audit trail across months and retention are tests/test_admin.py's.
"""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from chalicelib.accounts.identifiers import EMAIL, Identifier
from chalicelib.accounts.passkeys import credential_key
from chalicelib.admin.actions import Action
from chalicelib.admin.store import AUDIT_PREFIX, Actor, AdminStore, AuditEntry, Found
from chalicelib.config import Settings
from chalicelib.core.refusals import PasskeyNotFound, UserNotFound
from chalicelib.core.schema import LOCKED
from chalicelib.crypto import KeyedHasher
from chalicelib.otp.service import OtpService
from tests.conftest import FakeClock
from tests.dynamodb_size import item_size
from tests.test_service import KEY, RecordingSender, make_service

ALICE = Identifier(EMAIL, "alice@example.com")
ADMIN = Actor("11111111-1111-4111-8111-111111111111", "a***@example.com")
REASON = "asked by alice@example.com on the phone"


class Rig:
    def __init__(self, settings: Settings, clock: FakeClock) -> None:
        self.sender = RecordingSender()
        self.otp: OtpService = make_service(settings, self.sender, clock)
        self.client = boto3.client("dynamodb")
        self.table = settings.table_name
        self.store = AdminStore(self.client, self.table, self.otp._accounts, KeyedHasher(KEY).sealer(), 400)
        self.clock = clock

    def account(self, who: Identifier = ALICE) -> str:
        """The id of ``who``'s account, made by signing in."""
        self.otp.send_code(who, None)
        return self.otp.verify_code(who, self.sender.last_code(who)).account.id  # type: ignore[union-attr]

    def found(self, account_id: str) -> Found:
        found = self.store.home_by_id(account_id)
        assert found is not None
        return found

    def act(self, action: Action, account_id: str, request_id: str = "req-1") -> Any:
        self.clock.advance(1)
        return self.store.act(action, self.found(account_id), [], ADMIN, REASON, request_id, int(self.clock() * 1000))

    def audit_items(self) -> list[dict[str, Any]]:
        items = self.client.scan(TableName=self.table, ConsistentRead=True)["Items"]
        return [item for item in items if item["pk"]["S"].startswith(AUDIT_PREFIX)]


@pytest.fixture
def rig(settings: Settings, clock: FakeClock) -> Rig:
    return Rig(settings, clock)


def test_an_account_is_found_by_its_id_and_by_its_home_key_and_nothing_else(rig: Rig) -> None:
    account_id = rig.account()
    found = rig.found(account_id)
    assert found.account.id == account_id and found.account.identifiers == {EMAIL: ALICE.value}
    by_key = rig.store.home(found.key)
    assert by_key is not None and by_key.account == found.account
    assert rig.store.home_by_id("22222222-2222-4222-8222-222222222222") is None
    assert rig.store.home(found.key + "x") is None


def test_an_action_lands_with_its_audit_entry_whose_reason_is_sealed(rig: Rig) -> None:
    account_id = rig.account()
    entry = rig.act(Action.LOCK, account_id)
    found = rig.found(account_id)
    assert found.account.status == LOCKED and rig.store.live_sessions(found, int(rig.clock())) == 0
    (item,) = rig.audit_items()
    assert REASON not in str(item)  # an admin may quote personal data in a reason
    entries, _ = rig.store.audit(10, None, int(rig.clock()))
    assert entries == [entry]
    assert (entry.action, entry.target, entry.actor, entry.reason) == (
        Action.LOCK.value,
        account_id,
        ADMIN.account_id,
        REASON,
    )
    assert entry.target_identifiers == {EMAIL: ALICE.value}
    assert ALICE.value not in str(item)  # the identifiers too are sealed: a dumped table holds no address


def test_an_entry_names_the_identifiers_the_account_had_when_the_admin_acted(rig: Rig) -> None:
    account_id = rig.account()
    rig.act(Action.SIGN_OUT, account_id)
    home = rig.found(account_id).key
    rig.client.delete_item(TableName=rig.table, Key={"pk": {"S": home}})  # the account is gone since
    (entry,), _ = rig.store.audit(10, None, int(rig.clock()))
    assert entry.target_identifiers == {EMAIL: ALICE.value}


def test_sealed_identifiers_moved_onto_another_entry_do_not_open(rig: Rig) -> None:
    rig.act(Action.SIGN_OUT, rig.account())
    rig.act(Action.SIGN_OUT, rig.account(Identifier(EMAIL, "bob@example.com")))
    first, second = rig.audit_items()
    rig.client.update_item(
        TableName=rig.table,
        Key={"pk": first["pk"]},
        UpdateExpression="SET target_ids = :moved",
        ExpressionAttributeValues={":moved": second["target_ids"]},
    )
    entries, _ = rig.store.audit(10, None, int(rig.clock()))
    moved = next(entry for entry in entries if entry.cursor == first["audit_at"]["S"])
    assert moved.target_identifiers == {}  # never shown wrong; the rest of the entry still stands


def test_the_largest_audit_entry_is_under_its_stated_bound() -> None:
    """docs/item-layout.md: under 4 KB with the longest reason (500 four-byte characters), address and number."""
    sealer = KeyedHasher(KEY).sealer()
    store = AdminStore(None, "table", None, sealer, 400)  # type: ignore[arg-type]
    address = "a" * 64 + "@" + ".".join(["b" * 63, "b" * 63, "b" * 58]) + ".cc"
    assert len(address) == 254
    entry = AuditEntry(
        10**13 - 1,
        "11111111-1111-4111-8111-111111111111",
        "a" * 254,
        "clear_failures",
        "22222222-2222-4222-8222-222222222222",
        {EMAIL: address, "phone": "+" + "9" * 15},
        "\U0001f600" * 500,
        "r" * 64,
        f"{10**13 - 1:013d}#" + "r" * 64,
        "f" * 32,  # a delete_passkey's: the passkey it removed
    )
    item = store._audit_put(str(uuid.uuid4()), entry)["Item"]
    assert item_size(item) < 4 * 1024


def test_an_action_on_an_account_no_longer_there_writes_nothing(rig: Rig) -> None:
    account_id = rig.account()
    stale = rig.found(account_id)
    rig.client.delete_item(TableName=rig.table, Key={"pk": {"S": stale.key}})
    with pytest.raises(UserNotFound):
        rig.store.act(Action.LOCK, stale, [], ADMIN, REASON, "req-1", int(rig.clock() * 1000))
    assert rig.audit_items() == []  # no entry without its action
    assert rig.store.home(stale.key) is None  # and the condition created no home


def test_the_audit_trail_pages_newest_first(rig: Rig) -> None:
    account_id = rig.account()
    made = [
        rig.act(action, account_id, f"req-{n}")
        for n, action in enumerate((Action.LOCK, Action.UNLOCK, Action.CLEAR_FAILURES))
    ]
    now = int(rig.clock())
    first, cursor = rig.store.audit(2, None, now)
    assert first == made[:0:-1] and cursor == made[1].cursor
    rest, last = rig.store.audit(2, cursor, now)
    assert (rest, last) == ([made[0]], None)
    # A cursor from a clock running ahead reads as now.
    assert rig.store.audit(10, f"{(now + 86_400) * 1000:013d}#", now)[0] == made[::-1]


def test_a_sealed_reason_copied_onto_another_entry_does_not_open_there(rig: Rig) -> None:
    account_id = rig.account()
    rig.act(Action.LOCK, account_id, "req-1")
    rig.act(Action.UNLOCK, account_id, "req-2")
    older, newer = sorted(rig.audit_items(), key=lambda item: item["audit_at"]["S"])
    rig.client.update_item(
        TableName=rig.table,
        Key={"pk": newer["pk"]},
        UpdateExpression="SET reason = :r",
        ExpressionAttributeValues={":r": older["reason"]},
    )
    (newest, oldest), _ = rig.store.audit(10, None, int(rig.clock()))
    assert (newest.reason, newest.action) == ("", Action.UNLOCK.value)  # the rest of the entry still stands
    assert oldest.reason == REASON


def with_passkey(rig: Rig, account_id: str, digest: str, name: str, synced: bool = False) -> None:
    """A passkey as registration leaves it (chalicelib/passkeys/store.py): listed on the home, and its item."""
    found = rig.found(account_id)
    sealed = KeyedHasher(KEY).sealer().seal(name, f"{found.key}/passkey/{digest}")
    flag = "1" if synced else "0"
    entry = {"i": {"S": "credential-id"}, "n": {"S": sealed}, "c": {"N": "7"}, "u": {"N": "0"}, "be": {"N": flag}}
    rig.client.update_item(
        TableName=rig.table,
        Key={"pk": {"S": found.key}},
        UpdateExpression="SET passkeys = if_not_exists(passkeys, :empty)",
        ExpressionAttributeValues={":empty": {"M": {}}},
    )
    rig.client.update_item(
        TableName=rig.table,
        Key={"pk": {"S": found.key}},
        UpdateExpression="SET passkeys.#d = :entry",
        ExpressionAttributeNames={"#d": digest},
        ExpressionAttributeValues={":entry": {"M": entry}},
    )
    item = {"pk": {"S": credential_key(digest)}, "owner": {"S": account_id}, "home": {"S": found.key}}
    rig.client.put_item(TableName=rig.table, Item=item)


def test_the_passkeys_are_listed_with_their_names_opened(rig: Rig) -> None:
    account_id = rig.account()
    with_passkey(rig, account_id, "a" * 32, "Laptop", synced=True)
    with_passkey(rig, account_id, "b" * 32, "Phone")
    found = rig.found(account_id)
    # A name sealed for another passkey does not open here: it reads empty, never wrong.
    moved = found.item["passkeys"]["M"]["a" * 32]["M"]["n"]
    rig.client.update_item(
        TableName=rig.table,
        Key={"pk": {"S": found.key}},
        UpdateExpression="SET passkeys.#d.n = :n",
        ExpressionAttributeNames={"#d": "b" * 32},
        ExpressionAttributeValues={":n": moved},
    )
    listed = rig.store.passkeys(rig.found(account_id))
    assert [(passkey.id, passkey.name, passkey.synced) for passkey in listed] == [
        ("a" * 32, "Laptop", True),
        ("b" * 32, "", False),
    ]


def test_removing_a_passkey_removed_meanwhile_writes_nothing(rig: Rig) -> None:
    account_id = rig.account()
    with_passkey(rig, account_id, "a" * 32, "Laptop")
    found = rig.found(account_id)  # the admin's read, before its owner removed it
    rig.client.update_item(
        TableName=rig.table,
        Key={"pk": {"S": found.key}},
        UpdateExpression="REMOVE passkeys.#d",
        ExpressionAttributeNames={"#d": "a" * 32},
    )
    with pytest.raises(PasskeyNotFound):
        rig.store.act(Action.DELETE_PASSKEY, found, [], ADMIN, REASON, "req-1", 1, passkey="a" * 32)
    assert rig.audit_items() == [] and rig.store.live_sessions(rig.found(account_id), int(rig.clock())) == 1


def test_removing_a_passkey_deletes_its_item_and_entry_with_the_audit_entry(rig: Rig) -> None:
    account_id = rig.account()
    with_passkey(rig, account_id, "a" * 32, "Laptop")
    with_passkey(rig, account_id, "b" * 32, "Phone")
    entry = rig.store.act(
        Action.DELETE_PASSKEY, rig.found(account_id), [], ADMIN, REASON, "req-1", 1_000, passkey="a" * 32
    )
    assert entry.action == "delete_passkey" and len(rig.audit_items()) == 1
    (audited,) = rig.audit_items()
    assert audited["passkey"] == {"S": "a" * 32}  # the trail says which passkey went
    assert rig.store._entry(audited).passkey == "a" * 32  # and is read back
    found = rig.found(account_id)
    assert [passkey.id for passkey in rig.store.passkeys(found)] == ["b" * 32]
    assert rig.store.live_sessions(found, int(rig.clock())) == 0
    assert "Item" not in rig.client.get_item(TableName=rig.table, Key={"pk": {"S": credential_key("a" * 32)}})
    assert "Item" in rig.client.get_item(TableName=rig.table, Key={"pk": {"S": credential_key("b" * 32)}})
