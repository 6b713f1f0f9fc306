"""The text message that carries a code: GSM-7 only and one segment, so that it costs one SMS and arrives whole.

A message outside the GSM 03.38 alphabet is sent as UCS-2, whose segments hold 70 characters, not 160; one
longer than a segment is split and billed per part. Both are refused when the settings are read (see
:func:`check_template`), not discovered per message.
"""

from __future__ import annotations

import string

# GSM 03.38 basic character set (one septet each) and its extension table (an escape plus one septet: two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
SEGMENT_SEPTETS = 160
FIELDS = frozenset({"code", "service", "minutes"})
DEFAULT_TEMPLATE = "{code} is your {service} code. It is valid for {minutes} minutes."


class UnsendableText(ValueError):
    """A message that is not GSM-7, or needs more than one segment."""


def septets(text: str) -> int:
    """The length of ``text`` in GSM-7 septets; raises :class:`UnsendableText` for a character outside GSM-7."""
    count = 0
    for char in text:
        if char in GSM7_BASIC:
            count += 1
        elif char in GSM7_EXTENSION:
            count += 2
        else:
            raise UnsendableText(f"{char!r} is not in the GSM-7 alphabet")
    return count


def render_sms(template: str, service: str, code: str, valid_minutes: int, webotp_domain: str | None) -> str:
    """The message for ``code``; with ``webotp_domain``, its last line is the WebOTP / iOS autofill binding
    (``@<domain> #<code>``), which browsers read to offer the code only on that site."""
    text = template.format(code=code, service=service, minutes=valid_minutes)
    if webotp_domain:
        text += f"\n\n@{webotp_domain} #{code}"
    if septets(text) > SEGMENT_SEPTETS:
        raise UnsendableText(f"the message needs {septets(text)} septets, more than one segment")
    return text


def check_template(template: str, service: str, digits: int, valid_minutes: int, webotp_domain: str | None) -> None:
    """Refuse a template that names unknown fields, lacks the code, or makes a message that is not one GSM-7
    segment for a ``digits``-long code (digits are one septet each, so one code stands for all)."""
    named = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if "code" not in named or not named <= FIELDS:
        raise UnsendableText("the template must contain {code} and no fields but {code}, {service}, {minutes}")
    render_sms(template, service, "0" * digits, valid_minutes, webotp_domain)
