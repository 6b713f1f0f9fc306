"""The messages that carry codes: their words for each purpose, and the senders that deliver them.

:class:`CodeSender` is what :class:`~chalicelib.otp.service.OtpService` sends through; :class:`CodeMails` and
:class:`CodeTexts` write the message and hand it to a transport (:mod:`chalicelib.aws.mailer`,
:mod:`chalicelib.aws.texter`), which knows nothing of codes.
"""

from __future__ import annotations

import html
from typing import NamedTuple, Protocol

from chalicelib.accounts.identifiers import Identifier
from chalicelib.config import Settings
from chalicelib.otp.codes import Purpose
from chalicelib.otp.sms_text import render_sms, template_for


class CodeSender(Protocol):
    """Delivers a code to an identifier or raises :class:`~chalicelib.aws.dependencies.DependencyError`."""

    def send_code(self, to: Identifier, code: str, valid_minutes: int, purpose: Purpose = Purpose.SIGN_IN) -> None: ...


class Mailer(Protocol):
    def send(self, to: str, subject: str, text: str, html: str) -> None: ...


class Texter(Protocol):
    def send(self, number: str, text: str, country: str) -> None: ...


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


class CodeMails:
    """Mails codes, in the words of their purpose, naming the service."""

    def __init__(self, mailer: Mailer, service_name: str) -> None:
        self._mailer = mailer
        self._service = service_name

    def send_code(self, to: Identifier, code: str, valid_minutes: int, purpose: Purpose = Purpose.SIGN_IN) -> None:
        self._mailer.send(to.value, *render_code_mail(code, valid_minutes, self._service, purpose))


class CodeTexts:
    """Texts codes in the words of their purpose, each ending with the origin-bound line if the stage has one."""

    def __init__(self, texter: Texter, settings: Settings) -> None:
        self._texter = texter
        self._settings = settings

    def send_code(self, to: Identifier, code: str, valid_minutes: int, purpose: Purpose = Purpose.SIGN_IN) -> None:
        settings = self._settings
        template = template_for(purpose, settings.sms_template)
        text = render_sms(template, settings.service_name, code, valid_minutes, settings.sms_origin_host)
        self._texter.send(to.value, text, to.country)
