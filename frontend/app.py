"""Streamlit sign-in page: email address -> one-time code -> signed in.

Run from the repository root with ``streamlit run frontend/app.py``. Configuration (no secrets are held here):

- ``OTP_API_URL``: base URL of the sign-in API (else ``st.secrets["api_url"]``, else http://127.0.0.1:8000).
- ``DEV_INBOX_URL``: local stack only; moto's ``/moto-api/data.json``. When set, a sidebar lists the captured
  mails. When unset (every deployed stage) the inbox code path is never entered.

All state lives in ``st.session_state``; widget callbacks call the API and update that state, and the script
body only renders it. That keeps every API call tied to exactly one click.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Literal

# `streamlit run frontend/app.py` puts frontend/ on sys.path and AppTest puts nothing there; importing the
# `frontend` package from the repository root works the same in both.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import streamlit as st  # noqa: E402

from frontend import api, clock  # noqa: E402

Stage = Literal["email", "code", "signed_in"]
NoticeKind = Literal["success", "info", "warning", "error"]

# Session-state keys. Widget keys are the two inputs; everything else is written only by callbacks.
EMAIL_INPUT = "email_input"
CODE_INPUT = "code_input"
_DEFAULTS: dict[str, object] = {
    "stage": "email",  # Stage
    "email": "",  # the address the code went to / that is signed in
    "expires_in": None,  # seconds a sent code stays valid, as the API said
    "resend_at": None,  # clock.now() value from which "Resend code" is allowed again
    "blocked_until": None,  # clock.now() value until which a 429 forbids the primary actions
    "notice": None,  # (NoticeKind, text) shown above the current step
}
MAX_INBOX_MAILS = 20


# ---------------------------------------------------------------------------------------------- helpers


def _init_state() -> None:
    for key, value in _DEFAULTS.items():
        st.session_state.setdefault(key, value)


def _remaining(until: float | None) -> int:
    """Whole seconds left until ``until`` (a clock.now() value), rounded up so 0 means "now allowed"."""
    if until is None:
        return 0
    return max(0, math.ceil(until - clock.now()))


def _escape(text: str) -> str:
    """Neutralise Markdown in text that comes from people or the API, so it is shown literally."""
    return "".join(f"\\{char}" if char in "\\`*_[]<>#|~$:" else char for char in text)


def _notify(kind: NoticeKind, text: str) -> None:
    st.session_state.notice = (kind, text)


def _client() -> api.OtpClient:
    secrets: dict[str, object] | None
    try:
        secrets = {"api_url": st.secrets["api_url"]} if "api_url" in st.secrets else None
    except FileNotFoundError:  # no secrets.toml at all: Streamlit raises instead of returning nothing
        secrets = None
    return api.client_from_env(secrets)


def _apply_failure(result: api.ApiResult) -> None:
    """Show a failed call's message; a 429 with a retry time also blocks the primary actions until then."""
    if result.status != 429:
        _notify("error", result.message)
        return
    if result.retry_after:
        st.session_state.blocked_until = clock.now() + result.retry_after
    _notify("warning", result.message)


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


# -------------------------------------------------------------------------------------------- callbacks


def _send(email: str) -> None:
    """Request a code for ``email``; on success move to code entry with a fresh resend cooldown."""
    with st.spinner("Sending code..."):
        result = _client().send_otp(email)
    if not result.ok:
        _apply_failure(result)
        return
    resend_after = api.parse_seconds(result.data.get("resend_after")) or 0
    expires_in = api.parse_seconds(result.data.get("expires_in"))
    st.session_state.update(
        stage="code",
        email=email,
        expires_in=expires_in,
        # Measured from this successful send, as the API's cooldown is.
        resend_at=clock.now() + resend_after,
        blocked_until=None,
    )
    st.session_state[CODE_INPUT] = ""  # an old code is useless once a new one is on its way
    _notify("success", result.message)


def _on_send() -> None:
    email = (st.session_state.get(EMAIL_INPUT) or "").strip()
    if not email:
        _notify("warning", "Enter your email address.")
        return
    _send(email)


def _on_resend() -> None:
    _send(st.session_state.email)


def _on_verify() -> None:
    # People paste codes as "123 456" or with stray spaces; the API decides what a valid code is.
    code = "".join((st.session_state.get(CODE_INPUT) or "").split())
    if not code:
        _notify("warning", "Enter the code from the email.")
        return
    with st.spinner("Checking code..."):
        result = _client().verify_otp(st.session_state.email, code)
    if not result.ok:
        _apply_failure(result)
        return
    signed_in_as = result.data.get("email")
    st.session_state.update(
        stage="signed_in",
        email=signed_in_as if isinstance(signed_in_as, str) and signed_in_as else st.session_state.email,
        resend_at=None,
        blocked_until=None,
        notice=None,
    )
    st.session_state[CODE_INPUT] = ""


def _on_change_address() -> None:
    # Limits are mostly per address, so a block for the old address must not hold back a new one; an
    # IP-wide limit is reported again by the API, with its own retry time.
    previous = st.session_state.email
    st.session_state.update(stage="email", resend_at=None, blocked_until=None, notice=None)
    st.session_state[EMAIL_INPUT] = previous  # prefilled, usually only a typo needs fixing
    st.session_state[CODE_INPUT] = ""


def _on_sign_out() -> None:
    st.session_state.update(_DEFAULTS)
    st.session_state[EMAIL_INPUT] = ""
    st.session_state[CODE_INPUT] = ""


# -------------------------------------------------------------------------------------------- rendering


@st.fragment(run_every=1)
def _countdown(until: float, template: str) -> None:
    """Re-render the seconds left every second; at zero, rerun the whole page so its buttons re-enable."""
    seconds = _remaining(until)
    if seconds == 0:
        st.rerun()
    st.caption(template.format(seconds=seconds))


def _render_notice() -> None:
    notice = st.session_state.notice
    if not notice:
        return
    kind, text = notice
    show = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[kind]
    show(_escape(text))


def _render_email_step(blocked: bool) -> None:
    with st.form("send_form"):
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
    email = st.session_state.email
    expires_in = st.session_state.expires_in
    validity = f" It is valid for {_duration(expires_in)}." if expires_in else ""
    st.markdown(f"We emailed a sign-in code to **{_escape(email)}**.{validity}")
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
        help="Emails a new code to the same address.",
    )
    right.button(
        "Use a different address", key="change_address", type="tertiary", on_click=_on_change_address
    )
    if resend_wait > 0 and not blocked:
        _countdown(st.session_state.resend_at, "You can request a new code in {seconds} s.")


def _render_signed_in() -> None:
    st.success(f"Signed in as **{_escape(st.session_state.email)}**", icon=":material/verified_user:")
    st.button("Sign out", key="sign_out", on_click=_on_sign_out)


@st.fragment
def _dev_inbox_panel(url: str, address: str) -> None:
    """List the captured mails, newest first, marking those to ``address``.

    A fragment, so "Refresh" reloads only the inbox and leaves the sign-in form as it is. Only ever called
    when DEV_INBOX_URL is set.
    """
    # Imported here so a deployed stage, where DEV_INBOX_URL is never set, does not even load the module.
    from frontend import inbox

    head, refresh = st.columns([3, 1], vertical_alignment="center")
    head.subheader("Dev inbox")
    refresh.button("Refresh", key="inbox_refresh", icon=":material/refresh:", type="tertiary")
    st.caption("Mails captured by the local stack's embedded AWS. Never shown in a deployed stage.")
    try:
        mails = inbox.fetch_mails(url)
    except inbox.InboxError as exc:
        st.warning(f"Dev inbox unavailable: {_escape(str(exc))}", icon=":material/warning:")
        return
    if not mails:
        st.caption("No mails yet.")
        return
    for mail in mails[:MAX_INBOX_MAILS]:
        with st.container(border=True):
            mine = " :green-badge[current address]" if mail.is_for(address) else ""
            st.markdown(f"**{_escape(mail.subject) or '(no subject)'}**{mine}")
            st.caption(f"To: {_escape(', '.join(mail.to))}")
            st.code(mail.body, language=None, wrap_lines=True)


def main() -> None:
    st.set_page_config(page_title="Sign in", page_icon=":material/lock:", layout="centered")
    _init_state()
    _expire_block()

    st.title("Sign in")
    st.caption("No password needed: enter your email address and we send you a one-time code.")

    _render_notice()
    blocked = _remaining(st.session_state.blocked_until) > 0
    if blocked:
        _countdown(st.session_state.blocked_until, "You can try again in {seconds} s.")

    stage: Stage = st.session_state.stage
    if stage == "signed_in":
        _render_signed_in()
    elif stage == "code":
        _render_code_step(blocked)
    else:
        _render_email_step(blocked)

    dev_inbox_url = os.environ.get("DEV_INBOX_URL", "").strip()
    if dev_inbox_url:
        address = st.session_state.email or (st.session_state.get(EMAIL_INPUT) or "")
        with st.sidebar:
            _dev_inbox_panel(dev_inbox_url, address.strip())


main()
