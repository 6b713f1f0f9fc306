"""Issue 13 in a real browser against the `make run` stack: the admin signs in with an email code and an
authenticator, sees the charts, looks a person up, locks them (their next /me is refused at once), unlocks them,
and finds both actions in the audit trail's CSV.

The page list shows "Admin" only once the session may read the admin routes; a reload keeps the admin on the page.
Every wait is for a state the page reaches, so a machine busy with other work only makes it slower.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any

import pytest
import requests

browser = pytest.importorskip(
    "tests.browser", reason="needs tests/browser.py and the two-step sign-in UI of the UI branch (issue 12's UI)"
)
pyotp = pytest.importorskip("pyotp")

from tests.local_stack import Stack  # noqa: E402

stack_fixture, page = browser.stack_fixture, browser.page  # the fixtures: one stack, a fresh page per test
pytestmark = browser.needs_chromium

ADMIN, PERSON = "admin@example.com", "person@example.com"
BASE32_KEY = re.compile(r"^[A-Z2-7]{16,}=*$")


def signed_in_person(stack: Stack) -> str:
    """The person's access token, signed in over HTTP with the code from the embedded AWS's inbox."""
    assert (
        requests.post(f"{stack.api_url}/otp", json={"action": "send_otp", "email": PERSON}, timeout=10).status_code
        == 200
    )
    mails = requests.get(f"{stack.aws_url}/_dev/inbox?limit=20", timeout=10).json()["mails"]
    mail = next(m for m in mails if PERSON in str(m.get("destinations", m)))
    code = re.search(r"\b(\d{6})\b", str(mail.get("subject", mail))).group(1)
    answer = requests.post(
        f"{stack.api_url}/otp", json={"action": "verify_otp", "email": PERSON, "otp": code}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def me(stack: Stack, token: str) -> int:
    return requests.get(f"{stack.api_url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def act(page: Any, button: str, reason: str, done: str) -> None:
    """Choose an action, type its reason and confirm it, waiting for each state the page reaches (not for times:
    a loaded machine may take seconds for each rerun)."""
    from playwright.sync_api import expect

    browser.press(page, button)
    field = page.get_by_label("Reason (required)")
    expect(field).to_be_editable()
    confirm = page.get_by_role("button", name=f"Confirm: {button}", exact=True)
    expect(confirm).to_be_disabled()  # no reason yet
    # Typed as a person types: the field reruns the page while it is typed (live), so the button enables without
    # Enter or leaving the field.
    field.press_sequentially(reason)
    expect(confirm).to_be_enabled(timeout=browser.TIMEOUT_MS)
    confirm.click()
    expect(page.get_by_text(done)).to_be_visible()


def test_an_admin_locks_and_unlocks_a_person_and_reads_the_audit(stack: Stack, page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    token = signed_in_person(stack)
    assert me(stack, token) == 200

    # The admin enrolls an authenticator; confirming it gives the session its second factor (AAL 2).
    browser.sign_in_by_email(page, stack, ADMIN)
    browser.press(page, "Set up an authenticator app")
    expect(page.get_by_role("img", name="QR code of the authenticator key")).to_be_visible()
    shown = page.get_by_test_id("stMain").get_by_test_id("stCode").all_inner_texts()
    (key,) = [text.strip() for text in shown if BASE32_KEY.match(text.strip())]
    page.get_by_label("Code from the app").fill(pyotp.TOTP(key).now())
    browser.press(page, "Turn on two-step verification")
    browser.press(page, "I have saved them")

    # The page list appears once the session has its second factor: the admin's page is there by its name.
    page.get_by_test_id("stSidebarNav").get_by_text("Admin", exact=True).click()
    expect(page.get_by_role("heading", name="Admin")).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()  # the charts rendered
    browser.screenshot(page, "e2e-admin-charts")
    browser.screenshot(page, "admin-dashboard", docs=True)
    page.reload()  # the admin stays signed in, on the admin page
    expect(page.get_by_role("heading", name="Admin")).to_be_visible()
    expect(page.get_by_test_id("stVegaLiteChart").first).to_be_visible()

    page.get_by_test_id("stRadio").get_by_text("Accounts", exact=True).click()
    page.get_by_label("Exact address, number (+ and country code) or account id").fill(PERSON)
    browser.press(page, "Look up")
    expect(page.get_by_text("Status active")).to_be_visible()
    expect(page.get_by_text("1 live session ·")).to_be_visible()
    # Only what applies: an active account without a second factor can be locked, not unlocked or stripped of one.
    expect(page.get_by_role("button", name="Unlock", exact=True)).to_have_count(0)
    expect(page.get_by_role("button", name="Remove two-step verification", exact=True)).to_have_count(0)
    act(page, "Lock", "the person reported a stolen laptop", "The account is locked")
    assert me(stack, token) == 401  # refused at once, long before the access token expires
    expect(page.get_by_role("button", name="Lock", exact=True)).to_have_count(0)
    act(page, "Unlock", "the laptop was found", "The account is unlocked")
    browser.screenshot(page, "e2e-admin-account")

    page.get_by_test_id("stRadio").get_by_text("Audit trail", exact=True).click()
    with page.expect_download() as download:
        browser.press(page, "Download CSV")
    saved = tmp_path / "audit.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    assert [(row["action"], row["reason"], row["admin"]) for row in rows[:2]] == [
        ("unlock", "the laptop was found", "a***@example.com"),
        ("lock", "the person reported a stolen laptop", "a***@example.com"),
    ]
