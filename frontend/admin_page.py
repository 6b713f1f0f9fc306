"""The admin dashboard: hourly charts against the previous period, SMS spend against the daily budget, account
lookup with the account card and its actions (each behind a confirmation with a required reason), the audit trail
with a CSV download.

It uses the session the sign-in page holds (``st.session_state["session_box"]``, see frontend/app.py); the API
decides who is an admin, and the page shows its refusals as they come (403 ``admin_required``, 403
``admin_mfa_required``). An action refused with 401 ``reauthentication_required`` asks for a code from the
authenticator, renews the session with it (``POST /mfa/reauthenticate``) and lets the admin confirm again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import streamlit as st

from frontend import clock
from frontend.admin_api import AdminClient, admin_client_from_env
from frontend.api import ApiResult
from frontend.session import Session, SessionBox

SESSION_BOX = "session_box"  # frontend/app.py's key of the SessionBox
PERIODS = {"24 hours": 24, "7 days": 168}
CHANNEL_CHARTS = (("CodesSent", "Codes sent"), ("SignIns", "Sign-ins"), ("WrongCodes", "Wrong codes"))
ACTIONS = {  # the API's action -> (button, what confirming does)
    "lock": ("Lock", "Ends every session and refuses sign-in until unlocked."),
    "unlock": ("Unlock", "Lets the account sign in again (with a new code)."),
    "signout": ("Sign out everywhere", "Ends every session of the account."),
    "mfa": ("Remove two-step verification", "Removes the authenticator and recovery codes; ends every session."),
    "clear-failures": ("Clear failure counts", "Resets the failed-code ceiling of each identifier."),
}
REAUTH = "reauthentication_required"
# Session-state keys of this page.
CARD, PENDING, NOTICE, LOOKUP_BY, LOOKUP_VALUE, REASON, REAUTH_CODE, VIEW = (
    "admin_card",
    "admin_pending",
    "admin_notice",
    "admin_lookup_by",
    "admin_lookup_value",
    "admin_reason",
    "admin_reauth_code",
    "admin_view",
)


def _session() -> Session | None:
    box = st.session_state.get(SESSION_BOX)
    return box.current if isinstance(box, SessionBox) else None


def _replace_session(data: Mapping[str, Any]) -> None:
    renewed = Session.from_answer(data, clock.now())
    box = st.session_state.get(SESSION_BOX)
    if renewed is not None and isinstance(box, SessionBox):
        box.current = renewed  # one assignment, as frontend/session.py's SessionBox requires


def _notify(kind: str, text: str) -> None:
    st.session_state[NOTICE] = (kind, text)


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------------------------------------- charts


def split_periods(series: Sequence[float], hours: int) -> tuple[list[float], list[float]]:
    """(this period, the previous one) of a series of ``2 * hours`` hourly values, oldest first."""
    values = list(series)[-2 * hours :]
    values = [0.0] * (2 * hours - len(values)) + values
    return values[hours:], values[:hours]


def _chart(title: str, series: Sequence[float], hours: int) -> None:
    current, previous = split_periods(series, hours)
    st.metric(title, f"{sum(current):g}", delta=f"{sum(current) - sum(previous):+g} vs previous period")
    frame = pd.DataFrame(
        {"this period": current, "previous period": previous},
        index=pd.Index(range(-hours + 1, 1), name="hours ago (0 = this hour)"),
    )
    st.line_chart(frame)


def render_charts(client: AdminClient, token: str) -> None:
    label = st.radio("Period", list(PERIODS), horizontal=True, key="admin_period")
    hours = PERIODS[label]
    result = client.stats(token, 2 * hours)
    if not result.ok:
        st.error(result.message)
        return
    data = result.data
    channels = data.get("channels", {})
    for channel, name in (("email", "Email"), ("sms", "SMS")):
        found = channels.get(channel, {})
        st.subheader(name)
        columns = st.columns(len(CHANNEL_CHARTS))
        for column, (metric, title) in zip(columns, CHANNEL_CHARTS, strict=True):
            with column:
                _chart(title, found.get("metrics", {}).get(metric, []), hours)
        refused = {code: sum(split_periods(values, hours)[0]) for code, values in found.get("refused", {}).items()}
        if any(refused.values()):
            st.caption(
                "Refused by limit, this period: "
                + ", ".join(f"{code} {count:g}" for code, count in sorted(refused.items()) if count)
            )
    _sms_spend(data)


def _sms_spend(data: Mapping[str, Any]) -> None:
    st.subheader("SMS spend, last 24 hours")
    sms = data.get("channels", {}).get("sms", {}).get("metrics", {})
    sent = sum(list(sms.get("SmsSent", []))[-24:])
    cost = sum(list(sms.get("SmsCost", []))[-24:])
    budget = data.get("sms_budget", {})
    texts = budget.get("texts") or 0
    prices = budget.get("prices_usd", {}).values()
    most = texts * max(prices, default=0)
    st.write(f"{sent:g} of {texts} texts of the daily budget, about ${cost:,.2f} of at most ${most:,.2f}.")
    st.progress(min(1.0, sent / texts) if texts else 0.0)
    rows = []
    for country, series in sorted(data.get("countries", {}).items()):
        sent_c, verified_c = sum(series.get("SmsSent", [])), sum(series.get("SmsVerified", []))
        rows.append(
            {
                "country": country,
                "sent": sent_c,
                "verified": verified_c,
                "verified per sent": round(verified_c / sent_c, 2) if sent_c else None,
                "cost (USD)": round(sum(series.get("SmsCost", [])), 2),
            }
        )
    if rows:
        st.caption("Per country, the whole period shown: few verified texts per sent text is SMS pumping.")
        st.dataframe(pd.DataFrame(rows), hide_index=True)


# ---------------------------------------------------------------------------------------------- accounts


def render_account(client: AdminClient, token: str) -> None:
    with st.form("admin_lookup"):
        by = st.selectbox("Find by", ["email", "phone", "id"], key=LOOKUP_BY)
        value = st.text_input("Exact address, number (+ and country code) or account id", key=LOOKUP_VALUE)
        st.caption("Identifiers are stored as digests: only an exact match is found.")
        if st.form_submit_button("Look up") and value.strip():
            _look_up(client, token, by, value.strip())
    card = st.session_state.get(CARD)
    if card:
        _card(card)
        _actions(client, token, card)


def _look_up(client: AdminClient, token: str, by: Any, value: str) -> None:
    result = client.user(token, by, value)
    st.session_state[PENDING] = None
    st.session_state[CARD] = result.data.get("user") if result.ok else None
    if not result.ok:
        _notify("error", result.message)


def _card(card: Mapping[str, Any]) -> None:
    st.subheader(f"Account {card.get('id')}")
    st.write(
        f"Status **{card.get('status')}** · {card.get('live_sessions', 0)} live sessions · created "
        f"{_utc(card.get('created_at', 0))} · last sign-in {_utc(card.get('last_sign_in_at', 0))}"
    )
    factors = card.get("factors") or []
    st.write(
        "Two-step verification: "
        + (", ".join(factors) + f" ({card.get('recovery_codes_left', 0)} recovery codes left)" if factors else "off")
    )
    rows = [
        {
            "type": i.get("type"),
            "value": i.get("value"),
            "failed codes": i.get("failures", {}).get("count"),
            "ceiling": i.get("failures", {}).get("limit"),
            "resets in (s)": i.get("failures", {}).get("resets_in"),
        }
        for i in card.get("identifiers", [])
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def _actions(client: AdminClient, token: str, card: Mapping[str, Any]) -> None:
    columns = st.columns(len(ACTIONS))
    for column, (action, (label, _)) in zip(columns, ACTIONS.items(), strict=True):
        with column:
            st.button(label, key=f"admin_action_{action}", on_click=_choose, args=(action,))
    pending = st.session_state.get(PENDING)
    if not pending:
        return
    label, effect = ACTIONS[pending]
    st.warning(f"{label}: {effect} Give the reason; it goes into the audit trail.")
    reason = st.text_input("Reason (required)", key=REASON, max_chars=500)
    confirm, cancel = st.columns(2)
    confirm.button(
        f"Confirm: {label}",
        key="admin_confirm",
        disabled=not reason.strip(),
        type="primary",
        on_click=_confirm,
        args=(client, token, str(card.get("id")), pending),
    )
    cancel.button("Cancel", key="admin_cancel", on_click=_choose, args=(None,))
    if st.session_state.get(REAUTH_CODE) is not None:
        _reauthenticate_form(client, token)


def _choose(action: str | None) -> None:
    st.session_state[PENDING] = action
    st.session_state[REASON] = ""
    st.session_state.pop(REAUTH_CODE, None)


def _confirm(client: AdminClient, token: str, user_id: str, action: str) -> None:
    result = client.act(token, user_id, action, st.session_state.get(REASON, ""))
    if result.code == REAUTH:
        st.session_state[REAUTH_CODE] = ""  # shows the form; the pending action and its reason stay
        _notify("warning", result.message)
        return
    if not result.ok:
        _notify("error", result.message)
        return
    _notify("success", result.message)
    st.session_state[PENDING] = None
    refreshed = client.user(token, "id", user_id)
    st.session_state[CARD] = refreshed.data.get("user") if refreshed.ok else None


def _reauthenticate_form(client: AdminClient, token: str) -> None:
    code = st.text_input("Code from your authenticator app", key="admin_reauth_input", max_chars=6)
    st.button(
        "Confirm it is me",
        key="admin_reauth",
        disabled=len(code.strip()) != 6,
        on_click=_reauthenticate,
        args=(client, token),
    )


def _reauthenticate(client: AdminClient, token: str) -> None:
    result = client.reauthenticate(token, st.session_state.get("admin_reauth_input", "").strip())
    if not result.ok:
        _notify("error", result.message)
        return
    _replace_session(result.data)
    st.session_state.pop(REAUTH_CODE, None)
    _notify("success", "Confirmed. Now confirm the action again.")


# ---------------------------------------------------------------------------------------------- audit


def audit_frame(entries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "when": _utc(e.get("at", 0)),
                "admin": e.get("actor", {}).get("email"),
                "action": e.get("action"),
                "account": e.get("user_id"),
                "reason": e.get("reason"),
                "request id": e.get("request_id"),
            }
            for e in entries
        ],
        columns=["when", "admin", "action", "account", "reason", "request id"],
    )


def render_audit(client: AdminClient, token: str) -> None:
    result: ApiResult = client.audit(token, 100)
    if not result.ok:
        st.error(result.message)
        return
    frame = audit_frame(result.data.get("entries", []))
    st.dataframe(frame, hide_index=True)
    st.download_button(
        "Download CSV", frame.to_csv(index=False), file_name="audit.csv", mime="text/csv", key="admin_audit_csv"
    )
    if result.data.get("next_before"):
        # Not "the newest 100": one request reads a bounded number of months, so a page may hold fewer.
        st.caption("Older entries than these through GET /admin/audit?before=…")


# ---------------------------------------------------------------------------------------------- the page


def main(client: AdminClient | None = None) -> None:
    st.set_page_config(page_title="Admin", page_icon=":material/admin_panel_settings:", layout="wide")
    st.title("Admin")
    session = _session()
    if session is None:
        st.info("Sign in on the main page with an admin's address and your authenticator app.")
        return
    client = client or admin_client_from_env()
    notice = st.session_state.pop(NOTICE, None)
    if notice:
        getattr(st, notice[0])(notice[1])
    # A choice kept in the session, not st.tabs: tabs fall back to the first one on every rerun (an action's
    # confirmation would jump back to the charts), and they run every tab's calls, shown or not.
    views = {"Charts": render_charts, "Accounts": render_account, "Audit trail": render_audit}
    shown = st.radio("Show", list(views), key=VIEW, horizontal=True, label_visibility="collapsed")
    views[shown](client, session.access_token)
