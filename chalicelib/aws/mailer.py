"""Mail delivery through Amazon SES v2."""

from __future__ import annotations

import html
from typing import Any, Protocol

from chalicelib.accounts.identifiers import Identifier
from chalicelib.aws.dependencies import guarded
from chalicelib.otp.codes import Purpose


class CodeSender(Protocol):
    """Delivers a code to an identifier or raises :class:`~chalicelib.aws.dependencies.DependencyError`."""

    def send_code(self, to: Identifier, code: str, valid_minutes: int, purpose: Purpose = Purpose.SIGN_IN) -> None: ...


def render_code_mail(code: str, valid_minutes: int) -> tuple[str, str, str]:
    """Subject, plain-text and HTML bodies of the mail that carries ``code``."""
    subject = f"Your sign-in code: {code}"
    text = (
        f"Your sign-in code is {code}\n\n"
        f"It is valid for {valid_minutes} minutes and works once.\n"
        "If you did not ask to sign in, ignore this mail: nobody can sign in without the code.\n"
    )
    safe = html.escape(code)
    body = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f"<p>Your sign-in code is</p><p style=\"font-size:28px;letter-spacing:4px\"><b>{safe}</b></p>"
        f"<p>It is valid for {valid_minutes} minutes and works once.</p>"
        "<p>If you did not ask to sign in, ignore this mail: nobody can sign in without the code.</p>"
        "</body></html>"
    )
    return subject, text, body


class SesMailer:
    """Sends code mails from one verified SES identity."""

    def __init__(self, client: Any, sender: str) -> None:
        self._client = client
        self._sender = sender

    def send_code(self, to: Identifier, code: str, valid_minutes: int, purpose: Purpose = Purpose.SIGN_IN) -> None:
        subject, text, body = render_code_mail(code, valid_minutes)
        content = {
            "Simple": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": body, "Charset": "UTF-8"}},
            }
        }
        with guarded("ses"):
            self._client.send_email(
                FromEmailAddress=self._sender, Destination={"ToAddresses": [to.value]}, Content=content
            )
