"""Unit tests of the token renewal policy (frontend/renewal.py): a fake API client and a fake clock, no UI.

The API is faked at the level the policy sees it (:class:`frontend.api.ApiResult`), so each test reads as the
sequence of answers it is about; tests/test_frontend_account.py covers the same paths through the real client and
the page.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) does not add the root
    sys.path.insert(0, str(REPO_ROOT))

from frontend import api, renewal  # noqa: E402
from frontend.session import Session, SessionBox  # noqa: E402

ACCESS_1, REFRESH_1 = "access-1", "refresh-1"
ACCESS_2, REFRESH_2 = "access-2", "refresh-2"


def tokens(access: str, refresh: str, expires_in: int = 3600, refresh_expires_in: int = 432_000) -> api.ApiResult:
    data = {
        "code": "refreshed",
        "email": "a@b.com",
        "access_token": access,
        "expires_in": expires_in,
        "refresh_token": refresh,
        "refresh_expires_in": refresh_expires_in,
    }
    return api.ApiResult(200, "refreshed", "Your session was renewed.", data=data)


REFRESHED = tokens(ACCESS_2, REFRESH_2)
ME = api.ApiResult(200, "signed_in", "Signed in as a@b.com.", data={"email": "a@b.com"})
INVALID_TOKEN = api.ApiResult(401, "invalid_token", "Your session is invalid or has ended. Please sign in again.")
UNAVAILABLE = api.ApiResult(503, "unavailable", "The service is unavailable right now.")
UNREACHABLE = api.ApiResult(None, api.UNREACHABLE, "The sign-in service cannot be reached right now.")


@dataclass
class FakeClock:
    t: float = 0.0

    def now(self) -> float:
        return self.t


@dataclass
class FakeApi:
    """Answers ``refresh`` and the authorized call from queues, logging each as (name, token, box contents)."""

    box: SessionBox
    refreshes: list[api.ApiResult] = field(default_factory=list)
    calls: list[api.ApiResult] = field(default_factory=list)
    log: list[tuple[str, str, Session | None]] = field(default_factory=list)

    def refresh(self, refresh_token: str) -> api.ApiResult:
        self.log.append(("refresh", refresh_token, self.box.current))
        return self.refreshes.pop(0)

    def me(self, access_token: str) -> api.ApiResult:
        self.log.append(("me", access_token, self.box.current))
        return self.calls.pop(0)

    @property
    def sent(self) -> list[tuple[str, str]]:
        return [(name, token) for name, token, _ in self.log]


@dataclass
class World:
    box: SessionBox
    clock: FakeClock
    api: FakeApi
    policy: renewal.TokenRenewal

    def call(self) -> renewal.Outcome:
        outcome = self.policy.call(self.api.me)
        assert self.api.refreshes == [] and self.api.calls == []  # every queued answer was asked for
        return outcome


@pytest.fixture
def world() -> World:
    """Signed in at t=0 with an hour-long access token and a five-day session."""
    box = SessionBox()
    box.current = Session(ACCESS_1, REFRESH_1, received_at=0.0, expires_in=3600, refresh_expires_in=432_000)
    clock = FakeClock()
    fake = FakeApi(box)
    return World(box, clock, fake, renewal.TokenRenewal(fake, box, clock.now))


def held(world: World) -> tuple[str, str]:
    session = world.box.current
    assert session is not None
    return session.access_token, session.refresh_token


# ------------------------------------------------------------------------------------------------ timing


def test_due_from_the_margin_before_expiry(world: World) -> None:
    clock, policy = world.clock, world.policy
    hour = Session("a", "r", received_at=100.0, expires_in=3600, refresh_expires_in=7200)
    clock.t = 100 + 3539
    assert not policy.due(hour)
    clock.t = 100 + 3540  # 60 s before expiry
    assert policy.due(hour)
    clock.t = 100 + 7199
    assert not policy.ran_out(hour)
    clock.t = 100 + 7200
    assert policy.ran_out(hour)

    # A short-lived token is renewed at half its lifetime, not on every look.
    short = Session("a", "r", received_at=0.0, expires_in=60, refresh_expires_in=None)
    clock.t = 29
    assert not policy.due(short)
    clock.t = 30
    assert policy.due(short)
    clock.t = 10**9
    assert not policy.ran_out(short)
    unknown = Session("a", "r", received_at=0.0, expires_in=None, refresh_expires_in=None)
    assert not policy.due(unknown)  # only a 401 can tell


def test_renews_before_a_call_shortly_before_expiry(world: World) -> None:
    world.clock.t = 3600 - 59
    world.api.refreshes.append(REFRESHED)
    world.api.calls.append(ME)

    outcome = world.call()

    assert outcome == renewal.Outcome(ME)
    assert world.api.sent == [("refresh", REFRESH_1), ("me", ACCESS_2)]
    assert held(world) == (ACCESS_2, REFRESH_2)
    renewed = world.box.current
    assert renewed is not None and renewed.access_expires_at == 3600 - 59 + 3600  # measured from the renewal


def test_no_renewal_while_the_token_is_fresh(world: World) -> None:
    world.clock.t = 3600 - 61
    world.api.calls.append(ME)

    assert world.call() == renewal.Outcome(ME)
    assert world.api.sent == [("me", ACCESS_1)]
    assert held(world) == (ACCESS_1, REFRESH_1)


# ----------------------------------------------------------------------------------------------- on a 401


def test_401_renews_and_the_retry_succeeds(world: World) -> None:
    world.api.calls.extend([INVALID_TOKEN, ME])
    world.api.refreshes.append(REFRESHED)

    assert world.call() == renewal.Outcome(ME)
    assert world.api.sent == [("me", ACCESS_1), ("refresh", REFRESH_1), ("me", ACCESS_2)]
    assert held(world) == (ACCESS_2, REFRESH_2)


def test_a_401_other_than_invalid_token_is_answered_as_it_is(world: World) -> None:
    other = api.ApiResult(401, "http_error", "The request failed (HTTP 401).")
    world.api.calls.append(other)

    assert world.call() == renewal.Outcome(other)
    assert world.api.sent == [("me", ACCESS_1)]
    assert held(world) == (ACCESS_1, REFRESH_1)


@pytest.mark.parametrize(
    "refused",
    [INVALID_TOKEN, api.ApiResult(400, "invalid_refresh_token", '"refresh_token" is required.')],
    ids=["401", "400"],
)
def test_refused_refresh_token_ends_the_session(world: World, refused: api.ApiResult) -> None:
    world.api.calls.append(INVALID_TOKEN)
    world.api.refreshes.append(refused)

    assert world.call() == renewal.Outcome(refused, ended=True)
    assert world.api.sent == [("me", ACCESS_1), ("refresh", REFRESH_1)]  # no retry with a dead token
    assert world.box.current is None


def test_refused_renewal_before_a_call_ends_the_session_without_making_the_call(world: World) -> None:
    world.clock.t = 3600 - 30
    world.api.refreshes.append(INVALID_TOKEN)

    assert world.call() == renewal.Outcome(INVALID_TOKEN, ended=True)
    assert world.api.sent == [("refresh", REFRESH_1)]
    assert world.box.current is None


def test_renewal_answer_without_tokens_ends_the_session(world: World) -> None:
    world.api.calls.append(INVALID_TOKEN)
    world.api.refreshes.append(api.ApiResult(200, "refreshed", "Your session was renewed.", data={"code": "x"}))

    outcome = world.call()

    assert outcome.ended
    assert (outcome.result.code, outcome.result.message) == (api.BAD_RESPONSE, api.UNEXPECTED_ANSWER)
    assert world.box.current is None  # the refresh token is spent either way


# ---------------------------------------------------------------------------------- the API cannot renew


@pytest.mark.parametrize("failure", [UNAVAILABLE, UNREACHABLE], ids=["503", "unreachable"])
def test_failed_renewal_on_a_401_keeps_the_session_and_reports_the_failure(
    world: World, failure: api.ApiResult
) -> None:
    world.api.calls.append(INVALID_TOKEN)
    world.api.refreshes.append(failure)

    assert world.call() == renewal.Outcome(failure)
    assert world.api.sent == [("me", ACCESS_1), ("refresh", REFRESH_1)]
    assert held(world) == (ACCESS_1, REFRESH_1)  # the refresh token may well be alive


def test_failed_renewal_before_a_call_still_makes_the_call_with_the_old_token(world: World) -> None:
    world.clock.t = 3600 - 30  # due, but the token is still valid
    world.api.refreshes.append(UNAVAILABLE)
    world.api.calls.append(ME)

    assert world.call() == renewal.Outcome(ME)
    assert world.api.sent == [("refresh", REFRESH_1), ("me", ACCESS_1)]
    assert held(world) == (ACCESS_1, REFRESH_1)


def test_failed_renewal_before_a_call_refused_with_401_reports_the_renewal_failure(world: World) -> None:
    world.clock.t = 3601  # expired, and the API cannot renew
    world.api.refreshes.append(UNAVAILABLE)
    world.api.calls.append(INVALID_TOKEN)

    assert world.call() == renewal.Outcome(UNAVAILABLE)  # not "ended": a second renewal is not tried
    assert world.api.sent == [("refresh", REFRESH_1), ("me", ACCESS_1)]
    assert held(world) == (ACCESS_1, REFRESH_1)


# ------------------------------------------------------------------------------- storing, and at most once


@pytest.mark.parametrize("due", [False, True], ids=["on-401", "before-expiry"])
def test_rotated_tokens_are_stored_before_the_next_call_runs(world: World, due: bool) -> None:
    if due:
        world.clock.t = 3600 - 30
    else:
        world.api.calls.append(INVALID_TOKEN)
    world.api.refreshes.append(REFRESHED)
    world.api.calls.append(ME)

    world.call()

    name, token, in_the_box = world.api.log[-1]
    assert (name, token) == ("me", ACCESS_2)
    assert in_the_box is not None and (in_the_box.access_token, in_the_box.refresh_token) == (ACCESS_2, REFRESH_2)


def test_a_run_cut_short_by_the_call_keeps_the_rotated_tokens(world: World) -> None:
    """Whatever stops the run after the renewal (a Streamlit rerun, say), the new refresh token is kept."""

    class CutShort(Exception):
        pass

    def call(access_token: str) -> api.ApiResult:
        if access_token == ACCESS_1:
            return INVALID_TOKEN
        raise CutShort

    world.api.refreshes.append(REFRESHED)
    with pytest.raises(CutShort):
        world.policy.call(call)
    assert held(world) == (ACCESS_2, REFRESH_2)


def test_a_fresh_token_refused_after_renewing_on_401_ends_without_a_second_renewal(world: World) -> None:
    world.api.calls.extend([INVALID_TOKEN, INVALID_TOKEN])
    world.api.refreshes.append(REFRESHED)

    assert world.call() == renewal.Outcome(INVALID_TOKEN, ended=True)
    assert world.api.sent == [("me", ACCESS_1), ("refresh", REFRESH_1), ("me", ACCESS_2)]
    assert world.box.current is None  # revoked meanwhile


def test_a_fresh_token_refused_after_renewing_before_the_call_ends_without_a_second_renewal(world: World) -> None:
    world.clock.t = 3600 - 30
    world.api.refreshes.append(REFRESHED)
    world.api.calls.append(INVALID_TOKEN)

    assert world.call() == renewal.Outcome(INVALID_TOKEN, ended=True)
    assert world.api.sent == [("refresh", REFRESH_1), ("me", ACCESS_2)]
    assert world.box.current is None


@pytest.mark.parametrize("due", [False, True], ids=["on-401", "before-expiry"])
def test_an_api_that_always_refuses_gets_one_renewal_and_at_most_one_retry(world: World, due: bool) -> None:
    """Never a loop: a call costs at most two tries and one renewal, whatever the API answers."""
    world.clock.t = 3600 - 30 if due else 0.0
    world.api.refreshes.extend([REFRESHED, tokens("access-3", "refresh-3")])
    world.api.calls.extend([INVALID_TOKEN] * 3)

    outcome = world.policy.call(world.api.me)

    assert outcome.ended
    expected = [("refresh", REFRESH_1), ("me", ACCESS_2)]
    assert world.api.sent == (expected if due else [("me", ACCESS_1), *expected])


# ----------------------------------------------------------------------------- tabs of one browser


def test_two_tabs_due_at_once_trade_the_refresh_token_once(world: World) -> None:
    """The tabs of a browser share the box and run on threads of their own: the second waits for the first's
    renewal and takes its tokens, rather than presenting the used-up refresh token (which counts as reuse)."""
    world.clock.t = 3600 - 30
    entered, release = threading.Event(), threading.Event()

    def slow_refresh(refresh_token: str) -> api.ApiResult:
        world.api.log.append(("refresh", refresh_token, world.box.current))
        entered.set()
        assert release.wait(10)
        return REFRESHED

    world.api.refresh = slow_refresh  # type: ignore[method-assign]
    world.api.calls.extend([ME, ME])
    other_tab = renewal.TokenRenewal(world.api, world.box, world.clock.now)
    outcomes: list[renewal.Outcome] = []
    first = threading.Thread(target=lambda: outcomes.append(world.policy.call(world.api.me)))
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=lambda: outcomes.append(other_tab.call(world.api.me)))
    second.start()
    release.set()
    first.join(10)
    second.join(10)

    assert world.api.sent == [("refresh", REFRESH_1), ("me", ACCESS_2), ("me", ACCESS_2)]
    assert [outcome.result for outcome in outcomes] == [ME, ME]
    assert held(world) == (ACCESS_2, REFRESH_2)
