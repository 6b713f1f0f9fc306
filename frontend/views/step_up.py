"""Account changes the API wants a recent proof for (a phone added or removed, two-step verification turned off, new
recovery codes, a passkey registered or removed), letting an app in when it asks for a fresh sign-in, and the prompt
that asks the person to confirm it is them, shown beside the change that asked for it.

A change is made at once when the API allows it; when it answers ``reauthentication_required`` the prompt opens:
a code sent to the account's own address or number (a button sends it, a field takes it), or the second factor;
beside either, on an account with a passkey, "Confirm with your passkey" (a passkey verified with user
verification is both factors, so it answers every prompt). The account's passkeys are read when the prompt opens
if no view has read them yet (an app's login request opens it before the account view was ever shown). An app that
asks for two factors of an account whose only second factor is a passkey is offered the passkey alone: a code
would prove one factor. Once proven, the change is made as it was asked, with the tokens the proof issued.
"""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from frontend import api, clock, flow, oidc, passkey, phone, renewal, twostep, ui
from frontend.state import tab
from frontend.state import ui as state
from frontend.views.sign_in import factor_picker, second_factor_field

STEP_UP_FACTOR_INPUT = "step_up_factor_input"
STEP_UP_CODE_INPUT = "step_up_code_input"  # the code that confirms it is you: second factor, or sent by mail/SMS
LINK_PHONE_INPUT = "link_phone_input"
LINK_CODE_INPUT = "link_code_input"
PLACE = "step_up"  # notices of the prompt show in it
PASSKEYS = "passkeys"  # notices of the account's passkeys show there
STEP_UP_PASSKEY = "step_up_passkey"  # the prompt's passkey button: its key and its request


def step_up() -> twostep.StepUp:
    client = ui.client()
    return twostep.StepUp(client, flow.token_renewal(client), state().box, clock.now)


def load_passkeys() -> None:
    """Read the account's passkeys (``GET /me/passkeys``) into the account view, where the passkeys' section and
    the prompt read them; a failure is kept to show. No ``st`` calls: it may run as a request's work."""
    current = state()
    view = current.account
    result = flow.account_call(lambda token: ui.client().passkeys(token))
    if result is None:
        return
    if result.code == passkey.DISABLED_HERE:
        current.passkeys_off = True  # their buttons go
        view.passkeys = ()
        return
    listed = passkey.passkeys_from_answer(result.data) if result.ok else None
    view.passkeys = listed or ()
    view.passkeys_problem = None if listed is not None else (result.message if not result.ok else api.UNEXPECTED_ANSWER)


def has_passkey() -> bool:
    """Whether the account has a passkey the stage lets it use, reading its list first if no view has yet."""
    current = state()
    if current.account.passkeys is None and not current.passkeys_off:
        load_passkeys()
    return not current.passkeys_off and bool(current.account.passkeys)


def ask_for_passkey(key: str, place: str) -> None:
    """A press of a step-up's passkey button ``key``: ask the API for a ceremony bound to this session
    (``POST /passkeys/reauthenticate/options``), which the button then runs; a failure shows at ``place``."""

    def begin() -> None:
        result = flow.account_call(ui.client().passkey_reauthenticate_options)
        if result is not None:
            ui.keep_ceremony(result, place)

    ui.request(key, "Asking for your passkey...", begin)


def change_call(change: twostep.Change) -> renewal.Call:
    """The API call of ``change``, with the arguments the person gave it."""
    client = ui.client()
    calls: dict[twostep.SensitiveAction, renewal.Call] = {
        "remove_totp": client.remove_totp,
        "new_recovery_codes": client.new_recovery_codes,
        "add_phone": lambda token: client.add_phone(token, change.number),
        "link_phone": lambda token: client.link_phone(token, change.number, change.code),
        "remove_phone": client.remove_phone,
        "accept_login": lambda token: client.accept_login(token, change.challenge, change.consent),
        "register_passkey": client.passkey_register_options,
        "remove_passkey": lambda token: client.remove_passkey(token, change.passkey),
    }
    return calls[change.action]


def make(change: twostep.Change, place: str, field: str | None = None) -> None:
    """The work of ``change``: make it; if the API first wants the person to confirm it is them, open the prompt.
    ``place`` and ``field`` are where its failure shows."""
    finish(change, step_up().call(change_call(change)), place, field)


def finish(change: twostep.Change, outcome: twostep.StepUpOutcome, place: str, field: str | None = None) -> None:
    """Show what a change came to: the prompt (opens beside the change), a failure, or its success."""
    current = state()
    if outcome.ended:
        flow.end_session()
        return
    result = outcome.result
    if outcome.needs_reauthentication:
        _ask_for_proof(change)
        if outcome.proven:  # confirmed just now, yet the API asks again: say so rather than ask silently
            ui.notify("warning", result.message, PLACE)
        return
    current.account.step_up = None  # any proof is spent: what follows is the change's own answer
    if change.action == "accept_login":
        oidc.answered(result)
        return
    if not result.ok:
        ui.fail(result, place, field)
        return
    if change.action == "register_passkey":
        ceremony = passkey.ceremony_from_answer(result.data, "create", change.name)
        if ceremony is None:
            ui.notify("error", api.UNEXPECTED_ANSWER, place)
            return
        # The passkey button runs it: at once when it was pressed, else once pressed again (see frontend.passkey).
        tab().ceremony = ceremony
        ui.clear_notice()
        return  # nothing on the account changed yet
    if change.action == "remove_passkey":
        current.account.passkeys = None  # read again
        ui.notify("success", result.message, place)
        return
    if change.action == "add_phone":
        to = result.data.get("to")
        current.account.linking = (
            change.number,
            to if isinstance(to, str) and to else phone.international(change.number),
        )
        ui.set_field(LINK_CODE_INPUT, "")
        ui.focus(LINK_CODE_INPUT)
        ui.clear_notice()  # the form says where the code went
        return  # nothing on the account changed yet
    if change.action == "link_phone":
        current.account.linking = None
        ui.set_field(LINK_PHONE_INPUT, "")
    elif change.action == "new_recovery_codes":
        current.account.recovery_codes = twostep.recovery_codes(result.data)
    current.account.confirm_remove_phone = False
    ui.notify("success", result.message, place)
    flow.load_account()  # the identifiers or the second factor changed


def _ask_for_proof(change: twostep.Change) -> None:
    """Open the prompt for ``change`` that asks the person to confirm it is them.

    Two-step changes need the second factor itself, and so does every change (or app) on an account with an
    authenticator app; any other account confirms with a code sent to its own address, else its number. That is the
    API's own default, named here so that the button can say where the code goes. An app that asks for two factors
    of an account without an authenticator app but with a passkey gets the passkey alone (the API asks for it).
    """
    current = state()
    account = flow.current_account()
    two_step = account.two_step if account is not None else None
    by_second_factor = change.action in twostep.TWO_STEP_CHANGES or (two_step is not None and two_step.totp)
    login = current.login
    two_factors_asked = change.action == "accept_login" and login is not None and login.two_factors
    by_passkey = two_factors_asked and not by_second_factor and has_passkey()
    own = current.name  # the account's name once /me was read: its address, else its number
    proof = None if by_second_factor else twostep.CodeProof("phone" if own.startswith("+") else "email", ui.shown(own))
    current.account.step_up = replace(change, proof=None if by_passkey else proof, by_passkey=by_passkey)
    ui.set_field(STEP_UP_CODE_INPUT, "")
    if not by_passkey:  # the passkey's button is a frame of its own: focus stays where it was
        ui.focus(STEP_UP_CODE_INPUT if proof is None else "send_proof_code")  # what the prompt asks for first
    ui.clear_notice()  # the prompt says what is needed; an older notice would only distract


def _use_second_factor(change: twostep.Change, result: api.ApiResult) -> None:
    """The API says the account confirms with its second factor (it gained one since /me was read): ask for it;
    for an account without an authenticator app, that is its passkey (a stage that requires two factors)."""
    account = flow.current_account()
    app = account is not None and account.two_step is not None and account.two_step.totp
    state().account.step_up = replace(change, proof=None, by_passkey=not app and has_passkey())
    ui.set_field(STEP_UP_CODE_INPUT, "")
    ui.notify("info", result.message, PLACE)


def _on_send_proof_code() -> None:
    """Send the code that confirms it is you to the account's own address or number (again, after a cooldown)."""
    change = state().account.step_up
    if change is None or change.proof is None or ui.remaining(change.proof.resend_at) > 0:
        return  # a stale or repeated click
    proof = change.proof

    def work() -> None:
        client = ui.client()
        result = flow.account_call(lambda token: client.send_reauthentication_code(token, proof.via))
        if result is None:
            return
        if result.status == 403 and result.code == twostep.USE_SECOND_FACTOR:
            _use_second_factor(change, result)
            return
        if not result.ok:
            ui.fail(result, PLACE)
            return
        to = result.data.get("to")
        # Measured from this successful send, as the API's cooldown is.
        resend_at = clock.now() + (api.parse_seconds(result.data.get("resend_after")) or 0)
        sent = replace(proof, to=to if isinstance(to, str) and to else proof.to, resend_at=resend_at)
        state().account.step_up = replace(change, proof=sent)
        ui.set_field(STEP_UP_CODE_INPUT, "")  # an old code is useless once a new one is on its way
        ui.focus(STEP_UP_CODE_INPUT)
        ui.notify("success", result.message, PLACE)  # where it went and how long it is valid, as the API says

    ui.request("send_proof_code", "Sending code...", work)


def _on_step_up() -> None:
    """Prove the code typed into the prompt, then make the change it was opened for, with the new tokens."""
    change = state().account.step_up
    if change is None:
        return
    proof = change.proof
    kind: api.SecondFactor = "otp" if proof is not None else st.session_state.get(STEP_UP_FACTOR_INPUT) or "otp"
    typed = st.session_state.get(STEP_UP_CODE_INPUT) or ""
    # Codes are digits people type with spaces; a recovery code is sent as written, trimmed.
    code = ui.digits(STEP_UP_CODE_INPUT) if kind == "otp" else typed.strip()
    if not code:
        wanted = "the code we sent you" if proof is not None else "the code from your authenticator app"
        ui.notify(
            "warning", f"Enter {wanted}." if kind == "otp" else "Enter a recovery code.", PLACE, STEP_UP_CODE_INPUT
        )
        return

    def work() -> None:
        client = ui.client()
        if proof is None:
            outcome = step_up().reauthenticate_then(code, kind, change_call(change))
        else:
            outcome = step_up().prove_then(
                lambda token: client.reauthenticate_by_code(token, code, proof.via), change_call(change)
            )
        result = outcome.result
        if outcome.ended or outcome.proven:
            ui.set_field(STEP_UP_CODE_INPUT, "")
            finish(change, outcome, _place_of(change))
        elif result.status == 403 and result.code == twostep.USE_SECOND_FACTOR:
            _use_second_factor(change, result)
        else:
            ui.fail(
                result, PLACE, STEP_UP_CODE_INPUT
            )  # refused: said beside the code, which stays, and so does the prompt

    ui.request("confirm_step_up", "Checking code...", work)


def _on_passkey(event: passkey.Event) -> None:
    """The prompt's passkey button: a press asks the API for a step-up ceremony (bound to this session), the
    browser's credential proves it, and the change is then made as after a code."""
    change = state().account.step_up
    if change is None:
        return  # a stale event: the prompt has closed
    if isinstance(event, passkey.Start):
        ask_for_passkey(STEP_UP_PASSKEY, PLACE)
        return
    answered = ui.passkey_answer(event, "get", PLACE)
    if answered is None:
        return
    ceremony, credential = answered

    def work() -> None:
        client = ui.client()
        outcome = step_up().prove_then(
            lambda token: client.passkey_reauthenticate(token, ceremony.ceremony, credential), change_call(change)
        )
        if outcome.ended or outcome.proven:
            finish(change, outcome, _place_of(change))
        else:
            ui.fail(outcome.result, PLACE)  # refused: said in the prompt, which stays

    ui.request(STEP_UP_PASSKEY, "Checking your passkey...", work)


def _place_of(change: twostep.Change) -> str:
    """Where the outcome of ``change`` shows once proven: in its own part of the account view, or on the page of
    the app's login request."""
    if change.action == "accept_login":
        return oidc.PLACE
    if change.action in twostep.PASSKEY_CHANGES:
        return PASSKEYS
    return "phone" if change.action in twostep.PHONE_CHANGES else "two_step"


def _on_cancel() -> None:
    current = state()
    change = current.account.step_up
    if change is not None and change.action == "accept_login":
        oidc.pause()  # the page asks whether to try again or go back to the app
    current.account.step_up = None
    current.account.confirm_remove_phone = False
    ui.clear_notice()


def _what(change: twostep.Change) -> str:
    """What ``change`` does, as the prompt's sentence says it ("To ..., first confirm it is you")."""
    if change.action in ("add_phone", "link_phone"):
        return f"add **{ui.escape(phone.international(change.number))}** to your account"
    if change.action == "accept_login":
        return f"continue to **{ui.escape(oidc.app_name(state().login))}**"
    return {
        "remove_phone": "remove this phone from your account",
        "remove_totp": "remove your authenticator",
        "new_recovery_codes": "create new recovery codes",
        "register_passkey": "add a passkey",
        "remove_passkey": "remove this passkey",
    }[change.action]


def _code_part(proof: twostep.CodeProof | None, disabled: bool) -> None:
    """The prompt's code: the button that sends one by mail or SMS, then its field; or the second factor's."""
    if proof is not None and not proof.sent:
        ui.show_notice(PLACE)
        st.button(
            f"Send a code to {ui.escape(proof.to)}",
            key="send_proof_code",
            type="primary",
            icon=":material/send:",
            on_click=_on_send_proof_code,
            disabled=disabled,
        )
        ui.perform("send_proof_code")
        return
    # The factor picker stays out of the form: choosing a factor must rerun to relabel the field.
    kind = factor_picker(twostep.FACTORS, STEP_UP_FACTOR_INPUT) if proof is None else "otp"
    with st.form("step_up_form", border=False):
        if proof is None:
            second_factor_field(kind, STEP_UP_CODE_INPUT)
        else:
            label = "Code from the SMS" if proof.via == "phone" else "Code from the email"
            ui.code_field(label, STEP_UP_CODE_INPUT)
        ui.show_notice(PLACE)
        st.form_submit_button("Confirm", key="confirm_step_up", type="primary", on_click=_on_step_up, disabled=disabled)
    ui.perform("confirm_step_up")


def render(change: twostep.Change, blocked: bool) -> None:
    """The prompt that asks the person to confirm it is them before ``change``, where the change was asked for."""
    proof = change.proof
    by_factor = "a code from your authenticator app or a recovery code"
    how = f"a code we send to **{ui.escape(proof.to)}**" if proof else by_factor
    disabled = blocked or ui.busy()
    offers_passkey = has_passkey()  # read here if a change since the prompt opened dropped the list
    if not flow.signed_in():  # the API ended the session as it was read: the sign-in page says why
        st.rerun()
    with st.container(border=True):
        if change.by_passkey:
            st.markdown(f"To {_what(change)}, first confirm it is you with your passkey: it asks for two factors.")
            ui.show_notice(PLACE)
        else:
            st.markdown(f"To {_what(change)}, first confirm it is you with {how}.")
            _code_part(proof, disabled)
        if offers_passkey:
            ceremony = tab().ceremony
            passkey.button(
                "Confirm with your passkey",
                STEP_UP_PASSKEY,
                ceremony if ceremony is not None and ceremony.kind == "get" else None,
                _on_passkey,
                disabled=disabled,
            )
            ui.perform(STEP_UP_PASSKEY)
        if proof is not None and proof.sent:
            resend_wait = ui.remaining(proof.resend_at)
            st.button(
                "Send a new code",
                key="resend_proof_code",
                icon=":material/refresh:",
                on_click=_on_send_proof_code,
                disabled=disabled or resend_wait > 0,
            )
            ui.perform("send_proof_code")
            if resend_wait > 0 and not blocked:
                ui.countdown(proof.resend_at, "You can request a new code in {seconds} s.")
        st.button("Cancel", key="cancel_step_up", type="tertiary", on_click=_on_cancel)
