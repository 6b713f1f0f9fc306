"""The "Account" page through Streamlit's AppTest: the account and session details, renewing the tokens while
the page is open, signing out, the dev inbox; tokens never reach the page.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from streamlit.runtime.scriptrunner import RerunData, get_script_run_ctx
from streamlit.testing.v1 import AppTest

from frontend import session
from frontend.state import UiState
from tests import frontend_app
from tests.frontend_app import (
    ACCESS_1,
    ACCESS_2,
    ACCOUNT,
    ACCOUNT_LINES,
    ALL_TOKENS,
    APP_PATH,
    ENABLED,
    ENROLLMENT,
    INBOX_DATA,
    INBOX_URL,
    INVALID_TOKEN,
    ME,
    MFA_ON,
    REFRESH_1,
    REFRESH_2,
    REFRESHED,
    SENT,
    SESSION_ENDED,
    SIGNED_IN_AT,
    SIGNED_OUT,
    SIGNED_OUT_EVERYWHERE,
    USER_ID,
    VERIFIED,
    FakeApi,
    FakeClock,
    click,
    held_session,
    markdown_line,
    me_answer,
    on_account_view,
    on_email_step,
    page_text,
    response,
    send,
    sign_in,
    texts,
    tokens_answer,
    ui_state,
    verify,
)

# The fixtures this module uses (tests/frontend_app.py).
app, env, fake_api, fake_clock = frontend_app.app, frontend_app.env, frontend_app.fake_api, frontend_app.fake_clock


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
    assert ui_state(app).name == ""


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


# ------------------------------------------------------------------------------------- client units


# ------------------------------------------------------------------------------------ pages and admins


def listed_pages() -> None:
    """The titles of the pages :func:`frontend.views.pages` lists for the state a test puts in "probe"."""
    import streamlit as st

    from frontend import views

    st.write(", ".join(page.title for page in views.pages(st.session_state["probe"])))


def titles(state: UiState) -> str:
    at = AppTest.from_function(listed_pages, default_timeout=10)
    at.session_state["probe"] = state
    return at.run().markdown[0].value


def test_the_pages_are_named_for_people_and_admin_only_for_admins() -> None:
    assert titles(UiState()) == "Sign in"
    signed_in = UiState()
    signed_in.box.current = session.Session(ACCESS_1, REFRESH_1, 0.0, 3600, 432_000)
    for not_yet in ("no", "factor", None):
        signed_in.account.admin = not_yet
        assert titles(signed_in) == "Account"
    signed_in.account.admin = "yes"
    assert titles(signed_in) == "Account, Admin"


def test_me_says_who_is_an_admin_and_no_admin_route_is_asked(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(aal=2, **ACCOUNT, **MFA_ON, admin=True))
    assert ui_state(app).account.admin == "yes"
    assert fake_api.admin_calls == []  # /me said so: no probe of the admin routes


def test_an_account_me_does_not_name_an_admin_gets_no_admin_page(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(aal=2, **ACCOUNT, **MFA_ON, admin=False))
    assert ui_state(app).account.admin == "no"


def test_an_admin_without_a_second_factor_is_led_to_set_one_up(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(
        app, fake_api, VERIFIED, me_answer(aal=1, **ACCOUNT, mfa={"totp": False, "recovery_codes_left": 0}, admin=True)
    )
    assert ui_state(app).account.admin == "factor"
    (info,) = texts(app.info)
    assert info.startswith("This account is an admin: the admin page opens once two-step verification is on.")
    assert "start_totp" in {button.key for button in app.button}

    # Once the session has its second factor (/me at aal 2) the admin page is listed from then on.
    click(app, fake_api, "start_totp", ENROLLMENT)
    app.text_input(key="totp_code_input").input("123456")
    click(app, fake_api, "confirm_totp", ENABLED, me_answer(aal=2, **ACCOUNT, **MFA_ON, admin=True))
    assert ui_state(app).account.admin == "yes"
    assert fake_api.admin_calls == []
    assert not app.info
