"""The session's life as the views share it: opening it from a ``verified`` answer, reading the account, keeping the
tokens renewed, ending it (when the API refuses it, at sign-out) and whether the account may open the admin page.
No widgets here; notices are left for the views to place.

The calls run inside a request's work (:func:`frontend.ui.request`) or the account view's keep-alive, and write
their outcome into :class:`frontend.state.UiState` with plain assignments before any ``st`` call.
"""

from __future__ import annotations

from streamlit.runtime.scriptrunner import get_script_run_ctx

from frontend import api, clock, renewal, twostep, ui
from frontend.session import Account, Session
from frontend.state import SignIn, forget, tab
from frontend.state import ui as state

SESSION_ENDED = "Your session has ended, please sign in again."
# Where the start page shows why it is back (the session ended, a sign-out): above its form.
START = "start"
# Prefilled fields of the start form, set when the page returns to it.
CHANNEL_INPUT, EMAIL_INPUT, PHONE_INPUT = "channel_input", "email_input", "phone_input"


def token_renewal(client: renewal.TokenApi | None = None) -> renewal.TokenRenewal:
    return renewal.TokenRenewal(client or ui.client(), state().box, clock.now)


def signed_in() -> bool:
    """The tokens decide, not a step: a session the API refused is gone from the box."""
    return state().box.current is not None


def start_again(channel: api.Channel | None = None, prefill: str | None = None) -> None:
    """Forget everything (tokens, mfa_token, key, recovery codes) and return to the start form, prefilled with how
    and as whom the person was signing in (an address, or a number in international format), so trying again is
    one click."""
    current = state()
    channel = channel or current.sign_in.channel
    prefill = ui.shown(current.name or current.sign_in.address) if prefill is None else prefill
    fresh = forget()
    fresh.sign_in = SignIn(channel=channel, address=prefill)
    _prefill_start_form(channel, prefill)


def _prefill_start_form(channel: api.Channel, prefill: str) -> None:
    ui.set_field(CHANNEL_INPUT, channel)
    ui.set_field(EMAIL_INPUT, prefill if channel == "email" else "")
    ui.set_field(PHONE_INPUT, prefill if channel == "phone" else "")


def end_session() -> None:
    """The API refused the session (or it ran out): start again, with the address or number prefilled."""
    start_again()
    ui.notify("warning", SESSION_ENDED, START)


def open_session(result: api.ApiResult) -> None:
    """Sign in with the session of a ``verified`` answer (to the code, or to the second factor)."""
    current = state()
    session = Session.from_answer(result.data, clock.now())
    if session is None:
        # The code is used up, yet no session came back: only a new code helps.
        start_again()
        ui.notify("error", "The sign-in service sent an unexpected answer. Please request a new code.", START)
        return
    current.box.current = session  # first: the tokens are the session (see SessionBox)
    signed_in_as = result.data.get(current.sign_in.channel)
    current.name = signed_in_as if isinstance(signed_in_as, str) and signed_in_as else current.sign_in.address
    current.sign_in = SignIn(channel=current.sign_in.channel)
    current.blocked_until = None
    tab().checked = True  # the session is brand new: nothing to check on this tab
    ui.clear_notice()
    load_account()


def load_account() -> None:
    """Read the account (``GET /me``) into the session; a failure is kept for the account view to show.

    A session the API refused on the way ends here (the start page then says why). A session that may only enroll
    a second factor (403 ``mfa_enrollment_required``) is marked so, and the account view offers that. Whether the
    account may open the admin page is read from the same answer.
    """
    current = state()
    client = ui.client()
    outcome = token_renewal(client).call(client.me)
    result = outcome.result
    if outcome.ended:
        end_session()
        return
    account = Account.from_answer(result.data) if result.ok else None
    if account is None:
        current.account.problem = result.message if not result.ok else api.UNEXPECTED_ANSWER
        current.account.enrollment_required = result.status == 403 and result.code == twostep.ENROLLMENT_REQUIRED
        return
    session = current.box.current
    assert session is not None, "a session that did not end is still in the box"
    current.box.current = session.with_account(account)  # before anything else, like the tokens (see SessionBox)
    current.name = account.name
    current.account.problem = None
    current.account.enrollment_required = False
    # /me says whether the account is an admin; the admin routes open to it once its session has the second factor.
    current.account.admin = ("yes" if account.aal == 2 else "factor") if account.admin else "no"


def account_call(call: renewal.Call) -> api.ApiResult | None:
    """Run an account-view call for the session, renewing on the way; ``None`` once the session has ended (the
    start page then says why)."""
    outcome = token_renewal().call(call)
    if outcome.ended:
        end_session()
        return None
    return outcome.result


def keep_alive() -> None:
    """End a session that ran out; renew the access token (and re-read the account) shortly before it expires.

    A tab that found the session already open (a reload, a new tab) reads the account once, so a session revoked
    or locked meanwhile ends there rather than showing stale details; so does a run cut short between renewing
    and reading. After a failure, only "Reload account details" tries again.
    """
    current = state()
    session = current.box.current
    if session is None:
        return
    policy = token_renewal()
    this_tab = tab()
    if policy.ran_out(session):
        end_session()
    elif policy.due(session) or not this_tab.checked or (session.account is None and not current.account.problem):
        this_tab.checked = True
        load_account()


def fragment_run() -> bool:
    """True while Streamlit reruns only a fragment (the account details' timer), not the whole page."""
    context = get_script_run_ctx()
    return bool(context is not None and context.fragment_ids_this_run)


def sign_out(everywhere: bool) -> None:
    """Tell the API, then forget the session here whatever it answered: signing out must always work locally."""
    current = state()
    channel = current.sign_in.channel
    if current.box.current is None:
        start_again(channel, "")
        return
    client = ui.client()
    outcome = token_renewal(client).call(lambda token: client.sign_out(token, everywhere=everywhere))
    current.box.current = None  # at once, before anything else (see SessionBox)
    tab().autofill = False  # a browser that answers autofill by itself would sign straight back in
    start_again(channel, "")
    result, refused = outcome.result, outcome.ended  # refused: the API no longer knew the session
    if result.ok:
        ui.notify("success", result.message, START)
    elif refused and everywhere:
        ui.notify(
            "warning",
            "Your session had already ended, so your other devices could not be signed out from here. "
            "Sign in again to sign out everywhere.",
            START,
        )
    elif refused:
        ui.notify("success", "You are signed out.", START)
    else:
        cause = "did not answer" if result.unreachable else f"answered HTTP {result.status}"
        consequence = (
            "your other devices are still signed in"
            if everywhere
            else "the session stays valid on the server until it expires"
        )
        ui.notify(
            "warning",
            f"You are signed out on this device, but the sign-in service could not be told (it {cause}), "
            f"so {consequence}.",
            START,
        )


def current_account() -> Account | None:
    session = state().box.current
    return session.account if session is not None else None
