"""The "Admin" page: hourly charts against the previous period, SMS spend against the daily budget, account lookup
with the account card (its passkeys, each with a Remove) and the actions that apply to it (each behind a
confirmation with a required reason), and the audit trail with a CSV download.

The navigation lists this page only for an account ``/me`` names an admin whose session has the second factor (see
:func:`frontend.flow.load_account`); the API still decides every call, and its refusals show as they come. The
calls go through the session's renewal like every other. An action refused with 401 ``reauthentication_required``
asks for a code from the authenticator (or, where the admin has a passkey, one touch of it), renews the session's
proof with it and lets the admin confirm again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import altair as alt
import pandas as pd
import streamlit as st

from frontend import clock, flow, passkey, twostep, ui
from frontend.admin_api import AdminClient, admin_client_from_env
from frontend.api import ApiResult
from frontend.renewal import Call, Outcome
from frontend.state import tab
from frontend.state import ui as state
from frontend.views import step_up

PERIODS = {"24 hours": 24, "7 days": 168}
# (metric, title, whether more is worse): a rise in wrong codes is shown as bad, in sign-ins as good.
CHANNEL_CHARTS = (
    ("CodesSent", "Codes sent", False),
    ("SignIns", "Sign-ins", False),
    ("WrongCodes", "Wrong codes", True),
)
ACTIONS = {  # the API's action -> (button, what confirming does)
    "lock": ("Lock", "Ends every session and refuses sign-in until unlocked."),
    "unlock": ("Unlock", "Lets the account sign in again (with a new code)."),
    "signout": ("Sign out everywhere", "Ends every session of the account."),
    "mfa": ("Remove two-step verification", "Removes the authenticator and recovery codes; ends every session."),
    "clear-failures": ("Clear failure counts", "Resets the failed-code ceiling of each identifier."),
}
# A passkey's removal is chosen as this and its id (the API's DELETE /admin/users/{id}/passkeys/{passkey_id}).
PASSKEY = "passkey:"
REAUTH_INPUT, REASON, VIEW = "admin_reauth_input", "admin_reason", "admin_view"
REAUTH_PASSKEY = "admin_reauth_passkey"  # the re-authentication's passkey button: its key and its request
PLACE, ACTION_PLACE = "admin", "admin_action"
NO_DATA = "—"
LookupBy = Literal["email", "phone", "id"]
LOOKUPS: tuple[LookupBy, ...] = ("email", "phone", "id")


def _call(call: Call) -> ApiResult | None:
    """An admin call for the session, renewing its tokens on the way; ``None`` once the session has ended."""
    return flow.account_call(call)


# ---------------------------------------------------------------------------------------------- charts


def split_periods(series: Sequence[float], hours: int) -> tuple[list[float], list[float]]:
    """(this period, the previous one) of a series of ``2 * hours`` hourly values, oldest first."""
    values = list(series)[-2 * hours :]
    values = [0.0] * (2 * hours - len(values)) + values
    return values[hours:], values[:hours]


def chart_frame(current: Sequence[float], previous: Sequence[float]) -> pd.DataFrame:
    """Both periods in long form, by hours ago (0 = this hour), for one chart with a legend."""
    hours = len(current)
    ago = list(range(hours - 1, -1, -1))
    return pd.DataFrame(
        {
            "hours ago": ago * 2,
            "count": [*current, *previous],
            "period": ["this period"] * hours + ["previous period"] * hours,
        }
    )


def _chart(title: str, series: Sequence[float], hours: int, worse_up: bool) -> None:
    current, previous = split_periods(series, hours)
    change = sum(current) - sum(previous)
    st.metric(
        title,
        f"{sum(current):g}",
        delta=f"{change:+g} vs previous period" if change else "no change vs previous period",
        # More wrong codes is bad news: shown red; no change is neither.
        delta_color="off" if not change else "inverse" if worse_up else "normal",
        delta_arrow="auto" if change else "off",
    )
    frame = chart_frame(current, previous)
    top = max(1.0, float(frame["count"].max()))  # an all-zero series is drawn as a line at zero, not a blank axis
    periods = ["this period", "previous period"]
    chart = (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("hours ago:Q", scale=alt.Scale(reverse=True), axis=alt.Axis(title="hours ago", format="d")),
            y=alt.Y(
                "count:Q",
                scale=alt.Scale(domain=[0, top]),
                axis=alt.Axis(title="per hour", format="d", tickMinStep=1),
            ),
            color=alt.Color(
                "period:N",
                scale=alt.Scale(domain=periods, range=["#1c64c4", "#9aa5b1"]),  # this period stands out
                legend=alt.Legend(orient="bottom", title=None),
            ),
            strokeDash=alt.StrokeDash("period:N", scale=alt.Scale(domain=periods, range=[[1, 0], [4, 3]]), legend=None),
        )
    )
    st.altair_chart(chart, height=220, alt=f"{title} per hour, this period against the previous one")


def _render_charts(client: AdminClient) -> None:
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    label = left.radio("Period", list(PERIODS), horizontal=True, key="admin_period")
    right.button("Refresh", key="admin_refresh", icon=":material/refresh:")  # a rerun reads the figures anew
    hours = PERIODS[label]
    result = _call(lambda token: client.stats(token, 2 * hours))
    if result is None:
        return
    if not result.ok:
        st.error(ui.escape(result.message))
        return
    data = result.data
    channels = data.get("channels", {})
    for channel, name in (("email", "Email"), ("sms", "SMS")):
        found = channels.get(channel, {})
        st.subheader(name)
        columns = st.columns(len(CHANNEL_CHARTS))
        for column, (metric, title, worse_up) in zip(columns, CHANNEL_CHARTS, strict=True):
            with column:
                _chart(title, found.get("metrics", {}).get(metric, []), hours, worse_up)
        refused = {code: sum(split_periods(values, hours)[0]) for code, values in found.get("refused", {}).items()}
        if any(refused.values()):
            st.caption(
                "Refused by limit, this period: "
                + ", ".join(f"{code} {count:g}" for code, count in sorted(refused.items()) if count)
            )
    _sms_spend(data)


def country_rows(countries: Mapping[str, Mapping[str, Sequence[float]]]) -> list[dict[str, Any]]:
    rows = []
    for country, series in sorted(countries.items()):
        sent, verified = sum(series.get("SmsSent", [])), sum(series.get("SmsVerified", []))
        rows.append(
            {
                "country": country,
                "sent": f"{sent:g}",
                "verified": f"{verified:g}",
                "verified per sent": f"{verified / sent:.2f}" if sent else NO_DATA,
                "cost (USD)": f"{sum(series.get('SmsCost', [])):.2f}",
            }
        )
    return rows


def _sms_spend(data: Mapping[str, Any]) -> None:
    st.subheader("SMS spend, last 24 hours")
    sms = data.get("channels", {}).get("sms", {}).get("metrics", {})
    sent = sum(list(sms.get("SmsSent", []))[-24:])
    cost = sum(list(sms.get("SmsCost", []))[-24:])
    budget = data.get("sms_budget", {})
    texts = budget.get("texts") or 0
    most = texts * max(budget.get("prices_usd", {}).values(), default=0)
    st.write(f"{sent:g} of {texts} texts of the daily budget, about ${cost:,.2f} of at most ${most:,.2f}.")
    st.progress(min(1.0, sent / texts) if texts else 0.0)
    rows = country_rows(data.get("countries", {}))
    if rows:
        st.caption("Per country, the whole period shown: few verified texts per sent text is SMS pumping.")
        st.dataframe(pd.DataFrame(rows), hide_index=True)


# ---------------------------------------------------------------------------------------------- accounts


def applicable(card: Mapping[str, Any]) -> list[str]:
    """The actions that do something to this account: no Unlock for an active one, no Lock for a locked one, no
    "Remove two-step" without a factor, no sign-out without a session, no clearing of counts at zero."""
    locked = card.get("status") == "locked"
    failures = any((each.get("failures") or {}).get("count") for each in card.get("identifiers", []))
    offered = {
        "lock": not locked,
        "unlock": locked,
        "signout": bool(card.get("live_sessions")),
        "mfa": bool(card.get("factors")),
        "clear-failures": failures,
    }
    return [action for action in ACTIONS if offered[action]]


def passkey_actions(card: Mapping[str, Any]) -> list[str]:
    """The removal of each passkey the card lists."""
    return [PASSKEY + str(passkey.get("id")) for passkey in card.get("passkeys") or []]


def described(action: str, card: Mapping[str, Any]) -> tuple[str, str]:
    """(button, what confirming does) of one of :func:`applicable`'s or :func:`passkey_actions`' actions."""
    if not action.startswith(PASSKEY):
        return ACTIONS[action]
    names = {PASSKEY + str(passkey.get("id")): passkey.get("name") for passkey in card.get("passkeys") or []}
    return (
        f"Remove passkey “{names.get(action) or 'unnamed'}”",
        "It no longer signs in; ends every session of the account.",
    )


def _render_accounts(client: AdminClient) -> None:
    view = state().admin
    with st.form("admin_lookup"):
        by: LookupBy = st.selectbox("Find by", LOOKUPS, key="admin_lookup_by")
        value = st.text_input("Exact address, number (+ and country code) or account id", key="admin_lookup_value")
        st.caption("Identifiers are stored as digests: only an exact match is found.")
        if st.form_submit_button("Look up") and value.strip():
            _look_up(client, by, value.strip())
    ui.show_notice(PLACE)
    if view.card:
        _card(view.card)
        _actions(client, view.card)


def _look_up(client: AdminClient, by: LookupBy, value: str) -> None:
    view = state().admin
    result = _call(lambda token: client.user(token, by, value))
    if result is None:
        return
    view.action, view.reauthenticating = None, False
    view.card = result.data.get("user") if result.ok else None
    if result.ok:
        ui.clear_notice()
    else:
        ui.notify("error", result.message, PLACE)


def _card(card: Mapping[str, Any]) -> None:
    st.subheader(f"Account {card.get('id')}")
    sessions = card.get("live_sessions") or 0
    created, last = card.get("created_at"), card.get("last_sign_in_at")
    st.write(
        f"Status **{card.get('status')}** · {ui.plural(sessions, 'live session')} · created "
        f"{ui.utc(created) if created else NO_DATA} · last sign-in {ui.utc(last) if last else NO_DATA}"
    )
    factors = card.get("factors") or []
    left = card.get("recovery_codes_left") or 0
    st.write(
        "Two-step verification: "
        + (", ".join(factors) + f" ({ui.plural(left, 'recovery code')} left)" if factors else "off")
    )
    rows = [
        {
            "type": each.get("type"),
            "value": each.get("value"),
            "failed codes": _shown((each.get("failures") or {}).get("count")),
            "ceiling": _shown((each.get("failures") or {}).get("limit")),
            "resets in (s)": _shown((each.get("failures") or {}).get("resets_in")),
        }
        for each in card.get("identifiers", [])
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    _passkeys(card)


def passkey_line(passkey: Mapping[str, Any]) -> str:
    """A passkey as the card shows it: name, kind, created and last used (never its credential id)."""
    created, used = passkey.get("created_at"), passkey.get("last_used_at")
    return (
        f"**{ui.escape(str(passkey.get('name') or 'unnamed'))}** · "
        f"{'synced' if passkey.get('synced') else 'device-bound'} · created {ui.utc(created) if created else NO_DATA}"
        f" · last used {ui.utc(used) if used else 'never'}"
    )


def _passkeys(card: Mapping[str, Any]) -> None:
    passkeys = card.get("passkeys") or []
    st.write(f"Passkeys: {len(passkeys) or 'none'}")
    for listed, action in zip(passkeys, passkey_actions(card), strict=True):
        line, button = st.columns([5, 1], vertical_alignment="center")
        line.markdown(passkey_line(listed))
        button.button("Remove", key=f"admin_action_{action}", on_click=_choose, args=(action,))


def _shown(value: object) -> str:
    return NO_DATA if value is None else str(value)


def _actions(client: AdminClient, card: Mapping[str, Any]) -> None:
    view = state().admin
    offered = applicable(card)
    if offered:
        columns = st.columns(len(offered))
        for column, action in zip(columns, offered, strict=True):
            column.button(ACTIONS[action][0], key=f"admin_action_{action}", on_click=_choose, args=(action,))
    if view.action not in offered + passkey_actions(card):
        return
    label, effect = described(view.action, card)
    st.warning(f"{label}: {effect} Give the reason; it goes into the audit trail.")
    # live: the confirm button enables while the reason is typed, not only once Enter is pressed or the field left.
    reason = st.text_input("Reason (required)", key=REASON, max_chars=500, live=True)
    ui.show_notice(ACTION_PLACE)
    confirm, cancel = st.columns(2)
    confirm.button(
        f"Confirm: {label}",
        key="admin_confirm",
        disabled=not (reason or "").strip() or ui.busy(),
        type="primary",
        on_click=_on_confirm,
        args=(client, str(card.get("id")), view.action, label),
    )
    cancel.button("Cancel", key="admin_cancel", on_click=_choose, args=(None,))
    ui.perform("admin_confirm")
    if view.reauthenticating:
        _reauthenticate_form(client)


def _choose(action: str | None) -> None:
    view = state().admin
    view.action, view.reauthenticating = action, False
    ui.set_field(REASON, "")
    ui.clear_notice()


def _on_confirm(client: AdminClient, user_id: str, action: str, label: str) -> None:
    view = state().admin
    reason = (st.session_state.get(REASON) or "").strip()
    if view.action != action or not reason:  # a second press after it was done
        return

    def work() -> None:
        if action.startswith(PASSKEY):
            passkey_id = action.removeprefix(PASSKEY)
            result = _call(lambda token: client.remove_passkey(token, user_id, passkey_id, reason))
        else:
            result = _call(lambda token: client.act(token, user_id, action, reason))
        if result is None:
            return
        if result.code == twostep.REAUTHENTICATION_REQUIRED:
            view.reauthenticating = True  # the action and its reason stay
            ui.set_field(REAUTH_INPUT, "")
            ui.focus(REAUTH_INPUT)
            ui.notify("warning", result.message, ACTION_PLACE)
            return
        if not result.ok:
            ui.notify("error", result.message, ACTION_PLACE)
            return
        view.action = None
        refreshed = _call(lambda token: client.user(token, "id", user_id))
        view.card = refreshed.data.get("user") if refreshed is not None and refreshed.ok else None
        ui.notify("success", result.message, PLACE)

    ui.request("admin_confirm", f"{label}...", work)


def _reauthenticate_form(client: AdminClient) -> None:
    """The admin's fresh proof: a code from the authenticator app or, where the admin has a passkey, one touch."""
    code = st.text_input("Code from your authenticator app", key=REAUTH_INPUT, max_chars=6, live=True)
    st.button(
        "Confirm it is me",
        key="admin_reauth",
        disabled=len((code or "").strip()) != 6 or ui.busy(),
        on_click=_on_reauthenticate,
        args=(client,),
    )
    ui.perform("admin_reauth")
    offers_passkey = step_up.has_passkey()
    if not flow.signed_in():  # the API ended the session as the list was read: the sign-in page says why
        st.rerun()
    if offers_passkey:
        ceremony = tab().ceremony
        passkey.button(
            "Confirm with your passkey",
            REAUTH_PASSKEY,
            ceremony if ceremony is not None and ceremony.kind == "get" else None,
            _on_passkey,
            disabled=ui.busy(),
        )
        ui.perform(REAUTH_PASSKEY)


def _on_passkey(event: passkey.Event) -> None:
    """The form's passkey button: a press asks for a step-up ceremony, the browser's credential renews the
    session's proof (``POST /passkeys/reauthenticate``: both factors, now), as the authenticator's code does."""
    current = state()
    if not current.admin.reauthenticating:  # a stale event: the proof was given meanwhile
        return
    if isinstance(event, passkey.Start):
        step_up.ask_for_passkey(REAUTH_PASSKEY, ACTION_PLACE)
        return
    answered = ui.passkey_answer(event, "get", ACTION_PLACE)
    if answered is None:
        return
    ceremony, credential = answered

    def work() -> None:
        client = ui.client()
        _renewed(
            flow.token_renewal().call(
                lambda token: client.passkey_reauthenticate(token, ceremony.ceremony, credential)
            ),
            None,
        )

    ui.request(REAUTH_PASSKEY, "Checking your passkey...", work)


def _on_reauthenticate(client: AdminClient) -> None:
    code = (st.session_state.get(REAUTH_INPUT) or "").strip()
    current = state()
    if not current.admin.reauthenticating:  # a second press after it was confirmed
        return

    def work() -> None:
        _renewed(flow.token_renewal().call(lambda token: client.reauthenticate(token, code)), REAUTH_INPUT)

    ui.request("admin_reauth", "Checking code...", work)


def _renewed(outcome: Outcome, field: str | None) -> None:
    """What a re-authentication (the code, or the passkey) came to: its new tokens in place at once and the action
    ready to confirm again, or its refusal (beside ``field``)."""
    current = state()
    if not outcome.ended:
        outcome = twostep.adopt_session(current.box, outcome.result, clock.now())  # new tokens, at once
    if outcome.ended:
        flow.end_session()
        return
    if not outcome.result.ok:
        ui.notify("error", outcome.result.message, ACTION_PLACE, field)
        return
    current.admin.reauthenticating = False
    ui.notify("success", "Confirmed. Now confirm the action again.", ACTION_PLACE)


# ---------------------------------------------------------------------------------------------- audit


def audit_frame(entries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "when": ui.utc(e.get("at", 0), seconds=True),
                "admin": e.get("actor", {}).get("email"),
                # A passkey's removal names the passkey (its id, as the account card lists it).
                "action": f"{e.get('action')} {e['passkey_id']}" if e.get("passkey_id") else e.get("action"),
                # Whom it touched, as the account was then (opened from the entry's seal for the admin), and its id.
                "identifiers": ", ".join(ui.shown(i.get("value", "")) for i in e.get("identifiers", [])),
                "account": e.get("user_id"),
                "reason": e.get("reason"),
                "request id": e.get("request_id"),
            }
            for e in entries
        ],
        columns=["when", "admin", "action", "identifiers", "account", "reason", "request id"],
    )


def _render_audit(client: AdminClient) -> None:
    st.button("Refresh", key="admin_audit_refresh", icon=":material/refresh:")
    result = _call(lambda token: client.audit(token, 100))
    if result is None:
        return
    if not result.ok:
        st.error(ui.escape(result.message))
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


def render(client: AdminClient | None = None) -> None:
    st.title("Admin")
    if not flow.signed_in():
        st.info("Sign in with an admin's address and your authenticator app first.")
        return
    client = client or admin_client_from_env()
    # A choice kept in the session, not st.tabs: tabs fall back to the first one on every rerun (an action's
    # confirmation would jump back to the charts), and they run every tab's calls, shown or not.
    views = {"Charts": _render_charts, "Accounts": _render_accounts, "Audit trail": _render_audit}
    shown = st.radio("Show", list(views), key=VIEW, horizontal=True, label_visibility="collapsed")
    views[shown](client)
