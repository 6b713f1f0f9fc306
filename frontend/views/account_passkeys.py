"""Passkeys, a part of the "Account" page: the account's passkeys (name, when added and last used, synced or bound
to one device), adding one (a name, then the browser's own prompt), renaming and removing one. Adding and removing
are account changes: the API wants a recent proof first, asked for right here (:mod:`frontend.views.step_up`).
"""

from __future__ import annotations

import streamlit as st

from frontend import flow, passkey, twostep, ui
from frontend.state import tab
from frontend.state import ui as state
from frontend.views import step_up

PLACE = step_up.PASSKEYS
NAME_INPUT = "passkey_name_input"
ADD = "add_passkey"
RENAME_PREFIX = "rename_passkey_"  # + the passkey's id: its name field and its button
DEFAULT_NAME = "Passkey"


def _on_add(event: passkey.Event) -> None:
    if isinstance(event, passkey.Start):
        if state().account.step_up is not None:  # the prompt is open: it asks first
            return
        name = (st.session_state.get(NAME_INPUT) or "").strip() or DEFAULT_NAME
        change = twostep.Change("register_passkey", name=name)
        ui.request(ADD, "Preparing your passkey...", lambda: step_up.make(change, PLACE, NAME_INPUT))
        return
    answered = ui.passkey_answer(event, "create", PLACE)
    if answered is None:
        return
    ceremony, credential = answered

    def work() -> None:
        client = ui.client()
        result = flow.account_call(
            lambda token: client.passkey_register(token, ceremony.ceremony, credential, ceremony.name)
        )
        if result is None:
            return
        if not result.ok:
            ui.fail(result, PLACE, NAME_INPUT)
            return
        ui.set_field(NAME_INPUT, "")
        state().account.passkeys = None  # read again, with the new one
        ui.notify("success", result.message, PLACE)

    ui.request(ADD, "Saving your passkey...", work)


def _on_rename(item: passkey.Passkey) -> None:
    key = RENAME_PREFIX + item.id
    name = (st.session_state.get(key) or "").strip()
    if not name or name == item.name:
        return

    def work() -> None:
        result = flow.account_call(lambda token: ui.client().rename_passkey(token, item.id, name))
        if result is None:
            return
        if not result.ok:
            ui.fail(result, PLACE, key)
            return
        state().account.passkeys = None
        ui.notify("success", result.message, PLACE)

    ui.request(key, "Renaming...", work)


def _on_remove(item: passkey.Passkey) -> None:
    if state().account.step_up is not None:  # the prompt is open: it asks first
        return
    change = twostep.Change("remove_passkey", passkey=item.id)
    ui.request(f"remove_passkey_{item.id}", "Removing...", lambda: step_up.make(change, PLACE))


def _render_passkey(item: passkey.Passkey, disabled: bool) -> None:
    with st.container(border=True):
        kind = "synced across your devices" if item.synced else "on one device only"
        used = f"last used {ui.utc(item.last_used_at)}" if item.last_used_at is not None else "never used to sign in"
        added = f"Added {ui.utc(item.created_at)}, " if item.created_at is not None else ""
        st.markdown(f":material/passkey: **{ui.escape(item.name)}**")
        st.caption(f"{added}{used}; {kind}.")
        key = RENAME_PREFIX + item.id
        with st.form(f"rename_form_{item.id}", border=False):
            st.text_input("Name", value=item.name, key=key, max_chars=64, autocomplete="off")
            st.form_submit_button(
                "Rename", key=f"rename_{item.id}", on_click=_on_rename, args=(item,), disabled=disabled
            )
        ui.perform(key)
        remove = f"remove_passkey_{item.id}"
        st.button("Remove", key=remove, icon=":material/delete:", on_click=_on_remove, args=(item,), disabled=disabled)
        ui.perform(remove)


def render(blocked: bool) -> None:
    view = state().account
    if view.passkeys is None and not state().passkeys_off:  # read once per account view; again after a change
        step_up.load_passkeys()
        if not flow.signed_in():  # the API ended the session on the way: the sign-in page says why
            st.rerun()
    if state().passkeys_off:
        return
    st.subheader("Passkeys", divider="gray")
    st.caption("Sign in with one touch, with your fingerprint, face or screen lock: no code needed.")
    disabled = blocked or ui.busy()
    change = view.step_up
    if change is not None and change.action in twostep.PASSKEY_CHANGES:
        step_up.render(change, blocked)
    if view.passkeys_problem:
        st.warning(ui.escape(view.passkeys_problem), icon=":material/warning:")
    for item in view.passkeys or ():
        _render_passkey(item, disabled)
    st.text_input("New passkey's name", key=NAME_INPUT, max_chars=64, placeholder=DEFAULT_NAME, autocomplete="off")
    ui.show_notice(PLACE)
    ceremony = tab().ceremony
    passkey.button(
        "Add a passkey",
        ADD,
        ceremony if ceremony is not None and ceremony.kind == "create" else None,
        _on_add,
        disabled=disabled,
    )
    ui.perform(ADD)
