"""Items stay small whatever the use: driven far past a session's life with a fake clock, measured with
DynamoDB's own size formula (moto enforces neither the 400 KB item limit nor the 4 KB expression limit).

The bound is the one docs/item-layout.md states: the home item of an account, with the longest address and
every session slot holding every optional field, stays under ``HOME_ITEM_BOUND`` bytes with default settings.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pyotp
import pytest

from chalicelib.accounts.identifiers import EMAIL, Identifier
from chalicelib.accounts.sessions import SessionService
from chalicelib.accounts.store import AccountStore
from chalicelib.accounts.tokens import Claims
from chalicelib.config import Limits, Settings, Window
from chalicelib.core.expressions import Update
from chalicelib.core.refusals import InvalidCode, SessionRejected
from chalicelib.crypto import KeyedHasher
from chalicelib.mfa import recovery, totp
from chalicelib.mfa.answers import Proof
from chalicelib.mfa.challenge import Challenges
from chalicelib.mfa.service import MfaService
from chalicelib.mfa.store import CONSECUTIVE_CEILING, MfaStore
from chalicelib.oauth import clients
from chalicelib.otp.service import OtpService
from chalicelib.otp.store import CodeStore
from chalicelib.passkeys import service as passkey_service
from chalicelib.passkeys import store as passkey_store
from tests.aws_calls import RECORDER
from tests.conftest import FakeClock
from tests.dynalite import TABLE, dynalite_table
from tests.dynamodb_size import ITEM_LIMIT_BYTES, item_size

HOME_ITEM_BOUND = 40 * 1024  # docs/item-layout.md
EXPRESSION_LIMIT = 4096
ALICE = "alice@example.com"
LONGEST = "a" * 64 + "@" + ("b" * 62 + ".") * 2 + "c" * 61 + ".com"  # 254 characters, the RFC 5321 maximum


class UnsignedTokens:
    """Access tokens without KMS: these tests measure the table, not the signature."""

    def issue(self, subject: str, session_id: str, now: int, profile: Any) -> tuple[str, int]:
        claims = "/".join(str(profile[name]) for name in ("aal", "auth_time", "gen"))
        return f"token-for-{session_id}/{subject}/{now}/{claims}", now + 3600

    def verify(self, token: str, now: int) -> Claims:
        session_id, subject, issued, *claims = token.removeprefix("token-for-").split("/")
        aal, auth_time, generation = map(int, claims)
        return Claims(subject, session_id, int(issued), int(issued) + 3600, aal, auth_time, generation)


class Mailbox:
    def __init__(self) -> None:
        self.codes: dict[str, str] = {}

    def send_code(self, to: Identifier, code: str, valid_minutes: int, purpose: object = None) -> None:
        self.codes[to.value] = code


class Rig:
    def __init__(self, dynamodb: Any, table: str, clock: FakeClock, limits: Limits) -> None:
        self.dynamodb = dynamodb
        self.table = table
        self.hasher = KeyedHasher(b"k" * 32)
        self.accounts = AccountStore(self.dynamodb, self.table, self.hasher.sealer(), limits)
        self.sessions = SessionService(self.accounts, UnsignedTokens(), self.hasher, limits)  # type: ignore[arg-type]
        store = CodeStore(self.dynamodb, self.table, limits, self.accounts, sleep=lambda _: None)
        self.mailbox = Mailbox()
        self.service = OtpService(
            store, self.accounts, lambda kind: self.mailbox, self.sessions, self.hasher, limits, clock
        )
        self.largest = 0

    def home(self, email: str) -> dict[str, Any]:
        key = {"pk": {"S": self.hasher.subject_key("email", email)}}
        return self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True).get("Item", {})

    def measure(self, email: str) -> int:
        size = item_size(self.home(email))
        self.largest = max(self.largest, size)
        return size


@pytest.fixture
def rig(settings: Settings, clock: FakeClock) -> Rig:
    """On moto: the sign-in path needs transactions, which dynalite lacks."""
    return Rig(boto3.client("dynamodb"), settings.table_name, clock, settings.limits)


@pytest.fixture
def strict_rig(clock: FakeClock) -> Iterator[Rig]:
    """On dynalite, which refuses items over 400 KB as DynamoDB does (send and sign-in seeded on it by hand)."""
    with dynalite_table() as client:
        yield Rig(client, TABLE, clock, Limits())


def test_ten_thousand_refreshes_of_one_session_leave_its_item_as_it_was(strict_rig: Rig, clock: FakeClock) -> None:
    rig = strict_rig
    issued = sign_in_without_transactions(rig, ALICE, int(clock()))
    after_sign_in = rig.measure(ALICE)
    first, token = issued.refresh_token, issued.refresh_token
    for n in range(10_000):
        clock.advance(30)  # one refresh every 30 s: 3.5 days, inside the session's 5
        token = rig.sessions.refresh(token, int(clock())).refresh_token
        if n % 500 == 0:
            rig.measure(ALICE)
    assert rig.measure(ALICE) <= after_sign_in + 2 * 40  # the retired tag and when it retired: nothing more
    assert rig.largest <= HOME_ITEM_BOUND
    assert first != token


def test_the_first_of_many_retired_refresh_tokens_is_still_recognised_as_reuse(rig: Rig, clock: FakeClock) -> None:
    """No list of retired tokens: the tag proves a token genuine, so any old one ends the session."""
    rig.service.send_code(Identifier(EMAIL, ALICE), None)
    first = token = rig.service.verify_code(Identifier(EMAIL, ALICE), rig.mailbox.codes[ALICE]).refresh_token
    for _ in range(200):
        clock.advance(30)
        token = rig.sessions.refresh(token, int(clock())).refresh_token
    with pytest.raises(SessionRejected, match="reused"):
        rig.sessions.refresh(first, int(clock()))
    with pytest.raises(SessionRejected, match="invalid"):
        rig.sessions.refresh(token, int(clock()))  # the whole session ended with it


def sign_in_without_transactions(rig: Rig, email: str, now: int) -> Any:
    """A session as a right code opens it, on an engine without transactions: the send's identifier write alone
    (its counters are other items), then the guess and the settling write through the service's own stores."""
    key = rig.hasher.subject_key("email", email)
    update = Update()
    a, v = update.name, update.value
    update.set(f"{a('code')} = {v(rig.hasher.digest(email, '123456'))}, {a('code_expires_at')} = {v(now + 600)}")
    update.set(f"{a('guesses')} = {v(0)}, {a('sent_at')} = {v(now)}")
    rig.accounts.prepare(update)
    rig.dynamodb.update_item(**update.request(rig.table, key))
    return rig.service.verify_code(Identifier(EMAIL, email), "123456")


@pytest.mark.slow  # hundreds of sign-ins on moto: most of a minute, so make test's only
def test_four_hundred_sign_ins_of_one_account_stay_under_the_bound(rig: Rig, clock: FakeClock) -> None:
    """Eight times round the 50-session cap, with mistyped codes, refreshes and weeks away between."""
    account_ids = set()
    for n in range(400):
        rig.service.send_code(Identifier(EMAIL, LONGEST), None)
        if n % 7 == 0:
            with pytest.raises(InvalidCode):  # a mistyped code now and then: the failure budget's attributes
                wrong = "000000" if rig.mailbox.codes[LONGEST] != "000000" else "111111"
                rig.service.verify_code(Identifier(EMAIL, LONGEST), wrong)
        issued = rig.service.verify_code(Identifier(EMAIL, LONGEST), rig.mailbox.codes[LONGEST])
        account_ids.add(issued.account.id)
        if n % 3 == 0:
            rig.sessions.refresh(issued.refresh_token, int(clock()))
        if n % 5 == 0:
            rig.measure(LONGEST)
        clock.advance(721 if n % 50 else 7 * 86_400)  # 5 sends an hour; now and then a week away
    assert len(account_ids) == 1
    item = rig.home(LONGEST)
    assert len(item["sessions"]["M"]) <= rig.accounts.most_entries
    assert rig.largest <= HOME_ITEM_BOUND, rig.largest


def test_the_largest_home_item_the_design_allows_is_under_the_stated_bound(settings: Settings) -> None:
    """Every slot of the sessions map full, every optional field set, the longest address, the largest numbers."""
    limits = settings.limits
    hasher = KeyedHasher(b"k" * 32)
    key = hasher.subject_key("email", LONGEST)
    big = 10**10 - 1
    entry = {
        "M": {
            "c": {"N": str(big)},
            "x": {"N": str(big)},
            "r": {"N": str(big)},
            "h": {"S": "f" * 32},
            "hp": {"S": "f" * 32},
            "hg": {"S": "f" * 32},
            "amr": {"L": [{"S": "swk"}, {"S": "user"}, {"S": "mfa"}]},  # a passkey's: the longest
            "a": {"N": str(big)},
            "g": {"N": str(big)},
            "t": {"N": str(limits.mfa_attempts_per_token)},
            # A client session (chalicelib/oauth/store.py): its client, scopes and parent, and its code's fields.
            "cl": {"S": "c" * 64},
            "sc": {"S": " ".join(clients.SCOPES)},
            "p": {"S": "n" * 11},
            "k": {"S": "f" * 32},
            "kc": {"S": "c" * 43},
            "kr": {"S": "f" * 32},
        }
    }
    sessions = {f"{n:011d}": entry for n in range(limits.max_sessions + limits.max_guesses_per_code)}
    item = {
        "pk": {"S": key},
        "v": {"N": "1"},
        "pinned": {"S": "never"},
        "expires_at": {"S": "never"},
        "code": {"S": "f" * 32},
        "last_guess": {"S": "f" * 32},
        "code_expires_at": {"N": str(big)},
        "guesses": {"N": str(limits.max_guesses_per_code)},
        "sent_at": {"N": str(big)},
        "prev_sent_at": {"N": str(big)},
        "fails": {"N": str(limits.failure_budget.limit)},
        "fails_w": {"N": str(big)},
        "account": {"S": "f" * 36},
        "status": {"S": "active"},
        "created_at": {"N": str(big)},
        "last_sign_in_at": {"N": str(big)},
        "ids": {
            "M": {
                "email": {"S": hasher.sealer().seal(LONGEST, key)},
                "phone": {"S": hasher.sealer().seal("+" + "9" * 15, key)},
            }
        },  # E.164's longest
        "sessions": {"M": sessions},
        **largest_second_factor(key, hasher),
        **largest_passkeys(key, hasher, limits),
        # A consent to every client a stage may declare, each to every scope.
        "consents": {
            "M": {
                f"{n:064d}": {"M": {"s": {"S": " ".join(clients.SCOPES)}, "t": {"N": str(big)}}}
                for n in range(clients.MAX_CLIENTS)
            }
        },
    }
    assert item_size(item) <= HOME_ITEM_BOUND < ITEM_LIMIT_BYTES
    # A linked phone's item: the same code state and slots, and where its account lives instead of the account.
    linked = {
        name: value
        for name, value in item.items()
        if name not in ("account", "status", "created_at", "last_sign_in_at", "ids")
    }
    linked.update(pk={"S": hasher.subject_key("phone", "+" + "9" * 15)}, home={"S": key}, home_account={"S": "f" * 36})
    assert item_size(linked) < item_size(item)


def largest_passkeys(key: str, hasher: KeyedHasher, limits: Limits) -> dict[str, Any]:
    """``passkeys`` full (``OTP_MAX_PASSKEYS`` at its highest), each with the longest credential id the service
    takes, the longest name in 4-byte UTF-8, sealed, and the largest numbers (chalicelib/passkeys/store.py)."""
    assert limits.max_passkeys <= Limits.__dataclass_fields__["max_passkeys"].metadata["declaration"].maximum == 10
    big = {"N": str(10**10 - 1)}
    entries = {}
    for n in range(10):
        digest = f"{n:032x}"
        entries[digest] = {
            "M": {
                "i": {"S": "A" * passkey_service.MAX_CREDENTIAL_ID_CHARS},
                "n": {
                    "S": hasher.sealer().seal("\U0001f511" * passkey_store.MAX_NAME_CHARS, f"{key}/passkey/{digest}")
                },
                "c": big,
                "u": big,
                "be": {"N": "1"},
                "bs": {"N": "1"},
                "ag": {"S": "f" * 36},
            }
        }
    return {"passkeys": {"M": entries}}


def largest_second_factor(key: str, hasher: KeyedHasher) -> dict[str, Any]:
    """``mfa`` with every field at its largest and ten recovery codes, and a pending enrollment beside it."""
    sealed = MfaStore(None, TABLE, hasher.sealer(), Limits()).seal(key, totp.new_secret())
    big = {"N": str(10**10 - 1)}
    codes = {recovery.digest(hasher, key, recovery.normalised(code) or ""): {"N": "1"} for code in recovery.new_codes()}
    assert len(codes) == recovery.COUNT
    return {
        "mfa": {
            "M": {
                "s": {"S": sealed},
                "u": big,
                "f": big,
                "fw": big,
                "cf": {"N": str(CONSECUTIVE_CEILING)},
                "rc": {"M": codes},
            }
        },
        "mfa_p": {"M": {"s": {"S": sealed}, "t": big}},
    }


@pytest.mark.slow  # hundreds of sign-ins on moto: most of a minute, so make test's only
def test_a_second_factor_in_use_leaves_the_item_within_its_own_bound(settings: Settings, clock: FakeClock) -> None:
    """Drive enrollment, sign-ins with both factors, failures, recovery codes and their renewal: the ``mfa``
    and ``mfa_p`` attributes never outgrow the largest shape above."""
    limits = replace(settings.limits, resend_cooldown_seconds=0, sends_per_address=Window(1_000, 3_600))
    rig = Rig(boto3.client("dynamodb"), settings.table_name, clock, limits)
    challenges = Challenges(rig.hasher, limits)
    rig.service = OtpService(
        CodeStore(rig.dynamodb, rig.table, limits, rig.accounts, sleep=lambda _: None),
        rig.accounts,
        lambda kind: rig.mailbox,
        rig.sessions,
        rig.hasher,
        limits,
        clock,
        challenges,
    )
    mfa = MfaService(
        MfaStore(rig.dynamodb, rig.table, rig.hasher.sealer(), limits),
        challenges,
        rig.sessions,
        rig.accounts,
        rig.hasher,
        limits,
        "OTP Sign-in",
    )
    key = rig.hasher.subject_key("email", LONGEST)
    bound = item_size(largest_second_factor(key, rig.hasher))

    def first_factor() -> Any:
        rig.service.send_code(Identifier(EMAIL, LONGEST), None)
        return rig.service.verify_code(Identifier(EMAIL, LONGEST), rig.mailbox.codes[LONGEST])

    session = first_factor()
    principal = rig.sessions.authenticate(session.access_token, int(clock()))
    secret = mfa.enroll(principal, int(clock())).secret
    confirmed = mfa.confirm(principal, pyotp.TOTP(secret).at(int(clock())), int(clock()))
    for n in range(40):
        clock.advance(721)  # within the sends allowed per hour
        challenge = first_factor()
        if n % 3 == 0:
            with pytest.raises(InvalidCode):
                mfa.verify(
                    challenge.mfa_token,
                    Proof("000000" if pyotp.TOTP(secret).at(int(clock())) != "000000" else "111111", totp=True),
                    int(clock()),
                )
        verified = mfa.verify(challenge.mfa_token, Proof(pyotp.TOTP(secret).at(int(clock())), totp=True), int(clock()))
        if n % 15 == 0:
            principal = rig.sessions.authenticate(verified.session.access_token, int(clock()))
            codes = mfa.regenerate(principal, int(clock()))
            mfa.verify(first_factor().mfa_token, Proof(recovery.normalised(codes[0]) or "", totp=False), int(clock()))
        home = rig.home(LONGEST)
        assert item_size({name: home[name] for name in ("mfa", "mfa_p") if name in home}) <= bound
        rig.measure(LONGEST)
    assert confirmed.recovery_codes and rig.largest <= HOME_ITEM_BOUND


def test_no_expression_the_service_sent_comes_near_the_4_kb_limit_or_names_an_attribute_bare() -> None:
    """Every expression recorded so far in this run (the bounds tests above included) fits DynamoDB's limit,
    and names every attribute through a placeholder, so that none can clash with a reserved word."""
    assert 0 < RECORDER.longest_expression < EXPRESSION_LIMIT // 2
    assert RECORDER.bare_names == set()


def test_limits_are_the_defaults_the_bound_was_stated_for(settings: Settings) -> None:
    local_only = {
        "sends_per_ip": Limits().sends_per_ip,
        "failures_per_ip": Limits().failures_per_ip,
        "sms_sends_per_ip": Limits().sms_sends_per_ip,
        "passkey_ceremonies_per_ip": Limits().passkey_ceremonies_per_ip,
    }
    assert replace(settings.limits, **local_only) == Limits()
