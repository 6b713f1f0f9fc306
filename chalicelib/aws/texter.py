"""Text messages through Amazon SNS: one ``Publish`` to a phone number per text, never to a topic."""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dependencies import guarded
from chalicelib.config import Settings


class SnsTexter:
    """Sends transactional SMS, each capped at its country's configured price."""

    def __init__(self, client: Any, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    def send(self, number: str, text: str, country: str) -> None:
        """Text ``text`` to ``number`` (E.164) of ``country`` (ISO 3166)."""
        settings = self._settings
        attributes = {
            # Transactional: routed for delivery rather than cost, and not subject to promotional opt-outs.
            "AWS.SNS.SMS.SMSType": "Transactional",
            # SNS refuses a text that would cost more, e.g. after a price change or to an unexpected route.
            "AWS.SNS.SMS.MaxPrice": str(settings.sms_price(country)),
        }
        if settings.sms_sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = settings.sms_sender_id
        if settings.sms_origination_number:
            attributes["AWS.MM.SMS.OriginationNumber"] = settings.sms_origination_number
        with guarded("sns"):
            self._client.publish(
                PhoneNumber=number,
                Message=text,
                MessageAttributes={
                    name: {"DataType": "Number" if name.endswith("MaxPrice") else "String", "StringValue": value}
                    for name, value in attributes.items()
                },
            )
