"""The browser's session handle (frontend/handle.py): the cookie the UI server sets, the bounded and expiring map
from it to the state, and what it means for a page: a reload or a new tab of the same browser returns to the same
step or account (two AppTest runs given one handle), and sign-out or a session the API ended forgets it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from frontend import handle, state
from tests import frontend_app
from tests.frontend_app import (
    ACCESS_1,
    APP_PATH,
    INVALID_TOKEN,
    ME,
    MFA_REQUIRED,
    SENT,
    SIGNED_OUT,
    VERIFIED,
    FakeApi,
    browser_with_handle,
    click,
    held_session,
    markdown_line,
    on_account_view,
    on_code_step,
    on_email_step,
    send,
    texts,
    to_second_factor,
    verify,
)

# The fixtures this module uses (tests/frontend_app.py), with those they build on.
app, env, fake_api, fake_clock = frontend_app.app, frontend_app.env, frontend_app.fake_api, frontend_app.fake_clock


# ------------------------------------------------------------------------------------------- the cookie


def page_load(path: str = "/", cookie: str | None = None, scheme: str = "http", **headers: str) -> list[str]:
    """The Set-Cookie headers the middleware adds to a GET of ``path`` (the page itself answers 200)."""
    raw = [(b"cookie", cookie.encode())] if cookie else []
    raw += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]
    scope = {"type": "http", "method": "GET", "path": path, "scheme": scheme, "headers": raw}
    sent: list[dict[str, Any]] = []

    async def page(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": b"<html></html>"})

    async def collect(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(handle.HandleCookie(page)(scope, None, collect))
    start = sent[0]
    return [value.decode() for name, value in start["headers"] if name == b"set-cookie"]


def test_a_page_load_without_a_handle_gets_a_random_httponly_one() -> None:
    (first,) = page_load()
    (second,) = page_load()
    name, _, rest = first.partition("=")
    value, *attributes = rest.split("; ")
    assert name == "otp_ui" and handle.well_formed(value)
    assert attributes == ["Path=/", "HttpOnly", "SameSite=Lax"]  # no Secure over plain http: it would be dropped
    assert second.split(";")[0] != first.split(";")[0]  # random, never derived from anything


def test_over_https_the_handle_is_secure_and_host_only() -> None:
    for load in (page_load(scheme="https"), page_load(x_forwarded_proto="https")):
        (cookie,) = load
        assert cookie.startswith("__Host-otp_ui=")
        assert cookie.endswith("; Path=/; HttpOnly; SameSite=Lax; Secure")
    # Over https the plain name does not count: a cookie a sibling subdomain could plant is replaced.
    assert page_load(scheme="https", cookie=f"otp_ui={handle.new_handle()}")


def test_a_handle_is_kept_and_only_page_loads_are_answered() -> None:
    kept = handle.new_handle()
    assert page_load(cookie=f"other=1; otp_ui={kept}") == []
    assert page_load("/_stcore/stream") == []  # the websocket and the assets never set it
    assert page_load("/static/js/main.js") == []
    assert page_load("/admin")  # any page of the app is a page load
    assert page_load(cookie="otp_ui=chosen-by-someone")  # not shaped like ours: replaced


def test_the_store_is_bounded_and_forgets_idle_handles() -> None:
    now = [0.0]
    store: handle.HandleStore[list[str]] = handle.HandleStore(list, limit=2, idle_seconds=60, clock=lambda: now[0])
    store.get("a").append("signed in")
    store.get("b")
    assert store.get("a") == ["signed in"]  # the same state for the same handle
    store.get("c")  # a third: the least recently used ("b") goes
    assert len(store) == 2 and store.get("a") == ["signed in"]
    now[0] = 61
    assert store.get("a") == []  # idle too long: forgotten, a new one in its place
    assert len(store) == 1
    store.forget("a")
    assert len(store) == 0


def test_past_the_limit_visitors_go_before_the_people_signed_in() -> None:
    store: handle.HandleStore[list[str]] = handle.HandleStore(list, limit=2, precious=bool)
    store.get("signed in").append("tokens")
    store.get("visitor")
    store.get("another visitor")  # the oldest, "signed in", stays: a visitor goes instead
    assert store.get("signed in") == ["tokens"] and len(store) == 2


# ------------------------------------------------------------------------- reloads and tabs (AppTest)


def a_new_tab() -> AppTest:
    """A reload, or another tab of the same browser: a new Streamlit session, the same handle."""
    at = AppTest.from_file(str(APP_PATH), default_timeout=10).run()
    assert not at.exception
    return at


def test_a_reload_returns_to_the_code_form_for_the_same_address(
    app: AppTest, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser_with_handle(monkeypatch)
    send(app, fake_api, SENT)
    assert on_code_step(app)

    reloaded = a_new_tab()
    assert on_code_step(reloaded)
    assert "a@b.com" in markdown_line(reloaded, "We emailed a sign-in code to")
    verify(reloaded, fake_api, VERIFIED, ME)  # the code still valid is typed in the reloaded page
    assert fake_api.payloads[1] == {"action": "verify_otp", "email": "a@b.com", "otp": "123456"}
    assert on_account_view(reloaded)


def test_a_reload_returns_to_the_second_factor_prompt(
    app: AppTest, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser_with_handle(monkeypatch)
    to_second_factor(app, fake_api)

    reloaded = a_new_tab()
    assert reloaded.text_input(key="second_factor_input").label == "Authenticator code"
    assert "a@b.com" in markdown_line(reloaded, "Two-step verification is on for")
    assert MFA_REQUIRED.json()["mfa_token"] not in frontend_app.page_text(reloaded)


def test_a_new_tab_is_signed_in_and_checks_the_session_once(
    app: AppTest, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    browser_with_handle(monkeypatch)
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, ME)

    fake_api.answers.append(ME)
    tab = a_new_tab()
    assert on_account_view(tab)
    assert fake_api.paths[-1] == "/me" and fake_api.calls[-1].bearer == ACCESS_1  # asked once, for this tab
    calls = len(fake_api.calls)
    tab.run()
    assert len(fake_api.calls) == calls


def test_a_session_revoked_meanwhile_shows_the_sign_in_page_on_reload(
    app: AppTest, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locked by an admin, or signed out everywhere from another device: the reload's check ends it here."""
    browser_with_handle(monkeypatch)
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, ME)

    fake_api.answers.extend([INVALID_TOKEN, INVALID_TOKEN])  # /me refused, and the refresh token too
    reloaded = a_new_tab()
    assert on_email_step(reloaded)
    assert texts(reloaded.warning) == ["Your session has ended, please sign in again."]
    assert held_session(reloaded) is None


def test_sign_out_forgets_the_handle_and_other_tabs_follow(
    app: AppTest, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    handle_value = browser_with_handle(monkeypatch)
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, ME)
    fake_api.answers.append(ME)
    other = a_new_tab()
    assert on_account_view(other)

    click(app, fake_api, "sign_out", SIGNED_OUT)
    assert on_email_step(app)
    assert state.STORE.get(handle_value).box.current is None
    other.run()  # the other tab's next run (its keep-alive) finds no session
    assert on_email_step(other)
    assert on_email_step(a_new_tab())
