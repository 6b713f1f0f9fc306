"""Issue 12 in a real browser: enroll an authenticator from the key the page shows (codes computed with pyotp, as
an authenticator app does), sign out, sign in with the email code and a TOTP code, then with a recovery code
(tests/browser.py: Chromium, the `make run` stack).
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pyotp

from tests import browser
from tests.browser import account_id, markdown, needs_chromium, press, screenshot, sign_in_by_email, sign_out
from tests.local_stack import Stack

# The fixtures this module uses: one stack for the module, a fresh browser page per test.
stack_fixture, page = browser.stack_fixture, browser.page

pytestmark = needs_chromium

BASE32_KEY = re.compile(r"^[A-Z2-7]{16,}=*$")
TWO_STEP_ON = "an authenticator app is asked for after the sign-in code"


def code_in_a_fresh_time_step(totp: pyotp.TOTP, used_at: float) -> str:
    """A code of a later time step than the one used at ``used_at``: a used step never works again (no replay),
    so this waits up to one step (30 s)."""
    while time.time() // totp.interval <= used_at // totp.interval:
        time.sleep(0.5)
    return totp.now()


def test_enroll_then_sign_in_with_totp_and_with_a_recovery_code(stack: Stack, page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    sign_in_by_email(page, stack, "twostep@example.com")
    the_account = account_id(page)

    press(page, "Set up an authenticator app")
    expect(page.get_by_role("img", name="QR code of the authenticator key")).to_be_visible()
    codes_on_page = page.get_by_test_id("stMain").get_by_test_id("stCode").all_inner_texts()
    (key,) = [text.strip() for text in codes_on_page if BASE32_KEY.match(text.strip())]
    totp = pyotp.TOTP(key)  # what an authenticator app computes from that key
    confirmed_at = time.time()
    page.get_by_label("Code from the app").fill(totp.now())
    press(page, "Turn on two-step verification")

    expect(page.get_by_text("Save these recovery codes now")).to_be_visible()
    shown = page.get_by_test_id("stMain").get_by_test_id("stCode").filter(has_not_text=the_account).inner_text()
    recovery_codes = [line.strip() for line in shown.splitlines() if line.strip()]
    assert len(recovery_codes) == 10, shown
    with page.expect_download() as download_info:
        press(page, "Download recovery codes")
    downloaded = tmp_path / "recovery-codes.txt"
    download_info.value.save_as(downloaded)
    assert downloaded.read_text().splitlines() == recovery_codes
    screenshot(page, "e2e-mfa-recovery-codes")
    press(page, "I have saved them")
    expect(markdown(page, TWO_STEP_ON)).to_contain_text("10 recovery codes left")
    sign_out(page)

    # Email code, then the authenticator; a reload at its prompt keeps the sign-in where it was.
    sign_in_by_email(page, stack, "twostep@example.com")
    expect(page.get_by_label("Authenticator code")).to_be_visible()
    page.reload()
    expect(markdown(page, "Two-step verification is on for")).to_contain_text("twostep@example.com")
    expect(page.get_by_label("Authenticator code")).to_have_attribute("inputmode", "numeric")  # the number pad
    page.get_by_label("Authenticator code").fill(code_in_a_fresh_time_step(totp, confirmed_at))
    press(page, "Continue")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert account_id(page) == the_account
    sign_out(page)

    # Email code, then a recovery code instead.
    sign_in_by_email(page, stack, "twostep@example.com")
    page.get_by_test_id("stRadio").get_by_text("Recovery code", exact=True).click()
    recovery = page.get_by_role("textbox", name="Recovery code")
    expect(recovery).not_to_have_attribute("inputmode", "numeric")  # it has letters: the full keyboard
    recovery.fill(recovery_codes[0])
    press(page, "Continue")
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert account_id(page) == the_account
    expect(markdown(page, TWO_STEP_ON)).to_contain_text("9 recovery codes left")
    screenshot(page, "e2e-mfa-signed-in-by-recovery-code")
    sign_out(page)
