"""Issue 23 in a real browser: Chromium's virtual authenticator (the DevTools protocol's WebAuthn domain: CTAP2, an
internal platform authenticator with resident keys and user verification, as a phone or laptop with a screen lock
is) registers a passkey from the account view, then signs in with it usernameless, one touch and no code, at aal 2;
signs in with it from the email field's autofill (conditional mediation), which this authenticator answers at once
by itself, no autofill shown; finishes a code's sign-in with it as the second factor; signs in to the example app
(OpenID Connect) with it, by the button and by the autofill; confirms it is you with it when a change asks for a
recent proof, and when the example app asks for a fresh sign-in (prompt=login) or for two factors (acr_values), the
app's ID token then saying so (tests/browser.py: Chromium, the `make run` stack, the UI at localhost).

What was found of headless Chromium 156's virtual authenticator (``enableUI: false``) and conditional requests: it
resolves one at once with its first passkey of the site, focus or no focus, and with or without an input marked
``username webauthn`` in the page; with no passkey of the site it rejects one at once (``NotAllowedError``), where a
browser with a person waits. Without a virtual authenticator the request stays pending.
"""

from __future__ import annotations

import re
import time
from typing import Any

from tests import browser
from tests.browser import (
    account_id,
    mails_to,
    markdown,
    press,
    read_code_from_dev_inbox,
    screenshot,
    send_code,
    sign_in_by_email,
    sign_out,
)
from tests.local_stack import Stack
from tests.test_e2e_browser_oidc import (
    APP_NAME,
    BASE32_KEY,
    allow,
    back_in_the_app_as,
    code_by_email,
    start_at_the_app,
)
from tests.test_e2e_browser_phone import make_the_last_proof_old

AAL1, AAL2 = "http://idmanagement.gov/ns/assurance/aal/1", "http://idmanagement.gov/ns/assurance/aal/2"
# The fixtures this module uses: one stack for the module, a fresh browser page per test.
stack_fixture, page = browser.stack_fixture, browser.page

pytestmark = browser.needs_chromium


def virtual_authenticator(page: Any) -> tuple[Any, str]:
    """A platform authenticator with a verified user in ``page``'s browser: (the DevTools session, its id)."""
    session = page.context.new_cdp_session(page)
    session.send("WebAuthn.enable", {"enableUI": False})
    added = session.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return session, added["authenticatorId"]


def passkey_button(page: Any, name: str, drawn: int = 1) -> Any:
    """The passkey button ``name``: drawn in the component's frame (frontend/passkey_component), once the page has
    settled on its ``drawn`` passkey buttons (a rerun shows the previous run's frame beside the new one until it
    ends). Of several, the first: the step-up prompt's, drawn above the section's own."""
    from playwright.sync_api import expect

    frames = page.get_by_test_id("stCustomComponentV1")
    expect(frames).to_have_count(drawn, timeout=browser.TIMEOUT_MS)
    button = frames.first.content_frame.get_by_role("button", name=name)
    # A frame of its own, loaded after the page: on a busy machine its button comes later than expect's 5 s.
    expect(button).to_be_enabled(timeout=browser.TIMEOUT_MS)
    return button


def test_register_a_passkey_then_sign_in_with_it_and_remove_it(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    session, authenticator = virtual_authenticator(page)
    sign_in_by_email(page, stack, "passkey@example.com")
    the_account = account_id(page)
    expect(markdown(page, "Second factor:")).to_contain_text("not used in this session")

    # A code sign-in is a recent proof: the passkey is created at once, with the name given.
    page.get_by_label("New passkey's name").fill("Work laptop")
    passkey_button(page, "Add a passkey").click()
    expect(page.get_by_text("Work laptop", exact=True)).to_be_visible()
    expect(page.get_by_text("never used to sign in; on one device only.", exact=False)).to_be_visible()
    credentials = session.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert len(credentials) == 1 and credentials[0]["isResidentCredential"], credentials
    screenshot(page, "e2e-passkey-registered")
    sign_out(page)

    # Usernameless: no address typed, no code; the one passkey of this site is used.
    passkey_button(page, "Sign in with a passkey").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert account_id(page) == the_account
    expect(markdown(page, "Second factor:")).to_contain_text("proven in this session, with a passkey")
    expect(markdown(page, "Second factor:")).to_contain_text("aal 2")  # what the trial looks for
    expect(page.get_by_text("last used", exact=False)).to_be_visible()
    screenshot(page, "e2e-passkey-signed-in")
    # The README's picture of the account's passkeys: the section at the top of the window.
    page.get_by_role("heading", name="Passkeys").evaluate("heading => heading.scrollIntoView({block: 'start'})")
    screenshot(page, "passkeys", docs=True)

    # Renamed, then removed (the passkey sign-in is the recent proof the removal asks for).
    page.get_by_label("Name", exact=True).fill("Old laptop")
    press(page, "Rename")
    expect(page.get_by_text("Old laptop", exact=True)).to_be_visible()
    press(page, "Remove")
    expect(page.get_by_text("Old laptop", exact=True)).to_have_count(0)
    sign_out(page)

    # The authenticator still holds the passkey; the service refuses it now.
    passkey_button(page, "Sign in with a passkey").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_test_id("stAlert").filter(has_text="passkey")).to_be_visible()


def add_passkey(page: Any, stack: Stack, email: str, name: str) -> None:
    """Sign in by email and add a passkey called ``name``; signed out again after."""
    from playwright.sync_api import expect

    sign_in_by_email(page, stack, email)
    page.get_by_label("New passkey's name").fill(name)
    passkey_button(page, "Add a passkey").click()
    expect(page.get_by_text(name, exact=True)).to_be_visible()
    sign_out(page)


def without_autofill(page: Any) -> None:
    """``page``'s browser as one without conditional mediation (``isConditionalMediationAvailable()`` false): the
    card offers no passkey in autofill, which Chromium's virtual authenticator would answer at once, and the
    button is the way in."""
    page.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = async () => false;")


def test_sign_in_to_the_example_app_with_a_passkey(stack: Stack, page: Any) -> None:
    """The OpenID Connect login challenge: the app sends the person to the UI, who signs in with one touch (of the
    button: this browser has no passkey autofill)."""
    virtual_authenticator(page)
    without_autofill(page)
    add_passkey(page, stack, "app-passkey@example.com", "My phone")

    start_at_the_app(page, stack)
    passkey_button(page, "Sign in with a passkey").click()
    allow(page, "e2e-passkey-oidc-consent")
    back_in_the_app_as(page, stack, "app-passkey@example.com")


def test_after_a_code_the_accounts_passkey_is_the_second_factor(stack: Stack, page: Any) -> None:
    """An account with two-step verification and a passkey: after the mailed code, the prompt offers the passkey
    beside the authenticator app, and one touch finishes this sign-in (POST /passkeys/verify), at aal 2."""
    import pyotp
    from playwright.sync_api import expect

    email = "second-factor-passkey@example.com"
    without_autofill(page)  # a code sign-in here: the virtual authenticator would answer the autofill itself
    virtual_authenticator(page)
    sign_in_by_email(page, stack, email)
    the_account = account_id(page)
    page.get_by_label("New passkey's name").fill("Work laptop")
    passkey_button(page, "Add a passkey").click()
    expect(page.get_by_text("Work laptop", exact=True)).to_be_visible()
    press(page, "Set up an authenticator app")
    expect(page.get_by_role("img", name="QR code of the authenticator key")).to_be_visible()
    codes_on_page = page.get_by_test_id("stMain").get_by_test_id("stCode").all_inner_texts()
    (key,) = [text.strip() for text in codes_on_page if BASE32_KEY.match(text.strip())]
    page.get_by_label("Code from the app").fill(pyotp.TOTP(key).now())
    press(page, "Turn on two-step verification")
    press(page, "I have saved them")
    sign_out(page)

    code_by_email(page, stack, email)
    expect(page.get_by_label("Authenticator code")).to_be_visible()
    expect(markdown(page, "Two-step verification is on")).to_contain_text("Or use your passkey.")
    screenshot(page, "e2e-passkey-second-factor")
    passkey_button(page, "Use your passkey").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    assert account_id(page) == the_account
    expect(markdown(page, "Second factor:")).to_contain_text("proven in this session, with a passkey")


def proven(page: Any) -> tuple[int, str, str]:
    """What the example app shows of its ID token: ``auth_time``, ``amr`` (space-separated) and ``acr``."""
    from playwright.sync_api import expect

    when = markdown(page, "Last proved who you are:")
    expect(when).to_be_visible()
    found = re.search(r"auth_time (\d+)", when.inner_text())
    assert found, when.inner_text()
    methods = markdown(page, "With:").get_by_role("code").first.inner_text()  # then the claim's name
    level = markdown(page, "Level:").get_by_role("code").first.inner_text()
    return int(found.group(1)), methods, level


def signed_in_to_the_app_by_code(page: Any, stack: Stack, email: str) -> int:
    """Through the app's sign-in: an email code on the UI's card (the account view is never shown), consent, and
    back in the app at one factor; the ID token's auth_time."""
    start_at_the_app(page, stack)
    code_by_email(page, stack, email)
    allow(page, "e2e-passkey-app-consent")
    back_in_the_app_as(page, stack, email)
    auth_time, methods, level = proven(page)
    assert (methods, level) == ("otp", AAL1)
    return auth_time


def test_an_app_asking_for_a_fresh_sign_in_is_let_in_with_the_passkey(stack: Stack, page: Any) -> None:
    """prompt=login (the example app's "Sign in again") for a person signed in to the UI by code: the login
    challenge's prompt offers the passkey beside the mailed code, although the UI never listed the account's passkeys
    in this session; one touch, and the app's ID token says the person proved it just now, with the passkey."""
    from playwright.sync_api import expect

    email = "fresh-passkey@example.com"
    without_autofill(page)  # a code sign-in here: the virtual authenticator would answer the autofill itself
    virtual_authenticator(page)
    add_passkey(page, stack, email, "Work laptop")
    first = signed_in_to_the_app_by_code(page, stack, email)

    while time.time() < first + 1:  # the app's new request must come after the sign-in, in whole seconds
        page.wait_for_timeout(100)
    asked_at = int(time.time())
    press(page, "Sign in again")
    expect(markdown(page, "first confirm it is you")).to_have_text(
        f"To continue to {APP_NAME}, first confirm it is you with a code we send to {email}."
    )
    screenshot(page, "e2e-passkey-oidc-fresh-sign-in")
    passkey_button(page, "Confirm with your passkey").click()
    back_in_the_app_as(page, stack, email)
    auth_time, methods, level = proven(page)
    assert auth_time >= asked_at > first, (first, asked_at, auth_time)
    assert methods == "otp hwk user mfa" and level == AAL2  # the passkey's methods, and both factors
    assert mails_to(stack, email) == 2  # the passkey's sign-up code and the app's sign-in code: none for the proof


def test_an_app_asking_for_two_factors_is_let_in_with_the_passkey_alone(stack: Stack, page: Any) -> None:
    """acr_values AAL2 (the example app's "Sign in with two factors") of a session signed in by code, on an
    account whose only second factor is a passkey: the prompt asks for the passkey, offers no code and no
    authenticator setup; one touch lets the app in at AAL2."""
    from playwright.sync_api import expect

    email = "two-factor-passkey@example.com"
    without_autofill(page)  # a code sign-in here: the virtual authenticator would answer the autofill itself
    virtual_authenticator(page)
    add_passkey(page, stack, email, "Tablet")
    signed_in_to_the_app_by_code(page, stack, email)

    press(page, "Sign in with two factors")
    expect(markdown(page, "first confirm it is you")).to_have_text(
        f"To continue to {APP_NAME}, first confirm it is you with your passkey: it asks for two factors."
    )
    expect(page.get_by_role("button", name=f"Send a code to {email}")).to_have_count(0)
    expect(page.get_by_role("button", name="Set up an authenticator app")).to_have_count(0)
    screenshot(page, "e2e-passkey-oidc-two-factors")
    passkey_button(page, "Confirm with your passkey").click()
    back_in_the_app_as(page, stack, email)
    _, methods, level = proven(page)
    assert "mfa" in methods.split() and level == AAL2


def test_a_passkey_from_the_email_fields_autofill_signs_in_without_the_button(stack: Stack, page: Any) -> None:
    """Conditional mediation: the sign-in card keeps a request for a passkey pending in the page beside the email
    field, which is marked ``username webauthn``; Chromium's virtual authenticator answers such a request at once
    with its passkey (it shows no autofill: a person picks the passkey from the field's suggestions), and the
    session is the button's: no code, both factors. A tab that signed out offers no autofill until reloaded (such a
    browser would sign straight back in); the offer is handed to each view of the card without asking the API
    again."""
    from playwright.sync_api import expect

    virtual_authenticator(page)
    add_passkey(page, stack, "autofill@example.com", "Pixel")
    expect(page.get_by_label("Email address")).to_have_attribute("autocomplete", "username webauthn")
    assert page.evaluate("PublicKeyCredential.isConditionalMediationAvailable()") is True
    page.wait_for_timeout(2_000)  # the tab that signed out stays signed out
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

    page.reload()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(markdown(page, "Second factor:")).to_contain_text("proven in this session, with a passkey")
    expect(markdown(page, "Second factor:")).to_contain_text("aal 2")  # what the trial looks for
    expect(page.get_by_text("last used", exact=False)).to_be_visible()
    assert "autofill@example.com" in page.get_by_test_id("stMain").inner_text()


def test_an_app_sends_the_person_and_the_autofill_signs_them_in(stack: Stack, page: Any) -> None:
    """The OpenID Connect login challenge with the autofill: the card the app sent the person to signs them in with
    the passkey, no button pressed, and the app's request continues to its consent."""
    from playwright.sync_api import expect

    virtual_authenticator(page)
    add_passkey(page, stack, "app-autofill@example.com", "Tablet")
    page.goto(stack.example_url)
    expect(page.get_by_role("heading", name="Example app")).to_be_visible()
    press(page, "Sign in")
    allow(page, "e2e-passkey-autofill-oidc-consent")
    back_in_the_app_as(page, stack, "app-autofill@example.com")


def test_the_autofill_request_is_pending_with_the_apis_options(stack: Stack, page: Any) -> None:
    """Without a passkey in the browser, the card's conditional request waits (as in a browser whose person has not
    picked one yet): it is there, for the email field, with options the API issued for this site, and one offer
    serves every rerun and reload of the card: the API is asked once."""
    from playwright.sync_api import expect

    # Record each WebAuthn request the page makes and whether it settled, before the page's scripts run.
    page.add_init_script(
        """
        window.webauthnCalls = [];
        const get = navigator.credentials.get.bind(navigator.credentials);
        navigator.credentials.get = (options) => {
          const key = options.publicKey;
          const call = {mediation: options.mediation || null, rpId: key.rpId, timeout: key.timeout,
                        userVerification: key.userVerification, allowCredentials: key.allowCredentials || [],
                        challenge: btoa(String.fromCharCode(...new Uint8Array(key.challenge))), settled: null};
          window.webauthnCalls.push(call);
          const pending = get(options);
          pending.then(() => { call.settled = "credential"; }, (error) => { call.settled = error.name; });
          return pending;
        };
        """
    )
    asked = stack.output().count('"route": "/passkeys/signin/options"')
    page.goto(stack.ui_url)
    expect(page.get_by_label("Email address")).to_have_attribute("autocomplete", "username webauthn")
    page.wait_for_function("window.webauthnCalls.length > 0")
    page.get_by_label("Email address").fill("someone@example.com")  # a rerun of the card
    page.get_by_label("Email address").press("Tab")
    page.wait_for_timeout(2_000)
    (call,) = page.evaluate("window.webauthnCalls")
    assert call == {
        "mediation": "conditional",
        "rpId": "localhost",
        "timeout": 300_000,  # the API's ceremony lifetime
        "userVerification": "required",
        "allowCredentials": [],  # usernameless
        "challenge": call["challenge"],
        "settled": None,  # still waiting for the person
    }, call

    page.reload()
    page.wait_for_function("window.webauthnCalls.length > 0")
    assert page.evaluate("window.webauthnCalls")[0]["challenge"] == call["challenge"]  # the same open ceremony
    assert stack.output().count('"route": "/passkeys/signin/options"') == asked + 1


def test_another_site_cannot_frame_the_passkey_button(stack: Stack, page: Any) -> None:
    """The button runs WebAuthn for the UI's relying party: framed by another site, it could be handed that site's
    options and answer it the credential. Chromium refuses to show it in another site's frame; in the UI's own page
    it works (the tests above)."""
    import requests

    component = f"{stack.ui_url}/component/frontend.passkey.passkey/index.html"
    answer = requests.get(component, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Security-Policy"] == "frame-ancestors 'self'"

    page.goto(stack.example_url)  # any page of another origin
    page.set_content(f'<iframe name="button" src="{component}"></iframe>')
    framed = page.frame(name="button")
    assert framed is not None
    page.wait_for_load_state()
    assert framed.url == "chrome-error://chromewebdata/", framed.url
    assert "passkey" not in framed.content()


def test_a_passkey_added_late_is_confirmed_first_then_made_with_one_more_press(stack: Stack, page: Any) -> None:
    """Past the step-up window, adding asks for a mailed code first. The options then arrive after a press on the
    page's Confirm, not in the button's frame, and a browser refuses a ceremony in a frame without focus: the button
    says so and runs it on its next press."""
    from playwright.sync_api import expect

    virtual_authenticator(page)
    sign_in_by_email(page, stack, "late-passkey@example.com")
    make_the_last_proof_old(stack, account_id(page))

    page.get_by_label("New passkey's name").fill("Desk key")
    passkey_button(page, "Add a passkey").click()
    expect(markdown(page, "first confirm it is you")).to_have_text(
        "To add a passkey, first confirm it is you with a code we send to late-passkey@example.com."
    )
    field = page.get_by_label("Code from the email")
    send_code(page, field, button="Send a code to late-passkey@example.com")  # waits out the sign-in's cooldown
    field.fill(read_code_from_dev_inbox(page, mails=2))
    press(page, "Confirm")

    passkey_button(page, "Continue with your passkey").click()
    expect(page.get_by_text("Desk key", exact=True)).to_be_visible()
    expect(markdown(page, "first confirm it is you")).to_have_count(0)


def test_a_late_removal_is_confirmed_with_the_passkey_in_place_of_a_code(stack: Stack, page: Any) -> None:
    """Past the step-up window, removing a passkey asks for a proof: the prompt offers the account's passkey beside
    the mailed code, and one touch confirms it (POST /passkeys/reauthenticate), no code sent."""
    from playwright.sync_api import expect

    virtual_authenticator(page)
    sign_in_by_email(page, stack, "stepup-passkey@example.com")
    page.get_by_label("New passkey's name").fill("Work laptop")
    passkey_button(page, "Add a passkey").click()
    expect(page.get_by_text("Work laptop", exact=True)).to_be_visible()
    expect(markdown(page, "Second factor:")).to_contain_text("not used in this session")
    make_the_last_proof_old(stack, account_id(page))

    press(page, "Remove")
    expect(markdown(page, "first confirm it is you")).to_have_text(
        "To remove this passkey, first confirm it is you with a code we send to stepup-passkey@example.com."
    )
    screenshot(page, "e2e-passkey-step-up-prompt")
    passkey_button(page, "Confirm with your passkey", drawn=2).click()
    expect(page.get_by_text("Work laptop", exact=True)).to_have_count(0)
    expect(markdown(page, "first confirm it is you")).to_have_count(0)
    expect(markdown(page, "Second factor:")).to_contain_text("proven in this session")  # the passkey's aal 2


def test_an_admin_confirms_an_action_with_the_passkey_in_place_of_the_authenticator(stack: Stack, page: Any) -> None:
    """An admin's action past OTP_ADMIN_STEP_UP_SECONDS asks for a fresh proof: beside the authenticator's code the
    form offers the admin's passkey, and one touch (POST /passkeys/reauthenticate) lets the action through."""
    import pyotp
    from playwright.sync_api import expect

    from tests.test_e2e_browser_admin import BASE32_KEY, PERSON, me, signed_in_person

    token = signed_in_person(stack)
    without_autofill(page)  # a code sign-in here: the virtual authenticator would answer the autofill itself
    virtual_authenticator(page)
    sign_in_by_email(page, stack, "admin@example.com")  # the local stage's admin; admins act at aal 2
    press(page, "Set up an authenticator app")
    expect(page.get_by_role("img", name="QR code of the authenticator key")).to_be_visible()
    shown = page.get_by_test_id("stMain").get_by_test_id("stCode").all_inner_texts()
    (key,) = [text.strip() for text in shown if BASE32_KEY.match(text.strip())]
    page.get_by_label("Code from the app").fill(pyotp.TOTP(key).now())
    press(page, "Turn on two-step verification")
    press(page, "I have saved them")
    page.get_by_label("New passkey's name").fill("Admin key")
    passkey_button(page, "Add a passkey").click()
    expect(page.get_by_text("Admin key", exact=True)).to_be_visible()
    make_the_last_proof_old(stack, account_id(page))

    page.get_by_test_id("stSidebarNav").get_by_text("Admin", exact=True).click()
    page.get_by_test_id("stRadio").get_by_text("Accounts", exact=True).click()
    page.get_by_label("Exact address, number (+ and country code) or account id").fill(PERSON)
    press(page, "Look up")
    expect(page.get_by_text("Status active")).to_be_visible()
    press(page, "Lock")
    page.get_by_label("Reason (required)").press_sequentially("a stolen laptop")
    confirm = page.get_by_role("button", name="Confirm: Lock", exact=True)
    expect(confirm).to_be_enabled()
    confirm.click()
    expect(page.get_by_label("Code from your authenticator app")).to_be_visible()  # the proof is too old
    passkey_button(page, "Confirm with your passkey").click()
    expect(page.get_by_text("Confirmed. Now confirm the action again.")).to_be_visible()
    confirm.click()
    expect(page.get_by_text("The account is locked")).to_be_visible()
    assert me(stack, token) == 401
