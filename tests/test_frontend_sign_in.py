"""The "Sign in" page through Streamlit's AppTest: an address or a number, the code, the second factor;
what a person sees when the API refuses, limits or cannot be reached; one submit, one outcome.
"""

from __future__ import annotations

import pytest
import requests
from streamlit.runtime.scriptrunner import RerunData, get_script_run_ctx
from streamlit.testing.v1 import AppTest

from frontend import state
from tests import frontend_app
from tests.frontend_app import (
    ACCESS_1,
    API_URL,
    APP_PATH,
    INVALID_CODE,
    ME,
    MFA_TOKEN,
    REFRESH_1,
    SENT,
    VERIFIED,
    Call,
    FakeApi,
    FakeClock,
    click,
    held_session,
    markdown_line,
    on_account_view,
    on_code_step,
    on_email_step,
    page_text,
    response,
    second_factor,
    send,
    texts,
    to_second_factor,
    tokens_answer,
    ui_state,
    verify,
)

# The fixtures this module uses (tests/frontend_app.py).
app, env, fake_api, fake_clock = frontend_app.app, frontend_app.env, frontend_app.fake_api, frontend_app.fake_clock


def test_start_page_asks_for_an_address(app: AppTest, fake_api: FakeApi) -> None:
    assert app.title[0].value == "Sign in"
    assert on_email_step(app)
    assert app.button(key="send").disabled is False
    assert fake_api.calls == []  # rendering alone must not call the API


def test_send_success_shows_code_entry(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT, email="  a@b.com ")

    assert fake_api.calls == [Call("POST", f"{API_URL}/otp", {"action": "send_otp", "email": "a@b.com"}, {}, 10.0)]
    assert on_code_step(app)
    assert not app.success  # the step says where the code went: one message, not two
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


def test_a_code_past_its_time_is_said_to_have_expired(app: AppTest, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    send(app, fake_api, SENT)
    fake_clock.advance(601)  # SENT's code is valid for 600 s
    app.run()
    assert "It has expired: send a new one." in " ".join(m.value for m in app.markdown)
    verify(app, fake_api, response(401, {"message": "The code is invalid or has expired.", "code": "invalid_code"}))
    assert texts(app.error) == ["This code has expired. Send a new one."]
    assert on_code_step(app)


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


def test_mfa_required_asks_for_the_authenticator_code(app: AppTest, fake_api: FakeApi) -> None:
    to_second_factor(app, fake_api)

    assert fake_api.paths == ["/otp", "/otp"]  # no /me: there is no session yet
    assert held_session(app) is None
    assert not app.info  # the step says what to enter: one message, not two
    assert app.text_input(key="second_factor_input").label == "Authenticator code"
    assert app.radio(key="factor_input").value == "otp"
    assert "within 5 minutes" in markdown_line(app, "Two-step verification is on for **a@b.com**")
    assert MFA_TOKEN not in page_text(app)

    second_factor(app, fake_api, "000 000", INVALID_CODE)
    assert fake_api.payloads[-1] == {"mfa_token": MFA_TOKEN, "otp": "000000"}
    assert texts(app.error) == ["That code is not valid."]
    field = app.text_input(key="second_factor_input")
    assert (field.value, field.proto.icon) == ("000 000", ":material/error:")  # kept as typed, and marked

    second_factor(app, fake_api, "123456", tokens_answer("verified", ACCESS_1, REFRESH_1, recovery_codes_left=10), ME)
    assert fake_api.paths[-2:] == ["/mfa/verify", "/me"]
    assert fake_api.calls[-2].bearer is None and fake_api.calls[-1].bearer == ACCESS_1
    assert on_account_view(app)
    assert ui_state(app).sign_in.challenge is None  # the used mfa_token is forgotten


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
    assert ui_state(app).sign_in.challenge is None


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


# ------------------------------------------------------------------------------ one submit, one outcome


def press_twice(at: AppTest, key: str) -> None:
    """Press button ``key`` twice within a few milliseconds: the second press comes from the page as the browser
    still shows it, the button in place, and arrives once the first run has finished (AppTest runs one at a time)."""
    at.button(key=key).click()
    stale = at._tree.get_widget_states()  # what the second press sends: the same trigger, the same fields...
    pressed = [each for each in stale.widgets if each.WhichOneof("value") != "trigger_value" or each.trigger_value]
    del stale.widgets[:]
    stale.widgets.extend(pressed)  # ...and, as a browser does, no trigger of a button not pressed
    at.run()
    at._run(stale)
    assert not at.exception


def test_verify_pressed_twice_sends_the_right_code_once_and_shows_no_error(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    fake_api.answers.extend([VERIFIED, ME])
    app.text_input(key="code_input").input("123456")
    press_twice(app, "verify")

    assert fake_api.paths == ["/otp", "/otp", "/me"]  # the second press found the sign-in done: nothing sent
    assert on_account_view(app)
    assert not app.error and not app.warning


def test_send_pressed_twice_sends_one_code(app: AppTest, fake_api: FakeApi) -> None:
    fake_api.answers.append(SENT)
    app.text_input(key="email_input").input("a@b.com")
    press_twice(app, "send")

    assert fake_api.paths == ["/otp"]
    assert on_code_step(app)
    assert not app.error and not app.warning


def test_a_press_that_interrupts_the_running_request_sends_nothing_again(app: AppTest, fake_api: FakeApi) -> None:
    """The second press arrives while the first one's call runs: Streamlit stops that run at its next ``st`` call
    and starts the press's; the answer is recorded before that point, so nothing is lost or sent twice."""
    send(app, fake_api, SENT)

    def answered_while_pressed_again() -> requests.Response:
        context = get_script_run_ctx()
        assert context is not None and context.script_requests is not None
        assert context.script_requests.request_rerun(RerunData(widget_states=app._tree.get_widget_states()))
        return VERIFIED

    verify(app, fake_api, answered_while_pressed_again, ME)
    assert fake_api.paths == ["/otp", "/otp", "/me"]
    assert on_account_view(app)
    assert not app.error and not app.warning


def test_a_press_while_a_request_is_queued_is_dropped(app: AppTest, fake_api: FakeApi) -> None:
    """The tab's request in flight is the guard: a press that arrives before the first one ran adds nothing."""
    send(app, fake_api, SENT)
    ui_state(app)  # the page's own state, as the callbacks see it
    app.session_state[state.TAB_KEY].pending = state.Pending("verify", "Checking code...", lambda: None)
    app.text_input(key="code_input").input("123456")
    app.button(key="verify").click().run()

    assert fake_api.paths == ["/otp"]  # the queued request ran instead (it does nothing here); no second one
    assert on_code_step(app)
    assert app.button(key="verify").disabled is False  # and nothing stays in flight


def test_an_error_shows_under_its_field_which_keeps_what_was_typed(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    message = "That code is not valid. Check the latest email or request a new code."
    verify(app, fake_api, response(401, {"message": message, "code": "invalid_code"}), code="12345")

    form = app.get("form")[0] if app.get("form") else None
    assert form is not None
    assert [error.value for error in form.error] == [message]  # inside the code's form, under its field
    field = app.text_input(key="code_input")
    assert (field.value, field.proto.icon) == ("12345", ":material/error:")
