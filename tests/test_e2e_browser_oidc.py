"""Signing in to an app with OpenID Connect, in a real browser (issue 22): the example app (examples/streamlit_login),
whose sign-in is Streamlit's own ``st.login()`` (Authlib, a client nobody here wrote), sends the person to the
provider, the provider to the sign-in UI with a login challenge; the person signs in there (an email code from the
dev inbox, and an authenticator code for an account with two-step verification), allows the app, and is back in
the app signed in, with their address; "Sign out" there ends the app's session and the UI's. Also: the UI's pages
refuse to be framed. Chromium and the `make run` stack, as tests/browser.py sets them up.
"""

from __future__ import annotations

import time
from typing import Any

import pyotp
import requests

from tests import browser
from tests.browser import (
    account_id,
    mails_to,
    markdown,
    needs_chromium,
    press,
    read_code_from_dev_inbox,
    screenshot,
    send_code,
    sign_in_by_email,
    sign_out,
)
from tests.local_stack import Stack
from tests.test_e2e_browser_mfa import BASE32_KEY, code_in_a_fresh_time_step

# The fixtures this module uses: one stack for the module, a fresh browser page per test.
stack_fixture, page = browser.stack_fixture, browser.page

pytestmark = needs_chromium

APP_NAME = "Example app"  # the local stage's name of the client local-example


def start_at_the_app(page: Any, stack: Stack) -> None:
    """Open the example app signed out and press its "Sign in": the provider sends the browser to the UI."""
    from playwright.sync_api import expect

    page.goto(stack.example_url)
    expect(page.get_by_role("heading", name="Example app")).to_be_visible()
    press(page, "Sign in")
    expect(markdown(page, "Sign in to continue to")).to_contain_text(APP_NAME)
    expect(page.get_by_label("Email address")).to_be_visible()
    assert page.url.startswith(f"{stack.ui_url}/"), page.url
    assert "login_challenge" not in page.url  # the UI keeps it server-side and takes it out of the address


def code_by_email(page: Any, stack: Stack, email: str) -> None:
    """On the UI's sign-in card: the address, the code from the dev inbox, Verify."""
    earlier = mails_to(stack, email)
    page.get_by_label("Email address").fill(email)
    send_code(page, page.get_by_text("We emailed a sign-in code to"))
    page.get_by_label("Code", exact=True).fill(read_code_from_dev_inbox(page, mails=earlier + 1))
    press(page, "Verify")


def allow(page: Any, name: str) -> None:
    """The consent card, as a person reads it, then Allow."""
    from playwright.sync_api import expect

    expect(markdown(page, "wants to:")).to_contain_text(APP_NAME)
    main = page.get_by_test_id("stMain")
    expect(main).to_contain_text("know it is you")
    expect(main).to_contain_text("see your email address")
    screenshot(page, name)
    if name == "e2e-oidc-consent":
        screenshot(page, "consent", docs=True)  # the README's picture of signing in to an app
    press(page, "Allow")


def back_in_the_app_as(page: Any, stack: Stack, email: str) -> None:
    from playwright.sync_api import expect

    page.wait_for_url(f"{stack.example_url}/**")
    expect(page.get_by_text("You are signed in as")).to_be_visible()
    expect(page.get_by_test_id("stMain").get_by_test_id("stCode")).to_have_text(email)


def signs_out_of_the_app_and_the_ui(page: Any, stack: Stack) -> None:
    """The app's "Sign out" (st.logout: the provider's end_session_endpoint) ends its session and the UI session it
    came from: the UI, opened again, finds its session ended."""
    from playwright.sync_api import expect

    press(page, "Sign out")
    page.wait_for_url(f"{stack.example_url}/**")
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_visible()
    page.goto(stack.ui_url)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Email address")).to_be_visible()


def test_an_app_signs_a_person_in_with_an_email_code_and_their_consent(stack: Stack, page: Any) -> None:
    email = "app-user@example.com"
    start_at_the_app(page, stack)
    screenshot(page, "e2e-oidc-sign-in-to-continue")
    code_by_email(page, stack, email)
    allow(page, "e2e-oidc-consent")

    back_in_the_app_as(page, stack, email)
    screenshot(page, "e2e-oidc-back-in-the-app")
    signs_out_of_the_app_and_the_ui(page, stack)


def test_an_account_with_two_step_verification_signs_in_to_the_app_with_its_authenticator(
    stack: Stack, page: Any
) -> None:
    from playwright.sync_api import expect

    email = "app-two-step@example.com"
    # Two-step verification turned on in the UI, as tests/test_e2e_browser_mfa.py does; then signed out.
    sign_in_by_email(page, stack, email)
    account_id(page)  # the account view is drawn
    press(page, "Set up an authenticator app")
    expect(page.get_by_role("img", name="QR code of the authenticator key")).to_be_visible()
    codes_on_page = page.get_by_test_id("stMain").get_by_test_id("stCode").all_inner_texts()
    (key,) = [text.strip() for text in codes_on_page if BASE32_KEY.match(text.strip())]
    totp = pyotp.TOTP(key)
    confirmed_at = time.time()
    page.get_by_label("Code from the app").fill(totp.now())
    press(page, "Turn on two-step verification")
    press(page, "I have saved them")
    sign_out(page)

    start_at_the_app(page, stack)
    code_by_email(page, stack, email)
    expect(page.get_by_label("Authenticator code")).to_be_visible()
    expect(markdown(page, "Sign in to continue to")).to_contain_text(APP_NAME)  # still for the app
    page.get_by_label("Authenticator code").fill(code_in_a_fresh_time_step(totp, confirmed_at))
    press(page, "Continue")
    allow(page, "e2e-oidc-consent-two-step")
    back_in_the_app_as(page, stack, email)

    # Signed in to the UI as well (single sign-on): its account view lists the app, and takes its access away.
    page.goto(stack.ui_url)
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.get_by_role("heading", name="Connected apps")).to_be_visible()
    expect(markdown(page, APP_NAME)).to_be_visible()
    expect(page.get_by_test_id("stMain")).to_contain_text("know it is you and see your email address")
    page.get_by_role("button", name="Remove access").scroll_into_view_if_needed()
    screenshot(page, "e2e-oidc-connected-apps")
    press(page, "Remove access")
    expect(page.get_by_text("can no longer access your account")).to_be_visible()
    expect(page.get_by_text("No apps signed you in with this account yet.")).to_be_visible()


def test_a_person_signed_in_to_the_ui_goes_through_to_the_app_without_typing(stack: Stack, page: Any) -> None:
    """Single sign-on: signed in to the UI, the app's sign-in asks only for consent, once; the second time nothing
    at all."""
    email = "sso@example.com"
    sign_in_by_email(page, stack, email)
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Your account")).to_be_visible()

    page.goto(stack.example_url)
    press(page, "Sign in")
    allow(page, "e2e-oidc-consent-sso")
    back_in_the_app_as(page, stack, email)

    # The app's own session ends (its cookie only: Streamlit's logout without the provider's would keep the UI's);
    # signing in again, the consent is remembered and the UI sends the browser straight back.
    page.context.clear_cookies(name="_streamlit_user")
    page.context.clear_cookies(name="_streamlit_user_tokens")
    page.goto(stack.example_url)
    press(page, "Sign in")
    back_in_the_app_as(page, stack, email)


def test_the_ui_refuses_to_be_framed(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    answer = requests.get(stack.ui_url, timeout=10)
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'none'"

    # Another site's page that frames the sign-in UI: Chromium refuses, and shows its own error page in the frame.
    # Beside it, a frame of a UI asset, which carries no such headers, loads: the frames themselves work.
    page.goto(stack.example_url)  # any page of another origin
    page.set_content(
        f'<iframe name="page" src="{stack.ui_url}/"></iframe>'
        f'<iframe name="asset" src="{stack.ui_url}/_stcore/health"></iframe>'
    )
    asset = page.frame(name="asset")
    assert asset is not None
    expect(asset.locator("body")).to_have_text("ok")
    framed = page.frame(name="page")
    assert framed is not None
    assert framed.url == "chrome-error://chromewebdata/", framed.url
    assert "Sign in" not in framed.content()
