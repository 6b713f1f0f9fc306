"""Issue 21 in a real browser (tests/browser.py: Chromium, the `make run` stack): the session survives a reload and a
new tab at every step, while the browser holds nothing but an opaque HttpOnly handle; a double press of Verify signs
in once, without a false error; an error shows next to its field, which keeps what was typed, and focus moves to
the code field; the sign-in card and the dev inbox fit a phone's screen. Every wait is for a state, never a time.
"""

from __future__ import annotations

import re
from typing import Any

from tests import browser
from tests.browser import (
    markdown,
    needs_chromium,
    press,
    read_code_from_dev_inbox,
    screenshot,
    send_code,
    sign_out,
)
from tests.local_stack import Stack

# The fixtures this module uses: one stack for the module, a fresh browser page per test.
stack_fixture, page = browser.stack_fixture, browser.page

pytestmark = needs_chromium

SENT = "We emailed a sign-in code to"


def start(page: Any, stack: Stack, email: str) -> None:
    """From a fresh start page to the code form for ``email``."""
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email address").fill(email)
    send_code(page, page.get_by_text(SENT))


def test_a_reload_or_a_new_tab_keeps_each_step_and_the_browser_holds_only_a_handle(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    start(page, stack, "reloader@example.com")
    page.reload()  # in the middle of the sign-in: the same step, the same address, the code still valid
    expect(markdown(page, SENT)).to_contain_text("reloader@example.com")
    page.get_by_label("Code", exact=True).fill(read_code_from_dev_inbox(page))
    press(page, "Verify")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    page.reload()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_contain_text("reloader@example.com")
    other = page.context.new_page()  # a new tab of the same browser
    other.goto(stack.ui_url)
    expect(other.get_by_role("heading", name="Your account")).to_be_visible()
    # One page for a person who is not an admin: no page list at all, let alone an "Admin" link.
    expect(other.get_by_test_id("stSidebarNav")).to_have_count(0)

    # What the browser keeps: an opaque random handle, HttpOnly, and Streamlit's own XSRF cookie; no token
    # anywhere a script of the page could read.
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    handle = cookies.pop("otp_ui")
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", handle["value"]) and handle["httpOnly"] and handle["sameSite"] == "Lax"
    assert set(cookies) <= {"_streamlit_xsrf"}, cookies
    stored = page.evaluate("JSON.stringify([document.cookie, {...localStorage}, {...sessionStorage}])")
    assert "otp_ui" not in stored and "eyJ" not in stored and "rt1." not in stored, stored

    sign_out(page)
    other.reload()  # signed out in one tab: every tab of the browser is
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_verify_pressed_twice_signs_in_once_without_a_false_error(stack: Stack, page: Any) -> None:
    """Two presses of Verify 20 ms apart, where the button is: the page before this change sent the right code
    twice and showed "The code is invalid or has expired." instead of the account (every time, on this machine)."""
    from playwright.sync_api import expect

    start(page, stack, "double@example.com")
    page.get_by_label("Code", exact=True).fill(read_code_from_dev_inbox(page))
    box = page.get_by_role("button", name="Verify", exact=True).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(20)  # not a wait for the page: the interval between the person's two presses
    page.mouse.click(x, y)

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_text("Signed in as")).to_contain_text("double@example.com")
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    sign_out(page)


def test_an_error_shows_next_to_its_field_and_focus_follows_the_form(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    start(page, stack, "typo@example.com")
    code = page.get_by_label("Code", exact=True)
    expect(code).to_be_focused()  # after "Send code" the code field takes the keyboard
    assert code.get_attribute("inputmode") == "numeric"
    assert code.get_attribute("autocomplete") == "one-time-code"

    wrong = "000000" if read_code_from_dev_inbox(page) != "000000" else "111111"
    code.fill(wrong)
    press(page, "Verify")
    form = page.get_by_test_id("stForm")
    error = form.get_by_role("alert").filter(has_text="invalid")
    expect(error).to_be_visible()
    expect(error).to_be_in_viewport()  # where the eye is: under the field, not far above it
    expect(code).to_have_value(wrong)  # kept, to be corrected rather than typed again
    field_box, error_box = code.bounding_box(), error.bounding_box()
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 120, (field_box, error_box)
    assert len(page.get_by_test_id("stMain").get_by_role("alert").all()) == 1  # one notice, not two
    screenshot(page, "e2e-error-under-its-field")


def test_the_sign_in_card_and_the_dev_inbox_fit_a_phone(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(stack.ui_url)
    expect(page.get_by_label("Email address")).to_be_visible()
    send = page.get_by_role("button", name="Send code", exact=True)
    expect(send).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
    box = send.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    expect(page.get_by_test_id("stSidebarContent")).not_to_be_in_viewport()  # the card has the screen
    screenshot(page, "e2e-phone-sign-in")

    page.get_by_test_id("stExpandSidebarButton").click()  # the dev inbox, behind the sidebar's button
    refresh = page.get_by_test_id("stSidebar").get_by_role("button", name="Refresh")
    expect(refresh).to_be_in_viewport()
    label = refresh.get_by_text("Refresh", exact=True)
    assert label.evaluate("node => node.scrollWidth <= node.clientWidth"), "the label is cut"
    screenshot(page, "e2e-phone-dev-inbox")
