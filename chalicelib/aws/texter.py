"""Text messages through Amazon SNS: one ``Publish`` to a phone number per code, never to a topic."""

from __future__ import annotations

from typing import Any

from chalicelib.accounts.identifiers import Identifier
from chalicelib.aws.dependencies import guarded
from chalicelib.config import Settings
from chalicelib.otp.codes import Purpose
from chalicelib.otp.sms_text import render_sms, template_for


class SnsTexter:
    """Sends code texts as transactional SMS, each capped at its country's configured price."""

    def __init__(self, client: Any, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def send_code(self, to: Identifier, code: str, valid_minutes: int, purpose: Purpose = Purpose.SIGN_IN) -> None:
        """Text ``code`` to ``to`` in the words of its ``purpose``, ending with the origin-bound line if any."""
        settings = self._settings
        text = render_sms(
            template_for(purpose, settings.sms_template),
            settings.service_name,
            code,
            valid_minutes,
            settings.sms_origin_host,
        )
        attributes = {
            # Transactional: routed for delivery rather than cost, and not subject to promotional opt-outs.
            "AWS.SNS.SMS.SMSType": "Transactional",
            # SNS refuses a text that would cost more, e.g. after a price change or to an unexpected route.
            "AWS.SNS.SMS.MaxPrice": str(settings.sms_price(to.country)),
        }
        if settings.sms_sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = settings.sms_sender_id
        if settings.sms_origination_number:
            attributes["AWS.MM.SMS.OriginationNumber"] = settings.sms_origination_number
        with guarded("sns"):
            self._client.publish(
                PhoneNumber=to.value,
                Message=text,
                MessageAttributes={
                    name: {"DataType": "Number" if name.endswith("MaxPrice") else "String", "StringValue": value}
                    for name, value in attributes.items()
                },
            )
