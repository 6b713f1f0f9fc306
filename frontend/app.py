"""The Streamlit UI of the sign-in service: its pages, chosen with ``st.navigation``, one module each in
:mod:`frontend.views`: "Sign in" while signed out; "Account" once signed in, and "Admin" beside it for an account
the API lets read the admin routes. Opened with ``?login_challenge=`` (an app sent the person, OpenID Connect:
:mod:`frontend.oidc`), the sign-in says which app it is for, and once signed in the app's page takes over.

Run from the repository root with ``streamlit run frontend/server.py`` (``make run`` does), which serves this
script with the middleware that gives each browser its session handle (see :mod:`frontend.handle`);
``streamlit run frontend/app.py`` works too, with a session that lasts one tab. Configuration (no secrets are
held here):

- ``OTP_API_URL``: base URL of the sign-in API (else ``st.secrets["api_url"]``, else http://127.0.0.1:8000).
- ``OTP_SMS_COUNTRIES``: the countries the phone picker offers (see :mod:`frontend.phone`); give the UI the
  stage's own value, since the API does not list them.
- ``DEV_INBOX_URL``: local stack only; the embedded AWS's ``/_dev/inbox``. When set, a sidebar lists the captured
  mails and SMS. When unset (every deployed stage) the inbox code path is never entered.

State is typed (:mod:`frontend.state`) and kept server-side under the browser's handle; the browser holds only
that random handle, in an ``HttpOnly`` cookie: never a token. Buttons queue their request and the page runs it
once below the disabled button (:mod:`frontend.ui`).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# `streamlit run frontend/app.py` puts frontend/ on sys.path and AppTest puts nothing there; importing the
# `frontend` package from the repository root works the same in both.
_REPO_ROOT = str(Path(__file__).resolve().parent.parent)
if _REPO_ROOT not in sys.path:
    sys.path.insert(0, _REPO_ROOT)

import streamlit as st  # noqa: E402

from frontend import flow, oidc, ui  # noqa: E402
from frontend.state import ui as state  # noqa: E402
from frontend.views import dev_inbox, pages  # noqa: E402


def main() -> None:
    oidc.arrive()  # first: it may prefill the sign-in form with the address the app expects
    ui.apply_field_values()
    current = state()
    ui.expire_block()
    # Before choosing the pages: a session found ended shows the sign-in page. Not with a request queued: it
    # renews on its way, and a sign-out must not first renew what it ends.
    if current.box.current is not None and not ui.busy():
        flow.keep_alive()
        ui.apply_field_values()  # the sign-in form it prefilled, then
    page = st.navigation(pages(current), position="sidebar" if flow.signed_in() else "hidden")
    wide = page.title == "Admin"
    st.set_page_config(page_title=page.title, page_icon=":material/lock:", layout="wide" if wide else "centered")
    page.run()
    ui.perform()  # a request whose button this run did not draw (another tab moved the state on)
    ui.page_script()
    dev_inbox_url = os.environ.get("DEV_INBOX_URL", "").strip()
    if dev_inbox_url:
        email, number = dev_inbox.targets()
        with st.sidebar:
            dev_inbox.panel(dev_inbox_url, email, number)


main()
