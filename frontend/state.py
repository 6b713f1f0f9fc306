"""The UI's state, typed: what a person's browser has going on (:class:`UiState`, kept server-side under the
browser's handle, so it survives reloads and is shared by the browser's tabs) and what one tab has going on
(:class:`Tab`, in ``st.session_state``: its notice, the request it has in flight, fields to reset).

Everything is changed with plain attribute assignments, which no Streamlit rerun can interrupt (Streamlit stops
a run only at an ``st`` call): an API answer is recorded in full before the page draws anything again. That is
what makes one submit one outcome (see :mod:`frontend.ui`).

Secrets (the session's tokens, a challenge's ``mfa_token``, an enrollment's key) stay in these objects, in the
server's memory: never in the browser, the URL or a log; their types keep them out of ``repr``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from frontend import api, handle, passkey, passkey_autofill, twostep
from frontend.session import SessionBox

Step = Literal["start", "code", "second_factor"]
NoticeKind = Literal["success", "info", "warning", "error"]
# Whether the API said this account may open the admin page: "factor" is an admin whose session lacks the second
# factor the admin routes ask for (they are led to set one up or to use it).
AdminStatus = Literal["no", "yes", "factor"]
# How far an app's login request got (see LoginRequest).
LoginStage = Literal["continue", "consent", "enroll", "paused"]
TAB_KEY = "ui_tab"
T = TypeVar("T")
STATE_KEY = "ui_state"  # the UiState of a browser that sent no handle (AppTest, cookies off): this tab only


@dataclass
class SignIn:
    """A sign-in on its way: which step, by which channel, to what (as sent, and as the API showed it back)."""

    step: Step = "start"
    channel: api.Channel = "email"
    address: str = ""  # the address or E.164 number the code went to
    shown_to: str = ""  # how the page names it: the API's `to` for a number
    expires_in: int | None = None  # seconds the code stays valid, as the API said
    expires_at: float | None = None  # the clock.now() value at which it no longer is
    resend_at: float | None = None  # clock.now() value from which "Resend code" is allowed again
    challenge: twostep.Challenge | None = None  # waiting for the second factor


@dataclass(frozen=True)
class ConnectedApp:
    """An app the person let in (``GET /me/consents``): what it may see, and since when (epoch seconds)."""

    client_id: str
    name: str
    scopes: tuple[str, ...]
    granted_at: int | None


@dataclass
class AccountView:
    """What the account view has open while signed in."""

    problem: str | None = None  # why the account could not be read just now
    enrollment_required: bool = False  # /me said the session may only enroll a second factor
    linking: tuple[str, str] | None = None  # (E.164, as shown back) of the number a link code went to
    enrollment: twostep.Enrollment | None = None  # an authenticator being confirmed
    recovery_codes: tuple[str, ...] = ()  # shown until the person says they saved them
    step_up: twostep.Change | None = None  # a change waiting for the person to confirm it is them
    confirm_remove_phone: bool = False  # "Remove phone" asked; the confirmation is on screen
    admin: AdminStatus | None = None  # None until /me was read
    apps: tuple[ConnectedApp, ...] | None = None  # the apps the person let in; None until read (again)
    apps_problem: str | None = None  # why they could not be read just now
    passkeys: tuple[passkey.Passkey, ...] | None = None  # the account's passkeys; None until read (again)
    passkeys_problem: str | None = None  # why they could not be read just now


@dataclass
class LoginRequest:
    """An app's request to sign the person in (OpenID Connect): the ``login_challenge`` it sent them here with, what
    ``GET /oauth2/login`` said about it, and how far the UI got.

    ``stage``: "continue" lets the app in as soon as someone is signed in here (single sign-on included);
    "consent" waits for the person to allow what the app asks for; "enroll" for them to set up two-step
    verification, which the app asks for; "paused" for them to try again or go back (a failed answer, a
    confirmation they cancelled). ``redirect_to`` is where the API said to go next (back to the app, with a code or
    an error): the page goes there and forgets the request.
    """

    challenge: str = field(repr=False)
    client_name: str = ""  # "" until the API named the app
    scopes: tuple[str, ...] = ()
    prompt: tuple[str, ...] = ()  # the app's OpenID Connect prompt values ("none", "login", ...)
    two_factors: bool = False  # the app's acr_values ask for two factors (AAL2)
    stage: LoginStage = "continue"
    redirect_to: str | None = field(default=None, repr=False)  # it carries the authorization code
    accepted: bool = False  # redirect_to lets the app in (else it tells the app the person did not)


@dataclass
class AdminView:
    """What the admin page has open: the account card looked up, the action being confirmed, whether the admin is
    asked for a fresh authenticator code before it."""

    card: dict[str, Any] | None = None  # the API's `user` object
    action: str | None = None  # one of frontend.admin_api.ACTIONS
    reauthenticating: bool = False


@dataclass
class UiState:
    """Everything one browser has going on: the session's tokens (in ``box``), the sign-in on its way or the
    account view, a 429's block, and the login request of an app that sent the person here."""

    box: SessionBox = field(default_factory=SessionBox)
    sign_in: SignIn = field(default_factory=SignIn)
    account: AccountView = field(default_factory=AccountView)
    admin: AdminView = field(default_factory=AdminView)
    name: str = ""  # who is signed in, as the page names them (the account's address, else its number)
    blocked_until: float | None = None  # clock.now() value until which a 429 forbids the primary actions
    login: LoginRequest | None = None  # an app's login request this browser was sent here with
    # The API said its stage offers no passkeys (a deployed stage before its domain is set): their buttons go.
    # Kept across sign-ins, since it is the stage's setting, not the account's.
    passkeys_off: bool = False
    # The sign-in ceremony the card's passkey autofill runs, shared by the browser's tabs so that a view, a reload or
    # a rerun does not cost another (frontend/passkey_autofill.py); or why none is asked for yet.
    autofill: passkey_autofill.Offer | passkey_autofill.Refused | None = None

    def reset(self, sign_in: SignIn | None = None) -> None:
        """Forget the session and whatever was open, in place (other tabs hold this object too)."""
        self.box.current = None
        self.sign_in = sign_in or SignIn()
        self.account = AccountView()
        self.admin = AdminView()
        self.name = ""
        self.blocked_until = None


@dataclass(frozen=True)
class Notice:
    """A message and where it shows: ``place`` names the form or button it concerns (see the views), ``field``
    the widget it is about, which is marked too."""

    kind: NoticeKind
    text: str
    place: str
    field: str | None = None


@dataclass(frozen=True)
class Pending:
    """A request a button asked for, run once by the page below that (now disabled) button: ``work`` calls the API
    and records the outcome with plain assignments, no ``st`` calls."""

    action: str
    working: str  # the spinner's words
    work: Callable[[], None]


@dataclass
class Tab:
    """What one browser tab has going on; a reload starts a new one."""

    notice: Notice | None = None
    pending: Pending | None = None
    focus: str | None = None  # the widget to move focus to once drawn
    fields: dict[str, Any] = field(default_factory=dict)  # widget values to set before the next run draws them
    checked: bool = False  # this tab asked the API whether the session it found still stands
    # The WebAuthn ceremony this tab's passkey button is running: its options go to this tab's browser only.
    ceremony: passkey.Ceremony | None = None
    # Whether the sign-in card offers the passkey in the email field's autofill: off in a tab that signed out, or
    # whose autofill answer the API refused, until it is reloaded (see frontend/passkey_autofill.py).
    autofill: bool = True


# The handles' states, in this process's memory (see frontend.handle). A module of its own is imported once per
# process, so every session's script runs see the same store.
STORE: handle.HandleStore[UiState] = handle.HandleStore(UiState, precious=lambda state: state.box.current is not None)


def browser_handle() -> str | None:
    """The handle of the browser this run serves, if it sent a well-formed one."""
    url = st.context.url or ""
    return handle.from_cookies(st.context.cookies, https=url.startswith("https:"))


def ui() -> UiState:
    """The state of this browser: under its handle when it sent one, else this tab's own."""
    found = browser_handle()
    if found is not None:
        return STORE.get(found)
    return _session_object(STATE_KEY, UiState)


def forget() -> UiState:
    """Drop this browser's state (sign-out, a session the API ended) and start a fresh one in its place.

    Other tabs of the browser still hold the old object, emptied by :meth:`UiState.reset`: they show the sign-in
    page on their next run, as a reload would.
    """
    state = ui()
    login = state.login
    state.reset()
    found = browser_handle()
    if found is not None:
        STORE.forget(found)
    fresh = ui()
    # An app's login request is the browser's, not the session's: signing in again, as anyone, continues it. So is
    # the autofill's open ceremony, which no session holds.
    fresh.login, fresh.autofill = login, state.autofill
    return fresh


def tab() -> Tab:
    return _session_object(TAB_KEY, Tab)


_local = threading.local()


def _session_object(key: str, make: Callable[[], T]) -> T:
    """The object kept in ``st.session_state[key]``, made on first use, read from ``st.session_state`` once per
    script run: reading ``st.session_state`` is a point at which Streamlit may stop the run for a newer one, and an
    API answer must be recorded without passing one (see the module doc). The run's context tells runs apart."""
    context = get_script_run_ctx()
    cached: dict[str, Any] = getattr(_local, "objects", {})
    if getattr(_local, "context", None) is not context:
        cached = {}
        _local.context, _local.objects = context, cached
    if key not in cached:
        if key not in st.session_state:
            st.session_state[key] = make()
        cached[key] = st.session_state[key]
    found: T = cached[key]
    return found
