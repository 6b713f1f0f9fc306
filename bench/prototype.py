"""The earlier prototype's handler, rewritten from its description (issue 14): the reference a cold start is held to.

One module that imports boto3, builds a DynamoDB *resource* and an SES client at import, and answers
``send_otp`` with one ``PutItem`` (the code's hash, keyed by the address) and one ``SendEmail``. Nothing else:
no validation library, no keyed digest, no limits, no sessions. It reads the table and the sender from the
stage's settings (``OTP_TABLE``, ``OTP_SENDER``), so that it writes and mails where the service does.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from typing import Any

import boto3

table = boto3.resource("dynamodb").Table(os.environ["OTP_TABLE"])
ses = boto3.client("ses")
CODE_TTL_SECONDS = 300


def app(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda's entry point, as the prototype had it: ``{"action": "send_otp", "email": ...}`` only."""
    body = json.loads(event.get("body") or "{}")
    email = str(body.get("email", "")).strip().lower()
    if body.get("action") != "send_otp" or "@" not in email:
        return {"statusCode": 400, "body": json.dumps({"message": "bad request"})}
    code = f"{secrets.randbelow(10**6):06d}"
    table.put_item(
        Item={
            "pk": f"prototype#{email}",
            "code": hashlib.sha256(code.encode()).hexdigest(),
            "expires_at": int(time.time()) + CODE_TTL_SECONDS,
        }
    )
    ses.send_email(
        Source=os.environ["OTP_SENDER"],
        Destination={"ToAddresses": [email]},
        Message={
            "Subject": {"Data": f"Your sign-in code: {code}"},
            "Body": {"Text": {"Data": f"Your code is {code}. It expires in 5 minutes."}},
        },
    )
    return {"statusCode": 200, "body": json.dumps({"message": "code sent"})}
