"""Real-browser helpers for the end-to-end tests: Debian's Chromium driven by Playwright against the `make run`
stack (tests/local_stack.py), and what a person reads off the page (the dev inbox, the account id).

Debian's Chromium is used (a test tool's own browser download is not available on these machines); CI installs
it. Screenshots land in test-artifacts/. A module uses this with ``pytestmark = needs_chromium`` and by binding
the fixtures ``stack_fixture`` and ``page`` in its own namespace.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.local_stack import REPO_ROOT, Stack, running_stack

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
# A person who asks for a second code waits out the resend cooldown. The browser's stack keeps the cooldowns short
# (`make run` takes settings from its environment), so a test that signs in twice does not wait a minute; the
# cooldowns themselves are tested without a browser.
QUICK_COOLDOWNS = {"OTP_RESEND_COOLDOWN_SECONDS": "3", "OTP_SMS_RESEND_COOLDOWN_SECONDS": "3"}
STACK_SETTINGS = {**QUICK_COOLDOWNS, "LOG_LEVEL": "DEBUG"}  # the log scan reads every diagnostic
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
RESEND_COOLDOWN_MS = 15_000  # the longest of those, with a margin for a busy machine
ACCOUNT_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium: sudo apt-get install chromium"
)


@pytest.fixture(scope="module", name="stack")
def stack_fixture() -> Iterator[Stack]:
    """The `make run` stack for one browser test module, with :data:`QUICK_COOLDOWNS`."""
    try:
        with running_stack(STACK_SETTINGS) as running:
            taken = ", ".join(f"{name}={value}" for name, value in QUICK_COOLDOWNS.items())
            assert f"settings from the environment: {taken}" in running.output(), running.output()
            yield running
            if running.process.poll() is not None:  # it stopped by itself: say why, not only that pages failed
                pytest.fail(f"the stack stopped during the module:\n{running.output()[-6000:]}")
    except RuntimeError as error:
        pytest.fail(str(error))


@pytest.fixture
def page(stack: Stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            # A context of its own, so that a test can open a second tab of the same browser (same cookies).
            context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def screenshot(page: Any, name: str, docs: bool = False) -> None:
    """``page`` as an image in test-artifacts/; with ``docs``, and ``UPDATE_SCREENSHOTS=1`` in the environment,
    also the README's picture of it in docs/screenshots/ (committed; a plain run leaves them as they are, so the
    tree stays clean)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if docs and os.environ.get("UPDATE_SCREENSHOTS") == "1":
        DOCS_SCREENSHOTS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS_SCREENSHOTS / f"{name}.png"), full_page=False)


def _newest(page: Any, entry: Any, arrived: Any = None) -> str:
    """The first 6-digit run in ``entry`` (a locator in the dev inbox), refreshing while it, or the message that
    ``arrived`` locates, has not arrived."""
    from playwright.sync_api import expect

    inbox = page.get_by_test_id("stSidebar")
    awaited = entry if arrived is None else arrived
    for _ in range(5):  # the message may land a moment after the page drew the inbox
        if awaited.is_visible():
            break
        inbox.get_by_role("button", name="Refresh").click()
        page.wait_for_timeout(500)
    expect(awaited).to_be_visible()
    return re.search(r"\b\d{6}\b", entry.inner_text()).group(0)


def _messages(page: Any) -> Any:
    """The messages the dev inbox lists, newest first: each a container of its own (the innermost blocks: the
    sidebar itself is one too)."""
    inbox = page.get_by_test_id("stSidebar")
    return inbox.get_by_test_id("stVerticalBlock").filter(has_not=page.get_by_test_id("stVerticalBlock"))


def read_code_from_dev_inbox(page: Any, mails: int = 1) -> str:
    """The code of the newest mail to the address in use, as a person would read it in the UI's dev inbox.

    The inbox marks those mails "for you" and lists them newest first; this waits until it lists ``mails`` of
    them. A page whose rerun has not drawn the sidebar yet still shows the previous run's inbox, in
    which the address was not in use (the start page) or its newest mail not there yet: reading the first mail
    that looks like a code would read a stale one. The code is read from the body, the six digits in it,
    whatever the wording (it differs with what the code is for: signing in, confirming a change).
    """
    mine = _messages(page).filter(has_text="for you").filter(has_not_text="SMS to")
    return _newest(page, mine.first.get_by_test_id("stCode"), arrived=mine.nth(mails - 1))


def read_sms_code_from_dev_inbox(page: Any) -> str:
    """The code of the newest SMS to the number in use (the inbox lists it first, marked "for you"), read from its
    text: the heading holds the number, which may well contain six digits in a row."""
    # "SMS to": the mails to the address in use are marked "for you" too, and one may arrive first.
    mine = _messages(page).filter(has_text="for you").filter(has_text="SMS to")
    return _newest(page, mine.first.get_by_test_id("stCode"))


def account_id(page: Any) -> str:
    """The Account ID the account view shows (it waits for the view)."""
    from playwright.sync_api import expect

    expect(page.get_by_text("Account ID")).to_be_visible()  # /me answers the account's stable id
    # The label can be drawn a moment before the id itself, the previous step's elements still beside it.
    expect(page.get_by_test_id("stMain")).to_contain_text(ACCOUNT_ID)
    main_text = page.get_by_test_id("stMain").inner_text()
    found = ACCOUNT_ID.search(main_text)
    assert found, main_text
    return found.group(0)


def markdown(page: Any, text: str) -> Any:
    """The paragraph of the main area that holds ``text``, bold parts included (``get_by_text`` would find just
    the bold part when ``text`` is one)."""
    return page.get_by_test_id("stMain").get_by_test_id("stMarkdownContainer").filter(has_text=text)


def send_code(page: Any, sent: Any, button: str = "Send code") -> None:
    """Press ``button`` until ``sent`` (a locator of what the page shows once the code went) shows.

    If a code went to the same address or number moments ago (an earlier step of the same test), the API
    answers with its resend cooldown: wait it out as a person would, until the page enables the button again.
    """
    from playwright.sync_api import expect

    press(page, button)
    expect(sent.or_(page.get_by_text("You can try again in"))).to_be_visible()
    if not sent.is_visible():
        expect(page.get_by_text("You can try again in")).to_have_count(0, timeout=RESEND_COOLDOWN_MS)
        # The rerun that enables the button may still show the previous run's disabled one beside it.
        expect(page.get_by_role("button", name=button, exact=True, disabled=False).first).to_be_visible()
        press(page, button)
    expect(sent).to_be_visible()


def mails_to(stack: Stack, email: str) -> int:
    """How many mails to ``email`` the embedded AWS has captured (its dev inbox, over HTTP)."""
    import requests

    mails = requests.get(f"{stack.aws_url}/_dev/inbox?limit=100", timeout=10).json()["mails"]
    return sum(1 for mail in mails if email in mail.get("destinations", {}).get("ToAddresses", []))


def sign_in_by_email(page: Any, stack: Stack, email: str) -> None:
    """From a fresh start page to the point after "Verify" with the code from the dev inbox.

    The address may have signed in before in the same test: the page's inbox then lists its earlier mails too,
    newest first, and until a rerun draws the new one the first it lists is an old code. So the code is read once
    the inbox lists one mail more than the embedded AWS had captured before the send.
    """
    from playwright.sync_api import expect

    earlier = mails_to(stack, email)
    page.goto(stack.ui_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.get_by_label("Email address").fill(email)
    send_code(page, page.get_by_text("We emailed a sign-in code to"))
    page.get_by_label("Code", exact=True).fill(read_code_from_dev_inbox(page, mails=earlier + 1))
    press(page, "Verify")


def press(page: Any, name: str) -> None:
    """Click the button ``name`` once the page has settled on one: while Streamlit reruns a page whose layout
    changed it still shows the previous run's elements beside the new ones until the run ends."""
    from playwright.sync_api import expect

    button = page.get_by_role("button", name=name, exact=True)
    expect(button).to_have_count(1)
    button.click()


def sign_out(page: Any) -> None:
    from playwright.sync_api import expect

    press(page, "Sign out")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
