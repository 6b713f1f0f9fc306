"""Unit tests of the two-step policy (frontend/twostep.py): a fake API client and a fake clock, no UI.

As in tests/test_frontend_renewal.py the API is faked at the level the policy sees it (ApiResult), so each test
reads as the sequence of answers it is about; tests/test_frontend_account*.py drive the same paths through the page.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) does not add the root
    sys.path.insert(0, str(REPO_ROOT))

from frontend import api, renewal, twostep  # noqa: E402
from frontend.session import Session, SessionBox  # noqa: E402

ACCESS_1, REFRESH_1 = "access-1", "refresh-1"
ACCESS_2, REFRESH_2 = "access-2", "refresh-2"  # the renewed session
ACCESS_3, REFRESH_3 = "access-3", "refresh-3"  # the session a second factor proved
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def session_answer(code: str, access: str, refresh: str) -> api.ApiResult:
    data = {
        "code": code,
        "access_token": access,
        "expires_in": 3600,
        "refresh_token": refresh,
        "refresh_expires_in": 432_000,
    }
    return api.ApiResult(200, code, "Done.", data=data)


REFRESHED = session_answer("refreshed", ACCESS_2, REFRESH_2)
REAUTHENTICATED = session_answer("reauthenticated", ACCESS_3, REFRESH_3)
NEEDS_STEP_UP = api.ApiResult(401, "reauthentication_required", "Confirm it is you with your authenticator first.")
INVALID_TOKEN = api.ApiResult(401, "invalid_token", "Your session is invalid or has ended. Please sign in again.")
INVALID_CODE = api.ApiResult(401, "invalid_code", "That code is not valid.")
DISABLED = api.ApiResult(200, "mfa_disabled", "Two-step verification is off.")


@dataclass
class FakeApi:
    """Answers refresh, reauthenticate and the sensitive call from queues, logging (name, token, details).

    Like the API, an accepted proof retires the tokens of the session it proved, with or without new ones in its
    answer: presenting either again fails the test (the API would refuse the access token, and take the refresh
    token for reuse and end the session). ``sessions`` pairs each access token issued with its refresh token.
    """

    refreshes: list[api.ApiResult] = field(default_factory=list)
    proofs: list[api.ApiResult] = field(default_factory=list)
    calls: list[api.ApiResult] = field(default_factory=list)
    log: list[tuple[str, str, Any]] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=lambda: {ACCESS_1: REFRESH_1})
    retired: set[str] = field(default_factory=set)

    def refresh(self, refresh_token: str) -> api.ApiResult:
        self._present("refresh", refresh_token, None)
        return self._issue(self.refreshes.pop(0))

    def reauthenticate(self, access_token: str, code: str, kind: api.SecondFactor = "otp") -> api.ApiResult:
        self._present("reauthenticate", access_token, (kind, code))
        answer = self.proofs.pop(0)
        if answer.ok:
            self.retired |= {access_token, self.sessions.get(access_token, "")}
        return self._issue(answer)

    def remove_totp(self, access_token: str) -> api.ApiResult:
        self._present("remove_totp", access_token, None)
        return self.calls.pop(0)

    def _present(self, name: str, token: str, details: Any) -> None:
        assert token not in self.retired, f"{name} presented a token that a proof retired"
        self.log.append((name, token, details))

    def _issue(self, answer: api.ApiResult) -> api.ApiResult:
        access, refresh = answer.data.get("access_token"), answer.data.get("refresh_token")
        if isinstance(access, str) and isinstance(refresh, str):
            self.sessions[access] = refresh
        return answer

    def done(self) -> bool:
        return self.refreshes == [] and self.proofs == [] and self.calls == []


@dataclass
class World:
    box: SessionBox
    api: FakeApi
    step_up: twostep.StepUp

    def held(self) -> tuple[str, str] | None:
        current = self.box.current
        return None if current is None else (current.access_token, current.refresh_token)


@pytest.fixture
def world() -> World:
    """Signed in at t=0 with a fresh hour-long access token; the clock stands still at t=10."""
    box = SessionBox()
    box.current = Session(ACCESS_1, REFRESH_1, received_at=0.0, expires_in=3600, refresh_expires_in=432_000)
    fake = FakeApi()
    policy = renewal.TokenRenewal(fake, box, lambda: 10.0)
    return World(box, fake, twostep.StepUp(fake, policy, box, lambda: 10.0))


# ----------------------------------------------------------------------------------------------- step-up


def test_a_call_the_api_allows_is_just_its_answer(world: World) -> None:
    world.api.calls.append(DISABLED)

    assert world.step_up.call(world.api.remove_totp) == twostep.StepUpOutcome(DISABLED)
    assert world.api.log == [("remove_totp", ACCESS_1, None)]


def test_reauthentication_required_asks_for_a_second_factor_and_keeps_the_session(world: World) -> None:
    world.api.calls.append(NEEDS_STEP_UP)

    outcome = world.step_up.call(world.api.remove_totp)

    assert outcome == twostep.StepUpOutcome(NEEDS_STEP_UP, ended=False, needs_reauthentication=True)
    assert [name for name, _, _ in world.api.log] == ["remove_totp"]  # not mistaken for a dead token
    assert world.held() == (ACCESS_1, REFRESH_1)


def test_proof_then_the_retry_presents_the_new_tokens(world: World) -> None:
    world.api.proofs.append(REAUTHENTICATED)
    world.api.calls.append(DISABLED)

    outcome = world.step_up.reauthenticate_then("123456", "otp", world.api.remove_totp)

    assert outcome == twostep.StepUpOutcome(DISABLED, proven=True)
    assert world.api.log == [
        ("reauthenticate", ACCESS_1, ("otp", "123456")),
        ("remove_totp", ACCESS_3, None),
    ]
    assert world.held() == (ACCESS_3, REFRESH_3)
    assert world.api.done()


def test_any_proof_then_the_retry_presents_its_new_tokens(world: World) -> None:
    """The code a change asks of an account without a second factor (POST /reauthenticate) is proven the same."""
    world.api.proofs.append(REAUTHENTICATED)
    world.api.calls.append(DISABLED)

    outcome = world.step_up.prove_then(lambda token: world.api.reauthenticate(token, "654321"), world.api.remove_totp)

    assert outcome == twostep.StepUpOutcome(DISABLED, proven=True)
    assert [(name, token) for name, token, _ in world.api.log] == [
        ("reauthenticate", ACCESS_1),
        ("remove_totp", ACCESS_3),
    ]
    assert world.held() == (ACCESS_3, REFRESH_3)


def test_a_recovery_code_proves_it_too(world: World) -> None:
    world.api.proofs.append(REAUTHENTICATED)
    world.api.calls.append(DISABLED)

    world.step_up.reauthenticate_then("rc-1", "recovery_code", world.api.remove_totp)

    assert world.api.log[0] == ("reauthenticate", ACCESS_1, ("recovery_code", "rc-1"))


def test_a_wrong_code_runs_nothing_else(world: World) -> None:
    world.api.proofs.append(INVALID_CODE)

    outcome = world.step_up.reauthenticate_then("000000", "otp", world.api.remove_totp)

    assert outcome == twostep.StepUpOutcome(INVALID_CODE)
    assert [name for name, _, _ in world.api.log] == ["reauthenticate"]
    assert world.held() == (ACCESS_1, REFRESH_1)


def test_a_proof_without_tokens_ends_the_session_and_retries_nothing(world: World) -> None:
    """The API retired the session's tokens with the proof: nothing is left that it would take."""
    world.api.proofs.append(api.ApiResult(200, "reauthenticated", "Confirmed."))

    outcome = world.step_up.reauthenticate_then("123456", "otp", world.api.remove_totp)

    assert outcome.ended and not outcome.proven
    assert outcome.result.code == api.BAD_RESPONSE
    assert [name for name, _, _ in world.api.log] == ["reauthenticate"]
    assert world.box.current is None


def test_still_required_after_the_proof_is_reported_once_without_looping(world: World) -> None:
    world.api.proofs.append(REAUTHENTICATED)
    world.api.calls.append(NEEDS_STEP_UP)

    outcome = world.step_up.reauthenticate_then("123456", "otp", world.api.remove_totp)

    assert outcome.needs_reauthentication and outcome.proven and not outcome.ended
    assert [name for name, _, _ in world.api.log] == ["reauthenticate", "remove_totp"]
    assert world.api.done()


def test_a_session_refused_during_the_proof_ends_it(world: World) -> None:
    world.api.proofs.append(INVALID_TOKEN)
    world.api.refreshes.append(INVALID_TOKEN)

    outcome = world.step_up.reauthenticate_then("123456", "otp", world.api.remove_totp)

    assert outcome == twostep.StepUpOutcome(INVALID_TOKEN, ended=True)
    assert world.box.current is None
    assert [name for name, _, _ in world.api.log] == ["reauthenticate", "refresh"]


def test_an_expired_token_is_renewed_before_the_proof(world: World) -> None:
    world.box.current = Session(ACCESS_1, REFRESH_1, received_at=-3600.0, expires_in=3600, refresh_expires_in=432_000)
    world.api.refreshes.append(REFRESHED)
    world.api.proofs.append(REAUTHENTICATED)
    world.api.calls.append(DISABLED)

    world.step_up.reauthenticate_then("123456", "otp", world.api.remove_totp)

    assert [(name, token) for name, token, _ in world.api.log] == [
        ("refresh", REFRESH_1),
        ("reauthenticate", ACCESS_2),
        ("remove_totp", ACCESS_3),
    ]


# ------------------------------------------------------------------------------------------ the answers


def test_challenge_from_an_mfa_required_answer() -> None:
    data = {"code": "mfa_required", "mfa_token": "mt-1", "factors": ["totp", "recovery_code"], "expires_in": 300}
    challenge = twostep.Challenge.from_answer(data)
    assert challenge == twostep.Challenge("mt-1", ("otp", "recovery_code"), 300)
    assert "mt-1" not in repr(challenge)

    # Unknown factors are ignored, and none at all means both (the API accepts both).
    odd = twostep.Challenge.from_answer({**data, "factors": ["webauthn", 7, "recovery_code"], "expires_in": "x"})
    assert odd == twostep.Challenge("mt-1", ("recovery_code",), None)
    assert twostep.Challenge.from_answer({**data, "factors": "totp"}) == twostep.Challenge("mt-1", twostep.FACTORS, 300)
    for not_a_challenge in ({**data, "code": "verified"}, {**data, "mfa_token": ""}, {"code": "mfa_required"}):
        assert twostep.Challenge.from_answer(not_a_challenge) is None


def test_enrollment_needs_the_key_and_an_svg() -> None:
    svg = '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0h1v1H0z"/></svg>'
    enrollment = twostep.Enrollment.from_answer({"secret": SECRET, "qr_svg": svg, "otpauth_uri": "otpauth://x"})
    assert enrollment == twostep.Enrollment(SECRET, svg)
    assert SECRET not in repr(enrollment)
    assert twostep.Enrollment.from_answer({"secret": SECRET, "qr_svg": "<html>"}) is None
    assert twostep.Enrollment.from_answer({"secret": "", "qr_svg": svg}) is None


def test_recovery_codes_only_when_all_are_strings() -> None:
    codes = [f"code-{n}" for n in range(10)]
    assert twostep.recovery_codes({"recovery_codes": codes}) == tuple(codes)
    assert twostep.recovery_codes({"recovery_codes": [*codes, 3]}) == ()
    assert twostep.recovery_codes({"recovery_codes": "code-1"}) == ()
    assert twostep.recovery_codes({}) == ()


def test_adopt_session_replaces_the_tokens_or_ends_the_session() -> None:
    box = SessionBox()
    box.current = Session(ACCESS_1, REFRESH_1, received_at=0.0, expires_in=3600, refresh_expires_in=432_000)

    assert twostep.adopt_session(box, INVALID_CODE, 5.0) == renewal.Outcome(INVALID_CODE)  # nothing was proven
    assert box.current is not None and box.current.access_token == ACCESS_1

    assert twostep.adopt_session(box, REAUTHENTICATED, 5.0) == renewal.Outcome(REAUTHENTICATED)
    assert box.current is not None
    assert (box.current.access_token, box.current.refresh_token, box.current.received_at) == (ACCESS_3, REFRESH_3, 5.0)

    # The API retired the old tokens whatever the answer held: one without new ones leaves no session.
    ended = twostep.adopt_session(box, api.ApiResult(200, "mfa_enabled", "On.", data={"recovery_codes": []}), 6.0)
    assert ended.ended and ended.result.code == api.BAD_RESPONSE
    assert box.current is None
