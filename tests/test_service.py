"""The OTP service against a moto-backed store, with a fake mail sender and a controllable clock."""

from __future__ import annotations

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import boto3
import pytest

from chalicelib.accounts.identifiers import EMAIL, Identifier
from chalicelib.aws.dependencies import DependencyError
from chalicelib.config import Limits, Settings, Window
from chalicelib.core.refusals import InvalidCode, Throttled
from chalicelib.crypto import KeyedHasher
from chalicelib.otp.codes import Purpose
from chalicelib.otp.service import OtpService
from chalicelib.otp.store import CodeStore
from tests.conftest import FakeClock, SerializedClient, account_store, session_service

ALICE = Identifier(EMAIL, "alice@example.com")
BOB = Identifier(EMAIL, "bob@example.com")
KEY = b"k" * 32


class RecordingSender:
    """Keeps every code it is asked to deliver; can be told to fail like SES does."""

    def __init__(self) -> None:
        self.sent: list[tuple[Identifier, str, int]] = []
        self.failure: DependencyError | None = None
        self.purposes: list[Purpose] = []

    def send_code(self, to: Identifier, code: str, valid_minutes: int, purpose: Purpose = Purpose.SIGN_IN) -> None:
        self.purposes.append(purpose)
        if self.failure:
            raise self.failure
        self.sent.append((to, code, valid_minutes))

    def last_code(self, to: Identifier) -> str:
        return next(code for address, code, _ in reversed(self.sent) if address == to)


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


def make_service(settings: Settings, sender: RecordingSender, clock: FakeClock, **limits: object) -> OtpService:
    chosen = replace(settings.limits, **limits) if limits else settings.limits
    client = SerializedClient(boto3.client("dynamodb"))
    hasher = KeyedHasher(KEY)
    accounts = account_store(settings, chosen, hasher, client)
    store = CodeStore(client, settings.table_name, chosen, accounts, sleep=lambda _: None)
    sessions = session_service(settings, accounts, hasher, chosen)
    return OtpService(store, accounts, lambda kind: sender, sessions, hasher, chosen, clock)


@pytest.fixture
def service(settings: Settings, sender: RecordingSender, clock: FakeClock) -> OtpService:
    return make_service(settings, sender, clock)


def stored_items(settings: Settings) -> list[dict]:
    return boto3.client("dynamodb").scan(TableName=settings.table_name)["Items"]


def test_sent_code_verifies_once(service: OtpService, sender: RecordingSender) -> None:
    sent = service.send_code(ALICE, "192.0.2.1")
    assert (sent.expires_in, sent.resend_after) == (600, 30)
    to, code, minutes = sender.sent[-1]
    assert (to, minutes) == (ALICE, 10)
    service.verify_code(ALICE, code)
    with pytest.raises(InvalidCode):
        service.verify_code(ALICE, code)  # single use: a replay fails


def test_the_code_is_stored_only_as_a_keyed_digest(
    service: OtpService, sender: RecordingSender, settings: Settings
) -> None:
    service.send_code(ALICE, "192.0.2.1")
    code = sender.last_code(ALICE)
    dump = repr(stored_items(settings))
    assert code not in dump
    assert ALICE.value not in dump and "192.0.2.1" not in dump
    assert KeyedHasher(KEY).digest(ALICE.value, code) in dump


def test_a_code_is_bound_to_its_address(service: OtpService, sender: RecordingSender) -> None:
    service.send_code(ALICE, None)
    service.send_code(BOB, None)
    with pytest.raises(InvalidCode):
        service.verify_code(BOB, sender.last_code(ALICE))
    service.verify_code(BOB, sender.last_code(BOB))


def test_a_code_expires_after_its_lifetime(service: OtpService, sender: RecordingSender, clock: FakeClock) -> None:
    service.send_code(ALICE, None)
    clock.advance(600)
    with pytest.raises(InvalidCode):
        service.verify_code(ALICE, sender.last_code(ALICE))


def test_a_code_works_until_just_before_it_expires(
    service: OtpService, sender: RecordingSender, clock: FakeClock
) -> None:
    service.send_code(ALICE, None)
    clock.advance(599)
    service.verify_code(ALICE, sender.last_code(ALICE))


def test_every_item_carries_a_ttl_covering_its_longest_window(
    service: OtpService, settings: Settings, clock: FakeClock
) -> None:
    service.send_code(ALICE, "192.0.2.1")
    items = stored_items(settings)
    assert len(items) == 3  # the address, and the send counters of the address and of the source IP
    for item in items:
        assert clock.now < int(item["expires_at"]["N"]) <= clock.now + settings.limits.retention_seconds


def test_a_resend_replaces_the_previous_code(service: OtpService, sender: RecordingSender, clock: FakeClock) -> None:
    service.send_code(ALICE, None)
    first = sender.last_code(ALICE)
    clock.advance(30)
    service.send_code(ALICE, None)
    second = sender.last_code(ALICE)
    if first != second:  # one chance in a million that both draws are equal
        with pytest.raises(InvalidCode):
            service.verify_code(ALICE, first)
    service.verify_code(ALICE, second)


def test_wrong_guesses_are_limited_per_code(service: OtpService, sender: RecordingSender) -> None:
    service.send_code(ALICE, None)
    right = sender.last_code(ALICE)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    for _ in range(6):
        with pytest.raises(InvalidCode):
            service.verify_code(ALICE, wrong)
    with pytest.raises(InvalidCode):
        service.verify_code(ALICE, right)  # the seventh guess is refused even when right


def test_a_resend_gives_new_guesses_but_not_a_new_failure_budget(
    settings: Settings, sender: RecordingSender, clock: FakeClock
) -> None:
    service = make_service(settings, sender, clock, failure_budget=Window(8, 86_400))
    service.send_code(ALICE, None)
    for _ in range(6):
        with pytest.raises(InvalidCode):
            service.verify_code(ALICE, "000000" if sender.last_code(ALICE) != "000000" else "111111")
    clock.advance(30)
    service.send_code(ALICE, None)
    wrong = "000000" if sender.last_code(ALICE) != "000000" else "111111"
    for _ in range(2):
        with pytest.raises(InvalidCode):
            service.verify_code(ALICE, wrong)
    with pytest.raises(Throttled) as refused:
        service.verify_code(ALICE, sender.last_code(ALICE))
    assert refused.value.reason == "too_many_failures"
    assert 0 < refused.value.retry_after <= 86_400
    clock.advance(30)
    with pytest.raises(Throttled) as refused:
        service.send_code(ALICE, None)  # no point mailing a code that could not be used
    assert refused.value.reason == "too_many_failures"


def test_the_failure_budget_rolls_over_with_its_window(
    settings: Settings, sender: RecordingSender, clock: FakeClock
) -> None:
    service = make_service(settings, sender, clock, failure_budget=Window(2, 3_600))
    service.send_code(ALICE, None)
    wrong = "000000" if sender.last_code(ALICE) != "000000" else "111111"
    for _ in range(2):
        with pytest.raises(InvalidCode):
            service.verify_code(ALICE, wrong)
    with pytest.raises(Throttled) as refused:
        service.verify_code(ALICE, sender.last_code(ALICE))
    clock.advance(refused.value.retry_after)
    service.send_code(ALICE, None)
    service.verify_code(ALICE, sender.last_code(ALICE))


def test_a_successful_sign_in_clears_the_failure_budget(
    settings: Settings, sender: RecordingSender, clock: FakeClock
) -> None:
    service = make_service(settings, sender, clock, failure_budget=Window(5, 86_400))
    service.send_code(ALICE, None)
    wrong = "000000" if sender.last_code(ALICE) != "000000" else "111111"
    for _ in range(4):
        with pytest.raises(InvalidCode):
            service.verify_code(ALICE, wrong)
    service.verify_code(ALICE, sender.last_code(ALICE))
    clock.advance(30)
    service.send_code(ALICE, None)
    wrong = "000000" if sender.last_code(ALICE) != "000000" else "111111"
    for _ in range(4):  # a budget not cleared would refuse the second of these
        with pytest.raises(InvalidCode):
            service.verify_code(ALICE, wrong)
    service.verify_code(ALICE, sender.last_code(ALICE))


def test_unknown_and_known_addresses_fail_alike(service: OtpService, sender: RecordingSender) -> None:
    service.send_code(ALICE, None)
    outcomes = {}
    for address in (ALICE, BOB):
        for attempt in range(25):
            try:
                wrong = "999999" if sender.last_code(ALICE) != "999999" else "888888"
                service.verify_code(address, wrong, "198.51.100.7")
                outcome = "verified"
            except InvalidCode:
                outcome = "invalid"
            except Throttled as refused:
                outcome = f"throttled:{refused.reason}:{refused.retry_after}"
            outcomes.setdefault(address, []).append((attempt, outcome))
    assert outcomes[ALICE] == outcomes[BOB]  # the network's budget for each: 10 an hour
    assert outcomes[BOB][9][1] == "invalid" and outcomes[BOB][10][1].startswith("throttled:too_many_failures")


def test_resend_cooldown(service: OtpService, clock: FakeClock) -> None:
    service.send_code(ALICE, None)
    clock.advance(10)
    with pytest.raises(Throttled) as refused:
        service.send_code(ALICE, None)
    assert (refused.value.reason, refused.value.retry_after) == ("resend_cooldown", 20)
    clock.advance(20)
    service.send_code(ALICE, None)


def test_sends_per_address_are_limited_per_window(service: OtpService, clock: FakeClock) -> None:
    clock.now = 1_800_000_000 - 1_800_000_000 % 3600  # the start of a window
    for _ in range(5):
        service.send_code(ALICE, None)
        clock.advance(30)
    with pytest.raises(Throttled) as refused:
        service.send_code(ALICE, None)
    assert refused.value.reason == "send_quota_exceeded"
    assert refused.value.retry_after == 3600 - 150
    service.send_code(BOB, None)  # other addresses are unaffected
    clock.advance(refused.value.retry_after)
    service.send_code(ALICE, None)


def test_sends_per_ip_are_limited(settings: Settings, sender: RecordingSender, clock: FakeClock) -> None:
    service = make_service(settings, sender, clock, sends_per_ip=Window(3, 3_600))
    for n in range(3):
        service.send_code(Identifier(EMAIL, f"user{n}@example.com"), "198.51.100.7")
    with pytest.raises(Throttled) as refused:
        service.send_code(Identifier(EMAIL, "user9@example.com"), "198.51.100.7")
    assert refused.value.reason == "ip_quota_exceeded"
    service.send_code(Identifier(EMAIL, "user9@example.com"), "198.51.100.8")
    assert [to.value for to, _, _ in sender.sent][-1] == "user9@example.com"
    assert len(sender.sent) == 4


def test_a_refused_send_changes_nothing(service: OtpService, sender: RecordingSender, settings: Settings) -> None:
    service.send_code(ALICE, "192.0.2.1")
    before = stored_items(settings)
    with pytest.raises(Throttled):
        service.send_code(ALICE, "192.0.2.1")
    assert stored_items(settings) == before
    assert len(sender.sent) == 1


def test_a_failed_delivery_leaves_no_live_code_and_no_cooldown(
    service: OtpService, sender: RecordingSender, clock: FakeClock
) -> None:
    sender.failure = DependencyError("ses", False, "MessageRejected")
    with pytest.raises(DependencyError):
        service.send_code(ALICE, "192.0.2.1")
    sender.failure = None
    service.send_code(ALICE, "192.0.2.1")  # at once: the failed send did not start the cooldown
    service.verify_code(ALICE, sender.last_code(ALICE))


def test_a_failed_delivery_does_not_use_up_the_quotas(
    settings: Settings, sender: RecordingSender, clock: FakeClock
) -> None:
    service = make_service(settings, sender, clock, sends_per_address=Window(1, 3_600), sends_per_ip=Window(1, 3_600))
    sender.failure = DependencyError("ses", True, "TooManyRequestsException")
    for _ in range(3):
        with pytest.raises(DependencyError):
            service.send_code(ALICE, "192.0.2.1")
    sender.failure = None
    service.send_code(ALICE, "192.0.2.1")


def test_codes_use_the_configured_lifetime_and_length(
    settings: Settings, sender: RecordingSender, clock: FakeClock
) -> None:
    service = make_service(settings, sender, clock, code_ttl_seconds=900, code_digits=8)
    sent = service.send_code(ALICE, None)
    assert sent.expires_in == 900
    assert len(sender.last_code(ALICE)) == 8 and sender.sent[-1][2] == 15
    clock.advance(899)
    service.verify_code(ALICE, sender.last_code(ALICE))


def test_concurrent_wrong_guesses_never_get_past_the_limit(
    service: OtpService, sender: RecordingSender, settings: Settings
) -> None:
    """Each guess reserves its attempt before it is compared, so a burst cannot buy extra guesses."""
    service.send_code(ALICE, None)
    right = sender.last_code(ALICE)
    guesses = [f"{n:06d}" for n in range(100) if f"{n:06d}" != right][:60]
    outcomes: list[str] = []
    lock = threading.Lock()
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            for outcome in pool.map(lambda guess: _try(service, guess), guesses):
                with lock:
                    outcomes.append(outcome)
    finally:
        sys.setswitchinterval(switch_interval)
    assert set(outcomes) <= {"invalid", "throttled"}
    store_item = next(i for i in stored_items(settings) if "guesses" in i)
    assert int(store_item["guesses"]["N"]) == 6  # exactly the limit was evaluated, never more
    with pytest.raises((InvalidCode, Throttled)):
        service.verify_code(ALICE, right)


def test_concurrent_right_guesses_verify_exactly_once(service: OtpService, sender: RecordingSender) -> None:
    service.send_code(ALICE, None)
    right = sender.last_code(ALICE)
    with ThreadPoolExecutor(max_workers=20) as pool:
        outcomes = list(pool.map(lambda _: _try(service, right), range(20)))
    assert outcomes.count("verified") == 1
    assert outcomes.count("invalid") == 19


def _try(service: OtpService, code: str) -> str:
    try:
        service.verify_code(ALICE, code)
    except InvalidCode:
        return "invalid"
    except Throttled:
        return "throttled"
    return "verified"


def test_limits_default_to_the_security_model() -> None:
    limits = Limits()
    assert (limits.code_digits, limits.code_ttl_seconds, limits.max_guesses_per_code) == (6, 600, 6)
    assert limits.failure_budget == Window(50, 86_400)  # NIST's 100 consecutive at worst, across a boundary
    assert limits.failures_per_ip_and_address == Window(10, 3_600)
    assert limits.failures_per_ip == Window(100, 3_600)
    assert limits.resend_cooldown_seconds == 30 and limits.sends_per_address == Window(5, 3_600)


def test_replaying_the_used_code_is_refused_without_spending_the_budget(
    settings: Settings, sender: RecordingSender, clock: FakeClock
) -> None:
    service = make_service(settings, sender, clock, failure_budget=Window(2, 86_400))
    service.send_code(ALICE, None)
    code = sender.last_code(ALICE)
    service.verify_code(ALICE, code)
    for _ in range(5):  # a double-clicking browser, a retrying client
        with pytest.raises(InvalidCode):
            service.verify_code(ALICE, code)
    clock.advance(30)
    service.send_code(ALICE, None)  # not locked out by its own replays
    wrong = "000000" if sender.last_code(ALICE) != "000000" else "111111"
    for _ in range(2):
        with pytest.raises(InvalidCode):
            service.verify_code(ALICE, wrong)
    with pytest.raises(Throttled):  # real failures still count
        service.verify_code(ALICE, sender.last_code(ALICE))
