"""Connected apps, a part of the "Account" page: the apps the person let in through this service (OpenID Connect),
what each may see and since when, and "Remove access", which also signs the app out of this account."""

from __future__ import annotations

import streamlit as st

from frontend import flow, oidc, ui
from frontend.state import ConnectedApp
from frontend.state import ui as state


def _on_remove(app: ConnectedApp) -> None:
    ui.request(f"remove_app_{app.client_id}", "Removing access...", lambda: oidc.remove_app(app))


def render() -> None:
    view = state().account
    if view.apps is None:  # read once per account view; again after a change
        oidc.load_apps()
        if not flow.signed_in():  # the API ended the session on the way: the sign-in page says why
            st.rerun()
    st.subheader("Connected apps", divider="gray")
    ui.show_notice(oidc.APPS)
    if view.apps_problem:
        st.warning(ui.escape(view.apps_problem), icon=":material/warning:")
        return
    if not view.apps:
        st.caption("No apps signed you in with this account yet. Apps you allow are listed here.")
        return
    for app in view.apps:
        with st.container(border=True):
            since = f" Allowed on {ui.utc(app.granted_at)}." if app.granted_at is not None else ""
            st.markdown(f"**{ui.escape(app.name)}**")
            st.caption(f"May {ui.escape(oidc.in_words(app.scopes))}.{since}")
            key = f"remove_app_{app.client_id}"
            st.button(
                "Remove access",
                key=key,
                icon=":material/link_off:",
                on_click=_on_remove,
                args=(app,),
                disabled=ui.busy(),
            )
            ui.perform(key)
