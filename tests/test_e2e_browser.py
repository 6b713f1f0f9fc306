"""A person signs in through a real browser: the processes `make run` starts, driven by Playwright in Chromium.

Debian's Chromium is used (a test tool's own browser download is not available on these machines); CI installs
it. Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.local_stack import REPO_ROOT, Stack, stack_fixture  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO_ROOT / "test-artifacts"
# Headless as root in a container, with no network beyond loopback: every background service is switched off.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium: sudo apt-get install chromium"
)


@pytest.fixture
def page(stack: Stack) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def screenshot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def read_code_from_dev_inbox(page: object) -> str:
    """The code of the newest mail in the UI's dev inbox, as a person would read it there."""
    from playwright.sync_api import expect

    inbox = page.get_by_test_id("stSidebar")
    subject = inbox.get_by_text(re.compile(r"Your sign-in code: \d{6}")).first
    for _ in range(5):  # the mail may land a moment after the page drew the inbox
        if subject.is_visible():
            break
        inbox.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(500)
    expect(subject).to_be_visible()
    return re.search(r"\d{6}", subject.inner_text()).group(0)


def test_a_person_signs_in_with_a_code_from_the_dev_inbox_and_signs_out(stack: Stack, page: object) -> None:
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email address").fill("newcomer@example.com")
    page.get_by_role("button", name="Send code").click()
    expect(page.get_by_text("We emailed a sign-in code to")).to_be_visible()

    code = read_code_from_dev_inbox(page)
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_role("button", name="Verify")).to_have_count(0)  # the code form is gone, not just stale
    expect(page.get_by_text("Signed in as")).to_be_visible()
    expect(page.get_by_text("Session expires:")).to_be_visible()
    main_text = page.get_by_test_id("stMain").inner_text()
    assert "newcomer@example.com" in main_text
    expect(page.get_by_text("Account ID")).to_be_visible()  # /me answers the account's stable id
    assert re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", main_text), main_text
    screenshot(page, "e2e-signed-in")

    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    screenshot(page, "e2e-signed-out")


def test_a_wrong_code_shows_the_api_message(stack: Stack, page: object) -> None:
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    page.get_by_label("Email address").fill("typo@example.com")
    page.get_by_role("button", name="Send code").click()
    code = read_code_from_dev_inbox(page)
    page.get_by_label("Code").fill("000000" if code != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("The code is invalid or has expired.")).to_be_visible()
    screenshot(page, "e2e-wrong-code")
