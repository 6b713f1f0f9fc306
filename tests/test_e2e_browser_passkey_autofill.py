"""The sign-in card's passkey autofill (frontend/passkey_autofill.py) over time, in Chromium against a stack whose
passkey ceremonies last the shortest time a stage allows (30 s), so that a renewal comes within a test: the page's
script asks for the rerun that renews its open ceremony before it expires, and the pending conditional request is
replaced by one for the new ceremony, the person noticing nothing. And the passkey button stops the pending
request for its own ceremony (browsers run one WebAuthn request at a time).

The browser has no authenticator here, so a conditional request stays pending, as in a browser whose person has not
picked a passkey yet. Each WebAuthn request of the page is recorded by a script that runs before the page's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from frontend import passkey_autofill
from tests import browser
from tests.local_stack import Stack, running_stack

pytestmark = browser.needs_chromium
page = browser.page

CEREMONY_SECONDS = 30  # the shortest OTP_PASSKEY_CEREMONY_SECONDS allows
OPTIONS_ROUTE = '"route": "/passkeys/signin/options"'
# Every navigator.credentials.get of the page and of its frames: how it was asked, and how it settled.
RECORD_WEBAUTHN = """
window.webauthnCalls = [];
const get = navigator.credentials.get.bind(navigator.credentials);
navigator.credentials.get = (options) => {
  const key = options.publicKey;
  const call = {mediation: options.mediation || null,
                challenge: btoa(String.fromCharCode(...new Uint8Array(key.challenge))), settled: null};
  window.webauthnCalls.push(call);
  const pending = get(options);
  pending.then(() => { call.settled = "credential"; }, (error) => { call.settled = error.name; });
  return pending;
};
"""


@pytest.fixture(scope="module", name="stack")
def stack_fixture() -> Iterator[Stack]:
    settings = {**browser.STACK_SETTINGS, "OTP_PASSKEY_CEREMONY_SECONDS": str(CEREMONY_SECONDS)}
    try:
        with running_stack(settings) as running:
            assert f"OTP_PASSKEY_CEREMONY_SECONDS={CEREMONY_SECONDS}" in running.output(), running.output()
            yield running
    except RuntimeError as error:
        pytest.fail(str(error))


def calls(page: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate("window.webauthnCalls")
    return found


def test_the_open_ceremony_is_renewed_before_it_expires(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    page.add_init_script(RECORD_WEBAUTHN)
    asked = stack.output().count(OPTIONS_ROUTE)
    page.goto(stack.ui_url)
    expect(page.get_by_label("Email address")).to_have_attribute("autocomplete", "username webauthn")
    page.wait_for_function("window.webauthnCalls.length === 1")
    (first,) = calls(page)
    assert first["mediation"] == "conditional" and first["settled"] is None

    # Renewed RENEW_BEFORE seconds before the ceremony's end: its request stopped, the new one's started.
    due = max(CEREMONY_SECONDS - passkey_autofill.RENEW_BEFORE, passkey_autofill.MINIMUM_LIFE)
    page.wait_for_function("window.webauthnCalls.length === 2", timeout=(due + 15) * 1000)
    stopped, renewed = calls(page)
    assert stopped["settled"] == "AbortError", stopped
    assert renewed["mediation"] == "conditional" and renewed["settled"] is None, renewed
    assert renewed["challenge"] != first["challenge"]
    assert stack.output().count(OPTIONS_ROUTE) == asked + 2
    expect(page.get_by_label("Email address")).to_be_visible()  # no notice, no other change on the card
    assert not page.get_by_test_id("stAlert").count()


def test_the_button_stops_the_pending_request_for_its_own(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    page.add_init_script(RECORD_WEBAUTHN)
    page.goto(stack.ui_url)
    page.wait_for_function("window.webauthnCalls.length === 1")
    frame = page.get_by_test_id("stCustomComponentV1").first.content_frame
    button = frame.get_by_role("button", name="Sign in with a passkey")
    expect(button).to_be_enabled()
    button.click()
    page.wait_for_function("window.webauthnCalls[0].settled !== null")
    assert calls(page)[0]["settled"] == "AbortError"
    frame_calls = frame.locator("body").evaluate("() => window.webauthnCalls")
    assert [call["mediation"] for call in frame_calls] == [None]  # the button's own, a modal request
