"""Mail delivery through Amazon SES v2: one ``SendEmail`` per mail, from the stage's verified sender."""

from __future__ import annotations

from email.utils import formataddr
from typing import Any

from chalicelib.aws.dependencies import guarded


class SesMailer:
    """Sends mails from one verified SES identity, under the service's name."""

    def __init__(self, client: Any, sender: str, service_name: str) -> None:
        self._client = client
        # "Name" <address>: SES matches the bare address to its verified identity (and IAM's ses:FromAddress to
        # the stage's sender); formataddr quotes a name that needs it and encodes a non-ASCII one (RFC 2047), as
        # SES requires of a display name.
        self._from = formataddr((service_name, sender))

    def send(self, to: str, subject: str, text: str, html: str) -> None:
        """Mail ``to`` (an address) the ``subject`` with a plain-text and an HTML body."""
        content = {
            "Simple": {
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}, "Html": {"Data": html, "Charset": "UTF-8"}},
            }
        }
        with guarded("ses"):
            self._client.send_email(FromEmailAddress=self._from, Destination={"ToAddresses": [to]}, Content=content)
