"""An app's login request (OpenID Connect) through Streamlit's AppTest: the UI opened with ``?login_challenge=``,
the sign-in that says which app it is for, and every answer of ``POST /oauth2/login`` (the app let in and the page
going back to it, consent, a fresh proof, two-step verification asked for, an expired request), prompt=none, and
the way back to the app when the person says no.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import requests
from streamlit.testing.v1 import AppTest

from frontend import oidc
from frontend.views import continue_to_app
from tests import frontend_app
from tests.frontend_app import (
    ACCESS_1,
    ACCESS_2,
    ACCOUNT,
    APP_PATH,
    ENABLED,
    ENROLLMENT,
    INVALID_TOKEN,
    MFA_OFF,
    MFA_ON,
    PROOF_SENT,
    REAUTHENTICATED,
    REFRESH_2,
    SENT,
    SESSION_ENDED,
    SIGNED_OUT,
    VERIFIED,
    FakeApi,
    FakeClock,
    browser_with_handle,
    click,
    held_session,
    me_answer,
    on_account_view,
    on_email_step,
    response,
    send,
    signed_in_with,
    texts,
    ui_state,
    verify,
)

# The fixtures this module uses (tests/frontend_app.py), with those they build on.
app, env, fake_api, fake_clock = frontend_app.app, frontend_app.env, frontend_app.fake_api, frontend_app.fake_clock

CHALLENGE = "lc1.opaque-login-challenge-0123456789"
APP = {"client_id": "local-example", "client_name": "Local example", "first_party": False}
CALLBACK = "http://127.0.0.1:8502/oauth2callback"
BACK_WITH_CODE = f"{CALLBACK}?code=ac1.code-0123&state=st-9&iss=http%3A%2F%2F127.0.0.1%3A8000"
BACK_DENIED = f"{CALLBACK}?error=access_denied&state=st-9&iss=http%3A%2F%2F127.0.0.1%3A8000"
BACK_LOGIN_REQUIRED = f"{CALLBACK}?error=login_required&state=st-9&iss=http%3A%2F%2F127.0.0.1%3A8000"
SIGN_IN_TO = ":material/apps: Sign in to continue to **Local example**"


def login_request(prompt: tuple[str, ...] = (), login_hint: str | None = None) -> requests.Response:
    return response(
        200,
        {
            "code": "login_request",
            "message": "Local example asks you to sign in.",
            "client": APP,
            "scopes": ["openid", "email"],
            "prompt": list(prompt),
            "login_hint": login_hint,
            "expires_at": 1_767_226_200,
        },
    )


ACCEPTED = response(200, {"code": "login_accepted", "message": "Continue to the app.", "redirect_to": BACK_WITH_CODE})
REJECTED = response(200, {"code": "login_rejected", "message": "Back to the app.", "redirect_to": BACK_DENIED})
CONSENT_REQUIRED = response(
    403,
    {
        "code": "consent_required",
        "message": "Local example asks for your consent.",
        "client": APP,
        "scopes": ["openid", "email", "phone", "offline_access"],
    },
)
REAUTHENTICATION_REQUIRED = response(
    401,
    {"code": "reauthentication_required", "message": "Please confirm it is you first."},
    headers={"WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'},
)
ENROLLMENT_REQUIRED = response(
    403, {"code": "mfa_enrollment_required", "message": "Set up two-step verification first."}
)
CHALLENGE_INVALID = response(400, {"code": "login_challenge_invalid", "message": "The login request is not valid."})


def arrive(at: AppTest, fake_api: FakeApi, *answers: requests.Response | Exception) -> None:
    """Open the UI as the API's authorization endpoint sends people to it, with ``answers`` for what follows."""
    fake_api.answers.extend(answers)
    at.query_params["login_challenge"] = CHALLENGE
    at.run()
    assert not at.exception


def going_back_to(at: AppTest) -> str:
    """The URL the page sends the browser to: from the script that navigates (its JSON string), checked against
    the link offered beside it."""
    (script,) = [html.value for html in at.html if "window.location.replace" in html.value]
    found = re.fullmatch(r"<script>window\.location\.replace\((.*)\);</script>", script)
    assert found, script
    target = json.loads(found.group(1))
    (link,) = at.link_button
    assert link.proto.url == target
    return str(target)


def link_label(at: AppTest) -> str:
    (link,) = at.link_button
    return str(link.proto.label)


def calls(fake_api: FakeApi) -> list[tuple[str, str, Any, str | None]]:
    return [(call.method, call.path, call.json, call.bearer) for call in fake_api.calls]


def test_signing_in_for_an_app_lets_it_in_and_goes_back_to_it(app: AppTest, fake_api: FakeApi) -> None:
    arrive(app, fake_api, login_request())

    assert calls(fake_api) == [("GET", f"/oauth2/login?login_challenge={CHALLENGE}", None, None)]
    assert "login_challenge" not in app.query_params  # kept server-side: a reload never offers a used one again
    assert app.title[0].value == "Sign in" and on_email_step(app)
    assert texts(app.markdown)[0] == SIGN_IN_TO  # at the top of the card

    send(app, fake_api, SENT)
    assert SIGN_IN_TO in texts(app.markdown)  # on every step of the sign-in
    verify(app, fake_api, VERIFIED, me_answer(**ACCOUNT), ACCEPTED)

    accept = fake_api.calls[-1]
    assert (accept.method, accept.path, accept.json, accept.bearer) == (
        "POST",
        "/oauth2/login",
        {"login_challenge": CHALLENGE},
        ACCESS_1,
    )
    assert going_back_to(app) == BACK_WITH_CODE
    assert link_label(app) == "Continue to Local example"
    assert "Taking you to **Local example**..." in texts(app.markdown)
    assert ui_state(app).login is None  # followed: forgotten

    app.run()  # what a person who comes back to the UI sees: their account, no request pending
    assert on_account_view(app) and len(fake_api.calls) == 5  # and nothing more is called


def test_a_person_signed_in_already_goes_straight_back_to_the_app(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api)
    before = len(fake_api.calls)
    arrive(app, fake_api, login_request(), ACCEPTED)  # single sign-on: no form, no button

    assert [call.path for call in fake_api.calls[before:]] == [
        f"/oauth2/login?login_challenge={CHALLENGE}",
        "/oauth2/login",
    ]
    assert fake_api.calls[-1].bearer == ACCESS_1
    assert going_back_to(app) == BACK_WITH_CODE


def test_consent_lists_the_scopes_in_words_and_allow_repeats_with_consent(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api)
    arrive(app, fake_api, login_request(), CONSENT_REQUIRED)

    assert app.title[0].value == "Continue to Local example"
    assert "**Local example** wants to:" in texts(app.markdown)
    assert "- know it is you\n- see your email address\n- see your phone number\n- keep you signed in" in texts(
        app.markdown
    )
    assert "Signed in as a@b.com." in texts(app.caption)
    assert not app.link_button and not app.error  # nothing followed, nothing wrong

    click(app, fake_api, "allow", ACCEPTED)
    assert calls(fake_api)[-1] == ("POST", "/oauth2/login", {"login_challenge": CHALLENGE, "consent": True}, ACCESS_1)
    assert going_back_to(app) == BACK_WITH_CODE


def test_deny_turns_the_request_down_and_goes_back_to_the_app(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api)
    arrive(app, fake_api, login_request(), CONSENT_REQUIRED)

    click(app, fake_api, "go_back", REJECTED)
    assert calls(fake_api)[-1] == (
        "POST",
        "/oauth2/login/reject",
        {"login_challenge": CHALLENGE, "error": "access_denied"},
        None,
    )
    assert going_back_to(app) == BACK_DENIED
    assert link_label(app) == "Back to Local example"
    assert ui_state(app).login is None
    assert held_session(app) is not None  # saying no to an app does not sign the person out here


def test_a_fresh_sign_in_is_confirmed_with_a_mailed_code_then_the_app_is_let_in(
    app: AppTest, fake_api: FakeApi
) -> None:
    """prompt=login (or max_age) with a session that signed in earlier: the account-change prompt, then the same
    request again with the tokens of the proof."""
    signed_in_with(app, fake_api, **MFA_OFF)
    arrive(app, fake_api, login_request(prompt=("login",)), REAUTHENTICATION_REQUIRED)

    assert "To continue to **Local example**, first confirm it is you with a code we send to **a@b.com**." in texts(
        app.markdown
    )
    assert not app.error  # the prompt says what is needed
    click(app, fake_api, "send_proof_code", PROOF_SENT)
    assert calls(fake_api)[-1] == ("POST", "/reauthenticate", {"via": "email"}, ACCESS_1)

    app.text_input(key="step_up_code_input").input("123 456")
    # The account is read again for the new tokens, as after any proof, on the way back to the app.
    click(app, fake_api, "confirm_step_up", REAUTHENTICATED, ACCEPTED, me_answer(**ACCOUNT, **MFA_OFF))
    proof, retry, me = calls(fake_api)[-3:]
    assert proof == ("POST", "/reauthenticate", {"otp": "123456", "via": "email"}, ACCESS_1)
    assert retry == ("POST", "/oauth2/login", {"login_challenge": CHALLENGE}, ACCESS_2)
    assert me == ("GET", "/me", None, ACCESS_2)
    held = held_session(app)
    assert held is not None and (held.access_token, held.refresh_token) == (ACCESS_2, REFRESH_2)
    assert going_back_to(app) == BACK_WITH_CODE


def test_an_account_with_an_authenticator_confirms_with_it_and_consent_survives_the_proof(
    app: AppTest, fake_api: FakeApi
) -> None:
    signed_in_with(app, fake_api, **MFA_ON)
    arrive(app, fake_api, login_request(), CONSENT_REQUIRED)
    click(app, fake_api, "allow", REAUTHENTICATION_REQUIRED)  # acr_values asks for the second factor again

    assert app.text_input(key="step_up_code_input").label == "Authenticator code"
    assert "send_proof_code" not in {button.key for button in app.button}
    app.text_input(key="step_up_code_input").input("654321")
    click(app, fake_api, "confirm_step_up", REAUTHENTICATED, ACCEPTED, me_answer(**ACCOUNT, **MFA_ON))
    proof, retry, _ = calls(fake_api)[-3:]
    assert proof == ("POST", "/mfa/reauthenticate", {"otp": "654321"}, ACCESS_1)
    assert retry == ("POST", "/oauth2/login", {"login_challenge": CHALLENGE, "consent": True}, ACCESS_2)
    assert going_back_to(app) == BACK_WITH_CODE


def test_cancelling_the_confirmation_pauses_and_try_again_asks_the_api_again(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api, **MFA_ON)
    arrive(app, fake_api, login_request(prompt=("login",)), REAUTHENTICATION_REQUIRED)
    click(app, fake_api, "cancel_step_up")

    assert "To continue to **Local example**, try again." in texts(app.markdown)
    assert {"try_again", "go_back", "other_account"} <= {button.key for button in app.button}
    assert "step_up_code_input" not in {widget.key for widget in app.text_input}

    click(app, fake_api, "try_again", REAUTHENTICATION_REQUIRED)
    assert calls(fake_api)[-1] == ("POST", "/oauth2/login", {"login_challenge": CHALLENGE}, ACCESS_1)
    assert app.text_input(key="step_up_code_input").label == "Authenticator code"


def test_two_step_asked_for_by_the_app_is_set_up_here_then_the_app_is_let_in(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api, **MFA_OFF)
    arrive(app, fake_api, login_request(), ENROLLMENT_REQUIRED)

    assert "**Local example** asks for two-step verification. Set up an authenticator app to continue." in texts(
        app.markdown
    )
    click(app, fake_api, "start_totp", ENROLLMENT)
    app.text_input(key="totp_code_input").input("123456")
    click(app, fake_api, "confirm_totp", ENABLED, me_answer(aal=2, **ACCOUNT, **MFA_ON))
    assert app.title[0].value == "Continue to Local example"  # the recovery codes are shown first, here
    assert "codes_saved" in {button.key for button in app.button}
    assert calls(fake_api)[-1][1] == "/me"

    click(app, fake_api, "codes_saved", ACCEPTED)  # saved: the app goes on, with the tokens at the higher level
    assert calls(fake_api)[-1] == ("POST", "/oauth2/login", {"login_challenge": CHALLENGE}, ACCESS_2)
    assert going_back_to(app) == BACK_WITH_CODE


def test_an_expired_request_says_so_on_the_sign_in_page(app: AppTest, fake_api: FakeApi) -> None:
    arrive(app, fake_api, CHALLENGE_INVALID)

    assert texts(app.error) == [oidc.EXPIRED]
    assert oidc.EXPIRED == "This sign-in request has expired. Go back to the app and start again."
    assert ui_state(app).login is None
    assert SIGN_IN_TO not in texts(app.markdown) and on_email_step(app)  # an ordinary sign-in from here


def test_a_request_that_expires_while_signing_in_says_so_on_the_account(app: AppTest, fake_api: FakeApi) -> None:
    arrive(app, fake_api, login_request())
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(**ACCOUNT), CHALLENGE_INVALID)

    assert on_account_view(app)
    assert texts(app.error) == [oidc.EXPIRED]
    assert ui_state(app).login is None


def test_prompt_none_with_nobody_signed_in_goes_back_with_login_required(app: AppTest, fake_api: FakeApi) -> None:
    answer = response(200, {"code": "login_rejected", "message": "Back.", "redirect_to": BACK_LOGIN_REQUIRED})
    arrive(app, fake_api, login_request(prompt=("none",)), answer)

    assert calls(fake_api)[-1] == (
        "POST",
        "/oauth2/login/reject",
        {"login_challenge": CHALLENGE, "error": "login_required"},
        None,
    )
    assert going_back_to(app) == BACK_LOGIN_REQUIRED
    assert "email_input" not in {widget.key for widget in app.text_input}  # prompt=none: no sign-in form shown


def test_prompt_none_that_could_not_be_answered_goes_back_with_login_required(app: AppTest, fake_api: FakeApi) -> None:
    down = requests.ConnectionError("refused")
    arrive(app, fake_api, login_request(prompt=("none",)), down)
    assert texts(app.error) == ["The sign-in service cannot be reached right now. Please try again."]

    answer = response(200, {"code": "login_rejected", "message": "Back.", "redirect_to": BACK_LOGIN_REQUIRED})
    click(app, fake_api, "go_back", answer)
    assert calls(fake_api)[-1][2] == {"login_challenge": CHALLENGE, "error": "login_required"}
    assert going_back_to(app) == BACK_LOGIN_REQUIRED
    assert app.title[0].value == "Back to Local example"


def test_a_session_that_ended_on_the_way_signs_in_again_for_the_app(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api)
    arrive(app, fake_api, login_request(), INVALID_TOKEN, INVALID_TOKEN)  # refused, and so is its renewal

    assert [call.path for call in fake_api.calls[-2:]] == ["/oauth2/login", "/token/refresh"]
    assert held_session(app) is None
    assert app.title[0].value == "Sign in" and on_email_step(app)
    assert SIGN_IN_TO in texts(app.markdown)  # the request stays: signing in again continues it
    assert texts(app.warning) == [SESSION_ENDED]


def test_prompt_none_while_signed_in_lets_the_app_in_without_a_word(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api)
    arrive(app, fake_api, login_request(prompt=("none",)), ACCEPTED)
    assert calls(fake_api)[-1] == ("POST", "/oauth2/login", {"login_challenge": CHALLENGE}, ACCESS_1)
    assert going_back_to(app) == BACK_WITH_CODE


def test_the_address_the_app_expects_is_prefilled(app: AppTest, fake_api: FakeApi) -> None:
    arrive(app, fake_api, login_request(login_hint="hinted@example.com"))
    assert app.text_input(key="email_input").value == "hinted@example.com"


def test_another_account_signs_out_here_and_keeps_the_request(app: AppTest, fake_api: FakeApi) -> None:
    signed_in_with(app, fake_api)
    arrive(app, fake_api, login_request(), CONSENT_REQUIRED)
    click(app, fake_api, "other_account", SIGNED_OUT)

    assert calls(fake_api)[-1][1] == "/signout"
    assert app.title[0].value == "Sign in" and on_email_step(app)
    assert SIGN_IN_TO in texts(app.markdown)
    assert texts(app.success) == ["You are signed out."]
    login = ui_state(app).login
    assert login is not None and login.challenge == CHALLENGE


def test_a_reload_keeps_the_request(
    monkeypatch: pytest.MonkeyPatch, env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    """Two page loads of one browser (its handle): the second, without the challenge in its address, still signs
    in for the app."""
    browser_with_handle(monkeypatch)
    first = AppTest.from_file(str(APP_PATH), default_timeout=10)
    arrive(first, fake_api, login_request())

    reloaded = AppTest.from_file(str(APP_PATH), default_timeout=10)
    reloaded.run()
    assert not reloaded.exception
    assert SIGN_IN_TO in texts(reloaded.markdown)
    assert len(fake_api.calls) == 1  # read once


@pytest.mark.parametrize(
    "target",
    ["javascript:alert(document.cookie)", "data:text/html,<script>alert(1)</script>", "/relative", "http:no-host"],
)
def test_a_redirect_that_is_not_an_address_is_never_followed(app: AppTest, fake_api: FakeApi, target: str) -> None:
    signed_in_with(app, fake_api)
    arrive(app, fake_api, login_request(), response(200, {"code": "login_accepted", "redirect_to": target}))

    assert not [html for html in app.html if "window.location" in html.value]
    assert not app.link_button
    assert texts(app.error) == ["The sign-in service sent an unexpected answer. Please try again."]
    assert "try_again" in {button.key for button in app.button}


def test_the_script_carries_the_url_as_a_json_string_that_cannot_end_it() -> None:
    hostile = 'http://127.0.0.1:8502/cb?state=</script><script>alert("x")</script>&a=\u2028'
    script = continue_to_app.script(hostile)
    inner = script.removeprefix("<script>").removesuffix("</script>")
    assert "<" not in inner and ">" not in inner  # nothing in it can close the element early
    literal = re.fullmatch(r"window\.location\.replace\((.*)\);", inner)
    assert literal and json.loads(literal.group(1)) == hostile


def test_private_use_schemes_of_native_apps_are_followed() -> None:
    assert oidc.navigable("com.example.app:/oauth2redirect?code=1")
    assert oidc.navigable("https://app.example.com/cb")
    assert not oidc.navigable("javascript:alert(1)")
    assert not oidc.navigable("vbscript:x")
