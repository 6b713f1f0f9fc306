"""The embedded AWS's dev inbox, in process: moto's SES and SNS backends as the server holds them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import boto3
from werkzeug.test import Client

from tests.conftest import REGION
from tools.embedded_aws import DEV_INBOX_PATH, MAX_DEV_INBOX_LIMIT, with_dev_inbox

SENDER = "no-reply@signin.localhost.dev"  # verified by the bootstrap the ``aws`` fixture runs


def other_routes(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"moto"]


def send_mail(to: str, subject: str) -> None:
    boto3.client("sesv2", region_name=REGION).send_email(
        FromEmailAddress=SENDER,
        Destination={"ToAddresses": [to]},
        Content={"Simple": {"Subject": {"Data": subject}, "Body": {"Text": {"Data": f"{subject} body"}}}},
    )


def test_the_dev_inbox_lists_the_newest_mails_and_sms_first(aws: None) -> None:
    for n in range(3):
        send_mail(f"person{n}@example.com", f"mail {n}")
    boto3.client("ses", region_name=REGION).send_raw_email(
        Source=SENDER, Destinations=["raw@example.com"],
        RawMessage={"Data": f"From: {SENDER}\r\nTo: raw@example.com\r\nSubject: raw\r\n\r\nraw body\r\n"},
    )
    sns = boto3.client("sns", region_name=REGION)
    for n in range(3):
        sns.publish(PhoneNumber=f"+1555010000{n}", Message=f"sms {n}")
    client = Client(with_dev_inbox(other_routes, REGION))

    answer = client.get(DEV_INBOX_PATH, query_string={"limit": "2"})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    inbox = json.loads(answer.data)
    # Simple and raw mails in the one order they were sent in, newest first.
    assert [mail["kind"] for mail in inbox["mails"]] == ["RawMessage", "Message"]
    assert "raw@example.com" in inbox["mails"][0]["destinations"]
    assert (inbox["mails"][1]["subject"], inbox["mails"][1]["destinations"]) == (
        "mail 2", {"ToAddresses": ["person2@example.com"]})
    assert [(sms["phone_number"], sms["message"]) for sms in inbox["sms"]] == [
        ("+15550100002", "sms 2"), ("+15550100001", "sms 1")]
    assert len(json.loads(client.get(DEV_INBOX_PATH).data)["mails"]) == 4  # the default (20) holds them all


def test_the_dev_inbox_refuses_a_bad_limit_and_leaves_other_paths_to_moto(aws: None) -> None:
    client = Client(with_dev_inbox(other_routes, REGION))
    for limit in ("0", "-1", "x", "²", str(MAX_DEV_INBOX_LIMIT + 1)):
        answer = client.get(DEV_INBOX_PATH, query_string={"limit": limit})
        assert answer.status_code == 400 and "limit" in json.loads(answer.data)["message"]
    assert client.get("/moto-api/data.json").data == b"moto"
