"""Two-step verification on the "Account" page through Streamlit's AppTest: enrolling an authenticator, the
recovery codes, and the changes that need a fresh second factor.
"""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests import frontend_app
from tests.frontend_app import (
    ACCESS_1,
    ACCESS_2,
    ACCOUNT,
    ALL_TOKENS,
    CODES,
    ENABLED,
    ENROLLMENT,
    INVALID_CODE,
    MFA_OFF,
    MFA_ON,
    MFA_TOKEN,
    REAUTHENTICATED,
    REFRESH_1,
    REFRESH_2,
    SECRET,
    SENT,
    STEP_UP,
    VERIFIED,
    FakeApi,
    click,
    held_session,
    markdown_line,
    me_answer,
    on_account_view,
    page_text,
    presented,
    response,
    second_factor,
    section,
    send,
    sign_in,
    signed_in_with,
    texts,
    to_second_factor,
    ui_state,
    verify,
)

# The fixtures this module uses (tests/frontend_app.py), with those they build on.
app, env, fake_api, fake_clock = frontend_app.app, frontend_app.env, frontend_app.fake_api, frontend_app.fake_clock


def test_two_step_is_offered_only_when_the_api_describes_it(app: AppTest, fake_api: FakeApi) -> None:
    sign_in(app, fake_api)  # an API without two-step verification
    assert "Two-step verification" not in [header.value for header in app.subheader]
    assert "start_totp" not in {button.key for button in app.button}


def test_enroll_shows_qr_and_key_then_the_recovery_codes_once(app: AppTest, fake_api: FakeApi) -> None:
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(aal=1, **ACCOUNT, **MFA_OFF))
    assert markdown_line(app, "**Second factor:**") == "**Second factor:** not used in this session · aal 1"
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
    assert markdown_line(app, "**Second factor:**") == "**Second factor:** proven in this session · aal 2"
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
    assert ui_state(app).account.enrollment_required is False


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
