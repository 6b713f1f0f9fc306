"""Issue 11 in a real browser: sign in by phone with the code read from the dev inbox's SMS, and link a phone to an
email account so that signing in by that number lands in the same account, also once the sign-in is too old for
such a change and the page asks to confirm it is you first (tests/browser.py: Chromium, the `make run` stack). Each
test uses a number of its own, so per-number limits of one never meet another.
"""

from __future__ import annotations

import time
from typing import Any

import boto3

from tests import browser
from tests.browser import (
    account_id,
    markdown,
    needs_chromium,
    press,
    read_code_from_dev_inbox,
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

    sign_in_by_email(page, stack, "linker@example.com")
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


def make_the_last_proof_old(stack: Stack, user_id: str) -> None:
    """Make the sessions of account ``user_id`` look as if their last proof were an hour past: what waiting out
    OTP_STEP_UP_SECONDS (60 s at the least) would do, without the wait.

    A change that needs a recent proof reads the lesser of the token's ``auth_time`` and its session entry's (the
    entry's ``a``, the last proof since the sign-in, else ``c``, the sign-in: chalicelib/accounts/store.py), so an
    old ``a`` on the account's home item is enough; the tokens the browser holds stay as they are.
    """
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    dynamodb = session.client("dynamodb", endpoint_url=stack.aws_url)
    indexed = dynamodb.query(  # the `account` index, keys only
        TableName="otp_users",
        IndexName="account",
        KeyConditionExpression="account = :id",
        ExpressionAttributeValues={":id": {"S": user_id}},
    )["Items"]
    # A passkey's credential item carries `account` too, so the index holds it beside the home: keep the home.
    (home,) = [item for item in indexed if item["pk"]["S"].startswith(("email#", "phone#"))]
    key = {"pk": home["pk"]}
    sessions = dynamodb.get_item(TableName="otp_users", Key=key, ConsistentRead=True)["Item"]["sessions"]["M"]
    an_hour_ago = str(int(time.time()) - 3600)
    for nonce in sessions:
        dynamodb.update_item(
            TableName="otp_users",
            Key=key,
            UpdateExpression="SET sessions.#nonce.a = :then",
            ExpressionAttributeNames={"#nonce": nonce},
            ExpressionAttributeValues={":then": {"N": an_hour_ago}},
        )


def test_a_phone_added_after_the_step_up_window_is_confirmed_with_a_mailed_code(stack: Stack, page: Any) -> None:
    from playwright.sync_api import expect

    sign_in_by_email(page, stack, "late@example.com")
    make_the_last_proof_old(stack, account_id(page))

    page.get_by_label("Phone number").fill("(201) 555-0188")  # US, preselected
    press(page, "Send code to phone")
    # Beside the form, not an error: what the change needs, and the button that sends the code.
    expect(markdown(page, "first confirm it is you")).to_have_text(
        "To add +1 201-555-0188 to your account, first confirm it is you with a code we send to late@example.com."
    )
    screenshot(page, "e2e-phone-confirm-it-is-you")
    # The sign-in's code went moments ago (no minutes passed here), so the resend cooldown may answer first: the
    # prompt shows the wait and the test waits it out.
    field = page.get_by_label("Code from the email")
    send_code(page, field, button="Send a code to late@example.com")
    field.fill(read_code_from_dev_inbox(page, mails=2))  # the newest of two: the sign-in's, then this one
    logged_before_the_proof = len(stack.lines)
    press(page, "Confirm")

    # Confirmed: the number gets its code as asked, and everything after presents the tokens the proof issued.
    expect(page.get_by_text("We sent a code by SMS to")).to_contain_text("+1 201-555-0188")
    page.get_by_label("Code from the SMS").fill(read_sms_code_from_dev_inbox(page))
    press(page, "Add phone")
    expect(page.get_by_text("signs in to this account too")).to_contain_text("+1 201-555-0188")
    expect(markdown(page, "Identifiers:")).to_contain_text("late@example.com (email), +1 201-555-0188 (phone)")
    screenshot(page, "e2e-phone-linked-after-confirming")
    sign_out(page)
    # The API refuses the tokens the proof retired (and takes the old refresh token for reuse): its access log shows
    # that the page never presented them again.
    refused = [line for line in stack.lines[logged_before_the_proof:] if '"code": "invalid_token"' in line]
    assert not refused, refused


def test_a_number_with_letters_goes_to_the_api_as_typed_and_its_refusal_shows_under_the_field(
    stack: Stack, page: Any
) -> None:
    from playwright.sync_api import expect

    page.goto(stack.ui_url)
    page.get_by_test_id("stRadio").get_by_text("Phone", exact=True).click()
    field = page.get_by_label("Phone number")
    field.fill("415-555-CALL")  # not turned into 415-555-2255 behind the person's back
    press(page, "Send code")
    refusal = page.get_by_test_id("stForm").get_by_role("alert")
    expect(refusal).to_be_visible()
    expect(refusal).to_be_in_viewport()
    expect(field).to_have_value("415-555-CALL")  # kept, to be corrected
    expect(page.get_by_text("We sent a sign-in code by SMS to")).to_have_count(0)
    screenshot(page, "e2e-phone-refused-as-typed")
