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
        Source=SENDER,
        Destinations=["raw@example.com"],
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
        "mail 2",
        {"ToAddresses": ["person2@example.com"]},
    )
    assert [(sms["phone_number"], sms["message"]) for sms in inbox["sms"]] == [
        ("+15550100002", "sms 2"),
        ("+15550100001", "sms 1"),
    ]
    assert len(json.loads(client.get(DEV_INBOX_PATH).data)["mails"]) == 4  # the default (20) holds them all


def test_the_dev_inbox_refuses_a_bad_limit_and_leaves_other_paths_to_moto(aws: None) -> None:
    client = Client(with_dev_inbox(other_routes, REGION))
    for limit in ("0", "-1", "x", "²", str(MAX_DEV_INBOX_LIMIT + 1)):
        answer = client.get(DEV_INBOX_PATH, query_string={"limit": limit})
        assert answer.status_code == 400 and "limit" in json.loads(answer.data)["message"]
    assert client.get("/moto-api/data.json").data == b"moto"


# -- transactions rolled back item by item (conftest installs it for in-process moto, as create_app does) ---------


def _table_with_range_key(name: str) -> Any:
    client = boto3.client("dynamodb", region_name=REGION)
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "h", "KeyType": "HASH"}, {"AttributeName": "r", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "h", "AttributeType": "S"},
            {"AttributeName": "r", "AttributeType": "S"},
        ],
    )
    return client


def _items(client: Any, table: str) -> dict[tuple[str, str], str]:
    return {(item["h"]["S"], item["r"]["S"]): item["v"]["S"] for item in client.scan(TableName=table)["Items"]}


def _put(table: str, h: str, r: str, v: str) -> dict[str, Any]:
    return {"Put": {"TableName": table, "Item": {"h": {"S": h}, "r": {"S": r}, "v": {"S": v}}}}


def _update(table: str, h: str, r: str, v: str, condition: str | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {
        "TableName": table,
        "Key": {"h": {"S": h}, "r": {"S": r}},
        "UpdateExpression": "SET v = :v",
        "ExpressionAttributeValues": {":v": {"S": v}},
    }
    if condition:
        update["ConditionExpression"] = condition
    return {"Update": update}


def test_a_cancelled_transaction_leaves_every_item_it_named_as_it_was(aws: None) -> None:
    client = _table_with_range_key("rollback")
    client.transact_write_items(
        TransactItems=[
            _put("rollback", "a", "1", "old"),
            _put("rollback", "b", "1", "old"),
            _put("rollback", "c", "1", "untouched"),
        ]
    )
    before = _items(client, "rollback")
    try:
        client.transact_write_items(
            TransactItems=[
                _update("rollback", "a", "1", "new"),  # an update of an existing item
                _put("rollback", "a", "2", "new"),  # a new item beside it under the same hash key
                {"Delete": {"TableName": "rollback", "Key": {"h": {"S": "b"}, "r": {"S": "1"}}}},
                _put("rollback", "d", "1", "new"),  # a new hash key
                _update("rollback", "c", "1", "new", condition="v = :v"),  # refused: v is "untouched"
            ]
        )
    except client.exceptions.TransactionCanceledException as cancelled:
        reasons = [reason["Code"] for reason in cancelled.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "None", "ConditionalCheckFailed"]
    assert _items(client, "rollback") == before

    client.transact_write_items(TransactItems=[_update("rollback", "a", "1", "new"), _put("rollback", "d", "1", "new")])
    assert _items(client, "rollback") == {**before, ("a", "1"): "new", ("d", "1"): "new"}


def test_a_transaction_refused_midway_for_its_form_is_rolled_back_too(aws: None) -> None:
    # Two operations in one entry: moto refuses it outside its own rollback, after the items before it were written.
    client = _table_with_range_key("refused")
    delete = {"TableName": "refused", "Key": {"h": {"S": "y"}, "r": {"S": "1"}}}
    bad = {**_put("refused", "x", "1", "new"), "Delete": delete}
    try:
        client.transact_write_items(TransactItems=[_put("refused", "w", "1", "new"), bad])
    except client.exceptions.ClientError as refused:
        assert refused.response["Error"]["Code"] in ("ValidationException", "TransactWriteSingleOpException")
    else:
        raise AssertionError("moto accepted two operations in one entry")
    assert _items(client, "refused") == {}
