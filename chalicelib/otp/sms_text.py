"""The text message that carries a code: GSM-7 only and one segment, so that it costs one SMS and arrives whole.

A message outside the GSM 03.38 alphabet is sent as UCS-2, whose segments hold 70 characters, not 160; one
longer than a segment is split and billed per part. Both are refused when the settings are read
(:func:`check_settings`, from :func:`chalicelib.wiring.get_settings`), not discovered per message.

Each purpose has its text: a sign-in code's is the configured template, a code that links a number or confirms a
change says so in the service's own words (:data:`PURPOSE_TEMPLATES`), so that a person asked to read out "your
code" can see what it would do. Every text ends with the origin-bound line where there is one
(:attr:`chalicelib.config.Settings.sms_origin_host`).
"""

from __future__ import annotations

import string

from chalicelib.config import ConfigError, Settings
from chalicelib.otp.codes import Purpose

# GSM 03.38 basic character set (one septet each) and its extension table (an escape plus one septet: two).
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")
SEGMENT_SEPTETS = 160
FIELDS = frozenset({"code", "service", "minutes"})
# The texts of codes that do not sign in: the service's own, not settings, so that they always say what the code
# does. Same fields as the sign-in template. Short, as each must fit one segment beside the service name, a
# 10-digit code and the origin-bound line: the longer's own 84 septets leave 76 for those.
PURPOSE_TEMPLATES: dict[Purpose, str] = {
    Purpose.LINK: "Code to add this number to an account at {service}: {code}. If you did not ask, ignore it.",
    Purpose.REAUTHENTICATE: "{code} confirms it is you before a change to your {service} account. "
    "If you did not ask, ignore it.",
}


class UnsendableText(ValueError):
    """A message that is not GSM-7, or needs more than one segment.

    ``purpose`` is that of the text at fault, ``None`` when the service name fails every text.
    """

    def __init__(self, message: str, purpose: Purpose | None = None) -> None:
        super().__init__(message)
        self.purpose = purpose


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


def template_for(purpose: Purpose, sign_in_template: str) -> str:
    """The template of the text that carries a code for ``purpose``."""
    return sign_in_template if purpose is Purpose.SIGN_IN else PURPOSE_TEMPLATES[purpose]


def render_sms(template: str, service: str, code: str, valid_minutes: int, webotp_domain: str | None) -> str:
    """The message for ``code``; with ``webotp_domain``, its last line is the WebOTP / iOS autofill binding
    (``@<domain> #<code>``), which browsers read to offer the code only on that site."""
    text = _compose(template, service, code, valid_minutes, webotp_domain)
    if septets(text) > SEGMENT_SEPTETS:
        raise UnsendableText(f"the message needs {septets(text)} septets, more than one segment")
    return text


def check_template(template: str, service: str, digits: int, valid_minutes: int, webotp_domain: str | None) -> None:
    """Refuse settings whose text of any purpose would not be sent: a sign-in template that names unknown fields or
    lacks the code, or a text that is not one GSM-7 segment for a ``digits``-long code (digits are one septet
    each, so one code stands for all).

    The service's own texts are checked before the template, so that a service name too long for them is
    reported as such (:attr:`UnsendableText.purpose`), whatever the template.
    """
    named = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    if "code" not in named or not named <= FIELDS:
        raise UnsendableText(
            "the template must contain {code} and no fields but {code}, {service}, {minutes}", Purpose.SIGN_IN
        )
    try:
        septets(service)
    except UnsendableText as error:
        raise UnsendableText(f"the service name: {error}") from None
    line = f" and the line @{webotp_domain} #<code>" if webotp_domain else ""
    for purpose in (*PURPOSE_TEMPLATES, Purpose.SIGN_IN):
        what = purpose.value.replace("_", "-")
        text = _compose(template_for(purpose, template), service, "0" * digits, valid_minutes, webotp_domain)
        try:
            needed = septets(text)
        except UnsendableText as error:
            raise UnsendableText(f"the {what} text: {error}", purpose) from None
        if needed > SEGMENT_SEPTETS:
            raise UnsendableText(
                f"the {what} text needs {needed} septets with a {digits}-digit code{line}, more than one segment",
                purpose,
            )


def _compose(template: str, service: str, code: str, valid_minutes: int, webotp_domain: str | None) -> str:
    text = template.format(code=code, service=service, minutes=valid_minutes)
    return f"{text}\n\n@{webotp_domain} #{code}" if webotp_domain else text


def check_settings(settings: Settings) -> None:
    """Refuse settings whose text of any purpose is not one GSM-7 segment, naming the variable to change (the
    service's own texts hold the service name: a name too long for them is refused). The settings' own reading
    (:meth:`chalicelib.config.Settings.from_environ`) checks each value's form; this checks what they make."""
    try:
        check_template(
            settings.sms_template,
            settings.service_name,
            settings.limits.code_digits,
            settings.limits.sms_code_ttl_seconds // 60,
            settings.sms_origin_host,
        )
    except UnsendableText as error:
        if error.purpose is Purpose.SIGN_IN:
            raise ConfigError(f"OTP_SMS_TEMPLATE: {error}") from None
        if error.purpose is None:  # the name is not GSM-7
            raise ConfigError(f"OTP_SERVICE_NAME: {error}") from None
        # The service's own texts are fixed: only the name, and the host of the line, make them longer.
        host = ", or name a shorter host of the site in OTP_SMS_WEBOTP_DOMAIN" if settings.sms_origin_host else ""
        raise ConfigError(f"OTP_SERVICE_NAME: {error}; shorten it{host}") from None
