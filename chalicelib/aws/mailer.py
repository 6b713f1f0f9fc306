"""Mail delivery through Amazon SES v2."""

from __future__ import annotations

import html
from email.utils import formataddr
from typing import Any, NamedTuple, Protocol

from chalicelib.accounts.identifiers import Identifier
from chalicelib.aws.dependencies import guarded
from chalicelib.otp.codes import Purpose


class CodeSender(Protocol):
    """Delivers a code to an identifier or raises :class:`~chalicelib.aws.dependencies.DependencyError`."""

    def send_code(self, to: Identifier, code: str, valid_minutes: int, purpose: Purpose = Purpose.SIGN_IN) -> None: ...


class MailText(NamedTuple):
    """The words of the mail that carries a code for one purpose; each may name ``{service}``."""

    subject: str  # keeps the code ({code}): phones offer a mail's code from its subject to the form that asks
    lead: str  # the line the code follows
    unasked: str  # what to do with a code nobody asked for


MAIL_TEXTS: dict[Purpose, MailText] = {
    Purpose.SIGN_IN: MailText(
        "Your {service} sign-in code: {code}",
        "Your {service} sign-in code is",
        "If you did not ask to sign in, ignore this mail: nobody can sign in without the code.",
    ),
    Purpose.LINK: MailText(
        "Code to add this address to an account at {service}: {code}",
        "Code to add this address to an account at {service}:",
        "If you did not ask for this, ignore this mail: the address is not added without the code.",
    ),
    Purpose.REAUTHENTICATE: MailText(
        "Code to confirm a change to your {service} account: {code}",
        "This code confirms it is you before a change to your {service} account:",
        "If you did not ask for this, ignore this mail: nothing changes without the code.",
    ),
}


def render_code_mail(code: str, valid_minutes: int, service: str, purpose: Purpose) -> tuple[str, str, str]:
    """Subject, plain-text and HTML bodies of the mail that carries ``code`` for ``purpose``, naming ``service``."""
    words = MAIL_TEXTS[purpose]
    lead, unasked = words.lead.format(service=service), words.unasked.format(service=service)
    subject = words.subject.format(service=service, code=code)
    validity = f"It is valid for {valid_minutes} minutes and works once."
    text = f"{lead} {code}\n\n{validity}\n{unasked}\n"
    body = (
        '<!doctype html><html><body style="font-family:sans-serif">'
        f'<p>{html.escape(lead)}</p><p style="font-size:28px;letter-spacing:4px"><b>{html.escape(code)}</b></p>'
        f"<p>{validity}</p><p>{html.escape(unasked)}</p>"
        "</body></html>"
    )
    return subject, text, body


class SesMailer:
    """Sends code mails from one verified SES identity, under the service's name."""

    def __init__(self, client: Any, sender: str, service_name: str) -> None:
        self._client = client
        self._service = service_name
        # "Name" <address>: SES matches the bare address to its verified identity (and IAM's ses:FromAddress to
        # the stage's sender); formataddr quotes a name that needs it and encodes a non-ASCII one (RFC 2047), as
        # SES requires of a display name.
        self._from = formataddr((service_name, sender))

    def send_code(self, to: Identifier, code: str, valid_minutes: int, purpose: Purpose = Purpose.SIGN_IN) -> None:
        subject, text, body = render_code_mail(code, valid_minutes, self._service, purpose)
        content = {
            "Simple": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": body, "Charset": "UTF-8"}},
            }
        }
        with guarded("ses"):
            self._client.send_email(
                FromEmailAddress=self._from, Destination={"ToAddresses": [to.value]}, Content=content
            )
