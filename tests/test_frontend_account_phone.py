"""Phones through Streamlit's AppTest: signing in by SMS, and the account's phone (added with a code sent to it,
removed after a confirmation), with the prompt that confirms it is you first when the API asks.
"""

from __future__ import annotations

import json

import pytest
from streamlit.testing.v1 import AppTest

from frontend import phone
from tests import frontend_app
from tests.frontend_app import (
    ACCESS_1,
    ACCESS_2,
    ACCESS_3,
    ACCOUNT,
    ADD_PROMPT,
    INVALID_CODE,
    INVALID_TOKEN,
    LINK_SENT,
    MFA_OFF,
    MFA_ON,
    NUMBER,
    NUMBER_SHOWN,
    PROOF_SENT,
    PROOF_SENT_MESSAGE,
    REAUTHENTICATED,
    REFRESH_1,
    REFRESH_2,
    REFRESH_3,
    SENT,
    SESSION_ENDED,
    SMS_SENT,
    STEP_UP,
    STEP_UP_BY_CODE,
    USER_ID,
    VERIFIED,
    FakeApi,
    FakeClock,
    click,
    held_session,
    markdown_line,
    me_answer,
    on_account_view,
    on_code_step,
    on_email_step,
    phone_me,
    presented,
    response,
    section,
    send,
    send_by_phone,
    sign_in,
    signed_in_with,
    texts,
    tokens_answer,
    ui_state,
    verify,
)

# The fixtures this module uses (tests/frontend_app.py).
app, env, fake_api, fake_clock = frontend_app.app, frontend_app.env, frontend_app.fake_api, frontend_app.fake_clock


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


# ------------------------------------------------------------------------------- a phone on the account


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
    assert not app.success  # the form says where the code went, and that it is not a sign-in code
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
    click(app, fake_api, "remove_phone")
    click(app, fake_api, "confirm_remove_phone", response(status, {"message": message, "code": code}))

    assert (fake_api.calls[-1].method, fake_api.calls[-1].path) == ("DELETE", "/me/phone")
    assert texts(app.error) == [message]


def test_remove_phone_reloads_the_account(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(**{**ACCOUNT, "phone": NUMBER}))
    removed = response(200, {"message": "The phone is removed.", "code": "phone_removed"})
    click(app, fake_api, "remove_phone")  # asks first: nothing is called yet
    assert fake_api.paths[-1] == "/me"
    assert texts(app.warning) == [f"Remove {NUMBER_SHOWN}? It will no longer sign in to this account."]
    click(app, fake_api, "keep_phone")  # changed their mind
    assert not app.warning and fake_api.paths[-1] == "/me"
    click(app, fake_api, "remove_phone")
    click(app, fake_api, "confirm_remove_phone", removed, me_answer(**ACCOUNT))

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
    field = app.text_input(key="step_up_code_input")
    assert (field.value, field.proto.icon) == ("000000", ":material/error:")  # kept as typed, and marked
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
    assert not app.success  # the form says where the code went, and that it is not a sign-in code
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
    click(app, fake_api, "remove_phone")
    click(app, fake_api, "confirm_remove_phone", STEP_UP_BY_CODE)
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
    assert ui_state(app).account.step_up is None
    assert "link_phone_input" in {widget.key for widget in app.text_input}
