"""The UI's pages, one module each ("Sign in", "Account" with its phone, two-step, passkeys and connected-apps parts,
"Admin", and the page of an app's login request), the prompt that confirms it is you before an account change, and
the local stack's dev inbox; :func:`pages` lists those a person may open."""

from __future__ import annotations

import streamlit as st

from frontend import oidc
from frontend.state import UiState
from frontend.views import account, admin, continue_to_app, sign_in


def pages(current: UiState) -> list[st.Page]:
    """The pages this person may open, named for people; the first is where they land. "Admin" only for an account
    the API lets read the admin routes: the API still decides each call. While an app waits for the person signed in
    here (or for the page to take them back to it), its page is the only one: it is what they came for."""
    login = oidc.waiting(current)
    if login is not None:
        title = f"Continue to {oidc.app_name(login)}"
        return [st.Page(continue_to_app.render, title=title, icon=":material/apps:", url_path="continue", default=True)]
    if current.box.current is None:
        return [st.Page(sign_in.render, title="Sign in", icon=":material/login:", url_path="sign-in", default=True)]
    listed = [st.Page(account.render, title="Account", icon=":material/person:", url_path="account", default=True)]
    if current.account.admin == "yes":
        listed.append(st.Page(admin.render, title="Admin", icon=":material/admin_panel_settings:", url_path="admin"))
    return listed
