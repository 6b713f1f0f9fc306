"""Passkeys in the UI through Streamlit's AppTest: "Sign in with a passkey" on the sign-in card (usernameless),
the account's passkeys (listed, added after a recent proof, renamed, removed), and "Confirm with your passkey" in
the prompt that asks for a recent proof.

AppTest runs no JavaScript, so the passkey button (``frontend.passkey.button``, a custom component) is replaced by
:class:`FakeBrowser`, which records what each run hands the button and delivers what a browser would answer
(pressed, a credential, a refusal) through the view's own handler. What the component itself does in a browser is
proven in Chromium (tests/test_e2e_browser_passkeys.py); its answers' parsing here (:func:`test_component_values`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import streamlit as st
from streamlit.testing.v1 import AppTest

from frontend import passkey
from tests import frontend_app
from tests.frontend_app import (
    ACCESS_1,
    ACCESS_2,
    ACCOUNT,
    ALL_TOKENS,
    MFA_OFF,
    MFA_ON,
    PROOF_SENT,
    REAUTHENTICATED,
    SENT,
    STEP_UP,
    STEP_UP_BY_CODE,
    VERIFIED,
    FakeApi,
    click,
    me_answer,
    on_account_view,
    on_email_step,
    page_text,
    response,
    section,
    send,
    signed_in_with,
    texts,
    tokens_answer,
    ui_state,
    verify,
)
from tests.test_frontend_login_request import (
    ACCEPTED,
    BACK_WITH_CODE,
    CHALLENGE,
    REAUTHENTICATION_REQUIRED,
    arrive,
    going_back_to,
    login_request,
)

# The fixtures this module uses (tests/frontend_app.py), with those they build on.
app, env, fake_api, fake_clock = frontend_app.app, frontend_app.env, frontend_app.fake_api, frontend_app.fake_clock

SIGN_IN = "passkey_sign_in"
ADD = "add_passkey"
STEP_UP_PASSKEY = "step_up_passkey"
TWO_STEP = "Two-step verification"
CEREMONY = "c" * 43  # the API's handle: its challenge, base64url
REQUEST_OPTIONS = {"challenge": CEREMONY, "rpId": "localhost", "userVerification": "required", "timeout": 300000}
CREATION_OPTIONS = {
    "challenge": CEREMONY,
    "rp": {"id": "localhost", "name": "OTP Sign-in"},
    "user": {"id": "dXNlcg", "name": "a@b.com", "displayName": "a@b.com"},
    "pubKeyCredParams": [{"type": "public-key", "alg": -7}],
    "excludeCredentials": [],
}
CREDENTIAL = {
    "id": "Y3JlZA",
    "rawId": "Y3JlZA",
    "type": "public-key",
    "response": {"clientDataJSON": "e30", "authenticatorData": "AA", "signature": "AA", "userHandle": "dXNlcg"},
    "clientExtensionResults": {},
}
ADDED_AT, USED_AT = 1_767_312_000, 1_767_398_400  # 2026-01-02 and 2026-01-03, 00:00 UTC
LAPTOP = {
    "id": "pk1",
    "name": "Work laptop",
    "created_at": ADDED_AT,
    "last_used_at": None,
    "synced": False,
    "backed_up": False,
    "aaguid": "0" * 32,
}
PHONE = {**LAPTOP, "id": "pk2", "name": "Phone", "last_used_at": USED_AT, "synced": True, "backed_up": True}


def options(data: dict[str, Any]) -> requests.Response:
    body = {"code": "passkey_options", "message": "Use your passkey.", "options": data, "ceremony": CEREMONY}
    return response(200, {**body, "expires_in": 300})


def listed(*passkeys: dict[str, Any]) -> requests.Response:
    return response(200, {"code": "passkey_list", "message": "Your passkeys.", "passkeys": list(passkeys), "most": 10})


PASSKEY_SESSION = tokens_answer("verified", ACCESS_1, frontend_app.REFRESH_1)  # what /passkeys/signin answers


@dataclass(frozen=True)
class Drawn:
    """What one run handed the passkey button."""

    label: str
    ceremony: passkey.Ceremony | None
    disabled: bool


@dataclass
class FakeBrowser:
    """Stands in for :func:`frontend.passkey.button`: ``drawn`` is what the last run handed each key's button;
    ``queued`` the browser's next answers per key, each made from the ceremony the button holds then."""

    drawn: dict[str, Drawn] = field(default_factory=dict)
    queued: dict[str, list[Callable[[passkey.Ceremony | None], passkey.Event]]] = field(default_factory=dict)

    def button(
        self,
        label: str,
        key: str,
        ceremony: passkey.Ceremony | None,
        on_event: Callable[[passkey.Event], None],
        disabled: bool = False,
    ) -> None:
        self.drawn[key] = Drawn(label, ceremony, disabled)
        waiting = self.queued.get(key)
        if waiting:
            on_event(waiting.pop(0)(ceremony))
            # A component's value arrives with a run of its own (its callback first): the page is drawn anew.
            st.rerun()

    def press(self, key: str) -> None:
        self.queued.setdefault(key, []).append(lambda _: passkey.Start())

    def give(self, key: str, credential: dict[str, Any] = CREDENTIAL) -> None:
        """The browser's credential for the ceremony the button holds."""
        self.queued.setdefault(key, []).append(lambda held: passkey.Credential(_request(held), credential))

    def refuse(self, key: str, name: str = "NotAllowedError") -> None:
        self.queued.setdefault(key, []).append(lambda held: passkey.Failure(_request(held), name))


def _request(held: passkey.Ceremony | None) -> int:
    assert held is not None, "the browser answers only a ceremony it was given"
    return held.request


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBrowser]:
    fake = FakeBrowser()
    monkeypatch.setattr(passkey, "button", fake.button)
    yield fake


def run(at: AppTest, fake_api: FakeApi, *answers: requests.Response) -> None:
    fake_api.answers.extend(answers)
    at.run()
    assert not at.exception
    assert fake_api.answers == []  # every queued answer was asked for


def begin(at: AppTest, fake_api: FakeApi, answer: requests.Response) -> None:
    """A run in which the page asks ``POST /passkeys/signin/options`` for the button, answered ``answer`` (the
    fake answers those calls apart, since the card's autofill makes them too)."""
    fake_api.sign_in_options.append(answer)
    run(at, fake_api)
    assert fake_api.sign_in_options == []


# -------------------------------------------------------------------------------------------- sign-in


def test_sign_in_with_a_passkey_no_address_and_no_code(app: AppTest, fake_api: FakeApi, browser: FakeBrowser) -> None:
    app.run()
    assert browser.drawn[SIGN_IN] == Drawn("Sign in with a passkey", None, False)

    browser.press(SIGN_IN)
    begin(app, fake_api, options(REQUEST_OPTIONS))
    asked = fake_api.sign_in_options_calls[-1]
    assert (asked.method, asked.path, asked.json, asked.bearer) == ("POST", "/passkeys/signin/options", {}, None)
    held = browser.drawn[SIGN_IN].ceremony
    assert held is not None and (held.kind, dict(held.options)) == ("get", REQUEST_OPTIONS)

    browser.give(SIGN_IN)
    passkey_me = me_answer(aal=2, **ACCOUNT).json()
    passkey_me["session"]["amr"] = ["hwk", "user", "mfa"]  # what the API records for a device-bound passkey
    run(app, fake_api, PASSKEY_SESSION, response(200, passkey_me))
    finish, me = fake_api.calls[-2:]
    assert (finish.path, finish.json, finish.bearer) == (
        "/passkeys/signin",
        {"ceremony": CEREMONY, "credential": CREDENTIAL},
        None,
    )
    assert me.bearer == ACCESS_1
    assert on_account_view(app)
    assert "**Second factor:** proven in this session, with a passkey (both factors in one touch) · aal 2" in [
        each.value for each in app.markdown
    ]


def test_the_button_is_handed_options_only_never_a_token(app: AppTest, fake_api: FakeApi, browser: FakeBrowser) -> None:
    signed_in_with(app, fake_api, **MFA_OFF)
    browser.press(ADD)
    run(app, fake_api, options(CREATION_OPTIONS))
    held = browser.drawn[ADD].ceremony
    assert held is not None and held.kind == "create"
    handed = repr(held) + repr(dict(held.options))
    assert not [token for token in ALL_TOKENS if token in handed]
    assert CEREMONY not in repr(held)  # the handle is kept out of repr, as tokens are


def test_a_refused_or_cancelled_passkey_says_so_and_asks_the_api_nothing(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    app.run()
    browser.press(SIGN_IN)
    begin(app, fake_api, options(REQUEST_OPTIONS))
    calls = len(fake_api.calls)

    browser.refuse(SIGN_IN)
    run(app, fake_api)
    assert len(fake_api.calls) == calls
    assert "No passkey was used. It was cancelled or timed out, or this device has none for this site." in [
        each.value for each in app.warning
    ]
    assert browser.drawn[SIGN_IN].ceremony is None  # spent: the next press asks for new options
    assert on_email_step(app)


def test_an_answer_to_an_older_ceremony_is_ignored(app: AppTest, fake_api: FakeApi, browser: FakeBrowser) -> None:
    app.run()
    browser.press(SIGN_IN)
    begin(app, fake_api, options(REQUEST_OPTIONS))
    calls = len(fake_api.calls)
    browser.queued[SIGN_IN] = [lambda held: passkey.Credential(_request(held) - 1, CREDENTIAL)]
    run(app, fake_api)
    assert len(fake_api.calls) == calls
    assert browser.drawn[SIGN_IN].ceremony is not None  # still waiting for its own answer


def test_a_passkey_the_api_refuses_says_why_beside_the_button(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    app.run()
    browser.press(SIGN_IN)
    begin(app, fake_api, options(REQUEST_OPTIONS))
    browser.give(SIGN_IN)
    refused = response(401, {"code": "invalid_passkey", "message": "That passkey cannot sign you in."})
    run(app, fake_api, refused)
    assert [each.value for each in app.error] == ["That passkey cannot sign you in."]
    assert on_email_step(app)


def test_too_many_ceremonies_block_the_button_until_the_time_given(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    app.run()
    browser.press(SIGN_IN)
    limited = response(
        429, {"code": "passkey_quota_exceeded", "message": "Too many tries."}, headers={"Retry-After": "60"}
    )
    begin(app, fake_api, limited)
    assert "Too many tries." in [each.value for each in app.warning]
    assert browser.drawn[SIGN_IN].disabled is True


# -------------------------------------------------------------------------------------------- account


def test_the_account_lists_its_passkeys(app: AppTest, fake_api: FakeApi, browser: FakeBrowser) -> None:
    fake_api.passkey_lists.append(listed(LAPTOP, PHONE, {"name": "no id"}))
    signed_in_with(app, fake_api, **MFA_OFF)
    (read,) = fake_api.passkey_list_calls
    assert (read.method, read.path, read.bearer) == ("GET", "/me/passkeys", ACCESS_1)
    assert section(app, "Passkeys", "markdown") == [
        ":material/passkey: **Work laptop**",
        ":material/passkey: **Phone**",
    ]
    captions = section(app, "Passkeys", "caption")
    assert "Added 2026-01-02 00:00 UTC, never used to sign in; on one device only." in captions
    assert "Added 2026-01-02 00:00 UTC, last used 2026-01-03 00:00 UTC; synced across your devices." in captions
    app.run()
    assert len(fake_api.passkey_list_calls) == 1  # read once for the account view, not at every run


def test_adding_a_passkey_after_a_mailed_proof(app: AppTest, fake_api: FakeApi, browser: FakeBrowser) -> None:
    signed_in_with(app, fake_api, **MFA_OFF)
    app.text_input(key="passkey_name_input").input("Work laptop")
    browser.press(ADD)
    run(app, fake_api, STEP_UP_BY_CODE)
    asked = fake_api.calls[-1]
    assert (asked.method, asked.path, asked.bearer) == ("POST", "/passkeys/register/options", ACCESS_1)
    prompt = "To add a passkey, first confirm it is you with a code we send to **a@b.com**."
    assert prompt in section(app, "Passkeys", "markdown")
    assert browser.drawn[ADD].ceremony is None

    click(app, fake_api, "send_proof_code", PROOF_SENT)
    app.text_input(key="step_up_code_input").input("123456")
    click(app, fake_api, "confirm_step_up", REAUTHENTICATED, options(CREATION_OPTIONS), me_answer(**ACCOUNT, **MFA_OFF))
    proof, retry, _ = fake_api.calls[-3:]
    assert (proof.path, proof.bearer) == ("/reauthenticate", ACCESS_1)
    assert (retry.path, retry.bearer) == ("/passkeys/register/options", ACCESS_2)  # with the proof's tokens
    held = browser.drawn[ADD].ceremony
    assert held is not None and (held.kind, held.name, dict(held.options)) == (
        "create",
        "Work laptop",
        CREATION_OPTIONS,
    )
    assert prompt not in section(app, "Passkeys", "markdown")

    registered = response(200, {"code": "passkey_registered", "message": "Your passkey was added.", "passkey": LAPTOP})
    fake_api.passkey_lists.append(listed(LAPTOP))
    browser.give(ADD)
    run(app, fake_api, registered)
    saved = fake_api.calls[-1]
    assert (saved.method, saved.path, saved.bearer) == ("POST", "/passkeys/register", ACCESS_2)
    assert saved.json == {"ceremony": CEREMONY, "credential": CREDENTIAL, "name": "Work laptop"}
    assert section(app, "Passkeys", "success") == ["Your passkey was added."]
    assert section(app, "Passkeys", "markdown") == [":material/passkey: **Work laptop**"]
    assert app.text_input(key="passkey_name_input").value == ""


def test_a_passkey_this_device_holds_already_is_said_so(app: AppTest, fake_api: FakeApi, browser: FakeBrowser) -> None:
    signed_in_with(app, fake_api, **MFA_OFF)
    browser.press(ADD)
    run(app, fake_api, options(CREATION_OPTIONS))
    browser.refuse(ADD, "InvalidStateError")
    run(app, fake_api)
    assert section(app, "Passkeys", "warning") == ["This device already holds a passkey for your account."]


def test_rename_and_remove(app: AppTest, fake_api: FakeApi, browser: FakeBrowser) -> None:
    fake_api.passkey_lists.append(listed(LAPTOP))
    signed_in_with(app, fake_api, **MFA_OFF)

    app.text_input(key="rename_passkey_pk1").input("Old laptop")
    renamed = response(200, {"code": "passkey_renamed", "message": "Renamed.", "passkey": {**LAPTOP, "name": "Old"}})
    fake_api.passkey_lists.append(listed({**LAPTOP, "name": "Old laptop"}))
    click(app, fake_api, "rename_pk1", renamed)
    rename = fake_api.calls[-1]
    assert (rename.method, rename.path, rename.json, rename.bearer) == (
        "PATCH",
        "/me/passkeys/pk1",
        {"name": "Old laptop"},
        ACCESS_1,
    )
    assert section(app, "Passkeys", "markdown") == [":material/passkey: **Old laptop**"]

    removed = response(200, {"code": "passkey_removed", "message": "The passkey was removed."})
    fake_api.passkey_lists.append(listed())
    click(app, fake_api, "remove_passkey_pk1", removed)
    removal = fake_api.calls[-1]
    assert (removal.method, removal.path, removal.bearer) == ("DELETE", "/me/passkeys/pk1", ACCESS_1)
    assert section(app, "Passkeys", "success") == ["The passkey was removed."]
    assert section(app, "Passkeys", "markdown") == []
    assert "Old laptop" not in page_text(app)


def test_removing_a_passkey_late_asks_for_a_proof_first(app: AppTest, fake_api: FakeApi, browser: FakeBrowser) -> None:
    fake_api.passkey_lists.append(listed(LAPTOP))
    signed_in_with(app, fake_api, **MFA_OFF)
    click(app, fake_api, "remove_passkey_pk1", STEP_UP_BY_CODE)
    assert "To remove this passkey, first confirm it is you with a code we send to **a@b.com**." in section(
        app, "Passkeys", "markdown"
    )
    click(app, fake_api, "send_proof_code", PROOF_SENT)
    app.text_input(key="step_up_code_input").input("123456")
    removed = response(200, {"code": "passkey_removed", "message": "The passkey was removed."})
    fake_api.passkey_lists.append(listed())
    click(app, fake_api, "confirm_step_up", REAUTHENTICATED, removed, me_answer(**ACCOUNT, **MFA_OFF))
    removal = fake_api.calls[-2]
    assert (removal.method, removal.path, removal.bearer) == ("DELETE", "/me/passkeys/pk1", ACCESS_2)
    assert section(app, "Passkeys", "success") == ["The passkey was removed."]


# -------------------------------------------------------------------------------------------- the component


def test_component_values() -> None:
    """What the page's script sends is checked before it is used: only the three events, well formed."""
    assert passkey.from_component({"event": "start", "click": 3}) == passkey.Start()
    assert passkey.from_component({"event": "credential", "request": 4, "credential": CREDENTIAL}) == (
        passkey.Credential(4, CREDENTIAL)
    )
    assert passkey.from_component({"event": "error", "request": 4, "name": "NotAllowedError"}) == passkey.Failure(
        4, "NotAllowedError"
    )
    for junk in (
        None,
        "start",
        {"event": "credential", "request": "4", "credential": CREDENTIAL},
        {"event": "credential", "request": True, "credential": CREDENTIAL},
        {"event": "credential", "request": 4, "credential": "x"},
        {"event": "error", "request": 4},
        {"event": "other", "request": 4},
    ):
        assert passkey.from_component(junk) is None, junk


def test_listed_passkeys_are_read_defensively() -> None:
    data = {"passkeys": [LAPTOP, {"id": "", "name": "x"}, {"id": "a", "name": 3}, "junk", {**PHONE, "synced": 1}]}
    laptop, phone = passkey.passkeys_from_answer(data) or ()
    assert (laptop.name, laptop.created_at, laptop.last_used_at, laptop.synced) == (
        "Work laptop",
        ADDED_AT,
        None,
        False,
    )
    assert (phone.last_used_at, phone.synced) == (USED_AT, False)  # only a true `synced` says synced
    assert passkey.passkeys_from_answer({"passkeys": "x"}) is None


DISABLED = response(403, {"code": "passkeys_disabled_here", "message": "Passkeys are not offered here."})


def test_a_stage_without_passkeys_shows_none_of_their_buttons(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    """A deployed stage before its domain is set: the first answer that says so takes the buttons away."""
    fake_api.passkey_lists.append(DISABLED)
    signed_in_with(app, fake_api, **MFA_OFF)
    assert "Passkeys" not in [each.value for each in app.subheader]
    assert ADD not in browser.drawn
    app.run()
    assert len(fake_api.passkey_list_calls) == 1  # not asked again

    browser.drawn.clear()
    click(app, fake_api, "sign_out", frontend_app.SIGNED_OUT)
    assert on_email_step(app)
    assert SIGN_IN not in browser.drawn  # learnt while signed in: the sign-in card offers no passkey either


def test_a_press_on_a_stage_without_passkeys_takes_the_button_away(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    app.run()
    browser.press(SIGN_IN)
    begin(app, fake_api, DISABLED)
    browser.drawn.clear()  # what the last run drew, only
    app.run()
    assert SIGN_IN not in browser.drawn
    assert not app.error and not app.warning  # nothing the person can do about it


MFA_REQUIRED_WITH_PASSKEY = response(
    200, {**frontend_app.MFA_REQUIRED.json(), "factors": ["totp", "recovery_code", "passkey"]}
)


def test_at_the_second_factor_prompt_the_accounts_passkey_finishes_the_sign_in(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    """The API lists ``passkey`` among the factors: the prompt's passkey button redeems this sign-in's mfa_token
    (a ceremony offering only the account's passkeys), as an authenticator code would."""
    frontend_app.send(app, fake_api, frontend_app.SENT)
    frontend_app.verify(app, fake_api, MFA_REQUIRED_WITH_PASSKEY)
    assert browser.drawn[SIGN_IN].label == "Use your passkey"
    assert "Or use your passkey." in page_text(app)
    browser.press(SIGN_IN)
    run(app, fake_api, options({**REQUEST_OPTIONS, "allowCredentials": [{"type": "public-key", "id": "Y3JlZA"}]}))
    asked = fake_api.calls[-1]
    assert (asked.path, asked.json) == ("/passkeys/verify/options", {"mfa_token": frontend_app.MFA_TOKEN})
    browser.give(SIGN_IN)
    run(app, fake_api, PASSKEY_SESSION, me_answer(aal=2, **ACCOUNT))
    verified = fake_api.calls[-2]
    assert (verified.path, verified.json["mfa_token"], verified.json["ceremony"]) == (
        "/passkeys/verify",
        frontend_app.MFA_TOKEN,
        CEREMONY,
    )
    assert verified.json["credential"] == CREDENTIAL
    assert on_account_view(app)


def test_a_passkey_answer_after_the_mfa_token_expired_starts_the_sign_in_again(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    frontend_app.send(app, fake_api, frontend_app.SENT)
    frontend_app.verify(app, fake_api, MFA_REQUIRED_WITH_PASSKEY)
    browser.press(SIGN_IN)
    expired = response(401, {"code": "invalid_mfa_token", "message": "This sign-in has expired. Start again."})
    run(app, fake_api, expired)
    assert on_email_step(app)
    assert "This sign-in has expired. Start again." in [each.value for each in app.warning]


def test_where_the_passkey_is_the_only_second_factor_the_prompt_asks_for_it_alone(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    """Under OTP_MFA=required, an account with a passkey and no authenticator app: no code field to fill."""
    only_passkey = response(200, {**frontend_app.MFA_REQUIRED.json(), "factors": ["passkey"]})
    frontend_app.send(app, fake_api, frontend_app.SENT)
    frontend_app.verify(app, fake_api, only_passkey)
    assert "finish signing in with your passkey" in page_text(app)
    assert "second_factor_input" not in {widget.key for widget in app.text_input}
    assert not app.radio or "factor_input" not in {widget.key for widget in app.radio}
    browser.press(SIGN_IN)
    run(app, fake_api, options(REQUEST_OPTIONS))
    browser.give(SIGN_IN)
    run(app, fake_api, PASSKEY_SESSION, me_answer(aal=2, **ACCOUNT))
    assert [call.path for call in fake_api.calls][-3:] == ["/passkeys/verify/options", "/passkeys/verify", "/me"]
    assert on_account_view(app)


def test_an_account_without_a_passkey_is_offered_none_at_the_second_factor_prompt(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    """A usernameless passkey there could only sign in to another account than the one the code proved."""
    frontend_app.to_second_factor(app, fake_api)
    assert SIGN_IN not in browser.drawn
    assert "Or use your passkey." not in page_text(app)


# -------------------------------------------------------------------------------------------- step-up


def test_removing_two_step_late_is_confirmed_with_a_passkey(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    fake_api.passkey_lists.append(listed(LAPTOP))
    signed_in_with(app, fake_api, **MFA_ON)
    click(app, fake_api, "remove_totp", STEP_UP)
    assert browser.drawn[STEP_UP_PASSKEY] == Drawn("Confirm with your passkey", None, False)
    assert "step_up_code_input" in {widget.key for widget in app.text_input}  # the code stays an option

    browser.press(STEP_UP_PASSKEY)
    run(app, fake_api, options({**REQUEST_OPTIONS, "allowCredentials": [{"type": "public-key", "id": "Y3JlZA"}]}))
    asked = fake_api.calls[-1]
    assert (asked.method, asked.path, asked.bearer) == ("POST", "/passkeys/reauthenticate/options", ACCESS_1)
    held = browser.drawn[STEP_UP_PASSKEY].ceremony
    assert held is not None and held.kind == "get"
    assert not any(token in repr(held) + str(held.options) for token in ALL_TOKENS)  # options only, never a token

    disabled = response(200, {"message": "Two-step verification is off.", "code": "mfa_disabled"})
    browser.give(STEP_UP_PASSKEY)
    run(app, fake_api, REAUTHENTICATED, disabled, me_answer(**ACCOUNT, **MFA_OFF))
    proof, retry, me = fake_api.calls[-3:]
    assert (proof.path, proof.json, proof.bearer) == (
        "/passkeys/reauthenticate",
        {"ceremony": CEREMONY, "credential": CREDENTIAL},
        ACCESS_1,
    )
    assert (retry.method, retry.path, retry.bearer) == ("DELETE", "/mfa/totp", ACCESS_2)  # the proof's tokens
    assert me.bearer == ACCESS_2
    assert section(app, TWO_STEP, "success") == ["Two-step verification is off."]
    browser.drawn.clear()
    app.run()
    assert STEP_UP_PASSKEY not in browser.drawn  # the prompt has closed


def test_removing_a_passkey_late_is_confirmed_with_a_passkey(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    fake_api.passkey_lists.append(listed(LAPTOP, PHONE))
    signed_in_with(app, fake_api, **MFA_OFF)
    click(app, fake_api, "remove_passkey_pk1", STEP_UP_BY_CODE)
    browser.press(STEP_UP_PASSKEY)
    run(app, fake_api, options(REQUEST_OPTIONS))
    removed = response(200, {"code": "passkey_removed", "message": "The passkey was removed."})
    fake_api.passkey_lists.append(listed(PHONE))
    browser.give(STEP_UP_PASSKEY)
    run(app, fake_api, REAUTHENTICATED, removed, me_answer(**ACCOUNT, **MFA_OFF))
    proof, removal, _ = fake_api.calls[-3:]
    assert proof.path == "/passkeys/reauthenticate"
    assert (removal.method, removal.path, removal.bearer) == ("DELETE", "/me/passkeys/pk1", ACCESS_2)
    assert section(app, "Passkeys", "success") == ["The passkey was removed."]
    assert section(app, "Passkeys", "markdown") == [":material/passkey: **Phone**"]


def test_where_the_passkey_is_the_accounts_second_factor_a_code_refused_turns_the_prompt_to_it(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    """Under OTP_MFA=required an account with a passkey and no authenticator app re-proves with the passkey: the
    API refuses the mailed code (use_second_factor), and the prompt then asks for the passkey alone, with no
    authenticator code to type."""
    fake_api.passkey_lists.append(listed(LAPTOP))
    signed_in_with(app, fake_api, **MFA_OFF)
    click(app, fake_api, "remove_passkey_pk1", STEP_UP_BY_CODE)
    message = "Your account has two-step verification. Confirm it is you with it instead."
    click(app, fake_api, "send_proof_code", response(403, {"message": message, "code": "use_second_factor"}))
    assert "step_up_code_input" not in {widget.key for widget in app.text_input}
    assert "send_proof_code" not in {button.key for button in app.button}
    assert browser.drawn[STEP_UP_PASSKEY].label == "Confirm with your passkey"


def test_an_account_without_a_passkey_is_offered_no_passkey_step_up(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    signed_in_with(app, fake_api, **MFA_ON)
    click(app, fake_api, "remove_totp", STEP_UP)
    assert "step_up_code_input" in {widget.key for widget in app.text_input}
    assert STEP_UP_PASSKEY not in browser.drawn


def test_a_passkey_step_up_refused_or_cancelled_says_so_in_the_prompt_which_stays(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    fake_api.passkey_lists.append(listed(LAPTOP))
    signed_in_with(app, fake_api, **MFA_ON)
    click(app, fake_api, "remove_totp", STEP_UP)
    browser.press(STEP_UP_PASSKEY)
    run(app, fake_api, options(REQUEST_OPTIONS))
    browser.refuse(STEP_UP_PASSKEY)
    run(app, fake_api)  # the browser gave nothing: nothing to ask the API
    assert section(app, TWO_STEP, "warning") == [passkey.failure_message(passkey.Failure(0, "NotAllowedError"), "get")]

    browser.press(STEP_UP_PASSKEY)
    run(app, fake_api, options(REQUEST_OPTIONS))
    refused = response(401, {"code": "invalid_passkey", "message": "The passkey could not be verified."})
    browser.give(STEP_UP_PASSKEY)
    run(app, fake_api, refused)
    assert fake_api.calls[-1].path == "/passkeys/reauthenticate"
    assert section(app, TWO_STEP, "error") == ["The passkey could not be verified."]
    assert browser.drawn[STEP_UP_PASSKEY].ceremony is None  # spent: a new press asks for a new one
    assert "step_up_code_input" in {widget.key for widget in app.text_input}


# ------------------------------------------------------------------------------ an app's login request (OpenID Connect)

AAL2 = "http://idmanagement.gov/ns/assurance/aal/2"
BY_PASSKEY = response(
    401,
    {"code": "reauthentication_required", "message": "Please confirm it is you with your passkey first."},
    headers={"WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'},
)


def asking(prompt: tuple[str, ...] = (), acr_values: tuple[str, ...] = ()) -> requests.Response:
    """``GET /oauth2/login``'s answer for an app's request with ``prompt`` and ``acr_values``."""
    body = login_request(prompt).json()
    return response(200, {**body, "acr_values": list(acr_values)})


def signed_in_for_the_app(app: AppTest, fake_api: FakeApi, **mfa: Any) -> None:
    """Signed in by code through an app's login request, and back in the app: the account view, which reads the
    passkeys, was never shown."""
    arrive(app, fake_api, asking())
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(**ACCOUNT, **mfa), ACCEPTED)
    assert going_back_to(app) == BACK_WITH_CODE
    assert fake_api.passkey_list_calls == []


def test_an_app_asking_for_a_fresh_sign_in_is_confirmed_with_a_passkey_never_listed_before(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    """prompt=login (or max_age) for a person signed in to the app through the UI: the prompt reads the account's
    passkeys, offers the passkey beside the mailed code, and one touch lets the app in with the proof's tokens."""
    signed_in_for_the_app(app, fake_api, **MFA_OFF)
    fake_api.passkey_lists.append(listed(LAPTOP))
    arrive(app, fake_api, asking(prompt=("login",)), REAUTHENTICATION_REQUIRED)

    assert [call.bearer for call in fake_api.passkey_list_calls] == [ACCESS_1]
    assert "To continue to **Local example**, first confirm it is you with a code we send to **a@b.com**." in texts(
        app.markdown
    )
    assert browser.drawn[STEP_UP_PASSKEY] == Drawn("Confirm with your passkey", None, False)
    browser.press(STEP_UP_PASSKEY)
    run(app, fake_api, options(REQUEST_OPTIONS))
    browser.give(STEP_UP_PASSKEY)
    run(app, fake_api, REAUTHENTICATED, ACCEPTED, me_answer(**ACCOUNT, **MFA_OFF))
    proof, retry, _ = fake_api.calls[-3:]
    assert (proof.path, proof.bearer) == ("/passkeys/reauthenticate", ACCESS_1)
    assert (retry.path, retry.json, retry.bearer) == ("/oauth2/login", {"login_challenge": CHALLENGE}, ACCESS_2)
    assert going_back_to(app) == BACK_WITH_CODE
    assert not any(call.path == "/reauthenticate" for call in fake_api.calls)  # no code was sent


def test_an_account_without_a_passkey_is_asked_for_a_code_only_at_an_apps_request(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    signed_in_for_the_app(app, fake_api, **MFA_OFF)
    arrive(app, fake_api, asking(prompt=("login",)), REAUTHENTICATION_REQUIRED)
    assert len(fake_api.passkey_list_calls) == 1  # read, and found empty
    assert "send_proof_code" in {button.key for button in app.button}
    assert STEP_UP_PASSKEY not in browser.drawn


def test_two_factors_asked_of_an_account_whose_second_factor_is_a_passkey_ask_for_the_passkey_alone(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    """acr_values AAL2, signed in by code (one factor) on an account with a passkey and no authenticator app: no
    code is offered (it would prove one factor again), nor an authenticator's setup; the passkey lets the app in."""
    fake_api.passkey_lists.append(listed(LAPTOP))
    arrive(app, fake_api, asking(acr_values=(AAL2,)))
    assert ui_state(app).login is not None and ui_state(app).login.two_factors
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, me_answer(**ACCOUNT, **MFA_OFF), BY_PASSKEY)

    assert (
        "To continue to **Local example**, first confirm it is you with your passkey: it asks for two factors."
        in texts(app.markdown)
    )
    keys = {button.key for button in app.button}
    assert "send_proof_code" not in keys and "step_up_code_input" not in {field.key for field in app.text_input}
    assert "cancel_step_up" in keys
    assert browser.drawn[STEP_UP_PASSKEY] == Drawn("Confirm with your passkey", None, False)
    browser.press(STEP_UP_PASSKEY)
    run(app, fake_api, options(REQUEST_OPTIONS))
    browser.give(STEP_UP_PASSKEY)
    run(app, fake_api, REAUTHENTICATED, ACCEPTED, me_answer(**ACCOUNT, **MFA_OFF))
    assert [call.path for call in fake_api.calls[-3:]] == ["/passkeys/reauthenticate", "/oauth2/login", "/me"]
    assert going_back_to(app) == BACK_WITH_CODE


def test_two_factors_asked_of_an_account_with_an_authenticator_offer_it_and_the_passkey(
    app: AppTest, fake_api: FakeApi, browser: FakeBrowser
) -> None:
    fake_api.passkey_lists.append(listed(LAPTOP))
    signed_in_for_the_app(app, fake_api, **MFA_ON)
    arrive(app, fake_api, asking(acr_values=(AAL2,)), STEP_UP)
    assert app.text_input(key="step_up_code_input").label == "Authenticator code"
    assert STEP_UP_PASSKEY in browser.drawn
