"""The account's phone, a part of the "Account" page: remove it (after a confirmation), or add one (a code is sent to
it, then typed back). A change the API wants a recent proof for opens its prompt right below, and the form that
asked stays in view to show what is being confirmed.
"""

from __future__ import annotations

import streamlit as st

from frontend import phone, twostep, ui
from frontend.session import Account
from frontend.state import ui as state
from frontend.views import step_up
from frontend.views.sign_in import phone_fields

LINK_COUNTRY_INPUT = "link_country_input"
LINK_PHONE_INPUT, LINK_CODE_INPUT = step_up.LINK_PHONE_INPUT, step_up.LINK_CODE_INPUT
PLACE = "phone"


def _on_add_phone() -> None:
    current = state()
    if current.account.linking is not None or current.account.step_up is not None:
        return  # a second press: the code went, or the prompt asks first
    typed = st.session_state.get(LINK_PHONE_INPUT) or ""
    if not typed.strip():
        ui.notify("warning", "Enter the phone number to add.", PLACE, LINK_PHONE_INPUT)
        return
    number = phone.to_e164(typed, st.session_state.get(LINK_COUNTRY_INPUT) or phone.DEFAULT_COUNTRIES[0])
    change = twostep.Change("add_phone", number=number)
    ui.request("add_phone", "Sending code...", lambda: step_up.make(change, PLACE, LINK_PHONE_INPUT))


def _on_link_phone() -> None:
    linking = state().account.linking
    if linking is None:  # a second press after the phone was added
        return
    code = ui.digits(LINK_CODE_INPUT)
    if not code:
        ui.notify("warning", "Enter the code we sent to the phone.", PLACE, LINK_CODE_INPUT)
        return
    change = twostep.Change("link_phone", number=linking[0], code=code)
    ui.request("link_phone", "Checking code...", lambda: step_up.make(change, PLACE, LINK_CODE_INPUT))


def _on_cancel_linking() -> None:
    current = state()
    change = current.account.step_up
    if change is not None and change.action in twostep.PHONE_CHANGES:
        current.account.step_up = None  # its prompt would confirm a change no longer on screen
    current.account.linking = None
    ui.clear_notice()


def _on_remove_phone(confirm: bool) -> None:
    """Ask first ("Remove phone" shows a confirmation); the confirmation's own button makes the change."""
    current = state()
    if not confirm:
        current.account.confirm_remove_phone = True
        ui.clear_notice()
        return
    if not current.account.confirm_remove_phone:  # a second press: it is being removed, or gone
        return
    ui.request("confirm_remove_phone", "Removing phone...", lambda: step_up.make(twostep.Change("remove_phone"), PLACE))


def _on_keep_phone() -> None:
    state().account.confirm_remove_phone = False


def render(account: Account, blocked: bool) -> None:
    st.subheader("Phone", divider="gray")
    view = state().account
    change = view.step_up
    confirming = change is not None and change.action in twostep.PHONE_CHANGES
    disabled = blocked or confirming or ui.busy()
    if account.phone:
        number = ui.escape(phone.international(account.phone))
        st.markdown(f"**{number}** signs in to this account too.")
        if view.confirm_remove_phone and not confirming:  # once the prompt asks, it says what is being confirmed
            st.warning(f"Remove {number}? It will no longer sign in to this account.", icon=":material/warning:")
            left, right = st.columns(2)
            left.button(
                "Yes, remove phone",
                key="confirm_remove_phone",
                type="primary",
                icon=":material/delete:",
                on_click=_on_remove_phone,
                args=(True,),
                disabled=disabled,
            )
            right.button("Keep it", key="keep_phone", type="tertiary", on_click=_on_keep_phone)
            ui.perform("confirm_remove_phone")
        else:
            st.button(
                "Remove phone",
                key="remove_phone",
                icon=":material/delete:",
                on_click=_on_remove_phone,
                args=(False,),
                disabled=disabled,
            )
    elif view.linking is not None:
        st.markdown(f"We sent a code by SMS to **{ui.escape(view.linking[1])}**.")
        with st.form("link_phone_form", border=False):
            ui.code_field("Code from the SMS", LINK_CODE_INPUT)
            ui.show_notice(PLACE)
            st.form_submit_button(
                "Add phone", key="link_phone", type="primary", on_click=_on_link_phone, disabled=disabled
            )
        ui.perform("link_phone")
        st.button("Cancel", key="cancel_linking", type="tertiary", on_click=_on_cancel_linking)
    else:
        st.caption("Add a phone to sign in to this account by SMS code as well.")
        with st.form("add_phone_form", border=False):
            phone_fields(LINK_COUNTRY_INPUT, LINK_PHONE_INPUT)
            ui.show_notice(PLACE)
            st.form_submit_button("Send code to phone", key="add_phone", on_click=_on_add_phone, disabled=disabled)
        ui.perform("add_phone")
    if account.phone:
        ui.show_notice(PLACE)
    if change is not None and confirming:
        step_up.render(change, blocked)
