"""Issue 11 in a real browser: sign in by phone with the code read from the dev inbox's SMS, and link a phone to an
email account so that signing in by that number lands in the same account (tests/browser.py: Chromium, the
`make run` stack). Each test uses a number of its own, so per-number limits of one never meet the other.
"""

from __future__ import annotations

from typing import Any

from tests import browser
from tests.browser import (
    account_id,
    markdown,
    needs_chromium,
    press,
    read_sms_code_from_dev_inbox,
    screenshot,
    send_code,
    sign_in_by_email,
    sign_out,
)
from tests.local_stack import Stack

# The fixtures this module uses: one stack for the module, a fresh browser page per test.
stack_fixture, page = browser.stack_fixture, browser.page

pytestmark = needs_chromium


def sign_in_by_phone(page: Any, ui_url: str, country: str, typed: str, shown: str) -> None:
    """From a fresh start page to the account view: pick ``country``, type the number as people do, read the SMS."""
    from playwright.sync_api import expect

    page.goto(ui_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_test_id("stRadio").get_by_text("Phone", exact=True).click()
    if country != "US":  # US is preselected: the stage's list starts with it
        page.get_by_test_id("stSelectbox").click()
        page.get_by_role("option", name=country).click()
    page.get_by_label("Phone number").fill(typed)
    sent = page.get_by_text("We sent a sign-in code by SMS to")
    send_code(page, sent)
    expect(sent).to_contain_text(shown)  # the number as the API read it, in international format

    page.get_by_label("Code", exact=True).fill(read_sms_code_from_dev_inbox(page))
    press(page, "Verify")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()


def test_a_person_signs_in_by_phone_with_the_code_from_the_dev_inbox(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    # A GB mobile typed nationally, trunk 0 and spaces included: the picker makes it +44 7400 123456.
    sign_in_by_phone(page, stack.ui_url, "GB +44", "07400 123456", "+44 7400 123456")

    expect(page.get_by_text("Signed in as")).to_contain_text("+44 7400 123456")
    expect(markdown(page, "Identifiers:")).to_contain_text("+44 7400 123456 (phone)")
    account_id(page)
    screenshot(page, "e2e-phone-signed-in")
    sign_out(page)


def test_a_phone_linked_to_an_email_account_signs_in_to_the_same_account(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in_by_email(page, stack.ui_url, "linker@example.com")
    email_account = account_id(page)

    page.get_by_label("Phone number").fill("(201) 555-0123")  # US, preselected
    press(page, "Send code to phone")
    expect(page.get_by_text("We sent a code by SMS to")).to_contain_text("+1 201-555-0123")
    page.get_by_label("Code from the SMS").fill(read_sms_code_from_dev_inbox(page))
    press(page, "Add phone")
    expect(page.get_by_text("signs in to this account too")).to_contain_text("+1 201-555-0123")
    expect(markdown(page, "Identifiers:")).to_contain_text("linker@example.com (email), +1 201-555-0123 (phone)")
    screenshot(page, "e2e-phone-linked")
    sign_out(page)

    sign_in_by_phone(page, stack.ui_url, "US", "+1 201 555 0123", "+1 201-555-0123")
    assert account_id(page) == email_account
    expect(page.get_by_text("Signed in as")).to_contain_text("linker@example.com")  # the account, not the number
    sign_out(page)
