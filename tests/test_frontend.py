"""Tests for the Streamlit sign-in UI (frontend/), driven through Streamlit's AppTest.

HTTP is faked at the ``requests`` level (``requests.post`` for the API, ``requests.get`` for the dev inbox),
so no network is used and the real client code (frontend/api.py, frontend/inbox.py) runs. Time is faked by
replacing ``frontend.clock.now``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from streamlit.testing.v1 import AppTest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) does not add the root
    sys.path.insert(0, str(REPO_ROOT))

from frontend import api, clock, inbox  # noqa: E402

APP_PATH = REPO_ROOT / "frontend" / "app.py"
API_URL = "http://api.test"
INBOX_URL = "http://127.0.0.1:4566/moto-api/data.json"

# What moto's server really answers on /moto-api/data.json after SES (v1 or v2) sends, trimmed to the
# "ses" service (the real payload also holds every other service, and more SES models).
MOTO_DATA = {
    "ses": {
        "BulkTemplateMessage": [],
        "Message": [
            {
                "body": "Your sign-in code is 111111.",
                "destinations": {"ToAddresses": ["old@example.com"]},
                "id": "msg-1",
                "source": "no-reply@signin.localhost.dev",
                "subject": "Your sign-in code",
            },
            {
                "body": "<html><body><p>Your sign-in code is <b>222222</b>.</p></body></html>",
                "destinations": {"ToAddresses": ["a@b.com"], "CcAddresses": ["cc@example.com"]},
                "id": "msg-2",
                "source": "no-reply@signin.localhost.dev",
                "subject": "Newest code",
            },
        ],
        "RawMessage": [],
        "TemplateMessage": [],
    },
    "sqs": {"Queue": []},
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
VERIFIED = response(
    200, {"message": "You are signed in.", "code": "verified", "email": "a@b.com", "token": "x"}
)


@dataclass
class FakeApi:
    """Stands in for requests.post: answers from a queue (or raises queued exceptions) and records calls."""

    answers: list[requests.Response | Exception] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any], float | None]] = field(default_factory=list)

    def __call__(
        self, url: str, json: dict[str, Any], timeout: float | None = None, **_: Any
    ) -> requests.Response:
        self.calls.append((url, json, timeout))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [payload for _, payload, _ in self.calls]


@dataclass
class FakeClock:
    t: float = 1000.0

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def fake_api(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    fake = FakeApi()
    monkeypatch.setattr(requests, "post", fake)
    return fake


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(clock, "now", lambda: fake.t)
    return fake


@pytest.fixture
def inbox_gets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail loudly if anything GETs without a test opting in; records GET URLs."""
    urls: list[str] = []

    def forbidden(url: str, **_: Any) -> requests.Response:
        urls.append(url)
        raise AssertionError(f"unexpected GET {url}")

    monkeypatch.setattr(requests, "get", forbidden)
    return urls


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("OTP_API_URL", API_URL)
    monkeypatch.delenv("DEV_INBOX_URL", raising=False)
    return monkeypatch


@pytest.fixture
def app(env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock, inbox_gets: list[str]) -> AppTest:
    at = AppTest.from_file(str(APP_PATH), default_timeout=10)
    at.run()
    assert not at.exception
    return at


# -------------------------------------------------------------------------------------------- helpers


def texts(elements: Any) -> list[str]:
    return [element.value for element in elements]


def send(
    at: AppTest, fake_api: FakeApi, answer: requests.Response | Exception, email: str = "a@b.com"
) -> None:
    fake_api.answers.append(answer)
    at.text_input(key="email_input").input(email)
    at.button(key="send").click().run()
    assert not at.exception


def verify(
    at: AppTest, fake_api: FakeApi, answer: requests.Response | Exception, code: str = "123456"
) -> None:
    fake_api.answers.append(answer)
    at.text_input(key="code_input").input(code)
    at.button(key="verify").click().run()
    assert not at.exception


def on_email_step(at: AppTest) -> bool:
    keys = {widget.key for widget in at.text_input}
    return "email_input" in keys and "code_input" not in keys


def on_code_step(at: AppTest) -> bool:
    keys = {widget.key for widget in at.text_input}
    return "code_input" in keys and "email_input" not in keys


# ---------------------------------------------------------------------------------------------- flow


def test_start_page_asks_for_an_address(app: AppTest, fake_api: FakeApi) -> None:
    assert app.title[0].value == "Sign in"
    assert on_email_step(app)
    assert app.button(key="send").disabled is False
    assert fake_api.calls == []  # rendering alone must not call the API


def test_send_success_shows_code_entry(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT, email="  a@b.com ")

    assert fake_api.calls == [(f"{API_URL}/otp", {"action": "send_otp", "email": "a@b.com"}, 10.0)]
    assert on_code_step(app)
    assert texts(app.success) == ["We sent a code to a@b.com."]
    assert any("a@b.com" in text and "10 minutes" in text for text in texts(app.markdown))


def test_verify_success_shows_signed_in_view(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, code=" 123 456 ")

    # Spaces are stripped; the digits are sent as typed (the API owns the format).
    assert fake_api.payloads[-1] == {"action": "verify_otp", "email": "a@b.com", "otp": "123456"}
    assert any("Signed in as" in text and "a@b.com" in text for text in texts(app.success))
    assert app.button(key="sign_out")
    assert not app.text_input


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


def test_rate_limit_shows_message_and_live_countdown(
    app: AppTest, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
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
    verify(
        app, fake_api, response(429, {"message": message, "code": "too_many_failures", "retry_after": 600})
    )

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
def test_mail_failure_shows_api_message(
    app: AppTest, fake_api: FakeApi, status: int, code: str, message: str
) -> None:
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


def test_resend_is_disabled_until_cooldown_passes(
    app: AppTest, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
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


def test_sign_out_returns_to_start(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED)
    app.button(key="sign_out").click().run()

    assert not app.exception
    assert on_email_step(app)
    assert app.text_input(key="email_input").value == ""
    assert not any("Signed in" in text for text in texts(app.success))
    assert app.session_state["email"] == ""


def test_api_url_falls_back_to_secrets(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock, inbox_gets: list[str]
) -> None:
    env.delenv("OTP_API_URL")
    at = AppTest.from_file(str(APP_PATH), default_timeout=10)
    at.secrets["api_url"] = "https://signin.example.com/api/"
    at.run()
    send(at, fake_api, SENT)

    assert fake_api.calls[0][0] == "https://signin.example.com/api/otp"


# ------------------------------------------------------------------------------------------ dev inbox


def test_dev_inbox_absent_without_env_var(app: AppTest, fake_api: FakeApi, inbox_gets: list[str]) -> None:
    send(app, fake_api, SENT)

    assert inbox_gets == []  # the inbox is never even fetched
    assert len(app.sidebar) == 0
    assert not any("Dev inbox" in header.value for header in app.subheader)


def test_dev_inbox_lists_mails_newest_first(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.setenv("DEV_INBOX_URL", INBOX_URL)
    gets: list[str] = []

    def fake_get(url: str, timeout: float | None = None, **_: Any) -> requests.Response:
        gets.append(url)
        return response(200, MOTO_DATA)

    monkeypatch.setattr(requests, "get", fake_get)
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
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.setenv("DEV_INBOX_URL", INBOX_URL)

    def refused(url: str, **_: Any) -> requests.Response:
        raise requests.ConnectionError("refused")

    monkeypatch.setattr(requests, "get", refused)
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
    assert fake_api.calls[0][0] == "http://x/otp"

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


def test_parse_moto_data_handles_raw_messages_and_junk() -> None:
    data = {
        "ses": {
            "Message": [{"unexpected": True}, "junk"],
            "RawMessage": [
                {
                    "destinations": ["g@h.com", "g@h.com"],
                    "id": "raw-1",
                    "raw_data": (
                        "From: no-reply@x.dev\r\nTo: g@h.com\r\nSubject: Raw subj\r\n\r\nraw body 333333\r\n"
                    ),
                    "source": "no-reply@x.dev",
                }
            ],
        }
    }
    mails = inbox.parse_moto_data(data)
    assert mails == [inbox.Mail("raw-1", "no-reply@x.dev", ("g@h.com",), "Raw subj", "raw body 333333")]
    assert mails[0].is_for("G@H.com ")
    assert inbox.parse_moto_data({"sqs": {}}) == []


def test_fetch_mails_wraps_non_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "get", lambda url, timeout=None: response(200, text="<html>moto</html>"))
    with pytest.raises(inbox.InboxError, match="did not answer JSON"):
        inbox.fetch_mails(INBOX_URL)
