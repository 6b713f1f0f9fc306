"""chalicelib/otp/store.py's CodeStore on its own, over the in-process AWS: the contracts its docstrings state for
sends, their undoing and guesses, with digests and keys made up here (the service that hashes them is
tests/test_service.py's; the HTTP answers, tests/test_api.py's).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3
import pytest

from chalicelib.accounts.identifiers import EMAIL
from chalicelib.accounts.store import NewSession
from chalicelib.config import Limits, Settings, Window
from chalicelib.core.refusals import Throttled
from chalicelib.crypto import KeyedHasher
from chalicelib.otp.codes import code_ttl, resend_cooldown
from chalicelib.otp.store import CodeStore, GuessResult, SendTicket
from tests.conftest import FakeClock, account_store

KEY = "email#alice-digest"  # the identifier item's key, as the service names it: kind and keyed digest
NETWORK = "net#198.51.100.0"
OTHER_NETWORK = "net#203.0.113.0"


class Store:
    """A CodeStore with the stage's limits (or the ones given), and what a test reads of the table."""

    def __init__(self, settings: Settings, clock: FakeClock, **limits: Any) -> None:
        self.limits: Limits = replace(settings.limits, **limits)
        self.client = boto3.client("dynamodb")
        self.table = settings.table_name
        accounts = account_store(settings, self.limits, KeyedHasher(b"k" * 32), self.client)
        self.codes = CodeStore(self.client, self.table, self.limits, accounts, sleep=lambda _: None)
        self.clock = clock
        self.sessions = 0

    def ticket(self, digest: str, network: str | None = NETWORK) -> SendTicket:
        return SendTicket(KEY, EMAIL, network, digest, int(self.clock()))

    def send(self, digest: str, network: str | None = NETWORK) -> SendTicket:
        ticket = self.ticket(digest, network)
        self.codes.record_send(ticket)
        return ticket

    def guess(self, digest: str, network: str | None = NETWORK) -> GuessResult:
        self.sessions += 1
        now = int(self.clock())
        session = NewSession(f"nonce{self.sessions:06d}", f"tag{self.sessions}", now, now + 3600, ("otp",))
        return self.codes.check_guess(KEY, digest, now, session, network).result

    def item(self, key: str = KEY) -> dict[str, Any]:
        return self.client.get_item(TableName=self.table, Key={"pk": {"S": key}}, ConsistentRead=True).get("Item", {})

    def wait_out_cooldown(self) -> None:
        self.clock.advance(resend_cooldown(self.limits, EMAIL))


@pytest.fixture
def store(settings: Settings, clock: FakeClock) -> Store:
    return Store(settings, clock)


def refusal(call: Any) -> tuple[str, int]:
    with pytest.raises(Throttled) as refused:
        call()
    return refused.value.reason, refused.value.retry_after


# -- sending -------------------------------------------------------------------------------------------------


def test_a_send_makes_its_code_the_only_live_one(store: Store) -> None:
    store.send("first")
    store.wait_out_cooldown()
    store.send("second")
    assert store.item()["code"] == {"S": "second"}
    assert store.guess("first") is GuessResult.WRONG
    assert store.guess("second") is GuessResult.RIGHT


def test_a_send_within_the_cooldown_is_refused_with_the_wait_and_changes_nothing(store: Store) -> None:
    store.send("first")
    before = store.item()
    store.clock.advance(10)
    assert refusal(lambda: store.send("second")) == ("resend_cooldown", resend_cooldown(store.limits, EMAIL) - 10)
    assert store.item() == before


def test_the_first_spent_limit_named_is_the_network_s_before_the_identifier_s(
    settings: Settings, clock: FakeClock
) -> None:
    store = Store(settings, clock, sends_per_ip=Window(1, 3600), sends_per_address=Window(1, 3600))
    store.send("first")
    store.wait_out_cooldown()
    # Both the network's quota and the address's are spent: the answer tells nothing about the address.
    assert refusal(lambda: store.send("second"))[0] == "ip_quota_exceeded"
    # From another network only the address's own quota is left to refuse it.
    assert refusal(lambda: store.send("second", OTHER_NETWORK))[0] == "send_quota_exceeded"
    assert store.item()["code"] == {"S": "first"}


def test_undoing_a_send_leaves_no_live_code_and_gives_back_its_cooldown_and_quotas(
    settings: Settings, clock: FakeClock
) -> None:
    store = Store(settings, clock, sends_per_ip=Window(1, 3600), sends_per_address=Window(1, 3600))
    ticket = store.send("never-delivered")
    store.codes.undo_send(ticket)
    assert "code" not in store.item()
    assert store.guess("never-delivered") is GuessResult.WRONG
    store.send("delivered")  # at once, and from the same network: nothing of the first send is counted
    assert store.guess("delivered") is GuessResult.RIGHT


def test_undoing_a_send_that_was_replaced_does_nothing(store: Store) -> None:
    stale = store.send("first")
    store.wait_out_cooldown()
    store.send("second")
    before = store.item()
    store.codes.undo_send(stale)
    assert store.item() == before
    assert store.guess("second") is GuessResult.RIGHT


# -- verifying -----------------------------------------------------------------------------------------------


def test_a_code_works_once(store: Store) -> None:
    store.send("code")
    assert store.guess("code") is GuessResult.RIGHT
    assert store.guess("code") is GuessResult.REPLAYED  # answered as any wrong code, counted as no one's failure


def test_a_code_takes_only_its_share_of_guesses(store: Store) -> None:
    store.send("code")
    for n in range(store.limits.max_guesses_per_code):
        assert store.guess(f"wrong-{n}") is GuessResult.WRONG
    assert store.guess("code") is GuessResult.WRONG  # right, but the code is out of guesses


def test_a_code_is_dead_at_its_expiry(store: Store) -> None:
    store.send("code")
    store.clock.advance(code_ttl(store.limits, EMAIL))
    assert store.guess("code") is GuessResult.WRONG


def test_a_guess_without_a_live_code_writes_nothing_to_the_identifier(store: Store) -> None:
    assert store.guess("anything") is GuessResult.WRONG
    assert store.item() == {}
    store.send("code")
    store.clock.advance(code_ttl(store.limits, EMAIL))
    expired = store.item()
    assert store.guess("code") is GuessResult.WRONG
    assert store.item() == expired


def test_the_identifier_s_ceiling_refuses_every_guess_and_send_once_spent(settings: Settings, clock: FakeClock) -> None:
    store = Store(settings, clock, failure_budget=Window(2, 3600), max_guesses_per_code=10)
    store.send("code")
    assert [store.guess("wrong", f"net#{n}") for n in range(2)] == [GuessResult.WRONG] * 2
    reason, wait = refusal(lambda: store.guess("code", "net#another"))
    assert reason == "too_many_failures" and 0 < wait <= 3600
    store.wait_out_cooldown()
    assert refusal(lambda: store.send("new"))[0] == "too_many_failures"


def test_a_network_over_its_budget_across_identifiers_is_refused_first(settings: Settings, clock: FakeClock) -> None:
    store = Store(settings, clock, failures_per_ip=Window(2, 3600), failure_budget=Window(100, 3600))
    for _ in range(2):
        store.guess("wrong")  # no live code: counted against the network only
    store.send("code")
    assert refusal(lambda: store.guess("code"))[0] == "ip_failure_quota_exceeded"
    # The right code was given back, not used up: its owner, elsewhere, still signs in with it.
    assert store.guess("code", OTHER_NETWORK) is GuessResult.RIGHT
