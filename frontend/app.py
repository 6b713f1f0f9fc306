"""Streamlit sign-in page: email address -> one-time code -> account view (who is signed in, until when).

Run from the repository root with ``streamlit run frontend/app.py``. Configuration (no secrets are held here):

- ``OTP_API_URL``: base URL of the sign-in API (else ``st.secrets["api_url"]``, else http://127.0.0.1:8000).
- ``DEV_INBOX_URL``: local stack only; the embedded AWS's ``/_dev/inbox``. When set, a sidebar lists the captured
  mails. When unset (every deployed stage) the inbox code path is never entered.

All state lives in ``st.session_state``; widget callbacks call the API and update that state, and the script
body only renders it. That keeps every API call tied to exactly one click, with one exception tied to the clock:
the account view renews the access token shortly before it expires (see :func:`_keep_alive`).

Session tokens live only in ``st.session_state`` (see :mod:`frontend.session`): never in query parameters,
never logged, never rendered.
"""

from __future__ import annotations

import math
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

# `streamlit run frontend/app.py` puts frontend/ on sys.path and AppTest puts nothing there; importing the
# `frontend` package from the repository root works the same in both.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import streamlit as st  # noqa: E402

from frontend import api, clock, renewal  # noqa: E402
from frontend.session import Account, Session, SessionBox  # noqa: E402

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
    "account_problem": None,  # why the account could not be read or renewed just now, shown in the account view
}
# The SessionBox holding the Session while signed in (tokens, when they run out, the account details). Not in
# _DEFAULTS: it is created once per browser session and then only changed in place.
SESSION_BOX = "session_box"
MAX_INBOX_MAILS = 20
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


def _forget_session(prefill: str) -> None:
    """Back to the start screen with no trace of the session (tokens included); ``prefill`` the address."""
    _box().current = None
    st.session_state.update(_DEFAULTS)
    st.session_state[EMAIL_INPUT] = prefill
    st.session_state[CODE_INPUT] = ""


def _end_session() -> None:
    """The API refused the session (or it ran out): start again, with the address prefilled."""
    _forget_session(st.session_state.email)
    _notify("warning", SESSION_ENDED)


def _renewal(client: api.OtpClient) -> renewal.TokenRenewal:
    return renewal.TokenRenewal(client, _box(), clock.now)


def _load_account() -> api.ApiResult:
    """Read the account (``GET /me``) into the session; a failure is kept for the account view to show.

    A session the API refused on the way ends here (the start screen then says why).
    """
    client = _client()
    box = _box()
    outcome = _renewal(client).call(client.me)
    result = outcome.result
    if outcome.ended:
        _end_session()
        return result
    account = Account.from_answer(result.data) if result.ok else None
    if account is None:
        st.session_state.account_problem = result.message if not result.ok else api.UNEXPECTED_ANSWER
        return result
    session = box.current
    assert session is not None, "a session that did not end is still in the box"
    box.current = session.with_account(account)  # before any st call, like the tokens (see SessionBox)
    st.session_state.email = account.email
    st.session_state.account_problem = None
    return result


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
    st.session_state[CODE_INPUT] = ""
    session = Session.from_answer(result.data, clock.now())
    if session is None:
        # The code is used up, yet no session came back: only a new code helps.
        st.session_state.update(stage="email", resend_at=None, blocked_until=None)
        st.session_state[EMAIL_INPUT] = st.session_state.email
        _notify("error", "The sign-in service sent an unexpected answer. Please request a new code.")
        return
    _box().current = session
    signed_in_as = result.data.get("email")
    st.session_state.update(
        stage="signed_in",
        email=signed_in_as if isinstance(signed_in_as, str) and signed_in_as else st.session_state.email,
        account_problem=None,
        resend_at=None,
        blocked_until=None,
        notice=None,
    )
    with st.spinner("Loading your account..."):
        _load_account()


def _on_change_address() -> None:
    # Limits are mostly per address, so a block for the old address must not hold back a new one; an
    # IP-wide limit is reported again by the API, with its own retry time.
    previous = st.session_state.email
    st.session_state.update(stage="email", resend_at=None, blocked_until=None, notice=None)
    st.session_state[EMAIL_INPUT] = previous  # prefilled, usually only a typo needs fixing
    st.session_state[CODE_INPUT] = ""


def _sign_out(everywhere: bool) -> None:
    """Tell the API, then forget the session here whatever it answered: signing out must always work locally."""
    box = _box()
    if box.current is None:
        _forget_session("")
        return
    client = _client()
    with st.spinner("Signing out..."):
        outcome = _renewal(client).call(lambda token: client.sign_out(token, everywhere=everywhere))
        box.current = None  # at once, before any st call could cut this run short (see SessionBox)
    _forget_session("")
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


def _account_facts(account: Account) -> None:
    """The account itself, as opposed to this session; each line only when the API sent it (older APIs did not)."""
    if account.user_id:
        st.markdown("**Account ID:**")
        st.code(account.user_id, language=None, width="content")  # monospace, with a copy button
    if account.identifiers:
        listed = ", ".join(f"{_escape(each.value)} ({_escape(each.type)})" for each in account.identifiers)
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
        st.markdown(f":material/verified_user: Signed in as **{_escape(st.session_state.email)}**")
        if account is not None:
            _account_facts(account)
        if account is not None and account.signed_in_at is not None:
            st.markdown(f"**Session started:** {_utc(account.signed_in_at)}")
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


def _render_account() -> None:
    _account_details()
    left, right = st.columns(2)
    left.button(
        "Sign out", key="sign_out", type="primary", icon=":material/logout:", on_click=_on_sign_out, width="stretch"
    )
    right.button(
        "Sign out everywhere",
        key="sign_out_everywhere",
        icon=":material/devices:",
        on_click=_on_sign_out_everywhere,
        help="Ends every session of this address, in every browser and on every device.",
        width="stretch",
    )


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
    _init_state()
    stage: Stage = st.session_state.stage
    signed_in = _session() is not None  # the tokens decide, not the stage (see SessionBox)
    title = "Your account" if signed_in else "Sign in"
    st.set_page_config(page_title=title, page_icon=":material/lock:", layout="centered")
    _expire_block()

    st.title(title)
    if not signed_in:
        st.caption("No password needed: enter your email address and we send you a one-time code.")

    _render_notice()
    blocked = _remaining(st.session_state.blocked_until) > 0
    if blocked:
        _countdown(st.session_state.blocked_until, "You can try again in {seconds} s.")

    if signed_in:
        _render_account()
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
