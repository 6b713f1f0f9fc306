"""The dev inbox in the sidebar: the mails and SMS the local stack's embedded AWS captured, newest first, those to the
address or number in use marked "for you" and the newest of them "newest" (an older code may well be used up).

Only ever drawn when ``DEV_INBOX_URL`` is set, which the local stack does and a deployed stage never does.
"""

from __future__ import annotations

import streamlit as st

from frontend import flow, phone, ui
from frontend.state import ui as state

MAX_INBOX_ENTRIES = 20  # of each kind, mails and SMS
FOR_YOU = " :green-badge[for you]"
NEWEST = " :blue-badge[newest]"


def targets() -> tuple[str, str]:
    """The address and the number (E.164) in use, to mark what the inbox holds for them; "" when none."""
    current = state()
    account = flow.current_account()
    if account is not None:
        linking = current.account.linking
        return account.email or "", linking[0] if linking else account.phone or ""
    sign_in = current.sign_in
    if sign_in.step != "start":
        return (sign_in.address, "") if sign_in.channel == "email" else ("", sign_in.address)
    return (st.session_state.get(flow.EMAIL_INPUT) or "").strip(), ""


@st.fragment
def panel(url: str, email: str, number: str) -> None:
    """A fragment, so "Refresh" reloads only the inbox and leaves the page as it is."""
    # Imported here so a deployed stage, where DEV_INBOX_URL is never set, does not even load the module.
    from frontend import inbox

    st.subheader("Dev inbox")
    # On its own line: beside the heading a narrow sidebar (a phone's) cut it to "R…".
    st.button("Refresh", key="inbox_refresh", icon=":material/refresh:", type="secondary")
    st.caption("Mails and SMS captured by the local stack's embedded AWS. Never shown in a deployed stage.")
    try:
        captured = inbox.fetch_inbox(url)
    except inbox.InboxError as exc:
        st.warning(f"Dev inbox unavailable: {ui.escape(str(exc))}", icon=":material/warning:")
        return
    if not captured.mails and not captured.sms:
        st.caption("No mails or SMS yet.")
        return
    # The newest SMS for the number in use comes first: reading its code is what the panel is for.
    sms = sorted(captured.sms[:MAX_INBOX_ENTRIES], key=lambda each: not each.is_for(number))
    newest_seen = False
    for each in sms:
        with st.container(border=True):
            mine = each.is_for(number)
            badges = (FOR_YOU + ("" if newest_seen else NEWEST)) if mine else ""
            newest_seen = newest_seen or mine
            st.markdown(f"**SMS to {ui.escape(phone.international(each.to))}**{badges}")
            st.code(each.text, language=None, wrap_lines=True)
    newest_seen = False
    for mail in captured.mails[:MAX_INBOX_ENTRIES]:
        with st.container(border=True):
            mine = mail.is_for(email)
            badges = (FOR_YOU + ("" if newest_seen else NEWEST)) if mine else ""
            newest_seen = newest_seen or mine
            st.markdown(f"**{ui.escape(mail.subject) or '(no subject)'}**{badges}")
            st.caption(f"To: {ui.escape(', '.join(mail.to))}")
            st.code(mail.body, language=None, wrap_lines=True)
