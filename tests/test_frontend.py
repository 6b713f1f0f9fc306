"""Tests for the Streamlit sign-in UI (frontend/), driven through Streamlit's AppTest.

HTTP is faked at the ``requests`` level (``requests.post``, ``requests.get`` and ``requests.delete``; GETs to
the local stack's moto server go to the dev inbox fake, everything else to the API fake), so no network is used
and the real client code (frontend/api.py, frontend/inbox.py) runs. Time is faked by replacing
``frontend.clock.now``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from streamlit.runtime.scriptrunner import RerunData, get_script_run_ctx
from streamlit.testing.v1 import AppTest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) does not add the root
    sys.path.insert(0, str(REPO_ROOT))

from frontend import api, clock, inbox, phone, session  # noqa: E402

APP_PATH = REPO_ROOT / "frontend" / "app.py"
API_URL = "http://api.test"
INBOX_URL = "http://127.0.0.1:4566/_dev/inbox"
SESSION_ENDED = "Your session has ended, please sign in again."

# Token-shaped values, distinctive enough that finding one in the page text cannot be a coincidence.
ACCESS_1 = "eyJhbGciOiJFUzI1NiJ9.access-one-payload.access-one-signature"
REFRESH_1 = "rt1.YUBiLmNvbQ.session-id-1.refresh-one-secret-0123456789abcdef"
ACCESS_2 = "eyJhbGciOiJFUzI1NiJ9.access-two-payload.access-two-signature"
REFRESH_2 = "rt1.YUBiLmNvbQ.session-id-1.refresh-two-secret-0123456789abcdef"
ACCESS_3 = "eyJhbGciOiJFUzI1NiJ9.access-three-payload.access-three-signature"
REFRESH_3 = "rt1.YUBiLmNvbQ.session-id-1.refresh-three-secret-0123456789abcdef"
ALL_TOKENS = (ACCESS_1, REFRESH_1, ACCESS_2, REFRESH_2, ACCESS_3, REFRESH_3)
SIGNED_IN_AT = 1_767_225_600  # 2026-01-01 00:00:00 UTC, the API's clock

# What the embedded AWS's dev inbox really answers after SES (v1 or v2) sent two mails: newest first.
INBOX_DATA = {
    "mails": [
        {
            "kind": "Message",
            "body": "<html><body><p>Your sign-in code is <b>222222</b>.</p></body></html>",
            "destinations": {"ToAddresses": ["a@b.com"], "CcAddresses": ["cc@example.com"]},
            "id": "msg-2",
            "source": "no-reply@signin.localhost.dev",
            "subject": "Newest code",
        },
        {
            "kind": "Message",
            "body": "Your sign-in code is 111111.",
            "destinations": {"ToAddresses": ["old@example.com"]},
            "id": "msg-1",
            "source": "no-reply@signin.localhost.dev",
            "subject": "Your sign-in code",
        },
    ],
    "sms": [],
}


# ------------------------------------------------------------------------------------------------ fakes


def response(
    status: int, body: Any = None, *, text: str | None = None, headers: dict[str, str] | None = None
) -> requests.Response:
    """A real requests.Response with the given status and JSON body (or raw text)."""
    resp = requests.Response()
    resp.status_code = status
    resp._content = (json.dumps(body) if text is None else text).encode()
    resp.headers["Content-Type"] = "application/json" if text is None else "text/html"
    resp.headers.update(headers or {})
    return resp


SENT = response(
    200, {"message": "We sent a code to a@b.com.", "code": "code_sent", "expires_in": 600, "resend_after": 30}
)


def tokens_answer(
    code: str, access: str, refresh: str, expires_in: int = 3600, refresh_expires_in: int = 432_000, **extra: Any
) -> requests.Response:
    return response(
        200,
        {
            "message": "You are signed in." if code == "verified" else "Your session was renewed.",
            "code": code,
            "email": "a@b.com",
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": expires_in,
            "refresh_token": refresh,
            "refresh_expires_in": refresh_expires_in,
            **extra,
        },
    )


def me_answer(issued_at: int = SIGNED_IN_AT, aal: int | None = None, **account: Any) -> requests.Response:
    """A ``GET /me`` answer as the API gave it before accounts; ``account`` adds top-level fields, ``aal`` the
    session's assurance level (APIs with two-step verification)."""
    return response(
        200,
        {
            "message": "Signed in as a@b.com.",
            "code": "signed_in",
            "email": "a@b.com",
            "session": {
                "id": "session-id-1",
                "signed_in_at": SIGNED_IN_AT,
                "access_token_issued_at": issued_at,
                "access_token_expires_at": issued_at + 3600,
                "expires_at": SIGNED_IN_AT + 432_000,
                **({"amr": ["otp"]} if account else {}),
                **({"aal": aal, "auth_time": SIGNED_IN_AT} if aal is not None else {}),
            },
            **account,
        },
        headers={"Cache-Control": "no-store"},
    )


# What the API answers once it knows accounts: /me describes the account, verify and refresh name its id.
USER_ID = "3f0c9a1e-7b2d-4e5f-8a9b-0c1d2e3f4a5b"
CREATED_AT = 1_764_633_600  # 2025-12-02 00:00:00 UTC
ACCOUNT = {
    "user_id": USER_ID,
    "identifiers": [{"type": "email", "value": "a@b.com"}],
    "created_at": CREATED_AT,
    "last_sign_in_at": SIGNED_IN_AT,
}


VERIFIED = tokens_answer("verified", ACCESS_1, REFRESH_1)
REFRESHED = tokens_answer("refreshed", ACCESS_2, REFRESH_2)
ME = me_answer()
INVALID_TOKEN = response(
    401,
    {"message": "Your session is invalid or has ended. Please sign in again.", "code": "invalid_token"},
    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
)
SIGNED_OUT = response(200, {"message": "You are signed out.", "code": "signed_out"})
SIGNED_OUT_EVERYWHERE = response(200, {"message": "You are signed out on every device.", "code": "signed_out"})


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    json: dict[str, Any] | None
    headers: dict[str, str]
    timeout: float | None

    @property
    def path(self) -> str:
        return self.url.removeprefix(API_URL)

    @property
    def bearer(self) -> str | None:
        scheme, _, token = self.headers.get("Authorization", "").partition(" ")
        return token if scheme == "Bearer" else None


# Answers that prove more about the person: the API issues new tokens with them and refuses the session's
# earlier ones from then on.
UPGRADES = frozenset({"mfa_enabled", "reauthenticated"})


@dataclass
class FakeApi:
    """Stands in for requests.post, requests.get and requests.delete.

    API calls are answered from a queue (queued exceptions are raised, queued functions are called) and
    recorded. GETs to the dev inbox go to ``inbox``, which fails loudly unless a test sets it; their URLs are
    recorded in ``inbox_gets``.

    Like the API, an upgrade answer (:data:`UPGRADES`) retires the tokens of the session it was asked with, new
    tokens in it or not: a call that presents either again raises (the API would refuse the access token, and
    take the refresh token for reuse and end the session). The tests reuse a few token values, so a value that a
    later answer issues again is live again. ``sessions`` pairs each access token answered with its refresh token.
    """

    answers: list[requests.Response | Exception | Callable[[], requests.Response]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    inbox: Callable[[str], requests.Response] | None = None
    inbox_gets: list[str] = field(default_factory=list)
    sessions: dict[str, str] = field(default_factory=dict)
    retired: set[str] = field(default_factory=set)

    def post(
        self,
        url: str,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **_: Any,
    ) -> requests.Response:
        return self._answer(Call("POST", url, json, dict(headers or {}), timeout))

    def get(
        self, url: str, headers: dict[str, str] | None = None, timeout: float | None = None, **_: Any
    ) -> requests.Response:
        if url.startswith("http://127.0.0.1:4566/"):
            self.inbox_gets.append(url)
            if self.inbox is None:
                raise AssertionError(f"unexpected GET {url}")
            return self.inbox(url)
        return self._answer(Call("GET", url, None, dict(headers or {}), timeout))

    def delete(
        self, url: str, headers: dict[str, str] | None = None, timeout: float | None = None, **_: Any
    ) -> requests.Response:
        return self._answer(Call("DELETE", url, None, dict(headers or {}), timeout))

    def _answer(self, call: Call) -> requests.Response:
        self.calls.append(call)
        presented = {call.bearer, (call.json or {}).get("refresh_token")}
        if presented & self.retired:
            raise AssertionError(f"{call.method} {call.path} presented a token that an upgrade retired")
        if not self.answers:
            raise AssertionError(f"no answer queued for {call.method} {call.url}")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        result = answer() if callable(answer) else answer
        self._issue(call, result)
        return result

    def _issue(self, call: Call, result: requests.Response) -> None:
        """Retire the session an upgrade answer proved more about; remember the tokens an answer issues."""
        try:
            body = result.json()
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        if result.ok and body.get("code") in UPGRADES and call.bearer:
            self.retired |= {call.bearer, self.sessions.get(call.bearer, "")}
        access, refresh = body.get("access_token"), body.get("refresh_token")
        if isinstance(access, str) and isinstance(refresh, str):
            self.sessions[access] = refresh
            self.retired -= {access, refresh}

    @property
    def payloads(self) -> list[dict[str, Any] | None]:
        return [call.json for call in self.calls]

    @property
    def paths(self) -> list[str]:
        return [call.path for call in self.calls]


def presented(calls: list[Call]) -> set[str]:
    """Every token the calls presented, as bearer or as the refresh token of a body."""
    return {token for call in calls for token in (call.bearer, (call.json or {}).get("refresh_token")) if token}


@dataclass
class FakeClock:
    t: float = 1000.0

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(requests, "post", fake.post)
    monkeypatch.setattr(requests, "get", fake.get)
    monkeypatch.setattr(requests, "delete", fake.delete)
    return fake


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(clock, "now", lambda: fake.t)
    return fake


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("OTP_API_URL", API_URL)
    monkeypatch.delenv("DEV_INBOX_URL", raising=False)
    return monkeypatch


@pytest.fixture
def app(env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=10)
    at.run()
    assert not at.exception
    return at


# -------------------------------------------------------------------------------------------- helpers


def texts(elements: Any) -> list[str]:
    return [element.value for element in elements]


def send(at: AppTest, fake_api: FakeApi, answer: requests.Response | Exception, email: str = "a@b.com") -> None:
    fake_api.answers.append(answer)
    at.text_input(key="email_input").input(email)
    at.button(key="send").click().run()
    assert not at.exception


def verify(at: AppTest, fake_api: FakeApi, *answers: requests.Response | Exception, code: str = "123456") -> None:
    """Enter ``code`` and press Verify; ``answers`` are for the verify call and those that follow (/me...)."""
    fake_api.answers.extend(answers)
    at.text_input(key="code_input").input(code)
    at.button(key="verify").click().run()
    assert not at.exception


def sign_in(at: AppTest, fake_api: FakeApi) -> None:
    send(at, fake_api, SENT)
    verify(at, fake_api, VERIFIED, ME)
    assert fake_api.answers == []
    assert on_account_view(at)


def click(at: AppTest, fake_api: FakeApi, key: str, *answers: requests.Response | Exception) -> None:
    fake_api.answers.extend(answers)
    at.button(key=key).click().run()
    assert not at.exception
    assert fake_api.answers == []  # every queued answer was asked for


def page_text(at: AppTest) -> str:
    """Everything the page holds, main area and sidebar: every field of every element (text, labels, help...)."""
    return "\n".join(str(node.proto) for block in (at.main, at.sidebar) for node in block)


def on_email_step(at: AppTest) -> bool:
    keys = {widget.key for widget in at.text_input}
    return "email_input" in keys and "code_input" not in keys


def on_code_step(at: AppTest) -> bool:
    keys = {widget.key for widget in at.text_input}
    return "code_input" in keys and "email_input" not in keys


SIGN_IN_INPUTS = {"email_input", "phone_input", "code_input", "second_factor_input"}


def on_account_view(at: AppTest) -> bool:
    labels = {button.key: button.label for button in at.button}
    return (
        [title.value for title in at.title] == ["Your account"]
        and labels.get("sign_out") == "Sign out"
        and labels.get("sign_out_everywhere") == "Sign out everywhere"
        and not {widget.key for widget in at.text_input} & SIGN_IN_INPUTS
    )


def markdown_line(at: AppTest, prefix: str) -> str:
    """The one markdown element starting with ``prefix``."""
    (line,) = [text for text in texts(at.markdown) if text.startswith(prefix)]
    return line


def section(at: AppTest, heading: str, kind: str) -> list[Any]:
    """The values of the ``kind`` elements ("markdown", "error"...) under the subheader ``heading`` of the main
    area, up to the next subheader: what a person reads where they are looking."""
    nodes = list(at.main)
    start = next(i for i, node in enumerate(nodes) if node.type == "subheader" and node.value == heading)
    end = next((i for i in range(start + 1, len(nodes)) if nodes[i].type == "subheader"), len(nodes))
    return [node.value for node in nodes[start:end] if node.type == kind]


# ---------------------------------------------------------------------------------------------- flow


def test_start_page_asks_for_an_address(app: AppTest, fake_api: FakeApi) -> None:
    assert app.title[0].value == "Sign in"
    assert on_email_step(app)
    assert app.button(key="send").disabled is False
    assert fake_api.calls == []  # rendering alone must not call the API


def test_send_success_shows_code_entry(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT, email="  a@b.com ")

    assert fake_api.calls == [Call("POST", f"{API_URL}/otp", {"action": "send_otp", "email": "a@b.com"}, {}, 10.0)]
    assert on_code_step(app)
    assert texts(app.success) == ["We sent a code to a@b.com."]
    assert any("a@b.com" in text and "10 minutes" in text for text in texts(app.markdown))


def test_verify_success_lands_on_account_view(app: AppTest, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, ME, code=" 123 456 ")

    # Spaces are stripped; the digits are sent as typed (the API owns the format).
    assert fake_api.payloads[1] == {"action": "verify_otp", "email": "a@b.com", "otp": "123456"}
    assert fake_api.calls[1].bearer is None
    me = fake_api.calls[2]
    assert (me.method, me.path, me.bearer, me.timeout) == ("GET", "/me", ACCESS_1, 10.0)
    assert len(fake_api.calls) == 3

    assert on_account_view(app)
    assert markdown_line(app, ":material/verified_user: Signed in as").endswith("**a@b.com**")
    assert markdown_line(app, "**Session started:**") == "**Session started:** 2026-01-01 00:00 UTC"
    assert markdown_line(app, "**Access token expires:**") == "**Access token expires:** in 1 h (2026-01-01 01:00 UTC)"
    assert markdown_line(app, "**Session expires:**") == "**Session expires:** in 5 days (2026-01-06 00:00 UTC)"
    assert not app.warning and not app.error
    assert "reload_account" not in {button.key for button in app.button}

    # The relative times follow the clock; nothing is called while the access token is far from expiry.
    fake_clock.advance(61)
    app.run()
    assert markdown_line(app, "**Access token expires:**").endswith(" in 58 min (2026-01-01 01:00 UTC)")
    assert markdown_line(app, "**Session expires:**").endswith(" in 4 days 23 h (2026-01-06 00:00 UTC)")
    assert len(fake_api.calls) == 3


def test_wrong_code_shows_api_message_and_stays_on_code_entry(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    message = "That code is not valid. Check the latest email or request a new code."
    verify(app, fake_api, response(401, {"message": message, "code": "invalid_code"}))

    assert texts(app.error) == [message]
    assert on_code_step(app)
    assert app.button(key="verify").disabled is False


def test_invalid_email_shows_api_message(app: AppTest, fake_api: FakeApi) -> None:
    message = "Enter a valid email address."
    send(app, fake_api, response(400, {"message": message, "code": "invalid_email"}), email="not-an-address")

    assert fake_api.payloads == [{"action": "send_otp", "email": "not-an-address"}]
    assert texts(app.error) == [message]
    assert on_email_step(app)


def test_empty_address_is_not_sent(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT, email="   ")
    fake_api.answers.clear()

    assert fake_api.calls == []
    assert texts(app.warning) == ["Enter your email address."]


def test_rate_limit_shows_message_and_live_countdown(app: AppTest, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    message = "Too many codes requested for this address. Try again later."
    limited = response(
        429,
        {"message": message, "code": "send_quota_exceeded", "retry_after": 42},
        headers={"Retry-After": "42"},
    )
    send(app, fake_api, limited)

    assert texts(app.warning) == [message]
    assert "You can try again in 42 s." in texts(app.caption)
    assert app.button(key="send").disabled is True

    fake_clock.advance(30)
    app.run()
    assert "You can try again in 12 s." in texts(app.caption)

    fake_clock.advance(12)
    app.run()
    assert app.button(key="send").disabled is False
    assert not app.warning  # the outdated 429 message goes away with the block
    assert not any("try again in" in text for text in texts(app.caption))


def test_rate_limit_falls_back_to_retry_after_header(app: AppTest, fake_api: FakeApi) -> None:
    send(
        app,
        fake_api,
        response(429, {"message": "Slow down.", "code": "ip_quota_exceeded"}, headers={"Retry-After": "7"}),
    )

    assert texts(app.warning) == ["Slow down."]
    assert "You can try again in 7 s." in texts(app.caption)


def test_too_many_failures_blocks_verify(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    message = "Too many wrong codes. Try again later."
    verify(app, fake_api, response(429, {"message": message, "code": "too_many_failures", "retry_after": 600}))

    assert texts(app.warning) == [message]
    assert "You can try again in 600 s." in texts(app.caption)
    assert app.button(key="verify").disabled is True
    assert app.button(key="resend").disabled is True
    assert app.button(key="change_address").disabled is False


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (502, "mail_rejected", "The email could not be delivered to this address."),
        (503, "mail_unavailable", "Email sending is unavailable right now. Try again in a few minutes."),
    ],
)
def test_mail_failure_shows_api_message(app: AppTest, fake_api: FakeApi, status: int, code: str, message: str) -> None:
    send(app, fake_api, response(status, {"message": message, "code": code}))

    assert texts(app.error) == [message]
    assert on_email_step(app)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (requests.ConnectionError("refused"), "cannot be reached"),
        (requests.ConnectTimeout("slow"), "did not answer in time"),
        (response(502, text="<html>Bad Gateway</html>"), "unexpected answer (HTTP 502)"),
    ],
)
def test_api_trouble_shows_one_clear_line(
    app: AppTest, fake_api: FakeApi, failure: requests.Response | Exception, expected: str
) -> None:
    send(app, fake_api, failure)

    assert not app.exception
    assert len(app.error) == 1
    assert expected in app.error[0].value
    assert "\n" not in app.error[0].value
    assert on_email_step(app)


def test_resend_is_disabled_until_cooldown_passes(app: AppTest, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    send(app, fake_api, SENT)
    assert app.button(key="resend").disabled is True
    assert "You can request a new code in 30 s." in texts(app.caption)

    fake_clock.advance(29.5)
    app.run()
    assert app.button(key="resend").disabled is True
    assert "You can request a new code in 1 s." in texts(app.caption)

    fake_clock.advance(0.5)
    app.run()
    assert app.button(key="resend").disabled is False
    assert not any("new code in" in text for text in texts(app.caption))

    fake_api.answers.append(SENT)
    app.button(key="resend").click().run()
    assert fake_api.payloads[-1] == {"action": "send_otp", "email": "a@b.com"}
    # The cooldown restarts from the new send.
    assert app.button(key="resend").disabled is True


def test_use_a_different_address_returns_to_prefilled_start(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    app.button(key="change_address").click().run()

    assert on_email_step(app)
    assert app.text_input(key="email_input").value == "a@b.com"
    assert not app.success


def test_api_url_falls_back_to_secrets(env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    env.delenv("OTP_API_URL")
    at = AppTest.from_file(str(APP_PATH), default_timeout=10)
    at.secrets["api_url"] = "https://signin.example.com/api/"
    at.run()
    send(at, fake_api, SENT)

    assert fake_api.calls[0].url == "https://signin.example.com/api/otp"


# ---------------------------------------------------------------------------------------- account view


def held_session(at: AppTest) -> session.Session | None:
    return at.session_state["session_box"].current


def test_verify_answer_without_tokens_asks_for_a_new_code(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, response(200, {"message": "You are signed in.", "code": "verified", "email": "a@b.com"}))

    assert fake_api.paths == ["/otp", "/otp"]  # no /me without a token
    assert texts(app.error) == ["The sign-in service sent an unexpected answer. Please request a new code."]
    assert on_email_step(app)
    assert app.text_input(key="email_input").value == "a@b.com"
    assert held_session(app) is None


def test_me_401_refreshes_once_and_retries_with_the_new_token(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, INVALID_TOKEN, REFRESHED, ME)

    assert fake_api.paths == ["/otp", "/otp", "/me", "/token/refresh", "/me"]
    first_me, renewal, retry = fake_api.calls[2:]
    assert first_me.bearer == ACCESS_1
    assert (renewal.method, renewal.json, renewal.bearer) == ("POST", {"refresh_token": REFRESH_1}, None)
    assert (retry.method, retry.bearer) == ("GET", ACCESS_2)
    held = held_session(app)
    assert held is not None
    assert (held.access_token, held.refresh_token) == (ACCESS_2, REFRESH_2)  # the used-up one is gone
    assert on_account_view(app)
    assert "a@b.com" in markdown_line(app, ":material/verified_user: Signed in as")
    assert not app.warning


def test_refresh_refused_returns_to_start_with_session_ended(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, INVALID_TOKEN, INVALID_TOKEN)

    assert fake_api.paths == ["/otp", "/otp", "/me", "/token/refresh"]
    assert on_email_step(app)
    assert texts(app.warning) == [SESSION_ENDED]
    assert app.text_input(key="email_input").value == "a@b.com"  # prefilled to sign in again
    assert held_session(app) is None
    assert app.title[0].value == "Sign in"


def test_retry_refused_after_refresh_ends_session_without_a_second_refresh(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, INVALID_TOKEN, REFRESHED, INVALID_TOKEN)

    assert fake_api.paths == ["/otp", "/otp", "/me", "/token/refresh", "/me"]
    assert on_email_step(app)
    assert texts(app.warning) == [SESSION_ENDED]
    assert held_session(app) is None


def test_proactive_refresh_shortly_before_expiry(app: AppTest, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    sign_in(app, fake_api)
    signed_in_calls = len(fake_api.calls)

    fake_clock.advance(3600 - 61)  # 61 s left: not yet
    app.run()
    assert len(fake_api.calls) == signed_in_calls

    fake_clock.advance(2)  # 59 s left: renew, then read the account for the new token
    fake_api.answers.extend([REFRESHED, me_answer(issued_at=SIGNED_IN_AT + 3541)])
    app.run()
    assert not app.exception
    assert fake_api.answers == []
    assert fake_api.paths[signed_in_calls:] == ["/token/refresh", "/me"]
    renewal, me = fake_api.calls[signed_in_calls:]
    assert renewal.json == {"refresh_token": REFRESH_1}
    assert me.bearer == ACCESS_2
    held = held_session(app)
    assert held is not None and (held.access_token, held.refresh_token) == (ACCESS_2, REFRESH_2)
    assert on_account_view(app)
    assert markdown_line(app, "**Access token expires:**") == "**Access token expires:** in 1 h (2026-01-01 01:59 UTC)"

    app.run()  # renewed: nothing more to do
    assert len(fake_api.calls) == signed_in_calls + 2


def test_proactive_refresh_refused_returns_to_start(app: AppTest, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    sign_in(app, fake_api)
    fake_clock.advance(3600 - 30)
    fake_api.answers.append(INVALID_TOKEN)
    app.run()

    assert not app.exception
    assert fake_api.paths[-1] == "/token/refresh"
    assert fake_api.answers == []
    assert on_email_step(app)
    assert texts(app.warning) == [SESSION_ENDED]
    assert held_session(app) is None


def test_api_down_during_renewal_keeps_the_session_and_recovers(
    app: AppTest, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    sign_in(app, fake_api)
    fake_clock.advance(3601)  # the access token has expired and the API is unreachable
    fake_api.answers.extend([requests.ConnectionError("refused"), INVALID_TOKEN])
    app.run()

    assert not app.exception
    assert fake_api.paths[-2:] == ["/token/refresh", "/me"]
    assert on_account_view(app)  # the refresh token may well be alive: keep it
    assert texts(app.warning) == ["The sign-in service cannot be reached right now. Please try again."]
    held = held_session(app)
    assert held is not None and held.refresh_token == REFRESH_1

    fake_api.answers.extend([REFRESHED, ME])  # the API is back: the next tick renews
    fake_clock.advance(10)
    app.run()
    assert fake_api.answers == []
    assert fake_api.calls[-2].json == {"refresh_token": REFRESH_1}
    assert not app.warning
    assert on_account_view(app)


def test_a_click_during_renewal_does_not_lose_the_rotated_refresh_token(
    app: AppTest, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    """Streamlit aborts a run at its next st call when a newer run is requested; the new tokens must be kept."""
    sign_in(app, fake_api)
    fake_clock.advance(3600 - 30)

    def refreshed_while_a_click_arrives() -> requests.Response:
        ctx = get_script_run_ctx()
        assert ctx is not None and ctx.script_requests is not None
        assert ctx.script_requests.request_rerun(RerunData())  # what a click during the call does
        return REFRESHED

    fake_api.answers.extend([refreshed_while_a_click_arrives, ME])
    app.run()

    assert not app.exception
    # The account is read with the new token and kept, cut short or not, and the rerun renews no more.
    assert fake_api.paths[-2:] == ["/token/refresh", "/me"]
    assert fake_api.paths.count("/token/refresh") == 1
    assert fake_api.calls[-1].bearer == ACCESS_2
    assert fake_api.answers == []
    held = held_session(app)
    assert held is not None and held.refresh_token == REFRESH_2  # REFRESH_1 is used up
    assert on_account_view(app)
    assert markdown_line(app, "**Session started:**") == "**Session started:** 2026-01-01 00:00 UTC"


def test_session_that_ran_out_ends_without_calling_the_api(
    app: AppTest, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    sign_in(app, fake_api)
    signed_in_calls = len(fake_api.calls)
    fake_clock.advance(432_000)
    app.run()

    assert len(fake_api.calls) == signed_in_calls
    assert on_email_step(app)
    assert texts(app.warning) == [SESSION_ENDED]


def test_account_details_unavailable_then_reloaded(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, requests.ConnectTimeout("slow"))

    assert on_account_view(app)  # signed in all the same: the address is known from the verify answer
    assert "a@b.com" in markdown_line(app, ":material/verified_user: Signed in as")
    assert markdown_line(app, "**Access token expires:**") == "**Access token expires:** in 1 h"
    assert texts(app.warning) == ["The sign-in service did not answer in time. Please try again."]
    assert app.button(key="reload_account").label == "Reload account details"

    click(app, fake_api, "reload_account", ME)
    assert fake_api.calls[-1].bearer == ACCESS_1
    assert not app.warning
    assert "reload_account" not in {button.key for button in app.button}
    assert markdown_line(app, "**Session started:**") == "**Session started:** 2026-01-01 00:00 UTC"


ACCOUNT_LINES = ("**Account ID:**", "**Identifiers:**", "**Account created:**", "**Last sign-in:**")


def test_account_view_shows_the_account(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, tokens_answer("verified", ACCESS_1, REFRESH_1, user_id=USER_ID), me_answer(**ACCOUNT))

    assert on_account_view(app)
    assert texts(app.markdown) == [
        ":material/verified_user: Signed in as **a@b.com**",
        "**Account ID:**",
        "**Identifiers:** a@b.com (email)",
        "**Account created:** 2025-12-02 00:00 UTC",
        "**Last sign-in:** 2026-01-01 00:00 UTC",
        "**Session started:** 2026-01-01 00:00 UTC",
        "**Access token expires:** in 1 h (2026-01-01 01:00 UTC)",
        "**Session expires:** in 5 days (2026-01-06 00:00 UTC)",
    ]
    (account_id,) = app.main.code
    assert account_id.value == USER_ID  # a code block: monospace, with a copy button
    assert account_id.language == "plaintext"  # not highlighted as source code
    assert not app.warning and not app.error


@pytest.mark.parametrize(
    "account",
    [
        {},  # the API before accounts
        {"user_id": 42, "identifiers": "a@b.com", "created_at": "yesterday", "last_sign_in_at": None},
        {"user_id": "", "identifiers": [{"type": "email"}, "a@b.com", {"type": "", "value": "a@b.com"}]},
    ],
    ids=["old-api", "wrong-types", "incomplete"],
)
def test_account_view_without_account_fields_shows_the_session(
    app: AppTest, fake_api: FakeApi, account: dict[str, Any]
) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(**account))

    assert on_account_view(app)
    assert not any(text.startswith(ACCOUNT_LINES) for text in texts(app.markdown))
    assert not app.main.code
    assert markdown_line(app, "**Session started:**") == "**Session started:** 2026-01-01 00:00 UTC"
    assert markdown_line(app, "**Session expires:**") == "**Session expires:** in 5 days (2026-01-06 00:00 UTC)"
    assert not app.warning and not app.error
    assert "reload_account" not in {button.key for button in app.button}


def test_account_details_follow_the_renewed_token(app: AppTest, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(**ACCOUNT))
    fake_clock.advance(3600 - 30)
    renewed = tokens_answer("refreshed", ACCESS_2, REFRESH_2, user_id=USER_ID)
    fake_api.answers.extend([renewed, me_answer(issued_at=SIGNED_IN_AT + 3570, **ACCOUNT)])
    app.run()

    assert fake_api.answers == []
    assert fake_api.calls[-1].bearer == ACCESS_2
    assert [code.value for code in app.main.code] == [USER_ID]
    assert markdown_line(app, "**Last sign-in:**") == "**Last sign-in:** 2026-01-01 00:00 UTC"  # renewing is not one
    assert markdown_line(app, "**Access token expires:**") == "**Access token expires:** in 1 h (2026-01-01 01:59 UTC)"


def test_sign_out_calls_api_with_bearer_and_returns_to_start(app: AppTest, fake_api: FakeApi) -> None:
    sign_in(app, fake_api)
    click(app, fake_api, "sign_out", SIGNED_OUT)

    call = fake_api.calls[-1]
    assert (call.method, call.path, call.bearer, call.json) == ("POST", "/signout", ACCESS_1, {"everywhere": False})
    assert on_email_step(app)
    assert app.title[0].value == "Sign in"
    assert texts(app.success) == ["You are signed out."]
    assert app.text_input(key="email_input").value == ""
    assert held_session(app) is None
    assert app.session_state["address"] == ""


def test_sign_out_everywhere_sends_everywhere(app: AppTest, fake_api: FakeApi) -> None:
    sign_in(app, fake_api)
    click(app, fake_api, "sign_out_everywhere", SIGNED_OUT_EVERYWHERE)

    call = fake_api.calls[-1]
    assert (call.path, call.bearer, call.json) == ("/signout", ACCESS_1, {"everywhere": True})
    assert on_email_step(app)
    assert texts(app.success) == ["You are signed out on every device."]
    assert held_session(app) is None


@pytest.mark.parametrize(
    ("key", "failure", "expected"),
    [
        ("sign_out", requests.ConnectionError("refused"), "(it did not answer), so the session stays valid"),
        ("sign_out_everywhere", requests.ReadTimeout("slow"), "(it did not answer), so your other devices are"),
        ("sign_out", response(503, {"message": "Unavailable.", "code": "unavailable"}), "(it answered HTTP 503)"),
    ],
)
def test_sign_out_with_api_trouble_still_signs_out_locally(
    app: AppTest, fake_api: FakeApi, key: str, failure: requests.Response | Exception, expected: str
) -> None:
    sign_in(app, fake_api)
    click(app, fake_api, key, failure)

    assert fake_api.paths[-1] == "/signout"
    assert on_email_step(app)
    assert held_session(app) is None
    (notice,) = texts(app.warning)
    assert notice.startswith("You are signed out on this device, but the sign-in service could not be told")
    assert expected in notice
    assert not app.error


def test_sign_out_near_expiry_renews_first(app: AppTest, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    sign_in(app, fake_api)
    fake_clock.advance(3600 - 10)
    click(app, fake_api, "sign_out", REFRESHED, SIGNED_OUT)

    assert fake_api.paths[-2:] == ["/token/refresh", "/signout"]
    assert fake_api.calls[-1].bearer == ACCESS_2
    assert texts(app.success) == ["You are signed out."]


@pytest.mark.parametrize(
    ("key", "kind", "expected"),
    [
        ("sign_out", "success", "You are signed out."),
        ("sign_out_everywhere", "warning", "Your session had already ended, so your other devices could not be"),
    ],
)
def test_sign_out_of_a_session_that_already_ended(
    app: AppTest, fake_api: FakeApi, key: str, kind: str, expected: str
) -> None:
    sign_in(app, fake_api)
    click(app, fake_api, key, INVALID_TOKEN, INVALID_TOKEN)  # /signout refused, then the refresh too

    assert fake_api.paths[-2:] == ["/signout", "/token/refresh"]
    assert on_email_step(app)
    assert held_session(app) is None
    (notice,) = texts(getattr(app, kind))
    assert notice.startswith(expected)
    assert SESSION_ENDED not in page_text(app)


def test_tokens_never_reach_the_page_or_the_url(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    env.setenv("DEV_INBOX_URL", INBOX_URL)  # the sidebar too
    fake_api.inbox = lambda url: response(200, INBOX_DATA)
    at = AppTest.from_file(str(APP_PATH), default_timeout=10).run()
    send(at, fake_api, SENT)
    verify(at, fake_api, VERIFIED, INVALID_TOKEN, REFRESHED, ME)  # both token pairs pass through

    pages = [page_text(at)]
    fake_clock.advance(3600 - 30)
    fake_api.answers.extend([tokens_answer("refreshed", ACCESS_1, REFRESH_1), ME])
    at.run()
    pages.append(page_text(at))
    click(at, fake_api, "sign_out", requests.ConnectionError("refused"))
    pages.append(page_text(at))

    assert [call.path for call in fake_api.calls if call.method == "POST"].count("/token/refresh") == 2
    # The scan itself works: the address and the expiry are in the same text that must lack the tokens.
    assert "a@b.com" in pages[0] and "Access token expires" in pages[0]
    for page in pages:
        for token in ALL_TOKENS:
            assert token not in page
    visible = texts(at.markdown) + texts(at.caption) + texts(at.success) + texts(at.warning) + texts(at.error)
    assert not any(token in text for text in visible for token in ALL_TOKENS)
    assert dict(at.query_params) == {}


# ------------------------------------------------------------------------------------------ dev inbox


def test_dev_inbox_absent_without_env_var(app: AppTest, fake_api: FakeApi) -> None:
    sign_in(app, fake_api)

    assert fake_api.inbox_gets == []  # the inbox is never even fetched
    assert len(app.sidebar) == 0
    assert not any("Dev inbox" in header.value for header in app.subheader)


def test_dev_inbox_lists_mails_newest_first(env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    env.setenv("DEV_INBOX_URL", INBOX_URL)
    gets = fake_api.inbox_gets
    fake_api.inbox = lambda url: response(200, INBOX_DATA)
    at = AppTest.from_file(str(APP_PATH), default_timeout=10).run()
    send(at, fake_api, SENT)

    assert gets and set(gets) == {INBOX_URL}
    sidebar = at.sidebar
    assert [header.value for header in sidebar.subheader] == ["Dev inbox"]
    subjects = [text for text in texts(sidebar.markdown) if text.startswith("**")]
    assert subjects[0].startswith("**Newest code**")
    assert subjects[1].startswith("**Your sign-in code**")
    # The mail to the address being signed in is marked, the other one is not.
    assert "current address" in subjects[0]
    assert "current address" not in subjects[1]
    bodies = texts(sidebar.code)
    assert bodies == ["Your sign-in code is 222222.", "Your sign-in code is 111111."]
    assert "To: a@b.com, cc@example.com" in texts(sidebar.caption)

    refreshed = len(gets)
    sidebar.button(key="inbox_refresh").click().run()
    assert len(gets) > refreshed


def test_dev_inbox_unreachable_shows_small_warning(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    env.setenv("DEV_INBOX_URL", INBOX_URL)

    def refused(url: str) -> requests.Response:
        raise requests.ConnectionError("refused")

    fake_api.inbox = refused
    at = AppTest.from_file(str(APP_PATH), default_timeout=10).run()

    assert not at.exception
    assert not at.error
    assert len(at.sidebar.warning) == 1
    assert "Dev inbox unavailable" in at.sidebar.warning[0].value
    assert on_email_step(at)  # the sign-in itself is unaffected


# ------------------------------------------------------------------------------------- client units


def test_client_never_raises_and_types_results(fake_api: FakeApi) -> None:
    client = api.OtpClient("http://x/")
    fake_api.answers.extend(
        [
            SENT,
            response(500, ["not", "an", "object"]),
            response(418, {}),
            requests.ReadTimeout("slow"),
        ]
    )
    ok = client.send_otp("a@b.com")
    assert (ok.ok, ok.status, ok.code, ok.data["resend_after"]) == (True, 200, "code_sent", 30)
    assert fake_api.calls[0].url == "http://x/otp"

    odd = client.send_otp("a@b.com")
    assert (odd.ok, odd.status, odd.code) == (False, 500, api.BAD_RESPONSE)

    empty = client.verify_otp("a@b.com", "1")
    assert (empty.status, empty.code, empty.message) == (418, "http_error", "The request failed (HTTP 418).")

    down = client.send_otp("a@b.com")
    assert down.unreachable and down.code == api.UNREACHABLE and down.status is None


def test_resolve_base_url_precedence() -> None:
    assert api.resolve_base_url({"OTP_API_URL": "http://env/"}, {"api_url": "http://secret"}) == "http://env"
    assert api.resolve_base_url({"OTP_API_URL": " "}, {"api_url": "http://secret"}) == "http://secret"
    assert api.resolve_base_url({}, None) == api.DEFAULT_BASE_URL


def test_parse_inbox_handles_raw_messages_and_junk() -> None:
    data = {
        "mails": [
            {"kind": "Message", "unexpected": True},
            "junk",
            {"kind": ["Message"], "destinations": {}},
            {"kind": "TemplateMessage", "id": "t-1", "source": "no-reply@x.dev", "template": "t", "destinations": {}},
            {
                "kind": "RawMessage",
                "destinations": ["g@h.com", "g@h.com"],
                "id": "raw-1",
                "raw_data": "From: no-reply@x.dev\r\nTo: g@h.com\r\nSubject: Raw subj\r\n\r\nraw body 333333\r\n",
                "source": "no-reply@x.dev",
            },
        ],
        "sms": [{"id": "s-1", "phone_number": "+15550100", "message": "444444"}],
    }
    mails = inbox.parse_inbox(data)
    assert mails == [inbox.Mail("raw-1", "no-reply@x.dev", ("g@h.com",), "Raw subj", "raw body 333333")]
    assert mails[0].is_for("G@H.com ")
    assert inbox.parse_inbox({"ses": {}}) == []


def test_fetch_mails_wraps_non_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "get", lambda url, timeout=None: response(200, text="<html>not the inbox</html>"))
    with pytest.raises(inbox.InboxError, match="did not answer JSON"):
        inbox.fetch_mails(INBOX_URL)


def test_client_session_calls(fake_api: FakeApi) -> None:
    client = api.OtpClient("http://x/")
    fake_api.answers.extend(
        [REFRESHED, response(200, {"code": "revoked"}), SIGNED_OUT, INVALID_TOKEN, requests.ConnectionError("x")]
    )

    renewed = client.refresh(REFRESH_1)
    assert (renewed.ok, renewed.code, renewed.data["refresh_token"]) == (True, "refreshed", REFRESH_2)
    revoked = client.revoke(REFRESH_2)
    assert (revoked.ok, revoked.code, revoked.message) == (True, "revoked", "Done.")
    assert client.sign_out(ACCESS_1, everywhere=True).code == "signed_out"
    refused = client.me(ACCESS_2)
    assert (refused.status, refused.code) == (401, "invalid_token")
    assert client.me(ACCESS_2).unreachable

    assert [(call.method, call.url, call.json, call.bearer) for call in fake_api.calls] == [
        ("POST", "http://x/token/refresh", {"refresh_token": REFRESH_1}, None),
        ("POST", "http://x/token/revoke", {"refresh_token": REFRESH_2}, None),
        ("POST", "http://x/signout", {"everywhere": True}, ACCESS_1),
        ("GET", "http://x/me", None, ACCESS_2),
        ("GET", "http://x/me", None, ACCESS_2),
    ]
    # Results and sessions can be printed by mistake without showing a token.
    assert REFRESH_2 not in repr(renewed)
    held = session.Session.from_answer(renewed.data, 0.0)
    assert held is not None and held.refresh_token == REFRESH_2
    assert not any(token in repr(held) for token in ALL_TOKENS)


def test_session_and_account_from_odd_answers() -> None:
    assert session.Session.from_answer({"access_token": "a", "refresh_token": ""}, 0.0) is None
    assert session.Account.from_answer({"email": "a@b.com", "session": {"signed_in_at": True}}) == session.Account(
        "a@b.com", None, None, None
    )
    # The identifiers that make sense are kept, in the API's order; the rest is dropped.
    odd = session.Account.from_answer(
        {
            "email": "a@b.com",
            "identifiers": [
                {"type": "email", "value": "a@b.com"},
                {"value": "x"},
                None,
                {"type": "phone", "value": "+1"},
            ],
            "created_at": float("nan"),
        }
    )
    assert odd is not None
    assert odd.identifiers == (session.Identifier("email", "a@b.com"), session.Identifier("phone", "+1"))
    assert (odd.user_id, odd.created_at, odd.last_sign_in_at) == (None, None, None)
    assert session.Account.from_answer({"user_id": USER_ID, "identifiers": []}) is None  # no address: not usable


def test_client_phone_reauthentication_and_two_step_calls(fake_api: FakeApi) -> None:
    """Each new route: its method, path, body and bearer, and its answer passed through as an ApiResult."""
    client = api.OtpClient("http://x/")
    calls: list[Callable[[], api.ApiResult]] = [
        lambda: client.send_otp("+14155550123", "phone"),
        lambda: client.verify_otp("+14155550123", "123456", "phone"),
        lambda: client.verify_mfa("mfa-token-1", "654321"),
        lambda: client.verify_mfa("mfa-token-1", "rc-one", "recovery_code"),
        lambda: client.add_phone(ACCESS_1, "+14155550123"),
        lambda: client.link_phone(ACCESS_1, "+14155550123", "123456"),
        lambda: client.remove_phone(ACCESS_1),
        lambda: client.start_totp(ACCESS_1),
        lambda: client.confirm_totp(ACCESS_1, "111111"),
        lambda: client.reauthenticate(ACCESS_1, "222222"),
        lambda: client.reauthenticate(ACCESS_1, "rc-two", "recovery_code"),
        lambda: client.remove_totp(ACCESS_1),
        lambda: client.new_recovery_codes(ACCESS_1),
        lambda: client.send_reauthentication_code(ACCESS_1),
        lambda: client.send_reauthentication_code(ACCESS_1, "phone"),
        lambda: client.reauthenticate_by_code(ACCESS_1, "333333"),
        lambda: client.reauthenticate_by_code(ACCESS_1, "444444", "email"),
    ]
    fake_api.answers.extend(response(200, {"code": f"answer_{n}", "message": f"Answer {n}."}) for n in range(17))

    results = [call() for call in calls]

    assert [(result.status, result.code, result.message) for result in results] == [
        (200, f"answer_{n}", f"Answer {n}.") for n in range(17)
    ]
    phone_number, signed_in = "+14155550123", ACCESS_1
    assert [(call.method, call.url, call.json, call.bearer) for call in fake_api.calls] == [
        ("POST", "http://x/otp", {"action": "send_otp", "phone": phone_number}, None),
        ("POST", "http://x/otp", {"action": "verify_otp", "phone": phone_number, "otp": "123456"}, None),
        ("POST", "http://x/mfa/verify", {"mfa_token": "mfa-token-1", "otp": "654321"}, None),
        ("POST", "http://x/mfa/verify", {"mfa_token": "mfa-token-1", "recovery_code": "rc-one"}, None),
        ("POST", "http://x/me/phone", {"phone": phone_number}, signed_in),
        ("POST", "http://x/me/phone/verify", {"phone": phone_number, "otp": "123456"}, signed_in),
        ("DELETE", "http://x/me/phone", None, signed_in),
        ("POST", "http://x/mfa/totp", {}, signed_in),
        ("POST", "http://x/mfa/totp/confirm", {"otp": "111111"}, signed_in),
        ("POST", "http://x/mfa/reauthenticate", {"otp": "222222"}, signed_in),
        ("POST", "http://x/mfa/reauthenticate", {"recovery_code": "rc-two"}, signed_in),
        ("DELETE", "http://x/mfa/totp", None, signed_in),
        ("POST", "http://x/mfa/recovery-codes", {}, signed_in),
        ("POST", "http://x/reauthenticate", {}, signed_in),  # the API's default: the address, else the number
        ("POST", "http://x/reauthenticate", {"via": "phone"}, signed_in),
        ("POST", "http://x/reauthenticate", {"otp": "333333"}, signed_in),
        ("POST", "http://x/reauthenticate", {"otp": "444444", "via": "email"}, signed_in),
    ]
    assert all(call.timeout == api.DEFAULT_TIMEOUT_SECONDS for call in fake_api.calls)


def test_client_delete_never_raises(fake_api: FakeApi) -> None:
    client = api.OtpClient("http://x")
    fake_api.answers.extend(
        [
            requests.ConnectionError("refused"),
            requests.ReadTimeout("slow"),
            response(502, text="<html>Bad Gateway</html>"),
            response(429, {"code": "too_many_failures", "message": "Later."}, headers={"Retry-After": "9"}),
        ]
    )

    refused, slow, html, limited = (client.remove_totp(ACCESS_1) for _ in range(4))

    assert refused.unreachable and "cannot be reached" in refused.message
    assert slow.unreachable and "did not answer in time" in slow.message
    assert (html.status, html.code) == (502, api.BAD_RESPONSE)
    assert (limited.status, limited.code, limited.retry_after) == (429, "too_many_failures", 9)


def test_phone_countries_from_the_stage_setting() -> None:
    default = phone.countries({})
    assert [(country.code, country.dialling_code) for country in default] == [
        ("US", 1),
        ("CA", 1),
        ("GB", 44),
        ("DE", 49),
        ("FR", 33),
        ("AU", 61),
    ]
    assert default[2].label == "GB +44"
    # The configured order (the first is preselected); unknown regions and repeats dropped; never empty.
    configured = phone.countries({"OTP_SMS_COUNTRIES": " gb,XX,de,GB,001"})
    assert [country.code for country in configured] == ["GB", "DE"]
    assert phone.countries({"OTP_SMS_COUNTRIES": "XX, ,"}) == default


@pytest.mark.parametrize(
    ("typed", "country", "sent"),
    [
        ("(415) 555-0123", "US", "+14155550123"),
        ("07700 900123", "GB", "+447700900123"),  # the trunk 0 goes
        ("+49 1512 3456789", "US", "+4915123456789"),  # a full number wins over the picker
        ("not a number", "US", "not a number"),  # left to the API, whose message is shown
    ],
)
def test_phone_number_as_typed_becomes_e164(typed: str, country: str, sent: str) -> None:
    assert phone.to_e164(typed, country) == sent


def test_phone_shown_in_international_format() -> None:
    assert phone.international("+14155550123") == "+1 415-555-0123"
    assert phone.international("+447700900123") == "+44 7700 900123"
    assert phone.international("garbled") == "garbled"


def test_parse_sms_keeps_well_formed_entries_in_order() -> None:
    data = {
        "sms": [
            {"id": "s-2", "phone_number": "+14155550123", "message": "Your code is 222222."},
            {"id": "s-x", "phone_number": 14155550123, "message": "no"},
            {"id": "s-y", "phone_number": "+14155550123"},
            "junk",
            {"id": "s-1", "phone_number": "+447700900123", "message": "Your code is 111111."},
        ]
    }
    sms = inbox.parse_sms(data)
    assert sms == [
        inbox.Sms("s-2", "+14155550123", "Your code is 222222."),
        inbox.Sms("s-1", "+447700900123", "Your code is 111111."),
    ]
    assert sms[0].is_for(" +14155550123") and not sms[0].is_for("+447700900123") and not sms[0].is_for("")
    assert inbox.parse_sms({"sms": {}}) == [] and inbox.parse_sms({}) == []


def test_account_with_a_phone_and_two_step() -> None:
    account = session.Account.from_answer(
        {
            "phone": "+14155550123",
            "identifiers": [{"type": "phone", "value": "+14155550123"}],
            "mfa": {"totp": True, "recovery_codes_left": 3, "recovery_codes_low": True},
            "session": {"aal": 2, "auth_time": SIGNED_IN_AT},
        }
    )
    assert account is not None
    assert (account.email, account.phone, account.name, account.aal) == (None, "+14155550123", "+14155550123", 2)
    assert account.two_step == session.TwoStep(totp=True, recovery_codes_left=3, recovery_codes_low=True)

    both = session.Account.from_answer({"email": "a@b.com", "phone": "+14155550123", "session": {"aal": True}})
    assert both is not None and both.name == "a@b.com" and both.aal is None and both.two_step is None
    # An mfa object the UI cannot read means no two-step section rather than a wrong one.
    for mfa in ({"totp": "yes"}, [], {"recovery_codes_left": 4}):
        odd = session.Account.from_answer({"email": "a@b.com", "mfa": mfa})
        assert odd is not None and odd.two_step is None
    partial = session.Account.from_answer({"email": "a@b.com", "mfa": {"totp": False, "recovery_codes_left": -1}})
    assert partial is not None and partial.two_step == session.TwoStep(False, None, False)


# ---------------------------------------------------------------------------------------- sign in by phone

NUMBER, NUMBER_SHOWN = "+447700900123", "+44 7700 900123"
SMS_SENT = response(
    200,
    {
        "message": "We sent a code by SMS.",
        "code": "code_sent",
        "expires_in": 300,
        "resend_after": 60,
        "to": NUMBER_SHOWN,
    },
)
PHONE_ACCOUNT = {
    "user_id": USER_ID,
    "phone": NUMBER,
    "identifiers": [{"type": "phone", "value": NUMBER}],
    "created_at": CREATED_AT,
    "last_sign_in_at": SIGNED_IN_AT,
}


def phone_me(**account: Any) -> requests.Response:
    """A ``GET /me`` answer of an account that signs in by phone and has no address."""
    answer = me_answer(**PHONE_ACCOUNT, **account)
    body = json.loads(answer.content)
    del body["email"]
    return response(200, body)


def send_by_phone(
    at: AppTest, fake_api: FakeApi, answer: requests.Response, typed: str = "07700 900123", country: str = "GB"
) -> None:
    at.radio(key="channel_input").set_value("phone").run()
    fake_api.answers.append(answer)
    at.selectbox(key="country_input").set_value(country)
    at.text_input(key="phone_input").input(typed)
    at.button(key="send").click().run()
    assert not at.exception


def test_phone_sign_in_sends_e164_and_shows_the_number_back(app: AppTest, fake_api: FakeApi) -> None:
    app.radio(key="channel_input").set_value("phone").run()
    picker = app.selectbox(key="country_input")
    assert picker.options == [country.label for country in phone.countries({})]
    assert picker.value == "US"  # the first of the stage's list
    assert "email_input" not in {widget.key for widget in app.text_input}

    send_by_phone(app, fake_api, SMS_SENT)
    assert fake_api.payloads == [{"action": "send_otp", "phone": NUMBER}]
    assert on_code_step(app)
    assert markdown_line(app, "We sent a sign-in code by SMS to") == (
        f"We sent a sign-in code by SMS to **{NUMBER_SHOWN}**. It is valid for 5 minutes."
    )
    assert app.button(key="change_address").label == "Use a different number"

    verified = tokens_answer("verified", ACCESS_1, REFRESH_1, phone=NUMBER, user_id=USER_ID)
    body = json.loads(verified.content)
    del body["email"]
    verify(app, fake_api, response(200, body), phone_me())
    assert fake_api.payloads[1] == {"action": "verify_otp", "phone": NUMBER, "otp": "123456"}
    assert on_account_view(app)
    assert markdown_line(app, ":material/verified_user: Signed in as").endswith(f"**{NUMBER_SHOWN}**")
    assert markdown_line(app, "**Identifiers:**") == f"**Identifiers:** {NUMBER_SHOWN} (phone)"
    assert not app.error and not app.warning


def test_a_different_number_returns_to_the_prefilled_phone_form(app: AppTest, fake_api: FakeApi) -> None:
    send_by_phone(app, fake_api, SMS_SENT)
    app.button(key="change_address").click().run()

    assert app.radio(key="channel_input").value == "phone"
    assert app.text_input(key="phone_input").value == NUMBER_SHOWN


@pytest.mark.parametrize(
    ("status", "code", "message", "kind"),
    [
        (400, "invalid_phone", "Enter a valid mobile number.", "error"),
        (400, "phone_not_supported", "We cannot send SMS to this country.", "error"),
        (503, "sms_unavailable", "SMS sending is unavailable right now.", "error"),
        (429, "sms_budget_exceeded", "No more SMS today. Sign in by email instead.", "warning"),
    ],
)
def test_phone_send_failures_show_the_api_message(
    app: AppTest, fake_api: FakeApi, status: int, code: str, message: str, kind: str
) -> None:
    send_by_phone(app, fake_api, response(status, {"message": message, "code": code, "retry_after": 60}))

    assert texts(getattr(app, kind)) == [message]
    assert "phone_input" in {widget.key for widget in app.text_input}


def test_dev_inbox_shows_the_newest_sms_for_the_number_first(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    env.setenv("DEV_INBOX_URL", INBOX_URL)
    data = {
        **INBOX_DATA,
        "sms": [
            {"id": "s-3", "phone_number": "+14155550123", "message": "Your code is 333333."},
            {"id": "s-2", "phone_number": NUMBER, "message": "Your code is 222222."},
            {"id": "s-1", "phone_number": NUMBER, "message": "Your code is 111111."},
        ],
    }
    fake_api.inbox = lambda url: response(200, data)
    at = AppTest.from_file(str(APP_PATH), default_timeout=10).run()
    send_by_phone(at, fake_api, SMS_SENT)

    sidebar = at.sidebar
    headings = [text for text in texts(sidebar.markdown) if text.startswith("**SMS to")]
    assert headings == [
        f"**SMS to {NUMBER_SHOWN}** :green-badge[current number]",
        f"**SMS to {NUMBER_SHOWN}** :green-badge[current number]",
        "**SMS to +1 415-555-0123**",
    ]
    bodies = texts(sidebar.code)
    assert bodies[:3] == ["Your code is 222222.", "Your code is 111111.", "Your code is 333333."]
    assert bodies[3:] == ["Your sign-in code is 222222.", "Your sign-in code is 111111."]  # the mails too
    assert not any("current address" in text for text in texts(sidebar.markdown))


# ------------------------------------------------------------------------------- a phone on the account

LINK_SENT = response(200, {"message": "We sent a code by SMS.", "code": "code_sent", "to": NUMBER_SHOWN})


def test_link_a_phone_to_an_email_account(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(**ACCOUNT))
    assert app.button(key="add_phone").label == "Send code to phone"

    fake_api.answers.append(LINK_SENT)
    app.selectbox(key="link_country_input").set_value("GB")
    app.text_input(key="link_phone_input").input("07700 900123")
    app.button(key="add_phone").click().run()
    call = fake_api.calls[-1]
    assert (call.method, call.path, call.json, call.bearer) == ("POST", "/me/phone", {"phone": NUMBER}, ACCESS_1)
    assert texts(app.success) == ["We sent a code by SMS."]
    assert f"We sent a code by SMS to **{NUMBER_SHOWN}**." in texts(app.markdown)

    linked = response(200, {"message": "Your phone is linked.", "code": "phone_linked", "phone": NUMBER})
    identifiers = [{"type": "email", "value": "a@b.com"}, {"type": "phone", "value": NUMBER}]
    fake_api.answers.extend([linked, me_answer(**{**ACCOUNT, "identifiers": identifiers, "phone": NUMBER})])
    app.text_input(key="link_code_input").input("654 321")
    app.button(key="link_phone").click().run()
    assert fake_api.answers == []
    link, me = fake_api.calls[-2:]
    assert (link.path, link.json, link.bearer) == ("/me/phone/verify", {"phone": NUMBER, "otp": "654321"}, ACCESS_1)
    assert (me.path, me.bearer) == ("/me", ACCESS_1)
    assert texts(app.success) == ["Your phone is linked."]
    assert markdown_line(app, "**Identifiers:**") == f"**Identifiers:** a@b.com (email), {NUMBER_SHOWN} (phone)"
    assert f"**{NUMBER_SHOWN}** signs in to this account too." in texts(app.markdown)
    assert on_account_view(app)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("phone_already_linked", "This number belongs to another account."),
        ("account_has_phone", "Remove the phone this account has first."),
    ],
)
def test_link_refused_shows_the_api_message(app: AppTest, fake_api: FakeApi, code: str, message: str) -> None:
    sign_in(app, fake_api)
    fake_api.answers.append(LINK_SENT)
    app.text_input(key="link_phone_input").input("+44 7700 900123")
    app.button(key="add_phone").click().run()
    app.text_input(key="link_code_input").input("654321")

    click(app, fake_api, "link_phone", response(409, {"message": message, "code": code}))
    assert texts(app.error) == [message]
    assert on_account_view(app)
    click(app, fake_api, "cancel_linking")
    assert "link_phone_input" in {widget.key for widget in app.text_input}
    assert not app.error


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [(404, "phone_not_linked", "There is no phone to remove."), (409, "phone_is_primary", "This number created it.")],
)
def test_remove_phone_refused_shows_the_api_message(
    app: AppTest, fake_api: FakeApi, status: int, code: str, message: str
) -> None:
    send_by_phone(app, fake_api, SMS_SENT)
    verify(app, fake_api, VERIFIED, phone_me())
    click(app, fake_api, "remove_phone", response(status, {"message": message, "code": code}))

    assert (fake_api.calls[-1].method, fake_api.calls[-1].path) == ("DELETE", "/me/phone")
    assert texts(app.error) == [message]


def test_remove_phone_reloads_the_account(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(**{**ACCOUNT, "phone": NUMBER}))
    removed = response(200, {"message": "The phone is removed.", "code": "phone_removed"})
    click(app, fake_api, "remove_phone", removed, me_answer(**ACCOUNT))

    assert fake_api.paths[-2:] == ["/me/phone", "/me"]
    assert fake_api.calls[-2].bearer == ACCESS_1
    assert texts(app.success) == ["The phone is removed."]
    assert "add_phone" in {button.key for button in app.button}


def test_a_session_ended_while_linking_returns_to_start(app: AppTest, fake_api: FakeApi) -> None:
    sign_in(app, fake_api)
    app.text_input(key="link_phone_input").input("+44 7700 900123")
    click(app, fake_api, "add_phone", INVALID_TOKEN, INVALID_TOKEN)

    assert fake_api.paths[-2:] == ["/me/phone", "/token/refresh"]
    assert on_email_step(app)
    assert texts(app.warning) == [SESSION_ENDED]


# ------------------------------------------------------------------------------------ two-step sign-in

MFA_TOKEN = "mfa1.opaque-mfa-token-value-0123456789abcdef"
MFA_REQUIRED = response(
    200,
    {
        "message": "Enter the code from your authenticator app.",
        "code": "mfa_required",
        "mfa_token": MFA_TOKEN,
        "factors": ["totp", "recovery_code"],
        "expires_in": 300,
    },
)
INVALID_CODE = response(401, {"message": "That code is not valid.", "code": "invalid_code"})


def to_second_factor(at: AppTest, fake_api: FakeApi) -> None:
    send(at, fake_api, SENT)
    verify(at, fake_api, MFA_REQUIRED)
    assert fake_api.answers == []


def second_factor(at: AppTest, fake_api: FakeApi, code: str, *answers: requests.Response) -> None:
    fake_api.answers.extend(answers)
    at.text_input(key="second_factor_input").input(code)
    at.button(key="verify_second_factor").click().run()
    assert not at.exception
    assert fake_api.answers == []


def test_mfa_required_asks_for_the_authenticator_code(app: AppTest, fake_api: FakeApi) -> None:
    to_second_factor(app, fake_api)

    assert fake_api.paths == ["/otp", "/otp"]  # no /me: there is no session yet
    assert held_session(app) is None
    assert texts(app.info) == ["Enter the code from your authenticator app."]
    assert app.text_input(key="second_factor_input").label == "Authenticator code"
    assert app.radio(key="factor_input").value == "otp"
    assert "within 5 minutes" in markdown_line(app, "Two-step verification is on for **a@b.com**")
    assert MFA_TOKEN not in page_text(app)

    second_factor(app, fake_api, "000 000", INVALID_CODE)
    assert fake_api.payloads[-1] == {"mfa_token": MFA_TOKEN, "otp": "000000"}
    assert texts(app.error) == ["That code is not valid."]
    assert app.text_input(key="second_factor_input").value == ""

    second_factor(app, fake_api, "123456", tokens_answer("verified", ACCESS_1, REFRESH_1, recovery_codes_left=10), ME)
    assert fake_api.paths[-2:] == ["/mfa/verify", "/me"]
    assert fake_api.calls[-2].bearer is None and fake_api.calls[-1].bearer == ACCESS_1
    assert on_account_view(app)
    assert app.session_state["challenge"] is None  # the used mfa_token is forgotten


def test_a_recovery_code_signs_in_too(app: AppTest, fake_api: FakeApi) -> None:
    to_second_factor(app, fake_api)
    app.radio(key="factor_input").set_value("recovery_code").run()
    assert app.text_input(key="second_factor_input").label == "Recovery code"

    second_factor(app, fake_api, " k7tq-2m9x-vw4p ", VERIFIED, ME)
    assert fake_api.payloads[-2] == {"mfa_token": MFA_TOKEN, "recovery_code": "k7tq-2m9x-vw4p"}
    assert on_account_view(app)


def test_a_spent_mfa_token_starts_over_with_the_api_message(app: AppTest, fake_api: FakeApi) -> None:
    to_second_factor(app, fake_api)
    message = "This sign-in has expired. Please request a new code."
    second_factor(app, fake_api, "123456", response(401, {"message": message, "code": "invalid_mfa_token"}))

    assert on_email_step(app)
    assert app.text_input(key="email_input").value == "a@b.com"
    assert texts(app.warning) == [message]
    assert app.session_state["challenge"] is None


def test_too_many_second_factor_failures_block_with_a_countdown(app: AppTest, fake_api: FakeApi) -> None:
    to_second_factor(app, fake_api)
    message = "Too many wrong codes. Try again later."
    limited = response(429, {"message": message, "code": "too_many_failures"}, headers={"Retry-After": "900"})
    second_factor(app, fake_api, "123456", limited)

    assert texts(app.warning) == [message]
    assert "You can try again in 900 s." in texts(app.caption)
    assert app.button(key="verify_second_factor").disabled is True
    click(app, fake_api, "start_over")
    assert on_email_step(app)


# ----------------------------------------------------------------------------- two-step on the account

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
QR_SVG = (  # as segno writes one
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<svg xmlns="http://www.w3.org/2000/svg" width="29" height="29"><path d="M4 4h7v7h-7z"/></svg>'
)
ENROLLMENT = response(
    200,
    {
        "message": "Scan the QR code.",
        "code": "totp_enrollment",
        "secret": SECRET,
        "otpauth_uri": f"otpauth://totp/OTP%20Sign-in:a%40b.com?secret={SECRET}&issuer=OTP%20Sign-in",
        "qr_svg": QR_SVG,
    },
)
CODES = [f"code-{n:02d}-abcd-efgh" for n in range(10)]
ENABLED = tokens_answer("mfa_enabled", ACCESS_2, REFRESH_2, recovery_codes=CODES)
MFA_OFF = {"mfa": {"totp": False, "recovery_codes_left": 0, "recovery_codes_low": False}}
MFA_ON = {"mfa": {"totp": True, "recovery_codes_left": 10, "recovery_codes_low": False}}


def signed_in_with(at: AppTest, fake_api: FakeApi, **account: Any) -> None:
    send(at, fake_api, SENT)
    verify(at, fake_api, VERIFIED, me_answer(**ACCOUNT, **account))
    assert on_account_view(at)


def test_two_step_is_offered_only_when_the_api_describes_it(app: AppTest, fake_api: FakeApi) -> None:
    sign_in(app, fake_api)  # an API without two-step verification
    assert "Two-step verification" not in [header.value for header in app.subheader]
    assert "start_totp" not in {button.key for button in app.button}


def test_enroll_shows_qr_and_key_then_the_recovery_codes_once(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(aal=1, **ACCOUNT, **MFA_OFF))
    assert markdown_line(app, "**Second factor:**") == "**Second factor:** not used in this session"
    assert "Two-step verification" in [header.value for header in app.subheader]

    click(app, fake_api, "start_totp", ENROLLMENT)
    assert (fake_api.calls[-1].path, fake_api.calls[-1].bearer) == ("/mfa/totp", ACCESS_1)
    (image,) = app.get("image")
    assert image.proto.imgs[0].url.startswith("data:image/svg+xml;base64,")
    assert image.proto.imgs[0].alt == "QR code of the authenticator key"
    assert SECRET in texts(app.main.code)  # the key for manual entry

    app.text_input(key="totp_code_input").input("123 456")
    click(app, fake_api, "confirm_totp", ENABLED, me_answer(aal=2, **ACCOUNT, **MFA_ON))
    confirm, me = fake_api.calls[-2:]
    assert (confirm.path, confirm.json, confirm.bearer) == ("/mfa/totp/confirm", {"otp": "123456"}, ACCESS_1)
    assert me.bearer == ACCESS_2  # the tokens at the higher level replaced the old ones at once
    held = held_session(app)
    assert held is not None and (held.access_token, held.refresh_token) == (ACCESS_2, REFRESH_2)
    assert not presented(fake_api.calls[-1:]) & {ACCESS_1, REFRESH_1}  # retired by the answer: never again
    assert SECRET not in page_text(app)  # the key is gone once it is active
    assert not app.get("image")
    assert "\n".join(CODES) in texts(app.main.code)
    (download,) = app.get("download_button")
    assert download.proto.label == "Download recovery codes"
    assert download.proto.ignore_rerun  # downloading does not rerun the page and hide the codes

    click(app, fake_api, "codes_saved")
    assert not any(CODES[0] in text for text in texts(app.main.code))
    assert markdown_line(app, "**Second factor:**") == "**Second factor:** proven in this session"
    assert ":material/verified: **On**" in markdown_line(app, ":material/verified:")
    assert "10 recovery codes left." in markdown_line(app, ":material/verified:")


def test_confirm_with_a_wrong_code_keeps_the_enrollment(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api, **MFA_OFF)
    click(app, fake_api, "start_totp", ENROLLMENT)
    app.text_input(key="totp_code_input").input("000000")
    click(app, fake_api, "confirm_totp", INVALID_CODE)

    assert texts(app.error) == ["That code is not valid."]
    assert SECRET in texts(app.main.code)
    held = held_session(app)
    assert held is not None and held.access_token == ACCESS_1
    click(app, fake_api, "cancel_enrollment")
    assert SECRET not in page_text(app)
    assert "start_totp" in {button.key for button in app.button}


def test_enroll_refused_shows_the_api_message(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api, **MFA_OFF)
    message = "Two-step verification is already on."
    click(app, fake_api, "start_totp", response(409, {"message": message, "code": "mfa_already_enabled"}))
    assert texts(app.error) == [message]


STEP_UP = response(
    401,
    {"message": "Please confirm it is you with your authenticator app first.", "code": "reauthentication_required"},
    headers={"WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'},
)
REAUTHENTICATED = tokens_answer("reauthenticated", ACCESS_2, REFRESH_2)


def test_remove_needs_a_fresh_second_factor_then_is_retried(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api, **MFA_ON)
    click(app, fake_api, "remove_totp", STEP_UP)
    assert (fake_api.calls[-1].method, fake_api.calls[-1].path) == ("DELETE", "/mfa/totp")
    assert not app.info and not app.error  # the prompt says what is needed, where the person is looking
    assert held_session(app) is not None  # a 401 that asks for a factor is not a dead session
    assert markdown_line(app, "To remove") == (
        "To remove your authenticator, first confirm it is you with a code from your authenticator app or a "
        "recovery code."
    )

    app.text_input(key="step_up_code_input").input("000000")
    click(app, fake_api, "confirm_step_up", INVALID_CODE)
    assert section(app, "Two-step verification", "error") == ["That code is not valid."]
    assert "step_up_code_input" in {widget.key for widget in app.text_input}

    disabled = response(200, {"message": "Two-step verification is off.", "code": "mfa_disabled"})
    app.text_input(key="step_up_code_input").input("123456")
    click(app, fake_api, "confirm_step_up", REAUTHENTICATED, disabled, me_answer(**ACCOUNT, **MFA_OFF))
    proof, retry, me = fake_api.calls[-3:]
    assert (proof.path, proof.json, proof.bearer) == ("/mfa/reauthenticate", {"otp": "123456"}, ACCESS_1)
    assert (retry.method, retry.path, retry.bearer) == ("DELETE", "/mfa/totp", ACCESS_2)
    assert me.bearer == ACCESS_2
    assert texts(app.success) == ["Two-step verification is off."]
    assert "start_totp" in {button.key for button in app.button}


def test_new_recovery_codes_with_a_recovery_code_as_step_up(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api, mfa={"totp": True, "recovery_codes_left": 2, "recovery_codes_low": True})
    assert texts(app.warning) == ["You are running out of recovery codes: create new ones."]
    assert "2 recovery codes left." in markdown_line(app, ":material/verified:")

    click(app, fake_api, "new_recovery_codes", STEP_UP)
    app.radio(key="step_up_factor_input").set_value("recovery_code").run()
    app.text_input(key="step_up_code_input").input("code-00-abcd-efgh")
    fresh = response(200, {"message": "New recovery codes.", "code": "recovery_codes", "recovery_codes": CODES})
    click(app, fake_api, "confirm_step_up", REAUTHENTICATED, fresh, me_answer(**ACCOUNT, **MFA_ON))

    assert fake_api.calls[-3].json == {"recovery_code": "code-00-abcd-efgh"}
    assert fake_api.paths[-2] == "/mfa/recovery-codes"
    assert "\n".join(CODES) in texts(app.main.code)
    (shown_once,) = texts(app.warning)  # the codes' own warning; "running out" is gone with the new /me
    assert shown_once.startswith("Save these recovery codes now")


# ------------------------------------------------------- confirming it is you before a phone is added or removed

STEP_UP_BY_CODE = response(
    401,
    {"message": "Please confirm it is you with a new code first.", "code": "reauthentication_required"},
    headers={"WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'},
)
PROOF_SENT_MESSAGE = "We sent a code to a@b.com to confirm it is you. It is valid for 10 minutes."
PROOF_SENT = response(
    200, {"message": PROOF_SENT_MESSAGE, "code": "code_sent", "to": "a@b.com", "expires_in": 600, "resend_after": 30}
)
ADD_PROMPT = f"To add **{NUMBER_SHOWN}** to your account, first confirm it is you with a code we send to **a@b.com**."


def test_a_phone_added_late_is_confirmed_with_a_mailed_code_then_sent_with_the_new_tokens(
    app: AppTest, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    signed_in_with(app, fake_api, **MFA_OFF)
    app.selectbox(key="link_country_input").set_value("GB")
    app.text_input(key="link_phone_input").input("07700 900123")
    click(app, fake_api, "add_phone", STEP_UP_BY_CODE)

    # Not an error: the phone section itself says what is needed and offers to send the code.
    assert not app.error and not app.warning and not app.info
    assert ADD_PROMPT in section(app, "Phone", "markdown")
    assert app.button(key="send_proof_code").label == "Send a code to a@b.com"
    assert app.button(key="add_phone").disabled is True  # the change waits for the prompt...
    assert app.text_input(key="link_phone_input").value == "07700 900123"  # ...beside the form that asked
    assert "step_up_code_input" not in {widget.key for widget in app.text_input}  # no code sent yet

    click(app, fake_api, "send_proof_code", PROOF_SENT)
    sent = fake_api.calls[-1]
    assert (sent.method, sent.path, sent.json, sent.bearer) == ("POST", "/reauthenticate", {"via": "email"}, ACCESS_1)
    assert section(app, "Phone", "success") == [PROOF_SENT_MESSAGE]
    assert app.text_input(key="step_up_code_input").label == "Code from the email"
    assert app.button(key="resend_proof_code").disabled is True
    assert "You can request a new code in 30 s." in section(app, "Phone", "caption")

    app.text_input(key="step_up_code_input").input("000000")
    click(app, fake_api, "confirm_step_up", INVALID_CODE)
    assert section(app, "Phone", "error") == ["That code is not valid."]  # next to the field
    assert app.text_input(key="step_up_code_input").value == ""
    held = held_session(app)
    assert held is not None and held.access_token == ACCESS_1  # a refused code changes nothing

    app.text_input(key="step_up_code_input").input("123 456")
    before_proof = len(fake_api.calls)
    click(app, fake_api, "confirm_step_up", REAUTHENTICATED, LINK_SENT, me_answer(**ACCOUNT, **MFA_OFF))
    proof, retry, me = fake_api.calls[before_proof:]
    assert (proof.path, proof.json, proof.bearer) == ("/reauthenticate", {"otp": "123456", "via": "email"}, ACCESS_1)
    # The change the person asked for, as they asked it, with the tokens of the proof.
    assert (retry.method, retry.path, retry.json, retry.bearer) == ("POST", "/me/phone", {"phone": NUMBER}, ACCESS_2)
    assert me.bearer == ACCESS_2
    held = held_session(app)
    assert held is not None and (held.access_token, held.refresh_token) == (ACCESS_2, REFRESH_2)
    assert texts(app.success) == ["We sent a code by SMS."]
    assert f"We sent a code by SMS to **{NUMBER_SHOWN}**." in section(app, "Phone", "markdown")
    assert "step_up_code_input" not in {widget.key for widget in app.text_input}

    linked = response(200, {"message": "Your phone is linked.", "code": "phone_linked", "phone": NUMBER})
    app.text_input(key="link_code_input").input("654321")
    click(app, fake_api, "link_phone", linked, me_answer(**{**ACCOUNT, "phone": NUMBER}, **MFA_OFF))
    assert fake_api.calls[-2].bearer == ACCESS_2
    assert f"**{NUMBER_SHOWN}** signs in to this account too." in texts(app.markdown)

    # The session renews with the refresh token the proof issued; the retired pair is never presented again.
    fake_clock.advance(3600 - 30)
    fake_api.answers.extend([tokens_answer("refreshed", ACCESS_3, REFRESH_3), me_answer(**ACCOUNT)])
    app.run()
    assert not app.exception and fake_api.answers == []
    assert fake_api.calls[-2].json == {"refresh_token": REFRESH_2}
    assert not presented(fake_api.calls[before_proof + 1 :]) & {ACCESS_1, REFRESH_1}


def test_removing_a_phone_late_shows_a_send_limit_in_the_prompt_then_confirms(
    app: AppTest, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    signed_in_with(app, fake_api, phone=NUMBER, **MFA_OFF)
    click(app, fake_api, "remove_phone", STEP_UP_BY_CODE)
    assert (
        "To remove this phone from your account, first confirm it is you with a code we send to **a@b.com**."
        in section(app, "Phone", "markdown")
    )
    assert app.button(key="remove_phone").disabled is True

    wait = "Please wait a moment before asking for another code."
    limited = response(429, {"message": wait, "code": "resend_cooldown", "retry_after": 20})
    click(app, fake_api, "send_proof_code", limited)
    assert section(app, "Phone", "warning") == [wait]
    assert "You can try again in 20 s." in section(app, "Phone", "caption")  # the wait, beside the button
    assert texts(app.main.caption).count("You can try again in 20 s.") == 1  # and not at the top as well
    assert app.button(key="send_proof_code").disabled is True

    fake_clock.advance(20)
    app.run()
    assert app.button(key="send_proof_code").disabled is False
    assert not app.warning

    click(app, fake_api, "send_proof_code", PROOF_SENT)
    app.text_input(key="step_up_code_input").input("123456")
    removed = response(200, {"message": "The phone is removed.", "code": "phone_removed"})
    click(app, fake_api, "confirm_step_up", REAUTHENTICATED, removed, me_answer(**ACCOUNT, **MFA_OFF))
    proof, retry, me = fake_api.calls[-3:]
    assert (proof.path, proof.bearer) == ("/reauthenticate", ACCESS_1)
    assert (retry.method, retry.path, retry.bearer) == ("DELETE", "/me/phone", ACCESS_2)
    assert me.bearer == ACCESS_2
    assert texts(app.success) == ["The phone is removed."]
    assert "add_phone" in {button.key for button in app.button}
    assert "step_up_code_input" not in {widget.key for widget in app.text_input}


def test_an_account_with_an_authenticator_confirms_a_phone_change_with_it(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api, **MFA_ON)
    app.text_input(key="link_phone_input").input("+44 7700 900123")
    click(app, fake_api, "add_phone", STEP_UP)

    assert (
        f"To add **{NUMBER_SHOWN}** to your account, first confirm it is you with a code from your authenticator "
        "app or a recovery code." in section(app, "Phone", "markdown")
    )
    assert app.text_input(key="step_up_code_input").label == "Authenticator code"  # the two-step prompt's field
    assert "send_proof_code" not in {button.key for button in app.button}

    app.radio(key="step_up_factor_input").set_value("recovery_code").run()
    app.text_input(key="step_up_code_input").input(" k7tq-2m9x-vw4p ")
    click(app, fake_api, "confirm_step_up", REAUTHENTICATED, LINK_SENT, me_answer(**ACCOUNT, **MFA_ON))
    proof, retry, _ = fake_api.calls[-3:]
    assert (proof.path, proof.json) == ("/mfa/reauthenticate", {"recovery_code": "k7tq-2m9x-vw4p"})
    assert proof.bearer == ACCESS_1
    assert (retry.path, retry.json, retry.bearer) == ("/me/phone", {"phone": NUMBER}, ACCESS_2)
    held = held_session(app)
    assert held is not None and (held.access_token, held.refresh_token) == (ACCESS_2, REFRESH_2)
    assert f"We sent a code by SMS to **{NUMBER_SHOWN}**." in section(app, "Phone", "markdown")


def test_use_second_factor_turns_the_prompt_to_the_authenticator(app: AppTest, fake_api: FakeApi) -> None:
    """/me did not say the account has an authenticator (an API without two-step in /me, or one enrolled since):
    the API's refusal of a code says so, and the prompt asks for the authenticator instead."""
    sign_in(app, fake_api)
    app.text_input(key="link_phone_input").input("+44 7700 900123")
    click(app, fake_api, "add_phone", STEP_UP_BY_CODE)
    message = "Your account has two-step verification. Confirm it is you with your authenticator app instead."
    click(app, fake_api, "send_proof_code", response(403, {"message": message, "code": "use_second_factor"}))

    assert section(app, "Phone", "info") == [message]
    assert app.text_input(key="step_up_code_input").label == "Authenticator code"
    assert "send_proof_code" not in {button.key for button in app.button}

    click(app, fake_api, "cancel_step_up")
    assert "step_up_code_input" not in {widget.key for widget in app.text_input}
    assert not app.info
    assert app.button(key="add_phone").disabled is False


def test_a_proof_answered_without_tokens_ends_the_session(app: AppTest, fake_api: FakeApi) -> None:
    """The API retired the session's tokens with the proof: none is left to make the change or renew with."""
    signed_in_with(app, fake_api, **MFA_OFF)
    app.text_input(key="link_phone_input").input("+44 7700 900123")
    click(app, fake_api, "add_phone", STEP_UP_BY_CODE)
    click(app, fake_api, "send_proof_code", PROOF_SENT)
    app.text_input(key="step_up_code_input").input("123456")
    click(app, fake_api, "confirm_step_up", response(200, {"message": "Confirmed.", "code": "reauthenticated"}))

    assert fake_api.paths[-1] == "/reauthenticate"  # the change is not tried with the retired tokens
    assert held_session(app) is None
    assert on_email_step(app)
    assert texts(app.warning) == [SESSION_ENDED]


def test_cancelling_the_link_closes_its_prompt(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api, **MFA_OFF)
    app.text_input(key="link_phone_input").input("+44 7700 900123")
    click(app, fake_api, "add_phone", LINK_SENT)
    app.text_input(key="link_code_input").input("654321")
    click(app, fake_api, "link_phone", STEP_UP_BY_CODE)
    assert app.button(key="send_proof_code").label == "Send a code to a@b.com"
    assert app.button(key="link_phone").disabled is True

    click(app, fake_api, "cancel_linking")
    assert "send_proof_code" not in {button.key for button in app.button}
    assert app.session_state["step_up"] is None
    assert "link_phone_input" in {widget.key for widget in app.text_input}


def test_enrollment_required_offers_only_enrollment(app: AppTest, fake_api: FakeApi) -> None:
    message = "Set up two-step verification to continue."
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, response(403, {"message": message, "code": "mfa_enrollment_required"}))

    assert on_account_view(app)
    assert texts(app.warning) == [message]
    assert "start_totp" in {button.key for button in app.button}
    click(app, fake_api, "start_totp", ENROLLMENT)
    app.text_input(key="totp_code_input").input("123456")
    click(app, fake_api, "confirm_totp", ENABLED, me_answer(**ACCOUNT, **MFA_ON))
    assert message not in texts(app.warning)
    assert on_account_view(app) and markdown_line(app, "**Account ID:**")
    assert app.session_state["enrollment_required"] is False


def test_secrets_of_two_step_never_reach_the_url_or_the_page_after_use(app: AppTest, fake_api: FakeApi) -> None:
    to_second_factor(app, fake_api)
    second_factor(app, fake_api, "123456", VERIFIED, me_answer(**ACCOUNT, **MFA_OFF))
    click(app, fake_api, "start_totp", ENROLLMENT)
    app.text_input(key="totp_code_input").input("123456")
    click(app, fake_api, "confirm_totp", ENABLED, me_answer(**ACCOUNT, **MFA_ON))
    click(app, fake_api, "codes_saved")

    page = page_text(app)
    assert "10 recovery codes left" in page  # the scan reads the right page
    for secret in (MFA_TOKEN, SECRET, *CODES, *ALL_TOKENS):
        assert secret not in page
    assert dict(app.query_params) == {}
