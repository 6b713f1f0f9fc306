"""Streamlit sign-in page: email address or phone -> one-time code -> (authenticator code, for an account with
two-step verification) -> account view (who is signed in, until when; a phone and two-step verification). A
change the API wants a recent proof for opens a prompt beside it that asks the person to confirm it is them (a
fresh code by mail or SMS, or the second factor), then makes the change as asked.

Run from the repository root with ``streamlit run frontend/app.py``. Configuration (no secrets are held here):

- ``OTP_API_URL``: base URL of the sign-in API (else ``st.secrets["api_url"]``, else http://127.0.0.1:8000).
- ``OTP_SMS_COUNTRIES``: the countries the phone picker offers (see :mod:`frontend.phone`); give the UI the
  stage's own value, since the API does not list them.
- ``DEV_INBOX_URL``: local stack only; the embedded AWS's ``/_dev/inbox``. When set, a sidebar lists the captured
  mails and SMS. When unset (every deployed stage) the inbox code path is never entered.

All state lives in ``st.session_state``; widget callbacks call the API and update that state, and the script
body only renders it. That keeps every API call tied to exactly one click, with one exception tied to the clock:
the account view renews the access token shortly before it expires (see :func:`_keep_alive`).

Session tokens and the ``mfa_token`` of a sign-in waiting for its second factor live only in
``st.session_state`` (see :mod:`frontend.session`, :mod:`frontend.twostep`): never in query parameters, never
logged, never rendered. The authenticator key and the recovery codes are shown on purpose, once each.
"""

from __future__ import annotations

import math
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

# `streamlit run frontend/app.py` puts frontend/ on sys.path and AppTest puts nothing there; importing the
# `frontend` package from the repository root works the same in both.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import streamlit as st  # noqa: E402

from frontend import api, clock, phone, renewal, twostep  # noqa: E402
from frontend.session import Account, Session, SessionBox, TwoStep  # noqa: E402

Stage = Literal["start", "code", "second_factor", "signed_in"]
NoticeKind = Literal["success", "info", "warning", "error"]
# Where a notice shows: at the top of the page, or in the prompt that asks to confirm it is you, beside the change
# that asked for it (where the person is looking).
NoticePlace = Literal["page", "step_up"]

# Session-state keys of the widgets; everything in _DEFAULTS is written only by callbacks.
CHANNEL_INPUT = "channel_input"  # "email" | "phone": how to sign in
EMAIL_INPUT = "email_input"
COUNTRY_INPUT = "country_input"
PHONE_INPUT = "phone_input"
CODE_INPUT = "code_input"
FACTOR_INPUT = "factor_input"  # which second factor: api.SecondFactor
SECOND_FACTOR_INPUT = "second_factor_input"
LINK_COUNTRY_INPUT = "link_country_input"
LINK_PHONE_INPUT = "link_phone_input"
LINK_CODE_INPUT = "link_code_input"
TOTP_CODE_INPUT = "totp_code_input"
STEP_UP_FACTOR_INPUT = "step_up_factor_input"
STEP_UP_CODE_INPUT = "step_up_code_input"  # the code that confirms it is you: second factor, or sent by mail/SMS
_DEFAULTS: dict[str, object] = {
    "stage": "start",  # Stage
    "channel": "email",  # api.Channel the code went by
    "address": "",  # the address or E.164 number the code went to / that signed in
    "shown_to": "",  # how the API showed the number back (`to`, international format)
    "expires_in": None,  # seconds a sent code stays valid, as the API said
    "resend_at": None,  # clock.now() value from which "Resend code" is allowed again
    "blocked_until": None,  # clock.now() value until which a 429 forbids the primary actions
    "notice": None,  # (NoticeKind, text, NoticePlace): above the current step, or in the step-up prompt
    "challenge": None,  # twostep.Challenge: a sign-in waiting for its second factor
    "account_problem": None,  # why the account could not be read or renewed just now, shown in the account view
    "enrollment_required": False,  # /me said the session may only enroll a second factor (OTP_MFA=required)
    "linking": None,  # (E.164, as shown back) of the number a link code went to
    "enrollment": None,  # twostep.Enrollment being confirmed
    "recovery_codes": (),  # shown once, until the person says they saved them
    "step_up": None,  # twostep.Change waiting for the person to confirm it is them
}
# The SessionBox holding the Session while signed in (tokens, when they run out, the account details). Not in
# _DEFAULTS: it is created once per browser session and then only changed in place.
SESSION_BOX = "session_box"
MAX_INBOX_ENTRIES = 20  # of each kind, mails and SMS
# How often the account view re-renders (and checks whether the access token needs renewing). Well below the
# renewal margin, which is at least 30 s (half the shortest access token lifetime the API allows).
KEEP_ALIVE_SECONDS = 10
SESSION_ENDED = "Your session has ended, please sign in again."


# ---------------------------------------------------------------------------------------------- helpers


def _init_state() -> None:
    for key, value in _DEFAULTS.items():
        st.session_state.setdefault(key, value)
    if SESSION_BOX not in st.session_state:
        st.session_state[SESSION_BOX] = SessionBox()


def _box() -> SessionBox:
    return st.session_state[SESSION_BOX]


def _session() -> Session | None:
    return _box().current


def _remaining(until: float | None) -> int:
    """Whole seconds left until ``until`` (a clock.now() value), rounded up so 0 means "now allowed"."""
    if until is None:
        return 0
    return max(0, math.ceil(until - clock.now()))


def _escape(text: str) -> str:
    """Neutralise Markdown in text that comes from people or the API, so it is shown literally."""
    return "".join(f"\\{char}" if char in "\\`*_[]<>#|~$:" else char for char in text)


def _notify(kind: NoticeKind, text: str, place: NoticePlace = "page") -> None:
    st.session_state.notice = (kind, text, place)


def _countries() -> dict[str, phone.Country]:
    return {country.code: country for country in phone.countries(os.environ)}


def _shown(address: str) -> str:
    """An address as is, a number (E.164, as the API gives them) in international format."""
    return phone.international(address) if address.startswith("+") else address


def _client() -> api.OtpClient:
    secrets: dict[str, object] | None
    try:
        secrets = {"api_url": st.secrets["api_url"]} if "api_url" in st.secrets else None
    except FileNotFoundError:  # no secrets.toml at all: Streamlit raises instead of returning nothing
        secrets = None
    return api.client_from_env(secrets)


def _apply_failure(result: api.ApiResult, place: NoticePlace = "page") -> None:
    """Show a failed call's message at ``place``; a 429 with a retry time also blocks the primary actions until
    then, and its countdown shows there too."""
    if result.status != 429:
        _notify("error", result.message, place)
        return
    if result.retry_after:
        st.session_state.blocked_until = clock.now() + result.retry_after
    _notify("warning", result.message, place)


def _expire_block() -> None:
    """Lift a 429 block whose time has passed, together with its (now outdated) message.

    While a block is active every action that could replace the notice is disabled, so the notice on screen
    is the 429 message.
    """
    if st.session_state.blocked_until is not None and _remaining(st.session_state.blocked_until) == 0:
        st.session_state.blocked_until = None
        st.session_state.notice = None


def _duration(seconds: int) -> str:
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"


def _relative(seconds: float) -> str:
    """A time still to come, coarsely: "in 45 s", "in 59 min", "in 3 h 5 min", "in 4 days 23 h"."""
    whole = math.floor(seconds)
    if whole <= 0:
        return "now"
    if whole < 60:
        return f"in {whole} s"
    minutes = whole // 60
    if minutes < 60:
        return f"in {minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"in {hours} h {minutes} min" if minutes else f"in {hours} h"
    days, hours = divmod(hours, 24)
    return f"in {days} days {hours} h" if hours else f"in {days} days"


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _when(until: float | None, epoch: int | None) -> str:
    """When something runs out: relative to clock.now() (from the API's own durations) plus the API's UTC time."""
    parts = []
    if until is not None:
        parts.append(_relative(until - clock.now()))
    if epoch is not None:
        parts.append(f"({_utc(epoch)})" if parts else _utc(epoch))
    return " ".join(parts) or "unknown"


# ------------------------------------------------------------------------------------------------ session


def _forget_session(channel: api.Channel, prefill: str) -> None:
    """Back to the start screen with no trace of the session (tokens, mfa_token, key, recovery codes included);
    the form shows ``channel`` with ``prefill`` in it (an address, or a number in international format)."""
    _box().current = None
    st.session_state.update(_DEFAULTS)
    st.session_state[CHANNEL_INPUT] = channel
    st.session_state[EMAIL_INPUT] = prefill if channel == "email" else ""
    st.session_state[PHONE_INPUT] = prefill if channel == "phone" else ""
    st.session_state[CODE_INPUT] = ""


def _start_again() -> None:
    """Forget everything, keeping how and as whom the person was signing in, so trying again is one click."""
    address = st.session_state.address
    _forget_session(st.session_state.channel, _shown(address))


def _end_session() -> None:
    """The API refused the session (or it ran out): start again, with the address or number prefilled."""
    _start_again()
    _notify("warning", SESSION_ENDED)


def _renewal(client: api.OtpClient) -> renewal.TokenRenewal:
    return renewal.TokenRenewal(client, _box(), clock.now)


def _load_account() -> None:
    """Read the account (``GET /me``) into the session; a failure is kept for the account view to show.

    A session the API refused on the way ends here (the start screen then says why). A session that may only
    enroll a second factor (403 ``mfa_enrollment_required``) is marked so, and the account view offers that.
    """
    client = _client()
    box = _box()
    outcome = _renewal(client).call(client.me)
    result = outcome.result
    if outcome.ended:
        _end_session()
        return
    account = Account.from_answer(result.data) if result.ok else None
    if account is None:
        st.session_state.account_problem = result.message if not result.ok else api.UNEXPECTED_ANSWER
        st.session_state.enrollment_required = result.status == 403 and result.code == twostep.ENROLLMENT_REQUIRED
        return
    session = box.current
    assert session is not None, "a session that did not end is still in the box"
    box.current = session.with_account(account)  # before any st call, like the tokens (see SessionBox)
    st.session_state.address = account.name
    st.session_state.account_problem = None
    st.session_state.enrollment_required = False


def _account_call(call: renewal.Call) -> api.ApiResult | None:
    """Run an account-view call for the session, renewing on the way; ``None`` once the session has ended
    (the start screen then says why)."""
    outcome = _renewal(_client()).call(call)
    if outcome.ended:
        _end_session()
        return None
    return outcome.result


def _keep_alive() -> None:
    """End a session that ran out; renew the access token (and re-read the account) shortly before it expires.

    Also reads the account when it is missing and no attempt has failed yet (a run cut short between renewing
    and reading it); after a failure, only "Reload account details" tries again.
    """
    session = _session()
    if session is None:
        return
    policy = _renewal(_client())
    if policy.ran_out(session):
        _end_session()
    elif policy.due(session) or (session.account is None and not st.session_state.account_problem):
        _load_account()


# -------------------------------------------------------------------------------------------- callbacks


def _send(channel: api.Channel, address: str) -> None:
    """Request a code for ``address``; on success move to code entry with a fresh resend cooldown."""
    with st.spinner("Sending code..."):
        result = _client().send_otp(address, channel)
    if not result.ok:
        _apply_failure(result)
        return
    resend_after = api.parse_seconds(result.data.get("resend_after")) or 0
    expires_in = api.parse_seconds(result.data.get("expires_in"))
    to = result.data.get("to")
    st.session_state.update(
        stage="code",
        channel=channel,
        address=address,
        # The API's own reading of the number is what the person must recognise; the address as typed else.
        shown_to=to if isinstance(to, str) and to else _shown(address),
        expires_in=expires_in,
        # Measured from this successful send, as the API's cooldown is.
        resend_at=clock.now() + resend_after,
        blocked_until=None,
    )
    st.session_state[CODE_INPUT] = ""  # an old code is useless once a new one is on its way
    _notify("success", result.message)


def _on_send() -> None:
    if st.session_state.get(CHANNEL_INPUT) == "phone":
        typed = st.session_state.get(PHONE_INPUT) or ""
        if not typed.strip():
            _notify("warning", "Enter your phone number.")
            return
        _send("phone", phone.to_e164(typed, st.session_state.get(COUNTRY_INPUT) or phone.DEFAULT_COUNTRIES[0]))
        return
    email = (st.session_state.get(EMAIL_INPUT) or "").strip()
    if not email:
        _notify("warning", "Enter your email address.")
        return
    _send("email", email)


def _on_resend() -> None:
    _send(st.session_state.channel, st.session_state.address)


def _digits(key: str) -> str:
    """The code typed into widget ``key``: people paste codes as "123 456" or with stray spaces; the API decides
    what a valid code is."""
    return "".join((st.session_state.get(key) or "").split())


def _on_verify() -> None:
    code = _digits(CODE_INPUT)
    if not code:
        _notify("warning", "Enter the code we sent you.")
        return
    with st.spinner("Checking code..."):
        result = _client().verify_otp(st.session_state.address, code, st.session_state.channel)
    if not result.ok:
        _apply_failure(result)
        return
    st.session_state[CODE_INPUT] = ""
    challenge = twostep.Challenge.from_answer(result.data)
    if challenge is not None:
        st.session_state.update(stage="second_factor", challenge=challenge, resend_at=None, blocked_until=None)
        st.session_state[FACTOR_INPUT] = challenge.factors[0]
        st.session_state[SECOND_FACTOR_INPUT] = ""
        _notify("info", result.message)
        return
    _open_session(result)


def _open_session(result: api.ApiResult) -> None:
    """Sign in with the session of a ``verified`` answer (to the code, or to the second factor)."""
    session = Session.from_answer(result.data, clock.now())
    if session is None:
        # The code is used up, yet no session came back: only a new code helps.
        _start_again()
        _notify("error", "The sign-in service sent an unexpected answer. Please request a new code.")
        return
    _box().current = session
    channel = st.session_state.channel
    signed_in_as = result.data.get(channel)
    st.session_state.update(
        stage="signed_in",
        address=signed_in_as if isinstance(signed_in_as, str) and signed_in_as else st.session_state.address,
        challenge=None,  # used up
        account_problem=None,
        resend_at=None,
        blocked_until=None,
        notice=None,
    )
    with st.spinner("Loading your account..."):
        _load_account()


def _on_verify_second_factor() -> None:
    challenge: twostep.Challenge | None = st.session_state.challenge
    if challenge is None:  # a stale click after the sign-in ended
        return
    kind: api.SecondFactor = st.session_state.get(FACTOR_INPUT) or challenge.factors[0]
    typed = st.session_state.get(SECOND_FACTOR_INPUT) or ""
    # Authenticator codes are digits people type with spaces; a recovery code is sent as written, trimmed.
    code = _digits(SECOND_FACTOR_INPUT) if kind == "otp" else typed.strip()
    if not code:
        _notify("warning", "Enter the code from your authenticator app." if kind == "otp" else "Enter a recovery code.")
        return
    with st.spinner("Checking code..."):
        result = _client().verify_mfa(challenge.token, code, kind)
    st.session_state[SECOND_FACTOR_INPUT] = ""
    if result.status == 401 and result.code == twostep.INVALID_MFA_TOKEN:
        # Expired, spent or used: the first step has to be repeated.
        _start_again()
        _notify("warning", result.message)
    elif not result.ok:
        _apply_failure(result)
    else:
        _open_session(result)


def _on_start_over() -> None:
    _start_again()


def _on_change_address() -> None:
    # Limits are mostly per address, so a block for the old address must not hold back a new one; an
    # IP-wide limit is reported again by the API, with its own retry time.
    _start_again()  # prefilled: usually only a typo needs fixing


def _sign_out(everywhere: bool) -> None:
    """Tell the API, then forget the session here whatever it answered: signing out must always work locally."""
    box = _box()
    channel = st.session_state.channel
    if box.current is None:
        _forget_session(channel, "")
        return
    client = _client()
    with st.spinner("Signing out..."):
        outcome = _renewal(client).call(lambda token: client.sign_out(token, everywhere=everywhere))
        box.current = None  # at once, before any st call could cut this run short (see SessionBox)
    _forget_session(channel, "")
    result, refused = outcome.result, outcome.ended  # refused: the API no longer knew the session
    if result.ok:
        _notify("success", result.message)
    elif refused and everywhere:
        _notify(
            "warning",
            "Your session had already ended, so your other devices could not be signed out from here. "
            "Sign in again to sign out everywhere.",
        )
    elif refused:
        _notify("success", "You are signed out.")
    else:
        cause = "did not answer" if result.unreachable else f"answered HTTP {result.status}"
        consequence = (
            "your other devices are still signed in"
            if everywhere
            else "the session stays valid on the server until it expires"
        )
        _notify(
            "warning",
            f"You are signed out on this device, but the sign-in service could not be told (it {cause}), "
            f"so {consequence}.",
        )


def _on_sign_out() -> None:
    _sign_out(everywhere=False)


def _on_sign_out_everywhere() -> None:
    _sign_out(everywhere=True)


def _on_reload_account() -> None:
    if _session() is not None:
        with st.spinner("Loading your account..."):
            _load_account()


# -------------------------------------------------------------------------------- account view: a phone


def _on_add_phone() -> None:
    typed = st.session_state.get(LINK_PHONE_INPUT) or ""
    if not typed.strip():
        _notify("warning", "Enter the phone number to add.")
        return
    number = phone.to_e164(typed, st.session_state.get(LINK_COUNTRY_INPUT) or phone.DEFAULT_COUNTRIES[0])
    _change(twostep.Change("add_phone", number=number), "Sending code...")


def _on_link_phone() -> None:
    linking: tuple[str, str] | None = st.session_state.linking
    code = _digits(LINK_CODE_INPUT)
    if linking is None:
        return
    if not code:
        _notify("warning", "Enter the code we sent to the phone.")
        return
    _change(twostep.Change("link_phone", number=linking[0], code=code), "Checking code...")


def _on_cancel_linking() -> None:
    change: twostep.Change | None = st.session_state.step_up
    if change is not None and change.action in twostep.PHONE_CHANGES:
        st.session_state.step_up = None  # its prompt would confirm a change no longer on screen
    st.session_state.linking = None
    st.session_state.notice = None


def _on_remove_phone() -> None:
    _change(twostep.Change("remove_phone"), "Removing phone...")


# ---------------------------------------------------------------------- account view: two-step verification


def _on_start_totp() -> None:
    with st.spinner("Preparing your authenticator..."):
        result = _account_call(lambda token: _client().start_totp(token))
    if result is None:
        return
    if not result.ok:
        _apply_failure(result)
        return
    enrollment = twostep.Enrollment.from_answer(result.data)
    if enrollment is None:
        _notify("error", api.UNEXPECTED_ANSWER)
        return
    st.session_state.enrollment = enrollment
    st.session_state[TOTP_CODE_INPUT] = ""
    st.session_state.notice = None


def _on_confirm_totp() -> None:
    code = _digits(TOTP_CODE_INPUT)
    if st.session_state.enrollment is None:
        return
    if not code:
        _notify("warning", "Enter the code your authenticator app shows.")
        return
    client = _client()
    with st.spinner("Checking code..."):
        outcome = _renewal(client).call(lambda token: client.confirm_totp(token, code))
        if not outcome.ended:
            # The answer holds new tokens at the higher assurance level and the API refuses the old ones from now
            # on: kept at once (see SessionBox).
            outcome = twostep.adopt_session(_box(), outcome.result, clock.now())
    if outcome.ended:
        _end_session()
        return
    result = outcome.result
    st.session_state[TOTP_CODE_INPUT] = ""
    if not result.ok:
        _apply_failure(result)
        return
    st.session_state.update(enrollment=None, recovery_codes=twostep.recovery_codes(result.data))
    _notify("success", result.message)
    _load_account()


def _on_cancel_enrollment() -> None:
    st.session_state.enrollment = None  # nothing is active until confirmed, so there is nothing to undo
    st.session_state.notice = None


def _on_codes_saved() -> None:
    st.session_state.recovery_codes = ()  # shown once: they are gone from this UI now


# -------------------------------------------------------------- account view: changes that need a recent proof


def _step_up() -> twostep.StepUp:
    client = _client()
    return twostep.StepUp(client, _renewal(client), _box(), clock.now)


def _change_call(change: twostep.Change) -> renewal.Call:
    """The API call of ``change``, with the arguments the person gave it."""
    client = _client()
    calls: dict[twostep.SensitiveAction, renewal.Call] = {
        "remove_totp": client.remove_totp,
        "new_recovery_codes": client.new_recovery_codes,
        "add_phone": lambda token: client.add_phone(token, change.number),
        "link_phone": lambda token: client.link_phone(token, change.number, change.code),
        "remove_phone": client.remove_phone,
    }
    return calls[change.action]


def _change(change: twostep.Change, working: str) -> None:
    """Make ``change``; if the API first wants the person to confirm it is them, open the prompt that asks."""
    with st.spinner(working):
        outcome = _step_up().call(_change_call(change))
    _finish_change(change, outcome)


def _finish_change(change: twostep.Change, outcome: twostep.StepUpOutcome) -> None:
    """Show what a change came to: a request to confirm it is you (the prompt opens beside the change), a
    failure, or its success."""
    if outcome.ended:
        _end_session()
        return
    result = outcome.result
    if outcome.needs_reauthentication:
        _ask_for_proof(change)
        if outcome.proven:  # confirmed just now, yet the API asks again: say so rather than ask silently
            _notify("warning", result.message, "step_up")
        return
    st.session_state.step_up = None  # any proof is spent: what follows is the change's own answer
    if not result.ok:
        _apply_failure(result)
        return
    if change.action == "add_phone":
        to = result.data.get("to")
        shown_to = to if isinstance(to, str) and to else phone.international(change.number)
        st.session_state.linking = (change.number, shown_to)
        st.session_state[LINK_CODE_INPUT] = ""
        _notify("success", result.message)
        return  # nothing on the account changed yet
    if change.action == "link_phone":
        st.session_state.linking = None
        st.session_state[LINK_PHONE_INPUT] = ""
    elif change.action == "new_recovery_codes":
        st.session_state.recovery_codes = twostep.recovery_codes(result.data)
    _notify("success", result.message)
    _load_account()  # the identifiers or the second factor changed


def _ask_for_proof(change: twostep.Change) -> None:
    """Open the prompt for ``change`` that asks the person to confirm it is them.

    Two-step changes need the second factor itself, and so does every change on an account with an authenticator
    app; any other account confirms with a code sent to its own address, else its number. That is the API's own
    default, named here so that the button can say where the code goes.
    """
    session = _session()
    account = session.account if session is not None else None
    two_step = account.two_step if account is not None else None
    by_second_factor = change.action not in twostep.PHONE_CHANGES or (two_step is not None and two_step.totp)
    own: str = st.session_state.address  # the account's name once /me was read: its address, else its number
    proof = None if by_second_factor else twostep.CodeProof("phone" if own.startswith("+") else "email", _shown(own))
    st.session_state.step_up = replace(change, proof=proof)
    st.session_state[STEP_UP_CODE_INPUT] = ""
    st.session_state.notice = None  # the prompt says what is needed; an older notice would only distract


def _use_second_factor(change: twostep.Change, result: api.ApiResult) -> None:
    """The API says the account confirms with its second factor (it gained one since /me was read): ask for it."""
    st.session_state.step_up = replace(change, proof=None)
    st.session_state[STEP_UP_CODE_INPUT] = ""
    _notify("info", result.message, "step_up")


def _on_sensitive(action: twostep.SensitiveAction) -> None:
    _change(twostep.Change(action), "Working...")


def _on_send_proof_code() -> None:
    """Send the code that confirms it is you to the account's own address or number (again, after a cooldown)."""
    change: twostep.Change | None = st.session_state.step_up
    if change is None or change.proof is None:  # a stale click after the prompt closed or changed
        return
    proof = change.proof
    client = _client()
    with st.spinner("Sending code..."):
        result = _account_call(lambda token: client.send_reauthentication_code(token, proof.via))
    if result is None:
        return
    if result.status == 403 and result.code == twostep.USE_SECOND_FACTOR:
        _use_second_factor(change, result)
        return
    if not result.ok:
        _apply_failure(result, "step_up")
        return
    to = result.data.get("to")
    shown_to = to if isinstance(to, str) and to else proof.to
    # Measured from this successful send, as the API's cooldown is.
    resend_at = clock.now() + (api.parse_seconds(result.data.get("resend_after")) or 0)
    st.session_state.step_up = replace(change, proof=replace(proof, to=shown_to, resend_at=resend_at))
    st.session_state[STEP_UP_CODE_INPUT] = ""  # an old code is useless once a new one is on its way
    _notify("success", result.message, "step_up")


def _on_step_up() -> None:
    """Prove the code typed into the prompt, then make the change it was opened for, with the new tokens."""
    change: twostep.Change | None = st.session_state.step_up
    if change is None:
        return
    proof = change.proof
    kind: api.SecondFactor = "otp" if proof is not None else st.session_state.get(STEP_UP_FACTOR_INPUT) or "otp"
    typed = st.session_state.get(STEP_UP_CODE_INPUT) or ""
    # Codes are digits people type with spaces; a recovery code is sent as written, trimmed.
    code = _digits(STEP_UP_CODE_INPUT) if kind == "otp" else typed.strip()
    if not code:
        wanted = "the code we sent you" if proof is not None else "the code from your authenticator app"
        _notify("warning", f"Enter {wanted}." if kind == "otp" else "Enter a recovery code.", "step_up")
        return
    client = _client()
    with st.spinner("Checking code..."):
        if proof is None:
            outcome = _step_up().reauthenticate_then(code, kind, _change_call(change))
        else:
            outcome = _step_up().prove_then(
                lambda token: client.reauthenticate_by_code(token, code, proof.via), _change_call(change)
            )
    st.session_state[STEP_UP_CODE_INPUT] = ""
    result = outcome.result
    if outcome.ended or outcome.proven:
        _finish_change(change, outcome)
    elif result.status == 403 and result.code == twostep.USE_SECOND_FACTOR:
        _use_second_factor(change, result)
    else:
        _apply_failure(result, "step_up")  # the code was refused: said beside it, and the prompt stays


def _on_cancel_step_up() -> None:
    st.session_state.step_up = None
    st.session_state.notice = None


# -------------------------------------------------------------------------------------------- rendering


@st.fragment(run_every=1)
def _countdown(until: float | None, template: str) -> None:
    """Re-render the seconds left every second; at zero, rerun the whole page so its buttons re-enable."""
    seconds = _remaining(until)
    if seconds == 0:
        st.rerun()
    st.caption(template.format(seconds=seconds))


def _notice_place() -> NoticePlace:
    """Where the notice and a 429's countdown show: in the step-up prompt when they are about it and it is open,
    else at the top of the page (so that neither is ever lost with a prompt that closed)."""
    notice = st.session_state.notice
    if notice and notice[2] == "step_up" and st.session_state.step_up is not None:
        return "step_up"
    return "page"


def _render_notice(place: NoticePlace, blocked: bool) -> None:
    """The notice, and while a 429 blocks the primary actions its countdown, if they show at ``place``."""
    if _notice_place() != place:
        return
    notice = st.session_state.notice
    if notice:
        kind, text, _ = notice
        show = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[kind]
        show(_escape(text))
    if blocked:
        _countdown(st.session_state.blocked_until, "You can try again in {seconds} s.")


def _phone_fields(country_key: str, number_key: str) -> None:
    """A country picker and a number field, inside the caller's form."""
    countries = _countries()
    if st.session_state.get(country_key) not in countries:
        st.session_state[country_key] = next(iter(countries))  # e.g. after the configured list changed
    left, right = st.columns([1, 2])
    left.selectbox("Country", list(countries), key=country_key, format_func=lambda code: countries[code].label)
    right.text_input(
        "Phone number", key=number_key, type="default", autocomplete="tel-national", placeholder="415 555 0123"
    )


def _render_start_step(blocked: bool) -> None:
    st.radio(
        "Sign in with",
        ["email", "phone"],
        key=CHANNEL_INPUT,
        format_func=lambda channel: {"email": "Email", "phone": "Phone"}[channel],
        horizontal=True,
    )
    with st.form("send_form"):
        if st.session_state.get(CHANNEL_INPUT) == "phone":
            _phone_fields(COUNTRY_INPUT, PHONE_INPUT)
        else:
            st.text_input(
                "Email address",
                key=EMAIL_INPUT,
                type="email",
                validate="",  # the API's rules and messages are the ones that count
                required=True,
            )
        st.form_submit_button(
            "Send code", key="send", type="primary", on_click=_on_send, disabled=blocked, width="stretch"
        )


def _render_code_step(blocked: bool) -> None:
    by_sms = st.session_state.channel == "phone"
    expires_in = st.session_state.expires_in
    validity = f" It is valid for {_duration(expires_in)}." if expires_in else ""
    sent = "We sent a sign-in code by SMS to" if by_sms else "We emailed a sign-in code to"
    st.markdown(f"{sent} **{_escape(st.session_state.shown_to)}**.{validity}")
    with st.form("verify_form"):
        st.text_input(
            "Code",
            key=CODE_INPUT,
            placeholder="123456",
            autocomplete="one-time-code",
            required=True,
        )
        st.form_submit_button(
            "Verify", key="verify", type="primary", on_click=_on_verify, disabled=blocked, width="stretch"
        )

    resend_wait = _remaining(st.session_state.resend_at)
    left, right = st.columns(2)
    left.button(
        "Resend code",
        key="resend",
        icon=":material/refresh:",
        on_click=_on_resend,
        disabled=blocked or resend_wait > 0,
        help="Sends a new code to the same number." if by_sms else "Emails a new code to the same address.",
    )
    right.button(
        "Use a different number" if by_sms else "Use a different address",
        key="change_address",
        type="tertiary",
        on_click=_on_change_address,
    )
    if resend_wait > 0 and not blocked:
        _countdown(st.session_state.resend_at, "You can request a new code in {seconds} s.")


def _factor_picker(factors: tuple[api.SecondFactor, ...], key: str) -> api.SecondFactor:
    """The second factor to use: a choice when several are offered. Returns the one chosen."""
    if len(factors) > 1:
        names = {"otp": "Authenticator app", "recovery_code": "Recovery code"}
        st.radio("Use", factors, key=key, format_func=names.__getitem__, horizontal=True)
    chosen = st.session_state.get(key)
    return chosen if chosen in factors else factors[0]


def _second_factor_field(kind: api.SecondFactor, key: str) -> None:
    if kind == "otp":
        st.text_input("Authenticator code", key=key, placeholder="123456", autocomplete="one-time-code")
    else:
        st.text_input("Recovery code", key=key, autocomplete="off")


def _render_second_factor_step(blocked: bool) -> None:
    challenge: twostep.Challenge = st.session_state.challenge
    validity = f" within {_duration(challenge.expires_in)}" if challenge.expires_in else ""
    st.markdown(
        f"Two-step verification is on for **{_escape(st.session_state.shown_to)}**. Enter the code from your "
        f"authenticator app{validity}, or one of your recovery codes."
    )
    kind = _factor_picker(challenge.factors, FACTOR_INPUT)
    with st.form("second_factor_form"):
        _second_factor_field(kind, SECOND_FACTOR_INPUT)
        st.form_submit_button(
            "Continue",
            key="verify_second_factor",
            type="primary",
            on_click=_on_verify_second_factor,
            disabled=blocked,
            width="stretch",
        )
    st.button("Start over", key="start_over", type="tertiary", on_click=_on_start_over)


def _account_facts(account: Account) -> None:
    """The account itself, as opposed to this session; each line only when the API sent it (older APIs did not)."""
    if account.user_id:
        st.markdown("**Account ID:**")
        st.code(account.user_id, language=None, width="content")  # monospace, with a copy button
    if account.identifiers:
        listed = ", ".join(f"{_escape(_shown(each.value))} ({_escape(each.type)})" for each in account.identifiers)
        st.markdown(f"**Identifiers:** {listed}")
    if account.created_at is not None:
        st.markdown(f"**Account created:** {_utc(account.created_at)}")
    if account.last_sign_in_at is not None:
        st.markdown(f"**Last sign-in:** {_utc(account.last_sign_in_at)}")


@st.fragment(run_every=KEEP_ALIVE_SECONDS)
def _account_details() -> None:
    """Who is signed in and until when, re-rendered every few seconds so the times stay current.

    Each run first lets :func:`_keep_alive` renew the access token if it is about to expire: a tab left open
    keeps a usable session until the session itself ends.
    """
    _keep_alive()
    session = _session()
    if session is None:  # refused or ran out just now: the start screen says why
        st.rerun()
        return
    account = session.account
    with st.container(border=True):
        st.markdown(f":material/verified_user: Signed in as **{_escape(_shown(st.session_state.address))}**")
        if account is not None:
            _account_facts(account)
        if account is not None and account.signed_in_at is not None:
            st.markdown(f"**Session started:** {_utc(account.signed_in_at)}")
        if account is not None and account.aal is not None:
            proven = "proven in this session" if account.aal == 2 else "not used in this session"
            st.markdown(f"**Second factor:** {proven}")
        access_epoch = account.access_token_expires_at if account else None
        st.markdown(f"**Access token expires:** {_when(session.access_expires_at, access_epoch)}")
        st.markdown(f"**Session expires:** {_when(session.expires_at, account.expires_at if account else None)}")
        st.caption("The access token is renewed automatically shortly before it expires.")
    problem = st.session_state.account_problem
    if problem:
        st.warning(_escape(problem), icon=":material/warning:")
    if account is None:
        st.button(
            "Reload account details", key="reload_account", icon=":material/refresh:", on_click=_on_reload_account
        )


def _render_phone(account: Account, blocked: bool) -> None:
    """The account's phone: remove it, or add one (send a code to it, then enter that code).

    When the API wants the person to confirm it is them first, the prompt opens right below the form that asked,
    which stays in view to show what is being confirmed; its button waits until the prompt is done or cancelled.
    """
    st.subheader("Phone", divider="gray")
    linking: tuple[str, str] | None = st.session_state.linking
    change: twostep.Change | None = st.session_state.step_up
    confirming = change is not None and change.action in twostep.PHONE_CHANGES
    if account.phone:
        st.markdown(f"**{_escape(phone.international(account.phone))}** signs in to this account too.")
        st.button(
            "Remove phone", key="remove_phone", icon=":material/delete:", on_click=_on_remove_phone, disabled=confirming
        )
    elif linking is not None:
        st.markdown(f"We sent a code by SMS to **{_escape(linking[1])}**.")
        with st.form("link_phone_form"):
            st.text_input("Code from the SMS", key=LINK_CODE_INPUT, placeholder="123456", autocomplete="one-time-code")
            st.form_submit_button(
                "Add phone", key="link_phone", type="primary", on_click=_on_link_phone, disabled=blocked or confirming
            )
        st.button("Cancel", key="cancel_linking", type="tertiary", on_click=_on_cancel_linking)
    else:
        st.caption("Add a phone to sign in to this account by SMS code as well.")
        with st.form("add_phone_form"):
            _phone_fields(LINK_COUNTRY_INPUT, LINK_PHONE_INPUT)
            st.form_submit_button(
                "Send code to phone", key="add_phone", on_click=_on_add_phone, disabled=blocked or confirming
            )
    if change is not None and confirming:
        _render_step_up(change, blocked)


def _render_recovery_codes(codes: tuple[str, ...]) -> None:
    st.warning(
        "Save these recovery codes now: they are shown only this once. Each one signs you in once if you lose "
        "your authenticator.",
        icon=":material/key:",
    )
    text = "\n".join(codes)
    st.code(text, language=None)
    left, right = st.columns(2)
    left.download_button(
        "Download recovery codes",
        data=text + "\n",
        file_name="recovery-codes.txt",
        mime="text/plain",
        key="download_codes",
        icon=":material/download:",
        on_click="ignore",  # downloading must not rerun the page (and must not hide the codes)
    )
    right.button("I have saved them", key="codes_saved", type="primary", on_click=_on_codes_saved)


def _what(change: twostep.Change) -> str:
    """What ``change`` does, as the step-up prompt's sentence says it ("To ..., first confirm it is you")."""
    if change.action in ("add_phone", "link_phone"):
        return f"add **{_escape(phone.international(change.number))}** to your account"
    return {
        "remove_phone": "remove this phone from your account",
        "remove_totp": "remove your authenticator",
        "new_recovery_codes": "create new recovery codes",
    }[change.action]


def _render_step_up(change: twostep.Change, blocked: bool) -> None:
    """The prompt that asks the person to confirm it is them before ``change``, where the change was asked for.

    With a code sent to the account's own address or number (a button sends it, then a field takes it), or with
    the second factor: a code from the authenticator app or a recovery code. Its notices show in it.
    """
    proof = change.proof
    by_factor = "a code from your authenticator app or a recovery code"
    how = f"a code we send to **{_escape(proof.to)}**" if proof else by_factor
    st.markdown(f"To {_what(change)}, first confirm it is you with {how}.")
    _render_notice("step_up", blocked)
    if proof is not None and not proof.sent:
        st.button(
            f"Send a code to {_escape(proof.to)}",
            key="send_proof_code",
            type="primary",
            icon=":material/send:",
            on_click=_on_send_proof_code,
            disabled=blocked,
        )
    else:
        # The factor picker stays out of the form: choosing a factor must rerun to relabel the field.
        kind = _factor_picker(twostep.FACTORS, STEP_UP_FACTOR_INPUT) if proof is None else "otp"
        with st.form("step_up_form"):
            if proof is None:
                _second_factor_field(kind, STEP_UP_CODE_INPUT)
            else:
                label = "Code from the SMS" if proof.via == "phone" else "Code from the email"
                st.text_input(label, key=STEP_UP_CODE_INPUT, placeholder="123456", autocomplete="one-time-code")
            st.form_submit_button(
                "Confirm", key="confirm_step_up", type="primary", on_click=_on_step_up, disabled=blocked
            )
    if proof is not None and proof.sent:
        resend_wait = _remaining(proof.resend_at)
        st.button(
            "Send a new code",
            key="resend_proof_code",
            icon=":material/refresh:",
            on_click=_on_send_proof_code,
            disabled=blocked or resend_wait > 0,
        )
        if resend_wait > 0 and not blocked:
            _countdown(proof.resend_at, "You can request a new code in {seconds} s.")
    st.button("Cancel", key="cancel_step_up", type="tertiary", on_click=_on_cancel_step_up)


def _render_enrollment(enrollment: twostep.Enrollment, blocked: bool) -> None:
    st.markdown("Scan this QR code with your authenticator app, then enter the code it shows.")
    st.image(enrollment.qr_svg, width=220, alt="QR code of the authenticator key")
    st.caption("Cannot scan it? Enter this key in the app instead:")
    st.code(enrollment.secret, language=None, width="content")
    with st.form("confirm_totp_form"):
        st.text_input("Code from the app", key=TOTP_CODE_INPUT, placeholder="123456", autocomplete="one-time-code")
        st.form_submit_button(
            "Turn on two-step verification",
            key="confirm_totp",
            type="primary",
            on_click=_on_confirm_totp,
            disabled=blocked,
        )
    st.button("Cancel", key="cancel_enrollment", type="tertiary", on_click=_on_cancel_enrollment)


def _render_two_step(two_step: TwoStep | None, blocked: bool) -> None:
    """Two-step verification: whichever step is in progress, else its state and what can be done about it."""
    st.subheader("Two-step verification", divider="gray")
    codes: tuple[str, ...] = st.session_state.recovery_codes
    change: twostep.Change | None = st.session_state.step_up
    enrollment: twostep.Enrollment | None = st.session_state.enrollment
    if codes:
        _render_recovery_codes(codes)
    elif change is not None and change.action not in twostep.PHONE_CHANGES:
        _render_step_up(change, blocked)
    elif enrollment is not None:
        _render_enrollment(enrollment, blocked)
    elif two_step is not None and two_step.totp:
        left = two_step.recovery_codes_left
        counted = f" {left} recovery code{'s' if left != 1 else ''} left." if left is not None else ""
        st.markdown(f":material/verified: **On**: an authenticator app is asked for after the sign-in code.{counted}")
        if two_step.recovery_codes_low:
            st.warning("You are running out of recovery codes: create new ones.", icon=":material/warning:")
        left_column, right_column = st.columns(2)
        left_column.button(
            "Create new recovery codes", key="new_recovery_codes", on_click=_on_sensitive, args=("new_recovery_codes",)
        )
        right_column.button(
            "Turn off two-step verification", key="remove_totp", on_click=_on_sensitive, args=("remove_totp",)
        )
    else:
        st.caption("Off: a sign-in code alone signs you in. Add an authenticator app to ask for a second code.")
        st.button("Set up an authenticator app", key="start_totp", icon=":material/qr_code:", on_click=_on_start_totp)


def _render_account(blocked: bool) -> None:
    _account_details()
    session = _session()
    account = session.account if session is not None else None
    if account is not None:
        _render_phone(account, blocked)
    # Offered when the API describes two-step verification, or insists on it before showing the account.
    if (account is not None and account.two_step is not None) or st.session_state.enrollment_required:
        _render_two_step(account.two_step if account is not None else None, blocked)
    st.divider()
    left, right = st.columns(2)
    left.button(
        "Sign out", key="sign_out", type="primary", icon=":material/logout:", on_click=_on_sign_out, width="stretch"
    )
    right.button(
        "Sign out everywhere",
        key="sign_out_everywhere",
        icon=":material/devices:",
        on_click=_on_sign_out_everywhere,
        help="Ends every session of this account, in every browser and on every device.",
        width="stretch",
    )


def _inbox_targets() -> tuple[str, str]:
    """The address and the number (E.164) in use, to mark what the dev inbox holds for them; "" when none."""
    session = _session()
    account = session.account if session is not None else None
    linking: tuple[str, str] | None = st.session_state.linking
    if account is not None:
        return account.email or "", linking[0] if linking else account.phone or ""
    if st.session_state.stage != "start":
        address = st.session_state.address
        return (address, "") if st.session_state.channel == "email" else ("", address)
    return (st.session_state.get(EMAIL_INPUT) or "").strip(), ""


@st.fragment
def _dev_inbox_panel(url: str, email: str, number: str) -> None:
    """List the captured mails and SMS, newest first, marking those to ``email`` and ``number``.

    A fragment, so "Refresh" reloads only the inbox and leaves the sign-in form as it is. Only ever called
    when DEV_INBOX_URL is set.
    """
    # Imported here so a deployed stage, where DEV_INBOX_URL is never set, does not even load the module.
    from frontend import inbox

    head, refresh = st.columns([3, 1], vertical_alignment="center")
    head.subheader("Dev inbox")
    refresh.button("Refresh", key="inbox_refresh", icon=":material/refresh:", type="tertiary")
    st.caption("Mails and SMS captured by the local stack's embedded AWS. Never shown in a deployed stage.")
    try:
        captured = inbox.fetch_inbox(url)
    except inbox.InboxError as exc:
        st.warning(f"Dev inbox unavailable: {_escape(str(exc))}", icon=":material/warning:")
        return
    if not captured.mails and not captured.sms:
        st.caption("No mails or SMS yet.")
        return
    # The newest SMS for the number in use comes first: reading its code is what the panel is for.
    sms = sorted(captured.sms[:MAX_INBOX_ENTRIES], key=lambda each: not each.is_for(number))
    for each in sms:
        with st.container(border=True):
            mine = " :green-badge[current number]" if each.is_for(number) else ""
            st.markdown(f"**SMS to {_escape(phone.international(each.to))}**{mine}")
            st.code(each.text, language=None, wrap_lines=True)
    for mail in captured.mails[:MAX_INBOX_ENTRIES]:
        with st.container(border=True):
            mine = " :green-badge[current address]" if mail.is_for(email) else ""
            st.markdown(f"**{_escape(mail.subject) or '(no subject)'}**{mine}")
            st.caption(f"To: {_escape(', '.join(mail.to))}")
            st.code(mail.body, language=None, wrap_lines=True)


def main() -> None:
    _init_state()
    stage: Stage = st.session_state.stage
    signed_in = _session() is not None  # the tokens decide, not the stage (see SessionBox)
    title = "Your account" if signed_in else "Sign in"
    st.set_page_config(page_title=title, page_icon=":material/lock:", layout="centered")
    _expire_block()

    st.title(title)
    if not signed_in:
        st.caption("No password needed: enter your email address or phone number and we send you a one-time code.")

    blocked = _remaining(st.session_state.blocked_until) > 0
    _render_notice("page", blocked)

    if signed_in:
        _render_account(blocked)
    elif stage == "second_factor" and st.session_state.challenge is not None:
        _render_second_factor_step(blocked)
    elif stage == "code":
        _render_code_step(blocked)
    else:
        _render_start_step(blocked)

    dev_inbox_url = os.environ.get("DEV_INBOX_URL", "").strip()
    if dev_inbox_url:
        email, number = _inbox_targets()
        with st.sidebar:
            _dev_inbox_panel(dev_inbox_url, email, number)


main()
