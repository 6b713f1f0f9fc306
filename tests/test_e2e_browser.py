"""A person signs in through a real browser: the processes `make run` starts, driven by Playwright in Chromium
(tests/browser.py)."""

from __future__ import annotations

from typing import Any

from tests import browser
from tests.browser import account_id, needs_chromium, read_code_from_dev_inbox, screenshot, sign_out
from tests.local_stack import Stack
from tests.test_e2e_browser_passkeys import passkey_button

# The fixtures this module uses: one stack for the module, a fresh browser page per test.
stack_fixture, page = browser.stack_fixture, browser.page

pytestmark = needs_chromium


def test_a_person_signs_in_with_a_code_from_the_dev_inbox_and_signs_out(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # The README's picture: once the card is drawn whole, the passkey button's frame and the inbox's included.
    expect(page.get_by_label("Email address")).to_be_visible()
    expect(page.get_by_test_id("stSidebar").get_by_role("button", name="Refresh")).to_be_visible()
    passkey_button(page, "Sign in with a passkey")
    screenshot(page, "sign-in", docs=True)
    page.get_by_label("Email address").fill("newcomer@example.com")
    page.get_by_role("button", name="Send code").click()
    expect(page.get_by_text("We emailed a sign-in code to")).to_be_visible()

    code = read_code_from_dev_inbox(page)
    page.get_by_label("Code", exact=True).fill(f"{code[:3]} {code[3:]}")  # as read out, or pasted from the mail
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_role("button", name="Verify")).to_have_count(0)  # the code form is gone, not just stale
    expect(page.get_by_text("Signed in as")).to_be_visible()
    expect(page.get_by_text("Session expires:")).to_be_visible()
    assert "newcomer@example.com" in page.get_by_test_id("stMain").inner_text()
    account_id(page)
    screenshot(page, "e2e-signed-in")
    screenshot(page, "account", docs=True)

    sign_out(page)
    screenshot(page, "e2e-signed-out")


def test_a_code_typed_with_a_hyphen_signs_in(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    page.get_by_label("Email address").fill("hyphen@example.com")
    page.get_by_role("button", name="Send code").click()
    code = read_code_from_dev_inbox(page)
    page.get_by_label("Code", exact=True).fill(f"{code[:3]}-{code[3:]}")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert "hyphen@example.com" in page.get_by_test_id("stMain").inner_text()


def test_a_wrong_code_shows_the_api_message(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    page.get_by_label("Email address").fill("typo@example.com")
    page.get_by_role("button", name="Send code").click()
    code = read_code_from_dev_inbox(page)
    page.get_by_label("Code", exact=True).fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("The code is invalid or has expired.")).to_be_visible()
    screenshot(page, "e2e-wrong-code")
