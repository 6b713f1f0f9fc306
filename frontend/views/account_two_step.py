"""Two-step verification, a part of the "Account" page: set up an authenticator app (QR code or key, then a code
from it), the recovery codes it gives once, and turning it off or creating new recovery codes (both behind a fresh
proof of the second factor, asked for right here).
"""

from __future__ import annotations

import streamlit as st

from frontend import api, clock, flow, twostep, ui
from frontend.session import TwoStep
from frontend.state import ui as state
from frontend.views import step_up

TOTP_CODE_INPUT = "totp_code_input"
PLACE = "two_step"


def _on_start_totp() -> None:
    if state().account.enrollment is not None:  # a second press: the QR code is on its way
        return

    def work() -> None:
        result = flow.account_call(lambda token: ui.client().start_totp(token))
        if result is None:
            return
        if not result.ok:
            ui.fail(result, PLACE)
            return
        enrollment = twostep.Enrollment.from_answer(result.data)
        if enrollment is None:
            ui.notify("error", api.UNEXPECTED_ANSWER, PLACE)
            return
        state().account.enrollment = enrollment
        ui.set_field(TOTP_CODE_INPUT, "")
        ui.focus(TOTP_CODE_INPUT)
        ui.clear_notice()

    ui.request("start_totp", "Preparing your authenticator...", work)


def _on_confirm_totp() -> None:
    current = state()
    if current.account.enrollment is None:  # a second press after it was turned on
        return
    code = ui.digits(TOTP_CODE_INPUT)
    if not code:
        ui.notify("warning", "Enter the code your authenticator app shows.", PLACE, TOTP_CODE_INPUT)
        return

    def work() -> None:
        client = ui.client()
        outcome = flow.token_renewal(client).call(lambda token: client.confirm_totp(token, code))
        if not outcome.ended:
            # The answer holds new tokens at the higher assurance level and the API refuses the old ones from now
            # on: kept at once (see SessionBox).
            outcome = twostep.adopt_session(current.box, outcome.result, clock.now())
        if outcome.ended:
            flow.end_session()
            return
        result = outcome.result
        if not result.ok:
            ui.fail(result, PLACE, TOTP_CODE_INPUT)
            return
        current.account.enrollment = None
        current.account.recovery_codes = twostep.recovery_codes(result.data)
        ui.set_field(TOTP_CODE_INPUT, "")
        ui.notify("success", result.message, PLACE)
        flow.load_account()

    ui.request("confirm_totp", "Checking code...", work)


def _on_cancel_enrollment() -> None:
    state().account.enrollment = None  # nothing is active until confirmed, so there is nothing to undo
    ui.clear_notice()


def _on_codes_saved() -> None:
    state().account.recovery_codes = ()  # shown until now: they are gone from this UI


def _on_sensitive(action: twostep.SensitiveAction) -> None:
    if state().account.step_up is not None:  # a second press: the prompt asks first
        return
    ui.request(action, "Working...", lambda: step_up.make(twostep.Change(action), PLACE))


def _render_recovery_codes(codes: tuple[str, ...]) -> None:
    st.warning(
        "Save these recovery codes now: they are shown only until you confirm you saved them. Each one signs you in "
        "once if you lose your authenticator.",
        icon=":material/key:",
    )
    text = "\n".join(codes)
    st.code(text, language=None)
    left, right = st.columns(2)
    left.download_button(
        "Download recovery codes",
        data=text + "\n",
        file_name="recovery-codes.txt",
        mime="text/plain",
        key="download_codes",
        icon=":material/download:",
        on_click="ignore",  # downloading must not rerun the page (and must not hide the codes)
    )
    right.button("I have saved them", key="codes_saved", type="primary", on_click=_on_codes_saved)


def _render_enrollment(enrollment: twostep.Enrollment, blocked: bool) -> None:
    st.markdown("Scan this QR code with your authenticator app, then enter the code it shows.")
    st.image(enrollment.qr_svg, width=220, alt="QR code of the authenticator key")
    st.caption("Cannot scan it? Enter this key in the app instead:")
    st.code(enrollment.secret, language=None, width="content")
    with st.form("confirm_totp_form", border=False):
        ui.code_field("Code from the app", TOTP_CODE_INPUT)
        ui.show_notice(PLACE)
        st.form_submit_button(
            "Turn on two-step verification",
            key="confirm_totp",
            type="primary",
            on_click=_on_confirm_totp,
            disabled=blocked or ui.busy(),
        )
    ui.perform("confirm_totp")
    st.button("Cancel", key="cancel_enrollment", type="tertiary", on_click=_on_cancel_enrollment)


def render(two_step: TwoStep | None, blocked: bool) -> None:
    """Whichever step is in progress, else its state and what can be done about it."""
    st.subheader("Two-step verification", divider="gray")
    view = state().account
    change = view.step_up
    disabled = blocked or ui.busy()
    if view.recovery_codes:
        ui.show_notice(PLACE)
        _render_recovery_codes(view.recovery_codes)
    elif change is not None and change.action in twostep.TWO_STEP_CHANGES:
        step_up.render(change, blocked)
    elif view.enrollment is not None:
        _render_enrollment(view.enrollment, blocked)
    elif two_step is not None and two_step.totp:
        left = two_step.recovery_codes_left
        counted = f" {ui.plural(left, 'recovery code')} left." if left is not None else ""
        st.markdown(f":material/verified: **On**: an authenticator app is asked for after the sign-in code.{counted}")
        if two_step.recovery_codes_low:
            st.warning("You are running out of recovery codes: create new ones.", icon=":material/warning:")
        ui.show_notice(PLACE)
        left_column, right_column = st.columns(2)
        left_column.button(
            "Create new recovery codes",
            key="new_recovery_codes",
            on_click=_on_sensitive,
            args=("new_recovery_codes",),
            disabled=disabled,
        )
        right_column.button(
            "Turn off two-step verification",
            key="remove_totp",
            on_click=_on_sensitive,
            args=("remove_totp",),
            disabled=disabled,
        )
        ui.perform("new_recovery_codes")
        ui.perform("remove_totp")
    else:
        st.caption("Off: a sign-in code alone signs you in. Add an authenticator app to ask for a second code.")
        ui.show_notice(PLACE)
        st.button(
            "Set up an authenticator app",
            key="start_totp",
            icon=":material/qr_code:",
            on_click=_on_start_totp,
            disabled=disabled,
        )
        ui.perform("start_totp")
