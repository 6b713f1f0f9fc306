"""The text message that carries a code: GSM-7 only and one segment, so that it costs one SMS and arrives whole.

A message outside the GSM 03.38 alphabet is sent as UCS-2, whose segments hold 70 characters, not 160; one
longer than a segment is split and billed per part. Both are refused when the settings are read (see
:func:`check_template`), not discovered per message. A text ends with the origin-bound line (:func:`origin_host`)
where there is one.
"""

from __future__ import annotations

import string
from urllib.parse import urlsplit

# GSM 03.38 basic character set (one septet each) and its extension table (an escape plus one septet: two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
SEGMENT_SEPTETS = 160
FIELDS = frozenset({"code", "service", "minutes"})
DEFAULT_TEMPLATE = "{code} is your {service} code. It is valid for {minutes} minutes."
HOST_CHARACTERS = frozenset(string.ascii_lowercase + string.digits + "-")
MAX_HOST_LENGTH = 253
MAX_LABEL_LENGTH = 63


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


def is_origin_host(host: str) -> bool:
    """Whether ``host`` may be the host of an origin-bound line (``@<host> #<code>``): a bare DNS name.

    The line names a host and nothing else: the WICG's "Origin-bound one-time codes delivered via SMS" makes its
    origin ("https", host, no port), and Chromium's WebOTP parser reads only ``[A-Za-z0-9.-]`` after the ``@``
    (a scheme, a port or a path makes no line at all) and binds ``localhost`` to http://localhost. So a host is
    dot-separated labels of ASCII letters, digits and hyphens (an internationalised name in its ``xn--`` form),
    each 1 to 63 characters and neither starting nor ending with a hyphen, at most 253 in all, its last
    label not all digits: an IP address names no site (an IPv4 address is all digits, an IPv6 one has colons).
    ``localhost`` is such a name.
    """
    labels = host.lower().split(".")
    return (
        len(host) <= MAX_HOST_LENGTH
        and not labels[-1].isdigit()
        and all(
            0 < len(label) <= MAX_LABEL_LENGTH and set(label) <= HOST_CHARACTERS
            and not label.startswith("-") and not label.endswith("-")
            for label in labels
        )
    )


def origin_host(issuer: str) -> str | None:
    """The host of ``issuer`` (a URL), lower-cased and without its port, if it may bind codes (:func:`is_origin_host`).

    The spec matches the line to the page same-site, but some browsers match the origin exactly: a sign-in page on
    another host than the token issuer's names its own with ``OTP_SMS_WEBOTP_DOMAIN``. An issuer on an IP address,
    as the local stage's http://127.0.0.1:8000, binds no code: its texts carry no line.
    """
    try:
        host = urlsplit(issuer).hostname
    except ValueError:  # a malformed URL (an unclosed IPv6 bracket): nothing to bind to
        return None
    return host if host and is_origin_host(host) else None


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
