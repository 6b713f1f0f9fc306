"""The page of an app's login request (OpenID Connect): shown instead of the account while the person signed in here
has an app waiting for them, and while the page takes them back to it (see :mod:`frontend.oidc`).

Once signed in with every factor the account needs, the app is let in at once (single sign-on when the person was
signed in already) and the page goes back to it. It stops only where the API asks the person something: whether
to let a third-party app see what it asks for (consent), to confirm it is them (the step-up prompt of account
changes, :mod:`frontend.views.step_up`), to set up two-step verification (the account's own setup, here). Each
step can end in "go back to the app", which tells the app the person said no.
"""

from __future__ import annotations

import json

import streamlit as st

from frontend import api, flow, oidc, twostep, ui
from frontend.state import LoginRequest, UiState
from frontend.state import ui as state
from frontend.views import account_two_step, step_up

# The request the page runs by itself, without a button: letting the app in, or (prompt=none, nobody signed in
# here) telling it so.
CONTINUE = "continue_login"


def _on_allow() -> None:
    login = state().login
    if login is None or login.stage != "consent":  # a second press: the app is being let in
        return
    change = twostep.Change("accept_login", challenge=login.challenge, consent=True)
    ui.request("allow", f"Continuing to {oidc.app_name(login)}...", lambda: step_up.make(change, oidc.PLACE))


def _on_go_back() -> None:
    login = state().login
    if login is None or login.redirect_to is not None:  # a second press: on the way back already
        return
    # Nobody signed in, under prompt=none (its answer failed, and the person gave up): what the app asked to hear.
    error: api.LoginError = "login_required" if not flow.signed_in() and "none" in login.prompt else "access_denied"
    ui.request("go_back", f"Going back to {oidc.app_name(login)}...", lambda: oidc.reject(error))


def _on_try_again() -> None:
    oidc.resume()


def _on_other_account() -> None:
    """Sign out here and sign in as someone else; the app's request stays (see :func:`frontend.state.forget`)."""
    if flow.signed_in():
        ui.request("other_account", "Signing out...", lambda: flow.sign_out(everywhere=False))


def _continue(login: LoginRequest) -> None:
    """The work the page runs by itself: let the app in as the person signed in here, or (prompt=none) tell it
    nobody is."""
    if flow.signed_in():
        step_up.make(twostep.Change("accept_login", challenge=login.challenge), oidc.PLACE)
    else:
        oidc.reject("login_required")


def _two_step_ready(current: UiState) -> bool:
    """Two-step verification is on now, and its recovery codes were saved: the app that asked for it can go on."""
    account = flow.current_account()
    view = current.account
    return (
        account is not None
        and account.two_step is not None
        and account.two_step.totp
        and not view.recovery_codes
        and view.enrollment is None
    )


def script(url: str) -> str:
    """The script that sends the browser to ``url`` in place of this page (the app's own page follows it; the back
    button skips this one). The URL is a JSON string, with the characters that could end the script escaped."""
    literal = json.dumps(url).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"<script>window.location.replace({literal});</script>"


def _follow(login: LoginRequest) -> None:
    """Go back to the app, by top-level navigation, and forget the request; a link does the same if the script
    does not run."""
    target, name = login.redirect_to, oidc.app_name(login)
    assert target is not None
    oidc.followed()
    st.title(f"{'Continue' if login.accepted else 'Back'} to {ui.escape(name)}")
    with st.container(border=True):
        going = "Taking you to" if login.accepted else "Taking you back to"
        st.markdown(f"{going} **{ui.escape(name)}**...")
        st.html(script(target), unsafe_allow_javascript=True, width="content")
        st.link_button(
            f"Continue to {ui.escape(name)}" if login.accepted else f"Back to {ui.escape(name)}",
            target,
            type="primary",
            icon=":material/open_in_new:",
        )


def _signed_in_as(current: UiState) -> None:
    if flow.signed_in():
        st.caption(f"Signed in as {ui.escape(ui.shown(current.name))}.")


def _other_account_button() -> None:
    if flow.signed_in():
        st.button("Use another account", key="other_account", type="tertiary", on_click=_on_other_account)
        ui.perform("other_account")


def _consent(current: UiState, login: LoginRequest) -> None:
    name = ui.escape(oidc.app_name(login))
    st.markdown(f"**{name}** wants to:")
    st.markdown("\n".join(f"- {ui.escape(words)}" for words in oidc.scope_words(login.scopes)))
    _signed_in_as(current)
    st.caption("You can remove its access at any time, from your account.")
    left, right = st.columns(2)
    left.button("Allow", key="allow", type="primary", on_click=_on_allow, disabled=ui.busy(), width="stretch")
    right.button("Deny", key="go_back", on_click=_on_go_back, disabled=ui.busy(), width="stretch")
    ui.perform("allow")
    ui.perform("go_back")
    _other_account_button()


def _enroll(login: LoginRequest) -> None:
    st.markdown(
        f"**{ui.escape(oidc.app_name(login))}** asks for two-step verification. Set up an authenticator app to "
        "continue."
    )
    account = flow.current_account()
    account_two_step.render(account.two_step if account is not None else None, ui.blocked())
    _back_button(login)


def _paused(login: LoginRequest) -> None:
    st.markdown(f"To continue to **{ui.escape(oidc.app_name(login))}**, try again.")
    st.button("Try again", key="try_again", type="primary", on_click=_on_try_again, disabled=ui.busy())
    _back_button(login)
    _other_account_button()


def _back_button(login: LoginRequest) -> None:
    st.button(
        f"Back to {ui.escape(oidc.app_name(login))}",
        key="go_back",
        icon=":material/undo:",
        on_click=_on_go_back,
        disabled=ui.busy(),
    )
    ui.perform("go_back")


def render() -> None:
    current = state()
    login = oidc.waiting(current)
    if login is None:  # another tab finished or forgot it meanwhile: the page it belongs on now
        st.rerun()
        return
    if login.redirect_to is not None:
        _follow(login)
        return
    if login.stage == "enroll" and _two_step_ready(current):
        oidc.resume()
    st.title(f"Continue to {ui.escape(oidc.app_name(login))}")
    with st.container(border=True):
        ui.show_notice(oidc.PLACE)
        change = current.account.step_up
        if change is not None and change.action == "accept_login":  # the API asked for a proof, whatever came before
            _signed_in_as(current)
            step_up.render(change, ui.blocked())
        elif login.stage == "consent":
            _consent(current, login)
        elif login.stage == "enroll":
            _enroll(login)
        elif login.stage == "paused":
            _paused(login)
        else:
            going = "Signing you in to" if flow.signed_in() else "Taking you back to"
            st.markdown(f"{going} **{ui.escape(oidc.app_name(login))}**...")
            ui.request(CONTINUE, f"Continuing to {oidc.app_name(login)}...", lambda: _continue(login))
            ui.perform(CONTINUE)
