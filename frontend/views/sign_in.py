"""The "Sign in" page: an address or a number, then the code sent to it, then (for an account with two-step
verification) the authenticator's code, a recovery code or one of the account's passkeys; or, instead of all that, a
passkey (usernameless: the browser offers the site's passkeys, and one touch with the person's screen lock is both
factors), offered on the first step.

The step and what it is about live in :class:`frontend.state.SignIn`, server-side under the browser's handle: a
reload, or a new tab, returns to the same step for the same address, so a code still valid can be typed. Each
message shows beside the field or button it concerns, and the field keeps what was typed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import streamlit as st

from frontend import api, clock, flow, oidc, passkey, passkey_autofill, phone, twostep, ui
from frontend.state import SignIn, tab
from frontend.state import ui as state

# Widget keys.
CHANNEL_INPUT, EMAIL_INPUT, PHONE_INPUT = flow.CHANNEL_INPUT, flow.EMAIL_INPUT, flow.PHONE_INPUT
COUNTRY_INPUT = "country_input"
CODE_INPUT = "code_input"
FACTOR_INPUT = "factor_input"  # which second factor: api.SecondFactor
SECOND_FACTOR_INPUT = "second_factor_input"
EXPIRED = "This code has expired. Send a new one."
# Where notices show: under the form or button named.
SEND, VERIFY, RESEND, SECOND_FACTOR = "send", "verify", "resend", "second_factor"
PASSKEY = "passkey_sign_in"  # the passkey button's key, its request and where its notices show
FACTOR_NAMES: dict[api.SecondFactor, str] = {"otp": "Authenticator app", "recovery_code": "Recovery code"}


# -------------------------------------------------------------------------------------------- requests


def _send(channel: api.Channel, address: str, place: str, field: str | None) -> None:
    """The work of a send: request a code for ``address``; on success move to code entry with a fresh cooldown."""
    current, result = state(), ui.client().send_otp(address, channel)
    if not result.ok:
        ui.fail(result, place, field)  # the form stays as typed, the field marked
        return
    resend_after = api.parse_seconds(result.data.get("resend_after")) or 0
    to = result.data.get("to")
    current.sign_in = SignIn(
        step="code",
        channel=channel,
        address=address,
        # The API's own reading of the number is what the person must recognise; the address as typed else.
        shown_to=to if isinstance(to, str) and to else ui.shown(address),
        expires_in=(expires_in := api.parse_seconds(result.data.get("expires_in"))),
        expires_at=clock.now() + expires_in if expires_in else None,
        resend_at=clock.now() + resend_after,  # measured from this successful send, as the API's cooldown is
    )
    current.blocked_until = None
    ui.set_field(CODE_INPUT, "")  # an old code is useless once a new one is on its way
    ui.focus(CODE_INPUT)
    # The page says where the code went: the first send needs no notice of its own, a new code says it came.
    if place == RESEND:
        ui.notify("success", result.message, RESEND)
    else:
        ui.clear_notice()


def _on_send() -> None:
    if state().sign_in.step != "start":  # a second press after the code went: the page has moved on
        return
    if st.session_state.get(CHANNEL_INPUT) == "phone":
        typed = st.session_state.get(PHONE_INPUT) or ""
        if not typed.strip():
            ui.notify("warning", "Enter your phone number.", SEND, PHONE_INPUT)
            return
        country = st.session_state.get(COUNTRY_INPUT) or phone.DEFAULT_COUNTRIES[0]
        number = phone.to_e164(typed, country)
        ui.request(SEND, "Sending code...", lambda: _send("phone", number, SEND, PHONE_INPUT))
        return
    email = (st.session_state.get(EMAIL_INPUT) or "").strip()
    if not email:
        ui.notify("warning", "Enter your email address.", SEND, EMAIL_INPUT)
        return
    ui.request(SEND, "Sending code...", lambda: _send("email", email, SEND, EMAIL_INPUT))


def _on_resend() -> None:
    sign_in = state().sign_in
    if sign_in.step != "code" or ui.remaining(sign_in.resend_at) > 0:  # a second press: the new code is on its way
        return
    ui.request(RESEND, "Sending code...", lambda: _send(sign_in.channel, sign_in.address, RESEND, None))


def _on_verify() -> None:
    sign_in = state().sign_in
    if sign_in.step != "code":  # a second press after the code was accepted: the page has moved on
        return
    code = ui.digits(CODE_INPUT)
    if not code:
        ui.notify("warning", "Enter the code we sent you.", VERIFY, CODE_INPUT)
        return

    def work() -> None:
        current, result = state(), ui.client().verify_otp(sign_in.address, code, sign_in.channel)
        if current.sign_in is not sign_in:  # another tab finished or left this sign-in meanwhile
            return
        if not result.ok and result.code == "invalid_code" and _expired(sign_in):
            # The API answers every invalid code alike; the page knows this one's time ran out.
            ui.notify("error", EXPIRED, VERIFY, CODE_INPUT)
            return
        if not result.ok:
            ui.fail(result, VERIFY, CODE_INPUT)
            return
        ui.set_field(CODE_INPUT, "")
        challenge = twostep.Challenge.from_answer(result.data)
        if challenge is None:
            flow.open_session(result)
            return
        sign_in.step, sign_in.challenge, sign_in.resend_at = "second_factor", challenge, None
        current.blocked_until = None
        if challenge.factors:  # else only the passkey's button is drawn
            ui.set_field(FACTOR_INPUT, challenge.factors[0])
            ui.set_field(SECOND_FACTOR_INPUT, "")
            ui.focus(SECOND_FACTOR_INPUT)
        ui.clear_notice()  # the step itself says what to enter

    ui.request(VERIFY, "Checking code...", work)


def _on_verify_second_factor() -> None:
    sign_in = state().sign_in
    challenge = sign_in.challenge
    if sign_in.step != "second_factor" or challenge is None or not challenge.factors:  # accepted already
        return
    kind: api.SecondFactor = st.session_state.get(FACTOR_INPUT) or challenge.factors[0]
    # Authenticator codes are digits people type with spaces; a recovery code is sent as written, trimmed.
    code = (
        ui.digits(SECOND_FACTOR_INPUT) if kind == "otp" else (st.session_state.get(SECOND_FACTOR_INPUT) or "").strip()
    )
    if not code:
        wanted = "Enter the code from your authenticator app." if kind == "otp" else "Enter a recovery code."
        ui.notify("warning", wanted, SECOND_FACTOR, SECOND_FACTOR_INPUT)
        return

    def work() -> None:
        result = ui.client().verify_mfa(challenge.token, code, kind)
        if not _second_factor_live(sign_in, result):
            return
        if not result.ok:
            ui.fail(result, SECOND_FACTOR, SECOND_FACTOR_INPUT)
        else:
            ui.set_field(SECOND_FACTOR_INPUT, "")
            flow.open_session(result)

    ui.request(SECOND_FACTOR, "Checking code...", work)


def _run_passkey(
    event: passkey.Event,
    ask: Callable[[], api.ApiResult],
    answer: Callable[[passkey.Ceremony, Mapping[str, Any]], api.ApiResult],
    live: Callable[[api.ApiResult], bool] = lambda result: True,
) -> None:
    """A passkey button's event on the sign-in card: a press asks the API for options (``ask``) and keeps their
    ceremony for the button's next run; the browser's credential goes to ``answer`` (:func:`_finish_passkey`).
    ``live``: whether an answer still concerns this page's sign-in (it handles one that does not)."""
    if isinstance(event, passkey.Start):

        def begin() -> None:
            result = ask()
            if result.code == passkey.DISABLED_HERE:
                state().passkeys_off = True  # the button goes; there is nothing to say about it
                return
            if live(result):
                ui.keep_ceremony(result, PASSKEY)

        ui.request(PASSKEY, "Asking for your passkey...", begin)
        return
    answered = ui.passkey_answer(event, "get", PASSKEY)
    if answered is not None:
        _finish_passkey(*answered, answer, live)


def _finish_passkey(
    ceremony: passkey.Ceremony,
    credential: Mapping[str, Any],
    answer: Callable[[passkey.Ceremony, Mapping[str, Any]], api.ApiResult],
    live: Callable[[api.ApiResult], bool] = lambda result: True,
    autofill: bool = False,
) -> None:
    """Hand the browser's credential to ``answer`` and open the session it answers, for the buttons and the
    autofill alike; notices show under the button. A refused autofill answer turns the autofill off in this tab
    (see :mod:`frontend.passkey_autofill`)."""

    def finish() -> None:
        result = answer(ceremony, credential)
        if not live(result):
            return
        if not result.ok:
            if autofill:
                tab().autofill = False
            ui.fail(result, PASSKEY)
            return
        flow.open_session(result)

    ui.request(PASSKEY, "Signing in...", finish)


def _signed_in(ceremony: passkey.Ceremony, credential: Mapping[str, Any]) -> api.ApiResult:
    """``POST /passkeys/signin``: a usernameless sign-in with the browser's credential."""
    return ui.client().passkey_signin(ceremony.ceremony, credential)


def _on_passkey(event: passkey.Event) -> None:
    """The sign-in card's passkey button: usernameless, the browser offers the site's passkeys."""
    _run_passkey(event, lambda: ui.client().passkey_signin_options(), _signed_in)


def _on_passkey_second_factor(event: passkey.Event) -> None:
    """The second-factor prompt's passkey button: the ceremony is the mfa_token's (it offers only the account's
    passkeys), and its answer finishes this sign-in as an authenticator code does."""
    sign_in = state().sign_in
    challenge = sign_in.challenge
    if sign_in.step != "second_factor" or challenge is None:  # finished meanwhile, in this tab or another
        return
    token = challenge.token
    _run_passkey(
        event,
        lambda: ui.client().passkey_verify_options(token),
        lambda ceremony, credential: ui.client().passkey_verify(token, ceremony.ceremony, credential),
        lambda result: _second_factor_live(sign_in, result),
    )


def _second_factor_live(sign_in: SignIn, result: api.ApiResult) -> bool:
    """Whether the answer still concerns this page's sign-in: not if another tab finished or left it meanwhile,
    nor once the API says its mfa_token no longer redeems (expired, spent or used: the first step is repeated)."""
    if state().sign_in is not sign_in:
        return False
    if result.status == 401 and result.code == twostep.INVALID_MFA_TOKEN:
        flow.start_again()
        ui.notify("warning", result.message, flow.START)
        return False
    return True


def _on_autofill(event: passkey.Event) -> None:
    """A passkey picked from the email field's autofill: the offered ceremony is spent whatever comes of it."""
    current = state()
    answered = passkey_autofill.spend(current.autofill, event)
    if answered is None or current.box.current is not None or current.sign_in.step != "start":
        return  # a renewal's rerun, an answer to an offer replaced meanwhile, or a page that moved on
    current.autofill = None
    _finish_passkey(*answered, _signed_in, autofill=True)


def _render_autofill(wanted: bool) -> None:
    """The passkey in the email field's autofill: the browser's open offer handed to the page, renewed when it is
    due; nothing unless ``wanted``, or where the tab or the stage has it off."""
    current = state()
    offer: passkey_autofill.Offer | None = None
    if wanted and tab().autofill and not current.passkeys_off:
        outcome = passkey_autofill.current(current.autofill, clock.now(), ui.client().passkey_signin_options)
        if isinstance(outcome, passkey_autofill.Disabled):
            current.passkeys_off = True  # the button goes too
        else:
            current.autofill = outcome
            offer = outcome if isinstance(outcome, passkey_autofill.Offer) else None
    passkey_autofill.mount(offer, clock.now(), _on_autofill)


def _render_passkey(blocked: bool, label: str = "Sign in with a passkey", second_factor: bool = False) -> None:
    """The passkey button, under the code form, or (``second_factor``) under the second-factor form: the browser
    asks which of this site's passkeys to use, or, for a second factor, which of the account's. Nothing is drawn
    on a stage without passkeys."""
    if state().passkeys_off:
        return
    ceremony = tab().ceremony
    passkey.button(
        label,
        PASSKEY,
        ceremony if ceremony is not None and ceremony.kind == "get" else None,
        _on_passkey_second_factor if second_factor else _on_passkey,
        disabled=blocked or ui.busy(),
    )
    ui.show_notice(PASSKEY)
    ui.perform(PASSKEY)


def _on_start_again() -> None:
    # Limits are mostly per address, so a block for the old address must not hold back a new one; an IP-wide
    # limit is reported again by the API, with its own retry time. Prefilled: usually only a typo needs fixing.
    flow.start_again()


# -------------------------------------------------------------------------------------------- rendering


def phone_fields(country_key: str, number_key: str) -> None:
    """A country picker and a number field, inside the caller's form; the number's field is marked while a notice
    is about it."""
    countries = ui.countries()
    if st.session_state.get(country_key) not in countries:
        st.session_state[country_key] = next(iter(countries))  # e.g. after the configured list changed
    left, right = st.columns([1, 2])
    left.selectbox("Country", list(countries), key=country_key, format_func=lambda code: countries[code].label)
    right.text_input(
        "Phone number",
        key=number_key,
        type="phone",
        autocomplete="tel-national",
        placeholder="415 555 0123",
        icon=ui.field_icon(number_key),
    )


def _render_start(blocked: bool) -> None:
    st.radio(
        "Sign in with",
        ["email", "phone"],
        key=CHANNEL_INPUT,
        format_func=lambda channel: {"email": "Email", "phone": "Phone"}[channel],
        horizontal=True,
    )
    with st.form("send_form", border=False):
        if st.session_state.get(CHANNEL_INPUT) == "phone":
            phone_fields(COUNTRY_INPUT, PHONE_INPUT)
        else:
            st.text_input(
                "Email address",
                key=EMAIL_INPUT,
                type="email",
                validate="",  # the API's rules and messages are the ones that count
                # "webauthn": the browser lists this site's passkeys among its suggestions (passkey_autofill)
                autocomplete="username webauthn",
                icon=ui.field_icon(EMAIL_INPUT),
            )
        ui.show_notice(SEND)
        st.form_submit_button(
            "Send code", key="send", type="primary", on_click=_on_send, disabled=blocked or ui.busy(), width="stretch"
        )
    ui.perform(SEND)
    _render_passkey(blocked)


def _expired(sign_in: SignIn) -> bool:
    return sign_in.expires_at is not None and clock.now() >= sign_in.expires_at


def _render_code(sign_in: SignIn, blocked: bool) -> None:
    by_sms = sign_in.channel == "phone"
    validity = f" It is valid for {ui.duration(sign_in.expires_in)}." if sign_in.expires_in else ""
    if _expired(sign_in):
        validity = " It has expired: send a new one."  # not "valid for 5 minutes" on a page left open
    sent = "We sent a sign-in code by SMS to" if by_sms else "We emailed a sign-in code to"
    st.markdown(f"{sent} **{ui.escape(sign_in.shown_to)}**.{validity}")
    with st.form("verify_form", border=False):
        ui.code_field("Code", CODE_INPUT)
        ui.show_notice(VERIFY)
        st.form_submit_button(
            "Verify", key="verify", type="primary", on_click=_on_verify, disabled=blocked or ui.busy(), width="stretch"
        )
    ui.perform(VERIFY)

    resend_wait = ui.remaining(sign_in.resend_at)
    left, right = st.columns(2)
    left.button(
        "Resend code",
        key="resend",
        icon=":material/refresh:",
        on_click=_on_resend,
        disabled=blocked or resend_wait > 0 or ui.busy(),
        help="Sends a new code to the same number." if by_sms else "Emails a new code to the same address.",
    )
    right.button(
        "Use a different number" if by_sms else "Use a different address",
        key="change_address",
        type="tertiary",
        on_click=_on_start_again,
    )
    ui.show_notice(RESEND)
    ui.perform(RESEND)
    if resend_wait > 0 and not blocked:
        ui.countdown(sign_in.resend_at, "You can request a new code in {seconds} s.")


def factor_picker(factors: tuple[api.SecondFactor, ...], key: str) -> api.SecondFactor:
    """The second factor to use: a choice when several are offered. Returns the one chosen."""
    if len(factors) > 1:
        st.radio("Use", factors, key=key, format_func=FACTOR_NAMES.__getitem__, horizontal=True)
    chosen = st.session_state.get(key)
    return chosen if chosen in factors else factors[0]


def second_factor_field(kind: api.SecondFactor, key: str) -> None:
    if kind == "otp":
        ui.code_field("Authenticator code", key)
    else:
        st.text_input("Recovery code", key=key, autocomplete="off", icon=ui.field_icon(key))


def _render_second_factor(sign_in: SignIn, challenge: twostep.Challenge, blocked: bool) -> None:
    validity = f" within {ui.duration(challenge.expires_in)}" if challenge.expires_in else ""
    if not challenge.factors:  # the account's passkey is its only second factor
        st.markdown(
            f"Two-step verification is on for **{ui.escape(sign_in.shown_to)}**: finish signing in with your "
            f"passkey{validity}."
        )
        _render_passkey(blocked, "Use your passkey", second_factor=True)
        st.button("Start over", key="start_over", type="tertiary", on_click=_on_start_again)
        return
    also = " Or use your passkey." if challenge.passkey and not state().passkeys_off else ""
    st.markdown(
        f"Two-step verification is on for **{ui.escape(sign_in.shown_to)}**. Enter the code from your "
        f"authenticator app{validity}, or one of your recovery codes.{also}"
    )
    kind = factor_picker(challenge.factors, FACTOR_INPUT)
    with st.form("second_factor_form", border=False):
        second_factor_field(kind, SECOND_FACTOR_INPUT)
        ui.show_notice(SECOND_FACTOR)
        st.form_submit_button(
            "Continue",
            key="verify_second_factor",
            type="primary",
            on_click=_on_verify_second_factor,
            disabled=blocked or ui.busy(),
            width="stretch",
        )
    ui.perform(SECOND_FACTOR)
    if challenge.passkey:  # the account has one: it is this sign-in's second factor, as the code above would be
        _render_passkey(blocked, "Use your passkey", second_factor=True)
    st.button("Start over", key="start_over", type="tertiary", on_click=_on_start_again)


def render() -> None:
    """The page: the step the sign-in is at, in a card."""
    current = state()
    sign_in = current.sign_in
    blocked = ui.blocked()
    st.title("Sign in")
    with st.container(border=True):
        if current.login is not None:
            st.markdown(f":material/apps: Sign in to continue to **{ui.escape(oidc.app_name(current.login))}**")
        ui.show_notice(oidc.PLACE)
        if sign_in.step == "start":
            st.caption("No password needed: enter your email address or phone number and we send you a one-time code.")
        ui.show_notice(flow.START)
        if sign_in.step == "second_factor" and sign_in.challenge is not None:
            _render_second_factor(sign_in, sign_in.challenge, blocked)
        elif sign_in.step == "code":
            _render_code(sign_in, blocked)
        else:
            _render_start(blocked)
    if sign_in.step == "start":
        # Below the card, where its empty element takes no room between the buttons; outside the form, since
        # Streamlit takes no component's answer from inside one. Mounted for a phone number too (with nothing to
        # run), so that switching to it stops the request rather than leaving one for a field that is gone.
        _render_autofill(not blocked and st.session_state.get(CHANNEL_INPUT) != "phone")
