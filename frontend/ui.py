"""What every view shares: the API client, the one way to run a request from a button, notices where the eye is,
countdowns, focus and field attributes, and the small formatting of times and text.

**One submit, one outcome.** A button's callback does not call the API: :func:`request` queues the work in the
tab's state, unless a request is already in flight, in which case the click is dropped. The page then draws the
button disabled and :func:`perform`, right below it, runs the work under a spinner and reruns. The work records
the API's answer with plain assignments before any ``st`` call, so a second click that interrupts the run
(Streamlit reruns at its next ``st`` call) finds the outcome already there and a state in which its own callback
no longer applies: it never repeats a request that succeeded, so a right code is never sent twice.
"""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import streamlit as st

from frontend import api, clock, passkey, phone
from frontend.state import Notice, NoticeKind, Pending, tab, ui


def client() -> api.OtpClient:
    secrets: dict[str, object] | None
    try:
        secrets = {"api_url": st.secrets["api_url"]} if "api_url" in st.secrets else None
    except FileNotFoundError:  # no secrets.toml at all: Streamlit raises instead of returning nothing
        secrets = None
    return api.client_from_env(secrets)


# -------------------------------------------------------------------------------------------- requests


def request(action: str, working: str, work: Callable[[], None]) -> None:
    """From a button's callback: run ``work`` once, below the button ``action`` (see the module doc).

    A click while another request of this tab is in flight is dropped: it is the same person pressing twice.
    """
    current = tab()
    if current.pending is not None:
        return
    current.pending = Pending(action, working, work)


def busy() -> bool:
    """True while this tab has a request queued or running: its buttons are drawn disabled."""
    return tab().pending is not None


def perform(action: str | None = None) -> None:
    """Run the queued request of button ``action`` here, under a spinner, then rerun to show its outcome.

    ``None`` runs whatever is queued: the page calls it last, for a request whose button is no longer drawn
    (another tab moved the state on meanwhile).
    """
    current = tab()
    pending = current.pending
    if pending is None or (action is not None and pending.action != action):
        return
    with st.spinner(pending.working):
        try:
            pending.work()
        finally:
            current.pending = None  # before any st call: a rerun here must not run it again
    st.rerun()


# -------------------------------------------------------------------------------------------- notices


def notify(kind: NoticeKind, text: str, place: str, field: str | None = None) -> None:
    tab().notice = Notice(kind, text, place, field)


def clear_notice() -> None:
    tab().notice = None


def fail(result: api.ApiResult, place: str, field: str | None = None) -> None:
    """Show a failed call's message at ``place`` (about ``field``); a 429 with a retry time also blocks the primary
    actions until then, and its countdown shows there too."""
    if result.status != 429:
        notify("error", result.message, place, field)
        return
    if result.retry_after:
        ui().blocked_until = clock.now() + result.retry_after
    notify("warning", result.message, place, field)


def remaining(until: float | None) -> int:
    """Whole seconds left until ``until`` (a clock.now() value), rounded up so 0 means "now allowed"."""
    if until is None:
        return 0
    return max(0, math.ceil(until - clock.now()))


def blocked() -> bool:
    return remaining(ui().blocked_until) > 0


def expire_block() -> None:
    """Lift a 429 block whose time has passed, together with its (now outdated) message."""
    state = ui()
    if state.blocked_until is not None and remaining(state.blocked_until) == 0:
        state.blocked_until = None
        notice = tab().notice
        if notice is not None and notice.kind == "warning":
            clear_notice()


def show_notice(place: str) -> None:
    """The notice, and while a 429 blocks the primary actions its countdown, if they belong at ``place``."""
    notice = tab().notice
    if notice is None or notice.place != place:
        return
    show = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}[notice.kind]
    show(escape(notice.text), icon=_ICONS[notice.kind])
    if blocked():
        countdown(ui().blocked_until, "You can try again in {seconds} s.")


_ICONS = {
    "success": ":material/check_circle:",
    "info": ":material/info:",
    "warning": ":material/warning:",
    "error": ":material/error:",
}


def field_icon(key: str) -> str | None:
    """The icon that marks field ``key`` while the notice is about it (the field keeps what was typed)."""
    notice = tab().notice
    return ":material/error:" if notice is not None and notice.field == key and notice.kind != "success" else None


def code_field(label: str, key: str) -> None:
    """A field for a one-time code: the browser's one-time-code autofill, marked while the notice is about it
    (:func:`page_script` adds the number pad). It takes what people type, "123 456" included."""
    st.text_input(
        label, key=key, placeholder="123456", autocomplete="one-time-code", max_chars=20, icon=field_icon(key)
    )


@st.fragment(run_every=1)
def countdown(until: float | None, template: str) -> None:
    """Re-render the seconds left every second; at zero, rerun the whole page so its buttons re-enable."""
    seconds = remaining(until)
    if seconds == 0:
        st.rerun()
    st.caption(template.format(seconds=seconds))


# ------------------------------------------------------------------------------------ fields and focus


def apply_field_values() -> None:
    """Set the widget values the last request asked for (a field to empty, a form to prefill), before any widget
    is drawn: Streamlit refuses to change a widget's value once the widget exists in the run."""
    current = tab()
    if current.fields:
        st.session_state.update(current.fields)
        current.fields = {}


def set_field(key: str, value: object) -> None:
    tab().fields[key] = value


def focus(key: str) -> None:
    """Move the keyboard focus to widget ``key`` (a field, or a button) once the page has drawn it (after "Send
    code": the code field)."""
    tab().focus = key


def page_script() -> None:
    """A small script for what Streamlit's widgets cannot say: ``inputmode="numeric"`` (the phone's number pad) on
    the code fields, which Streamlit gives one-time-code autofill, and the focus a request asked for. It runs in
    the page, sees only the DOM (the session handle is ``HttpOnly``), and waits for the elements, which may be
    drawn after it."""
    current = tab()
    target, current.focus = current.focus, None
    script = _SCRIPT.replace("__FOCUS__", json.dumps(target))
    # A request for focus makes the element new, so the browser runs it again even when the field is the same.
    nonce = f"<!-- {secrets.token_hex(4)} -->" if target else ""
    st.html(f"{nonce}<script>{script}</script>", unsafe_allow_javascript=True, width="content")


_SCRIPT = """
(() => {
  const focus = __FOCUS__;
  // Code fields are those Streamlit gives one-time-code autofill; a recovery code (letters) takes the same
  // place when chosen instead, so the keypad hint follows the attribute both ways.
  const mark = () => {
    for (const input of document.querySelectorAll('input[autocomplete="one-time-code"]:not([inputmode])')) {
      input.setAttribute("inputmode", "numeric");
    }
    for (const input of document.querySelectorAll('input[inputmode="numeric"]:not([autocomplete="one-time-code"])')) {
      input.removeAttribute("inputmode");
    }
  };
  if (!window.otpCodeFields) {  // once per page: the fields come and go with reruns
    window.otpCodeFields = new MutationObserver(mark);
    window.otpCodeFields.observe(document.body, {childList: true, subtree: true, attributes: true,
                                                 attributeFilter: ["autocomplete"]});
  }
  mark();
  let tries = 0;
  const move = () => {
    const wanted = document.querySelector(
      `.st-key-${focus} input:not([disabled]), .st-key-${focus} button:not([disabled])`);
    if (wanted) { wanted.focus(); } else if (++tries < 100) { setTimeout(move, 50); }
  };
  if (focus) { move(); }
})();
"""


# -------------------------------------------------------------------------------------------- formatting


def escape(text: str) -> str:
    """Neutralise Markdown in text that comes from people or the API, so it is shown literally."""
    return "".join(f"\\{char}" if char in "\\`*_[]<>#|~$:" else char for char in text)


def countries() -> dict[str, phone.Country]:
    return {country.code: country for country in phone.countries(os.environ)}


def shown(address: str) -> str:
    """An address as is, a number (E.164, as the API gives them) in international format."""
    return phone.international(address) if address.startswith("+") else address


def digits(key: str) -> str:
    """The code typed into widget ``key`` without spaces: people paste codes as "123 456"; the API decides what a
    valid code is."""
    return "".join((st.session_state.get(key) or "").split())


def duration(seconds: int) -> str:
    if seconds % 60 == 0 and seconds >= 60:
        minutes = seconds // 60
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds} seconds"


def relative(seconds: float) -> str:
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


def utc(epoch: float, seconds: bool = False) -> str:
    """A time in UTC, to the minute, or to the second where the order of events matters (the audit trail)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def when(until: float | None, epoch: int | None) -> str:
    """When something runs out: relative to clock.now() (from the API's own durations) plus the API's UTC time."""
    parts = []
    if until is not None:
        parts.append(relative(until - clock.now()))
    if epoch is not None:
        parts.append(f"({utc(epoch)})" if parts else utc(epoch))
    return " ".join(parts) or "unknown"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def keep_ceremony(result: api.ApiResult, place: str) -> None:
    """An answer to a request for passkey options: its ceremony kept for the tab's button to run on the next run,
    else why not, said at ``place``."""
    ceremony = passkey.ceremony_from_answer(result.data, "get") if result.ok else None
    if not result.ok:
        fail(result, place)
    elif ceremony is None:
        notify("error", api.UNEXPECTED_ANSWER, place)
    else:
        tab().ceremony = ceremony
        clear_notice()


def passkey_answer(
    event: passkey.Credential | passkey.Failure, kind: passkey.Kind, place: str
) -> tuple[passkey.Ceremony, Mapping[str, Any]] | None:
    """The tab's open ceremony of ``kind`` and the browser's credential for it, the ceremony spent whatever comes
    of it; None for an answer to a ceremony this tab no longer runs, or a refusal (said at ``place``)."""
    current = tab()
    ceremony = current.ceremony
    if ceremony is None or ceremony.kind != kind or event.request != ceremony.request:
        return None
    current.ceremony = None
    if isinstance(event, passkey.Failure):
        notify("warning", passkey.failure_message(event, kind), place)
        return None
    return ceremony, event.credential
