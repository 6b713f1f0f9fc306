"""Reads the mails and SMS that the local stack's embedded AWS (moto server) captured instead of delivering.

Local development only: the UI imports and calls this solely when ``DEV_INBOX_URL`` is set, which the local
stack does and a deployed stage never does.

``GET {DEV_INBOX_URL}`` (``/_dev/inbox`` of ``tools.embedded_aws``) answers ``{"mails": [...], "sms": [...]}``:
the newest captured mails and SMS, newest first. Each mail is the attributes of a moto SES model, named by
``kind``; SES v1 and v2 share one backend:

- ``"Message"`` (``SendEmail`` with simple content; for SES v2 ``body`` is the HTML part when there is one,
  else the text part)::

    {"kind": "Message", "id": str, "source": str, "subject": str, "body": str,
     "destinations": {"ToAddresses": [str], "CcAddresses": [str], "BccAddresses": [str]}}  # Cc/Bcc optional

- ``"RawMessage"`` (raw MIME content)::

    {"kind": "RawMessage", "id": str, "source": str, "destinations": [str], "raw_data": str}

Other kinds (templated mails) are not shown. Each SMS is what moto's SNS records of a ``Publish`` to a phone
number: its message id (a UUID), the number exactly as published (E.164) and the text; no time, no attributes::

    {"id": str, "phone_number": str, "message": str}
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email import message_from_string, policy
from email.message import EmailMessage
from typing import Any

import requests

DEFAULT_TIMEOUT_SECONDS = 5.0


class InboxError(Exception):
    """The captured mails could not be fetched or were not in the expected shape. ``str()`` is human text."""


@dataclass(frozen=True)
class Mail:
    """One captured mail, reduced to what a developer needs to read it."""

    id: str
    sender: str
    to: tuple[str, ...]
    subject: str
    body: str

    def is_for(self, address: str) -> bool:
        """True if ``address`` is among the recipients, ignoring case as mail systems do in practice."""
        wanted = address.strip().lower()
        return bool(wanted) and any(recipient.strip().lower() == wanted for recipient in self.to)


@dataclass(frozen=True)
class Sms:
    """One captured SMS."""

    id: str
    to: str  # E.164, as the API published it
    text: str

    def is_for(self, number: str) -> bool:
        """True if the SMS went to ``number`` (E.164, as the API normalises every number it sends to)."""
        wanted = number.strip()
        return bool(wanted) and self.to == wanted


@dataclass(frozen=True)
class Inbox:
    """Everything captured, newest first."""

    mails: list[Mail]
    sms: list[Sms]


def fetch_inbox(url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Inbox:
    """Fetch and parse the captured mails and SMS, newest first.

    Raises :class:`InboxError` (never anything else) when the inbox is unreachable or answers something that
    is not the dev inbox's JSON.
    """
    try:
        response = requests.get(url, timeout=timeout)
        response.raise_for_status()
    except requests.RequestException as exc:
        raise InboxError(f"cannot read {url} ({type(exc).__name__})") from exc
    try:
        data = response.json()
    except ValueError as exc:  # requests' JSONDecodeError is a ValueError
        raise InboxError(f"{url} did not answer JSON") from exc
    if not isinstance(data, dict):
        raise InboxError(f"{url} did not answer a JSON object")
    return Inbox(parse_inbox(data), parse_sms(data))


def fetch_mails(url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> list[Mail]:
    """The mails of :func:`fetch_inbox`, for callers that read only mail."""
    return fetch_inbox(url, timeout).mails


def parse_inbox(data: Mapping[str, Any]) -> list[Mail]:
    """The mails of the dev inbox's answer, in its order (newest first).

    Entries that do not have the documented shape are skipped rather than failing the whole inbox.
    """
    parsers = {"Message": _from_simple, "RawMessage": _from_raw}
    mails = []
    for item in _dicts(data.get("mails")):
        parse = parsers.get(str(item.get("kind")))
        mail = parse(item) if parse else None
        if mail is not None:
            mails.append(mail)
    return mails


def parse_sms(data: Mapping[str, Any]) -> list[Sms]:
    """The SMS of the dev inbox's answer, in its order (newest first); malformed entries are skipped."""
    return [
        Sms(str(item.get("id", "")), item["phone_number"], item["message"])
        for item in _dicts(data.get("sms"))
        if isinstance(item.get("phone_number"), str) and isinstance(item.get("message"), str)
    ]


def _dicts(value: object) -> Iterable[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _from_simple(item: Mapping[str, Any]) -> Mail | None:
    destinations = item.get("destinations")
    if not isinstance(destinations, dict):
        return None
    recipients: list[str] = []
    for key in ("ToAddresses", "CcAddresses", "BccAddresses"):
        value = destinations.get(key)
        if isinstance(value, list):
            recipients.extend(str(address) for address in value)
    return Mail(
        id=str(item.get("id", "")),
        sender=str(item.get("source", "")),
        to=_unique(recipients),
        subject=str(item.get("subject", "")),
        body=_readable(str(item.get("body", ""))),
    )


def _from_raw(item: Mapping[str, Any]) -> Mail | None:
    raw_data = item.get("raw_data")
    destinations = item.get("destinations")
    if not isinstance(raw_data, str) or not isinstance(destinations, list):
        return None
    message = message_from_string(raw_data, policy=policy.default)
    body = ""
    if isinstance(message, EmailMessage):
        part = message.get_body(preferencelist=("plain", "html"))
        if part is not None:
            body = part.get_content()
    return Mail(
        id=str(item.get("id", "")),
        sender=str(item.get("source", "")),
        # Moto lists an address once per Destination entry and again per header, hence the de-duplication.
        to=_unique(str(address) for address in destinations),
        subject=str(message.get("Subject", "")),
        body=_readable(body),
    )


def _unique(addresses: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(addresses))


_HTML_HINT = re.compile(r"</?(html|body|p|div|br|table|span|a|h[1-6])\b", re.IGNORECASE)
_INVISIBLE = re.compile(r"<(head|style|script)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_BLOCK_END = re.compile(r"</(p|div|h[1-6]|li|tr)\s*>|<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")


def _readable(body: str) -> str:
    """Plain text for display: moto stores the HTML part when a mail has one, which is hard to read raw."""
    if not _HTML_HINT.search(body):
        return body.strip()
    text = _TAG.sub("", _BLOCK_END.sub("\n", _INVISIBLE.sub("", body)))
    lines = (line.strip() for line in html.unescape(text).splitlines())
    return "\n".join(line for line in lines if line)
