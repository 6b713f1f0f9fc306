"""The "Account" page: who is signed in and until when, the account's phone, two-step verification, passkeys and the
apps it let in (each a module of its own), and signing out.

The details re-render every few seconds (a fragment), which also renews the access token shortly before it
expires: a tab left open keeps a usable session until the session itself ends. A tab that finds a session already
open (a reload, a new tab) reads the account once first, so a session revoked or locked meanwhile shows the sign-in
page rather than stale details.
"""

from __future__ import annotations

import streamlit as st

from frontend import flow, oidc, ui
from frontend.session import Account
from frontend.state import ui as state
from frontend.views import account_apps, account_passkeys, account_phone, account_two_step

# How often the details re-render (and check whether the access token needs renewing). Well below the renewal
# margin, which is at least 30 s (half the shortest access token lifetime the API allows).
KEEP_ALIVE_SECONDS = 10


def _on_reload_account() -> None:
    if flow.signed_in():
        ui.request("reload_account", "Loading your account...", flow.load_account)


def _on_sign_out(everywhere: bool) -> None:
    if flow.signed_in():  # a second press after the first signed out: nothing left to sign out of
        ui.request(
            "sign_out_everywhere" if everywhere else "sign_out", "Signing out...", lambda: flow.sign_out(everywhere)
        )


def _account_facts(account: Account) -> None:
    """The account itself, as opposed to this session; each line only when the API sent it (older APIs did not)."""
    if account.user_id:
        st.markdown("**Account ID:**")
        st.code(account.user_id, language=None, width="content")  # monospace, with a copy button
    if account.identifiers:
        listed = ", ".join(
            f"{ui.escape(ui.shown(each.value))} ({ui.escape(each.type)})" for each in account.identifiers
        )
        st.markdown(f"**Identifiers:** {listed}")
    if account.created_at is not None:
        st.markdown(f"**Account created:** {ui.utc(account.created_at)}")
    if account.last_sign_in_at is not None:
        st.markdown(f"**Last sign-in:** {ui.utc(account.last_sign_in_at)}")


@st.fragment(run_every=KEEP_ALIVE_SECONDS)
def _details() -> None:
    """Who is signed in and until when, re-rendered every few seconds so the times stay current."""
    if flow.fragment_run():  # a full run renewed before choosing the page already
        flow.keep_alive()
    current = state()
    session = current.box.current
    if session is None:  # refused or ran out just now: the sign-in page says why
        st.rerun()
        return
    account = session.account
    with st.container(border=True):
        st.markdown(f":material/verified_user: Signed in as **{ui.escape(ui.shown(current.name))}**")
        if account is not None:
            _account_facts(account)
        if account is not None and account.signed_in_at is not None:
            st.markdown(f"**Session started:** {ui.utc(account.signed_in_at)}")
        if account is not None and account.aal is not None:
            proven = "proven in this session" if account.aal == 2 else "not used in this session"
            if account.by_passkey:
                proven += ", with a passkey (both factors in one touch)"
            st.markdown(f"**Second factor:** {proven} · aal {account.aal}")  # NIST's assurance level, as /me says
        access_epoch = account.access_token_expires_at if account else None
        st.markdown(f"**Access token expires:** {ui.when(session.access_expires_at, access_epoch)}")
        st.markdown(f"**Session expires:** {ui.when(session.expires_at, account.expires_at if account else None)}")
        st.caption("The access token is renewed automatically shortly before it expires.")
    problem = current.account.problem
    if problem:
        st.warning(ui.escape(problem), icon=":material/warning:")
    if account is None:
        st.button(
            "Reload account details",
            key="reload_account",
            icon=":material/refresh:",
            on_click=_on_reload_account,
            disabled=ui.busy(),
        )
        ui.perform("reload_account")


def render() -> None:
    current = state()
    blocked = ui.blocked()
    st.title("Your account")
    ui.show_notice(oidc.PLACE)  # an app's login request that could not go on: why
    _details()
    account = flow.current_account()
    # Passkeys first, above the sections whose content grows and shrinks (a phone being linked, an authenticator
    # being set up): Streamlit places its button's frame by its key and the rest by their place, and an element
    # added above that frame made React move it in the page, which reloads it where Streamlit no longer listens (a
    # blank button until the page was reloaded).
    if account is not None:
        account_passkeys.render(blocked)
        account_phone.render(account, blocked)
    # Offered when the API describes two-step verification, or insists on it before showing the account.
    if (account is not None and account.two_step is not None) or current.account.enrollment_required:
        account_two_step.render(account.two_step if account is not None else None, blocked)
    if current.account.admin == "factor":
        st.info(
            "This account is an admin: the admin page opens once two-step verification is on. Set up an "
            "authenticator app above.",
            icon=":material/admin_panel_settings:",
        )
    if account is not None:
        account_apps.render()
    st.divider()
    left, right = st.columns(2)
    left.button(
        "Sign out",
        key="sign_out",
        type="primary",
        icon=":material/logout:",
        on_click=_on_sign_out,
        args=(False,),
        width="stretch",
        disabled=ui.busy(),
    )
    right.button(
        "Sign out everywhere",
        key="sign_out_everywhere",
        icon=":material/devices:",
        on_click=_on_sign_out,
        args=(True,),
        help="Ends every session of this account, in every browser and on every device.",
        width="stretch",
        disabled=ui.busy(),
    )
    ui.perform("sign_out")
    ui.perform("sign_out_everywhere")
