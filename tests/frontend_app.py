"""What the UI's AppTest modules share (tests/test_frontend_*.py): the API and the clock faked, token-shaped values,
the API's answers, fixtures and what a person reads off the page.

HTTP is faked at the ``requests`` level (``requests.post``, ``requests.get``, ``requests.patch`` and
``requests.delete``; GETs to the local stack's moto server go to the dev inbox fake, everything else to the API fake;
``requests.request``, which the admin client uses, answers the page's question whether the account is an admin; the
connected apps and the passkeys the account view lists, ``GET /me/consents`` and ``GET /me/passkeys``, are
answered apart too), so no network is used and the real client code
(frontend/api.py, frontend/inbox.py) runs. Time is faked by replacing ``frontend.clock.now``.

AppTest sends no cookies, so a page run keeps its state in its own session (``frontend.state.STATE_KEY``) unless a
test gives it a browser handle (:func:`browser_with_handle`): then two AppTest runs with the same handle are two
tabs, or a tab and its reload, of one browser.
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
from streamlit.testing.v1 import AppTest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # plain `pytest` (not `python -m pytest`) does not add the root
    sys.path.insert(0, str(REPO_ROOT))

from frontend import clock, session, state  # noqa: E402
from frontend.state import UiState  # noqa: E402

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
NOT_AN_ADMIN = response(403, {"message": "This is for the service's admins only.", "code": "admin_required"})
SIGNED_OUT = response(200, {"message": "You are signed out.", "code": "signed_out"})
SIGNED_OUT_EVERYWHERE = response(200, {"message": "You are signed out on every device.", "code": "signed_out"})
NO_APPS = response(200, {"message": "No apps.", "code": "consents", "consents": []})
NO_PASSKEYS = response(200, {"message": "Your passkeys.", "code": "passkey_list", "passkeys": [], "most": 10})
# The API's handle of the sign-in ceremonies POST /passkeys/signin/options answers by default: numbered, so that a
# test tells which one the page holds.
SIGN_IN_CEREMONY = "autofill-ceremony-{number}"


def sign_in_options(number: int) -> requests.Response:
    """A ``POST /passkeys/signin/options`` answer, as the API gives it (usernameless: no allowCredentials)."""
    ceremony = SIGN_IN_CEREMONY.format(number=number)
    return response(
        200,
        {
            "code": "passkey_options",
            "message": "Use your passkey.",
            "options": {"challenge": ceremony, "rpId": "localhost", "userVerification": "required", "timeout": 300000},
            "ceremony": ceremony,
            "expires_in": 300,
        },
    )


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
    admin: requests.Response | None = None  # what the admin routes answer (default: 403 admin_required)
    admin_calls: list[str] = field(default_factory=list)
    inbox: Callable[[str], requests.Response] | None = None
    inbox_gets: list[str] = field(default_factory=list)
    # /me/consents: the account view reads it whenever it shows, so it is answered from a queue of its own (an
    # empty list when nothing is queued) and its calls are recorded apart: the other calls read as before apps.
    apps: list[requests.Response] = field(default_factory=list)
    apps_calls: list[Call] = field(default_factory=list)
    # GET /me/passkeys: read whenever the account view shows, so answered and recorded apart as the apps are.
    passkey_lists: list[requests.Response] = field(default_factory=list)
    passkey_list_calls: list[Call] = field(default_factory=list)
    # POST /passkeys/signin/options: the sign-in card asks for it whenever its passkey autofill needs a ceremony
    # (frontend/passkey_autofill.py), so it is answered from a queue of its own (else a fresh ceremony, numbered
    # from 1) and its calls are recorded apart: the other calls read as before the autofill.
    sign_in_options: list[requests.Response | Exception] = field(default_factory=list)
    sign_in_options_calls: list[Call] = field(default_factory=list)
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

    def patch(
        self,
        url: str,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        timeout: float | None = None,
        **_: Any,
    ) -> requests.Response:
        return self._answer(Call("PATCH", url, json, dict(headers or {}), timeout))

    def _apps(self, call: Call) -> requests.Response:
        self.apps_calls.append(call)
        if call.bearer in self.retired:
            raise AssertionError(f"{call.method} {call.path} presented a token that an upgrade retired")
        return self.apps.pop(0) if self.apps else NO_APPS

    def _passkey_list(self, call: Call) -> requests.Response:
        self.passkey_list_calls.append(call)
        if call.bearer in self.retired:
            raise AssertionError(f"{call.method} {call.path} presented a token that an upgrade retired")
        return self.passkey_lists.pop(0) if self.passkey_lists else NO_PASSKEYS

    def request(self, method: str, url: str, headers: dict[str, str] | None = None, **_: Any) -> requests.Response:
        """The admin client's calls: recorded apart, so the other calls read as they did before admins."""
        self.admin_calls.append(f"{method} {url.removeprefix(API_URL)}")
        return self.admin if self.admin is not None else NOT_AN_ADMIN  # a Response is falsy unless 2xx

    def _answer(self, call: Call) -> requests.Response:
        if call.path.startswith("/me/consents"):
            return self._apps(call)
        if call.method == "GET" and call.path == "/me/passkeys":
            return self._passkey_list(call)
        if call.method == "POST" and call.url.endswith("/passkeys/signin/options"):
            self.sign_in_options_calls.append(call)
            queued = self.sign_in_options
            answer = queued.pop(0) if queued else sign_in_options(len(self.sign_in_options_calls))
            if isinstance(answer, Exception):
                raise answer
            return answer
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
    monkeypatch.setattr(requests, "patch", fake.patch)
    monkeypatch.setattr(requests, "request", fake.request)
    state.STORE.clear()  # what earlier tests' browsers left
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


def ui_state(at: AppTest) -> UiState:
    """The state the page ran with: its own session's (AppTest sends no handle) unless a test gave it one."""
    handle = state.browser_handle()
    return state.STORE.get(handle) if handle else at.session_state[state.STATE_KEY]


def held_session(at: AppTest) -> session.Session | None:
    return ui_state(at).box.current


def browser_with_handle(monkeypatch: pytest.MonkeyPatch, handle: str = "h" * 43) -> str:
    """From now on every page run comes from one browser, which sends ``handle`` (as its cookie would)."""
    monkeypatch.setattr(state, "browser_handle", lambda: handle)
    return handle


ACCOUNT_LINES = ("**Account ID:**", "**Identifiers:**", "**Account created:**", "**Last sign-in:**")


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


LINK_SENT = response(200, {"message": "We sent a code by SMS.", "code": "code_sent", "to": NUMBER_SHOWN})


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


STEP_UP = response(
    401,
    {"message": "Please confirm it is you with your authenticator app first.", "code": "reauthentication_required"},
    headers={"WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'},
)


REAUTHENTICATED = tokens_answer("reauthenticated", ACCESS_2, REFRESH_2)


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
