"""The mail that carries a code: from the service by name, naming it in subject and body, saying what the code does.

Mails are read as moto's SES captured them (``tests.conftest.sent_mails``), or as the request the mailer made.
"""

from __future__ import annotations

from email import message_from_string, policy
from email.headerregistry import Address
from typing import Any

import boto3
import pytest

from chalicelib.accounts.identifiers import EMAIL, Identifier
from chalicelib.aws.mailer import SesMailer
from chalicelib.config import Settings
from chalicelib.otp.codes import Purpose
from chalicelib.otp.messages import CodeMails, render_code_mail
from tests.conftest import code_in, sent_mails

ALICE = Identifier(EMAIL, "alice@example.com")
SENDER = "no-reply@example.com"


class Ses:
    """Keeps each ``SendEmail`` request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []

    def send_email(self, **request: Any) -> None:
        self.requests.append(request)


def sent_from(service_name: str) -> str:
    ses = Ses()
    CodeMails(SesMailer(ses, SENDER, service_name), service_name).send_code(ALICE, "123456", 10)
    return ses.requests[0]["FromEmailAddress"]


def parsed(from_header: str) -> Address:
    """The header as a mail reader parses it (RFC 5322, RFC 2047)."""
    (address,) = message_from_string(f"From: {from_header}\n\n", policy=policy.default)["From"].addresses
    return address


@pytest.mark.parametrize(
    ("name", "header"),
    [
        ("OTP Sign-in", "OTP Sign-in <no-reply@example.com>"),  # atoms: no quotes needed
        ('Northwind, "Sign-in"', '"Northwind, \\"Sign-in\\"" <no-reply@example.com>'),  # specials: quoted, escaped
        ("Zürich Sign-in ✓", "=?utf-8?b?WsO8cmljaCBTaWduLWluIOKckw==?= <no-reply@example.com>"),  # RFC 2047
    ],
)
def test_a_mail_is_from_the_service_by_name_at_the_bare_sender_address(name: str, header: str) -> None:
    assert sent_from(name) == header
    assert (parsed(header).display_name, parsed(header).addr_spec) == (name, SENDER)


def test_ses_takes_the_named_sender_as_its_verified_identity(settings: Settings) -> None:
    """moto's SES refuses an address it has not verified, as SES does: it reads the address out of the name."""
    CodeMails(SesMailer(boto3.client("sesv2"), settings.sender, "OTP Sign-in"), "OTP Sign-in").send_code(
        ALICE, "123456", 10
    )
    (mail,) = sent_mails()
    assert mail["from"] == f"OTP Sign-in <{settings.sender}>" and code_in(mail) == "123456"


def test_the_subject_names_the_service_and_keeps_the_code_for_each_purpose() -> None:
    subjects = {purpose: render_code_mail("123456", 10, "Northwind", purpose)[0] for purpose in Purpose}
    assert subjects == {
        Purpose.SIGN_IN: "Your Northwind sign-in code: 123456",
        Purpose.LINK: "Code to add this address to an account at Northwind: 123456",
        Purpose.REAUTHENTICATE: "Code to confirm a change to your Northwind account: 123456",
    }


def test_each_purpose_s_mail_says_what_its_code_does_in_both_bodies() -> None:
    says = {
        Purpose.SIGN_IN: ("Your Northwind sign-in code is 123456", "If you did not ask to sign in"),
        Purpose.LINK: ("Code to add this address to an account at Northwind: 123456", "the address is not added"),
        Purpose.REAUTHENTICATE: (
            "This code confirms it is you before a change to your Northwind account: 123456",
            "nothing changes without the code",
        ),
    }
    for purpose, (lead, unasked) in says.items():
        _, text, body = render_code_mail("123456", 10, "Northwind", purpose)
        assert text.startswith(f"{lead}\n\nIt is valid for 10 minutes and works once.\n") and unasked in text
        assert lead.removesuffix(" 123456") in body and "<b>123456</b>" in body and unasked in body


def test_the_html_body_escapes_the_service_name() -> None:
    subject, text, body = render_code_mail("123456", 10, 'A&B <script>"', Purpose.SIGN_IN)
    assert subject == 'Your A&B <script>" sign-in code: 123456' and text.startswith('Your A&B <script>" sign-in')
    assert "Your A&amp;B &lt;script&gt;&quot; sign-in code is" in body and "<script>" not in body
