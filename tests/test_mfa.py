"""Two-step sign-in against moto, with an injected clock: every rule of issue 12, its edges and its races.

The services are built as chalicelib/wiring.py builds them, over a client that serialises each call (as
DynamoDB serialises writes to one item). Codes are computed with pyotp, as an authenticator app does.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from xml.etree import ElementTree

import boto3
import pyotp
import pytest
import segno

from chalicelib.accounts.identifiers import EMAIL, Identifier
from chalicelib.accounts.sessions import IssuedSession, Principal, SessionService
from chalicelib.config import OFF, Settings, Window
from chalicelib.core.refusals import (
    InvalidCode,
    InvalidMfaToken,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    NoPendingEnrollment,
    ReauthenticationRequired,
    SessionRejected,
    Throttled,
)
from chalicelib.crypto import KeyedHasher
from chalicelib.mfa import recovery, totp
from chalicelib.mfa.answers import Proof, Upgraded
from chalicelib.mfa.challenge import Challenges, MfaRequired
from chalicelib.mfa.service import MfaService
from chalicelib.mfa.store import CONSECUTIVE_CEILING, MfaStore
from chalicelib.otp.service import OtpService
from chalicelib.otp.store import CodeStore
from tests.conftest import FakeClock, SerializedClient, account_store, session_service
from tests.test_service import RecordingSender

ALICE = "alice@example.com"
KEY = b"k" * 32


class Rig:
    """The sign-in and two-step services over one moto table, and a person with an authenticator app."""

    def __init__(self, settings: Settings, clock: FakeClock, **limits: Any) -> None:
        # Sign-ins follow each other quickly here: the send limits are not what these tests are about.
        self.limits = replace(
            settings.limits, resend_cooldown_seconds=0, sends_per_address=Window(10_000, 3_600), **limits
        )
        self.clock = clock
        self.table = settings.table_name
        client = SerializedClient(boto3.client("dynamodb"))
        self.hasher = KeyedHasher(KEY)
        self.accounts = account_store(settings, self.limits, self.hasher, client)
        self.sessions: SessionService = session_service(settings, self.accounts, self.hasher, self.limits)
        challenges = Challenges(self.hasher, self.limits)
        self.sender = RecordingSender()
        codes = CodeStore(client, self.table, self.limits, self.accounts, sleep=lambda _: None)
        self.otp = OtpService(
            codes, self.accounts, lambda kind: self.sender, self.sessions, self.hasher, self.limits, clock, challenges
        )
        store = MfaStore(client, self.table, self.hasher.sealer(), self.limits)
        self.mfa = MfaService(store, challenges, self.sessions, self.accounts, self.hasher, self.limits, "OTP Sign-in")
        self.secret = ""

    @property
    def now(self) -> int:
        return int(self.clock())

    def first_factor(self, email: str = ALICE) -> IssuedSession | MfaRequired:
        to = Identifier(EMAIL, email)
        self.otp.send_code(to, None)
        return self.otp.verify_code(to, self.sender.last_code(to))

    def signed_in(self, email: str = ALICE) -> IssuedSession:
        issued = self.first_factor(email)
        assert isinstance(issued, IssuedSession)
        return issued

    def challenge(self, email: str = ALICE) -> str:
        answer = self.first_factor(email)
        assert isinstance(answer, MfaRequired), answer
        return answer.mfa_token

    def principal(self, issued: IssuedSession) -> Principal:
        return self.sessions.authenticate(issued.access_token, self.now)

    def code(self, steps: int = 0) -> str:
        """The authenticator's code ``steps`` time-steps from now."""
        return pyotp.TOTP(self.secret).at(self.now + 30 * steps)

    def enrolled(self, email: str = ALICE) -> Upgraded:
        """An account with an active factor, confirmed at the current step; the clock then moves on a step."""
        session = self.signed_in(email)
        self.secret = self.mfa.enroll(self.principal(session), self.now).secret
        confirmed = self.mfa.confirm(self.principal(session), self.code(), self.now)
        self.clock.advance(30)
        return confirmed

    def totp(self, steps: int = 0) -> Proof:
        return Proof(self.code(steps), totp=True)

    def item(self, email: str = ALICE) -> dict[str, Any]:
        key = {"pk": {"S": self.hasher.subject_key("email", email)}}
        return boto3.client("dynamodb").get_item(TableName=self.table, Key=key, ConsistentRead=True)["Item"]


@pytest.fixture
def rig(settings: Settings, clock: FakeClock) -> Rig:
    return Rig(settings, clock)


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def outcomes(calls: list[Callable[[], Any]]) -> list[str]:
    """Run ``calls`` at once on threads; each one's outcome: "ok" or the exception's class name."""

    def run(call: Callable[[], Any]) -> str:
        try:
            call()
            return "ok"
        except Exception as error:
            return type(error).__name__

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


# -- enrolling ------------------------------------------------------------------------------------------------


def test_enrolling_gives_a_160_bit_secret_its_uri_and_a_qr_code_and_activates_nothing(rig: Rig) -> None:
    session = rig.signed_in()
    enrollment = rig.mfa.enroll(rig.principal(session), rig.now)
    assert len(base64.b32decode(enrollment.secret)) == 20
    assert enrollment.otpauth_uri == (
        f"otpauth://totp/OTP%20Sign-in:alice%40example.com?secret={enrollment.secret}&issuer=OTP%20Sign-in"
    )
    assert enrollment.qr_svg.startswith("<?xml") and "<svg" in enrollment.qr_svg
    assert isinstance(rig.first_factor(), IssuedSession)  # nothing is active until confirmed
    rig.principal(session)


def dark_modules(path: str) -> set[tuple[int, int]]:
    """The modules segno's SVG path draws: each ``h`` is a run of dark modules along a row, stroked through its
    middle (``M``/``m`` move to a run's start, absolute / relative)."""
    x = y = 0.0
    dark: set[tuple[int, int]] = set()
    for command, dx, dy in re.findall(r"([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?", path):
        if command == "h":
            dark |= {(int(x) + step, int(y)) for step in range(int(dx))}
            x += float(dx)
        else:
            x, y = (float(dx), float(dy)) if command == "M" else (x + float(dx), y + float(dy))
    return dark


def test_the_qr_code_is_the_uri_s_symbol_on_an_opaque_white_square_with_a_4_module_quiet_zone() -> None:
    """It scans on a dark page too: nothing of it is transparent, and the quiet zone is light (ISO/IEC 18004)."""
    uri = totp.provisioning_uri(totp.new_secret(), "alice@example.com", "OTP Sign-in")
    svg = ElementTree.fromstring(totp.qr_svg(uri))
    ns = {"svg": "http://www.w3.org/2000/svg"}
    (group,) = svg.findall("svg:g", ns)
    background, modules = group.findall("svg:path", ns)
    scale = int(re.fullmatch(r"scale\((\d+)\)", group.get("transform", "")).group(1))  # type: ignore[union-attr]
    side = int(svg.get("width", "")) // scale
    assert int(svg.get("height", "")) == side * scale  # a square, in whole modules
    # The light square covers the whole image, opaque.
    assert background.get("fill") in {"#fff", "#ffffff"} and background.get("d") == f"M0 0h{side}v{side}h-{side}z"
    assert not {"opacity", "fill-opacity"} & (set(background.keys()) | set(group.keys()) | set(svg.keys()))
    assert modules.get("stroke") == "#000" and modules.get("fill") is None
    # The dark modules are the URI's symbol, 4 light modules in from every edge.
    matrix = segno.make(uri, error="m").matrix
    assert side == len(matrix) + 2 * totp.QUIET_ZONE_MODULES == len(matrix) + 8
    assert dark_modules(modules.get("d", "")) == {
        (column + 4, row + 4) for row, cells in enumerate(matrix) for column, cell in enumerate(cells) if cell
    }


def test_confirming_activates_the_factor_upgrades_this_session_and_ends_every_other(rig: Rig) -> None:
    other = rig.signed_in()
    session = rig.signed_in()
    rig.secret = rig.mfa.enroll(rig.principal(session), rig.now).secret
    with pytest.raises(InvalidCode):
        rig.mfa.confirm(rig.principal(session), wrong(rig.code()), rig.now)
    confirmed = rig.mfa.confirm(rig.principal(session), rig.code(), rig.now)
    codes = confirmed.recovery_codes or []
    assert len(set(codes)) == 10 and all(len(recovery.normalised(code) or "") * 5 >= 80 for code in codes)
    claims = claims_of(confirmed.session.access_token)
    assert (claims["aal"], claims["amr"], claims["auth_time"]) == (2, ["otp", "mfa"], rig.now)
    principal = rig.principal(confirmed.session)
    assert (principal.session.amr, principal.session.auth_time) == (("otp", "mfa"), rig.now)
    with pytest.raises(SessionRejected):
        rig.principal(other)
    with pytest.raises(SessionRejected):
        rig.sessions.refresh(other.refresh_token, rig.now)
    rig.sessions.refresh(confirmed.session.refresh_token, rig.now)  # the new refresh token works
    with pytest.raises(MfaAlreadyEnabled):
        rig.mfa.enroll(principal, rig.now)


def test_confirming_needs_a_pending_enrollment(rig: Rig) -> None:
    session = rig.signed_in()
    with pytest.raises(NoPendingEnrollment):
        rig.mfa.confirm(rig.principal(session), "123456", rig.now)


def test_a_dumped_table_holds_no_secret_and_no_recovery_code(rig: Rig) -> None:
    codes = rig.enrolled().recovery_codes or []
    dump = repr(boto3.client("dynamodb").scan(TableName=rig.table)["Items"])
    assert rig.secret not in dump and rig.secret.lower() not in dump
    for code in codes:
        assert code not in dump and (recovery.normalised(code) or "") not in dump


# -- signing in with the second factor ---------------------------------------------------------------------


def test_a_right_first_factor_answers_an_mfa_token_and_no_tokens(rig: Rig) -> None:
    rig.enrolled()
    answer = rig.first_factor()
    assert isinstance(answer, MfaRequired)
    assert (answer.factors, answer.expires_in) == (["totp", "recovery_code"], 300)
    assert answer.mfa_token.startswith("mt1.")
    verified = rig.mfa.verify(answer.mfa_token, rig.totp(), rig.now)
    claims = claims_of(verified.session.access_token)
    assert (claims["aal"], claims["amr"], claims["auth_time"]) == (2, ["otp", "mfa"], rig.now)
    assert verified.recovery_codes_left == 10
    rig.principal(verified.session)
    rig.sessions.refresh(verified.session.refresh_token, rig.now)


def test_a_first_factor_alone_is_no_sign_in(rig: Rig) -> None:
    """``last_sign_in_at`` counts sign-ins that completed: not a pending session, whoever holds the mailbox."""
    rig.enrolled()
    verified = rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)
    signed_in_at = rig.now
    rig.clock.advance(60)
    rig.challenge()
    assert rig.principal(verified.session).account.last_sign_in_at == signed_in_at


def test_first_factors_whose_mfa_token_expired_do_not_push_out_real_sessions(
    settings: Settings, clock: FakeClock
) -> None:
    """Someone who holds only the mailbox can open pending sessions at will; once their mfa_token has expired
    they count as expired, so the account's cap ends them rather than the person's real sessions."""
    rig = Rig(settings, clock, max_sessions=3)
    rig.enrolled()
    real = [rig.mfa.verify(rig.challenge(), rig.totp(), rig.now).session]
    for _ in range(2):
        rig.clock.advance(30)
        real.append(rig.mfa.verify(rig.challenge(), rig.totp(), rig.now).session)
    for _ in range(6):
        rig.challenge()
        rig.clock.advance(301)
    for session in real:
        rig.principal(session)
    assert len(rig.item()["sessions"]["M"]) <= 3 + 1 + 2  # the cap, the newest pending one, the expired slack


def test_a_pending_sessions_refresh_token_opens_nothing(rig: Rig) -> None:
    """The pending session's refresh token is never handed out; made from the mfa_token's secret with the
    service's key (as only the service could), it is still refused: a pending session cannot be refreshed."""
    rig.enrolled()
    _, session_id, secret, _ = rig.challenge().split(".")
    forged = ".".join(("rt2", session_id, secret, rig.hasher.tag("refresh", session_id, secret)))
    with pytest.raises(SessionRejected, match="second factor pending"):
        rig.sessions.refresh(forged, rig.now)


@pytest.mark.parametrize(("steps", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)])
def test_a_code_is_accepted_one_step_either_side_and_no_further(rig: Rig, steps: int, accepted: bool) -> None:
    rig.enrolled()
    rig.clock.advance(90)  # the steps tried here are all after the confirming one
    token = rig.challenge()
    if accepted:
        rig.mfa.verify(token, rig.totp(steps), rig.now)
    else:
        with pytest.raises(InvalidCode):
            rig.mfa.verify(token, rig.totp(steps), rig.now)


def test_the_step_edges_follow_the_clock(rig: Rig) -> None:
    rig.enrolled()
    rig.clock.advance(60 - rig.now % 30 - 1)  # the last second of a step
    previous = rig.code(-1)
    rig.clock.advance(1)  # the first second of the next: that code is now two steps back
    with pytest.raises(InvalidCode):
        rig.mfa.verify(rig.challenge(), Proof(previous, totp=True), rig.now)


def test_the_confirming_code_cannot_sign_in(rig: Rig) -> None:
    """hanko and better-auth: the setup code worked again as the first sign-in code."""
    session = rig.signed_in()
    rig.secret = rig.mfa.enroll(rig.principal(session), rig.now).secret
    setup_code = rig.code()
    rig.mfa.confirm(rig.principal(session), setup_code, rig.now)
    with pytest.raises(InvalidCode):
        rig.mfa.verify(rig.challenge(), Proof(setup_code, totp=True), rig.now)
    rig.clock.advance(20)  # still within the code's ±1 step
    with pytest.raises(InvalidCode):
        rig.mfa.verify(rig.challenge(), Proof(setup_code, totp=True), rig.now)
    rig.clock.advance(30)
    rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)


def test_a_used_code_is_refused_for_as_long_as_it_would_otherwise_be_accepted(rig: Rig) -> None:
    rig.enrolled()
    used = rig.code()
    rig.mfa.verify(rig.challenge(), Proof(used, totp=True), rig.now)
    for _ in range(2):  # its step stays inside the ±1 window one step on; then it falls out of the window
        rig.clock.advance(30)
        with pytest.raises(InvalidCode):
            rig.mfa.verify(rig.challenge(), Proof(used, totp=True), rig.now)
    with pytest.raises(InvalidCode):  # an earlier step than the one used: refused too, though inside the window
        rig.mfa.verify(rig.challenge(), rig.totp(-2), rig.now)


def test_twenty_simultaneous_submits_of_one_right_code_sign_in_exactly_once(rig: Rig) -> None:
    rig.enrolled()
    tokens = [rig.challenge() for _ in range(20)]
    code = rig.code()
    results = outcomes([lambda token=token: rig.mfa.verify(token, Proof(code, totp=True), rig.now) for token in tokens])
    assert results.count("ok") == 1, results
    assert set(results) <= {"ok", "InvalidCode", "Throttled"}


def test_twenty_simultaneous_submits_with_one_mfa_token_sign_in_exactly_once(rig: Rig) -> None:
    rig.enrolled()
    token, code = rig.challenge(), rig.code()
    results = outcomes([lambda: rig.mfa.verify(token, Proof(code, totp=True), rig.now)] * 20)
    assert results.count("ok") == 1, results
    assert results.count("InvalidMfaToken") == 19  # tried after the winner, or beyond the token's 5 tries


def test_simultaneous_wrong_codes_are_compared_no_more_often_than_the_budget(rig: Rig) -> None:
    rig.enrolled()
    tokens = [rig.challenge() for _ in range(4)]
    bad = wrong(rig.code())
    results = outcomes(
        [
            lambda token=token: rig.mfa.verify(token, Proof(bad, totp=True), rig.now)
            for token in tokens
            for _ in range(5)
        ]
    )
    assert (results.count("InvalidCode"), results.count("Throttled")) == (10, 10), results


def test_a_right_code_lands_among_simultaneous_wrong_ones(rig: Rig) -> None:
    rig.enrolled()
    tokens = [rig.challenge() for _ in range(6)]
    right = rig.code()
    calls = [lambda token=token: rig.mfa.verify(token, Proof(wrong(right), totp=True), rig.now) for token in tokens[:5]]
    calls.insert(2, lambda: rig.mfa.verify(tokens[5], Proof(right, totp=True), rig.now))
    results = outcomes(calls)
    assert results.count("ok") == 1 and results.count("InvalidCode") == 5, results


# -- the mfa_token ------------------------------------------------------------------------------------------


def test_an_mfa_token_lasts_its_lifetime_and_no_longer(rig: Rig) -> None:
    rig.enrolled()
    lasting, expiring = rig.challenge(), rig.challenge()
    rig.clock.advance(299)
    rig.mfa.verify(lasting, rig.totp(), rig.now)
    rig.clock.advance(1)
    with pytest.raises(InvalidMfaToken):
        rig.mfa.verify(expiring, rig.totp(1), rig.now)


def test_an_mfa_token_works_once(rig: Rig) -> None:
    rig.enrolled()
    token = rig.challenge()
    rig.mfa.verify(token, rig.totp(), rig.now)
    rig.clock.advance(30)
    with pytest.raises(InvalidMfaToken):
        rig.mfa.verify(token, rig.totp(), rig.now)


def test_an_mfa_token_has_five_tries(rig: Rig) -> None:
    rig.enrolled()
    token = rig.challenge()
    for _ in range(4):
        with pytest.raises(InvalidCode):
            rig.mfa.verify(token, Proof(wrong(rig.code()), totp=True), rig.now)
    rig.mfa.verify(token, rig.totp(), rig.now)  # the fifth try, right
    spent = rig.challenge()
    for _ in range(5):
        with pytest.raises(InvalidCode):
            rig.mfa.verify(spent, Proof(wrong(rig.code(1)), totp=True), rig.now)
    with pytest.raises(InvalidMfaToken):
        rig.mfa.verify(spent, rig.totp(1), rig.now)  # a sixth, even right, is refused


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token.replace("mt1.", "mt2.", 1),
        lambda token: token[:-1] + ("0" if token[-1] != "0" else "1"),  # the tag
        lambda token: ".".join([*token.split(".")[:2], "A" * 22, token.split(".")[3]]),  # another secret
        lambda token: token + ".x",
        lambda _: None,
        lambda _: "mt1." + "a" * 300,
    ],
)
def test_a_forged_or_malformed_mfa_token_is_refused_before_any_lookup(rig: Rig, tamper: Callable[[str], Any]) -> None:
    rig.enrolled()
    with pytest.raises(InvalidMfaToken):
        rig.mfa.verify(tamper(rig.challenge()), rig.totp(), rig.now)


# -- the account's budget ---------------------------------------------------------------------------------


def test_the_accounts_budget_is_not_reset_by_a_new_mfa_token(rig: Rig) -> None:
    rig.enrolled()
    rig.clock.advance(900 - rig.now % 900)  # the start of a budget window
    for _ in range(2):
        token = rig.challenge()
        for _ in range(5):
            with pytest.raises(InvalidCode):
                rig.mfa.verify(token, Proof(wrong(rig.code()), totp=True), rig.now)
    rig.clock.advance(100)
    with pytest.raises(Throttled) as refused:
        rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)  # a new token, a right code: still refused
    assert (refused.value.reason, refused.value.retry_after) == ("too_many_second_factor_failures", 800)
    rig.clock.advance(800)
    rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)


def test_a_success_clears_the_failures(rig: Rig) -> None:
    rig.enrolled()
    for _ in range(9):
        with pytest.raises(InvalidCode):
            rig.mfa.verify(rig.challenge(), Proof(wrong(rig.code()), totp=True), rig.now)
    rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)
    counts = rig.item()["mfa"]["M"]
    assert (counts["f"], counts["cf"]) == ({"N": "0"}, {"N": "0"})


def test_a_hundred_consecutive_failures_lock_the_authenticator_until_a_recovery_code_signs_in(
    settings: Settings, clock: FakeClock
) -> None:
    """NIST SP 800-63B-4's ceiling, across windows; a recovery code (80 bits) is the way back in."""
    rig = Rig(settings, clock, mfa_failure_budget=Window(100, 60), mfa_attempts_per_token=10)
    codes = rig.enrolled().recovery_codes or []
    for _ in range(CONSECUTIVE_CEILING // 10):
        token = rig.challenge()
        for _ in range(10):
            with pytest.raises(InvalidCode):
                rig.mfa.verify(token, Proof(wrong(rig.code()), totp=True), rig.now)
    rig.clock.advance(60)  # a new window: the window's budget would allow more
    with pytest.raises(Throttled):
        rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)
    rig.mfa.verify(rig.challenge(), Proof(recovery.normalised(codes[0]) or "", totp=False), rig.now)
    rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)


# -- recovery codes ------------------------------------------------------------------------------------------


def test_a_recovery_code_works_once_whatever_its_spelling(rig: Rig) -> None:
    codes = rig.enrolled().recovery_codes or []
    code = recovery.normalised(f"  {codes[3].upper().replace('-', ' ')} ") or ""
    verified = rig.mfa.verify(rig.challenge(), Proof(code, totp=False), rig.now)
    assert verified.recovery_codes_left == 9
    assert claims_of(verified.session.access_token)["aal"] == 2
    with pytest.raises(InvalidCode):
        rig.mfa.verify(rig.challenge(), Proof(code, totp=False), rig.now)


def test_ten_simultaneous_submits_of_one_recovery_code_sign_in_exactly_once(rig: Rig) -> None:
    codes = rig.enrolled().recovery_codes or []
    code = recovery.normalised(codes[0]) or ""
    tokens = [rig.challenge() for _ in range(10)]
    results = outcomes(
        [lambda token=token: rig.mfa.verify(token, Proof(code, totp=False), rig.now) for token in tokens]
    )
    assert results.count("ok") == 1 and results.count("InvalidCode") == 9, results
    assert len(rig.item()["mfa"]["M"]["rc"]["M"]) == 9


def test_a_recovery_code_of_another_account_is_wrong(rig: Rig) -> None:
    theirs = rig.enrolled("bob@example.com").recovery_codes or []
    rig.enrolled()
    with pytest.raises(InvalidCode):
        rig.mfa.verify(rig.challenge(), Proof(recovery.normalised(theirs[0]) or "", totp=False), rig.now)


# -- step-up ------------------------------------------------------------------------------------------------


def test_removing_the_factor_needs_a_fresh_second_factor(rig: Rig) -> None:
    rig.enrolled()
    verified = rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)
    other = rig.mfa.verify(rig.challenge(), rig.totp(1), rig.now)
    rig.clock.advance(301)
    principal = rig.principal(verified.session)
    with pytest.raises(ReauthenticationRequired):
        rig.mfa.disable(principal, rig.now)
    with pytest.raises(ReauthenticationRequired):
        rig.mfa.regenerate(principal, rig.now)
    renewed = rig.mfa.reauthenticate(principal, rig.totp(), rig.now)
    assert claims_of(renewed.session.access_token)["auth_time"] == rig.now
    principal = rig.principal(renewed.session)
    assert principal.session.auth_time == rig.now
    rig.mfa.disable(principal, rig.now)
    with pytest.raises(SessionRejected):
        rig.principal(other.session)  # every other session ended
    rig.principal(renewed.session)
    assert isinstance(rig.first_factor(), IssuedSession)  # no second factor any more
    with pytest.raises(MfaNotEnabled):
        rig.mfa.disable(principal, rig.now)


def test_the_step_up_window_ends_after_its_seconds(rig: Rig) -> None:
    rig.enrolled()
    verified = rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)
    rig.clock.advance(300)
    rig.mfa.regenerate(rig.principal(verified.session), rig.now)
    rig.clock.advance(1)
    with pytest.raises(ReauthenticationRequired):
        rig.mfa.regenerate(rig.principal(verified.session), rig.now)


def test_reauthentication_retires_the_old_refresh_token_as_a_refresh_does(rig: Rig) -> None:
    rig.enrolled()
    verified = rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)
    renewed = rig.mfa.reauthenticate(rig.principal(verified.session), rig.totp(1), rig.now)
    rig.sessions.refresh(renewed.session.refresh_token, rig.now)
    rig.clock.advance(11)  # past the grace: the old token is now reuse, and ends the session
    with pytest.raises(SessionRejected, match="reused"):
        rig.sessions.refresh(verified.session.refresh_token, rig.now)


def test_new_recovery_codes_replace_the_old_ones(rig: Rig) -> None:
    old = rig.enrolled().recovery_codes or []
    verified = rig.mfa.verify(rig.challenge(), rig.totp(), rig.now)
    new = rig.mfa.regenerate(rig.principal(verified.session), rig.now)
    assert len(new) == 10 and not set(new) & set(old)
    with pytest.raises(InvalidCode):
        rig.mfa.verify(rig.challenge(), Proof(recovery.normalised(old[0]) or "", totp=False), rig.now)
    rig.mfa.verify(rig.challenge(), Proof(recovery.normalised(new[0]) or "", totp=False), rig.now)


def test_fewer_than_four_recovery_codes_left_is_said(rig: Rig) -> None:
    codes = rig.enrolled().recovery_codes or []
    for n, code in enumerate(codes[:7]):
        verified = rig.mfa.verify(rig.challenge(), Proof(recovery.normalised(code) or "", totp=False), rig.now)
        assert verified.recovery_codes_left == 9 - n
    from chalicelib.core.assurance import Factors

    factors = Factors.of(rig.principal(verified.session).account.mfa)
    assert (factors.recovery_codes_left, factors.recovery_codes_low) == (3, True)


# -- policy -------------------------------------------------------------------------------------------------


def test_with_the_policy_off_factors_are_ignored_and_come_back_with_it(settings: Settings, clock: FakeClock) -> None:
    rig = Rig(settings, clock)
    rig.enrolled()
    off = Rig(settings, clock, mfa_policy=OFF)
    session = off.signed_in()  # a first factor is all it takes where the stage does not do two-step
    assert claims_of(session.access_token)["aal"] == 1
    off.principal(session)
    with pytest.raises(SessionRejected, match="second factor pending"):
        rig.principal(session)  # back under OPTIONAL, that session owes its second factor
