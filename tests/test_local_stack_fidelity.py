"""Where the local stack must behave as a deployed stage for people and tests to rely on it, over real HTTP.

- ``chalice local`` reports each caller's socket address as ``sourceIp``, as API Gateway does (``tools.chalice_local``),
  so per-source rules can be tried locally: every address of 127.0.0.0/8 reaches a server on 127.0.0.1 (Linux).
- The dev inbox (``/_dev/inbox`` of ``tools.embedded_aws``) answers only the newest mails, so it stays small however
  much state moto piles up; moto's own ``/moto-api/data.json`` grows with every DynamoDB write.

One stack (``tools.run_local.headless_stack``) for the module, with a per-source quota of ``SENDS_PER_SOURCE``.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import boto3
import pytest

from frontend import inbox
from tests import logscan
from tools.run_local import HOST, Stack, StackError, headless_stack

SENDS_PER_SOURCE = 2
DYNAMODB_REQUESTS = 10_000
LOAD_THREADS = 2  # the embedded AWS serialises DynamoDB requests: a second client keeps it busy between them
MAX_INBOX_BYTES = 64 * 1024  # many times 20 of the service's mails; data.json was 7.6 MB after 1,000 API requests
SENT = (200, "code_sent")
REFUSED = (429, "ip_quota_exceeded")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    lines: list[str] = []
    try:
        with headless_stack({"OTP_SENDS_PER_IP": str(SENDS_PER_SOURCE)}, echo=lines.append) as running:
            yield running
    except StackError as error:
        pytest.fail(f"the local stack did not start: {error}\n" + "\n".join(error.tail))
    finally:
        logscan.add_log_lines("chalice local and the embedded AWS (tests/test_local_stack_fidelity.py)", lines)


def send_from(stack: Stack, source: str, email: str) -> tuple[int, str]:
    """``send_otp`` for ``email`` on a connection from the loopback address ``source``."""
    logscan.remember(addresses=[email])
    connection = http.client.HTTPConnection(HOST, stack.ports.api, timeout=30, source_address=(source, 0))
    try:
        connection.request(
            "POST", "/otp", json.dumps({"action": "send_otp", "email": email}), {"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())["code"]
    finally:
        connection.close()


def test_the_per_source_quota_counts_each_loopback_address_on_its_own(stack: Stack) -> None:
    first = [send_from(stack, "127.0.0.2", f"from-two-{n}@example.com") for n in range(SENDS_PER_SOURCE + 1)]
    second = [send_from(stack, "127.0.0.3", f"from-three-{n}@example.com") for n in range(SENDS_PER_SOURCE + 1)]

    assert first == [SENT] * SENDS_PER_SOURCE + [REFUSED]  # sends from one address are counted together
    assert second == first  # and those from another apart: behind a fixed sourceIp it would be refused at once


def test_the_dev_inbox_stays_small_and_shows_the_newest_mail_first(stack: Stack) -> None:
    assert send_from(stack, "127.0.0.4", "before-the-load@example.com") == SENT
    started = time.perf_counter()
    load_dynamodb(stack.aws_url, DYNAMODB_REQUESTS)
    print(f"\n{DYNAMODB_REQUESTS} DynamoDB requests in {time.perf_counter() - started:.1f} s")
    assert send_from(stack, "127.0.0.4", "after-the-load@example.com") == SENT

    with urllib.request.urlopen(stack.inbox_url, timeout=30) as answer:
        raw = answer.read()
    print(f"dev inbox: {len(raw)} bytes")
    assert len(raw) < MAX_INBOX_BYTES
    mails = inbox.parse_inbox(json.loads(raw))
    logscan.remember(codes=[code for mail in mails for code in re.findall(r"\b\d{6}\b", mail.subject)])
    assert [mail.to for mail in mails[:2]] == [("after-the-load@example.com",), ("before-the-load@example.com",)]
    assert inbox.fetch_mails(f"{stack.inbox_url}?limit=1") == mails[:1]


def load_dynamodb(endpoint: str, requests: int) -> None:
    """``requests`` writes to a table of their own; moto keeps an object of each, as of the service's writes.

    Spoken in DynamoDB's JSON protocol on kept-alive connections: boto3 would spend more CPU per request than the
    embedded AWS does, and on a small machine take it from the server.
    """
    boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_table(
        TableName="load",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    headers = {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": "DynamoDB_20120810.PutItem",
        "Authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=0",
    }  # moto checks the shape, not the signature

    def write(worker: int) -> None:
        connection = http.client.HTTPConnection(urlsplit(endpoint).netloc, timeout=30)
        try:
            for n in range(requests // LOAD_THREADS):
                item = {"pk": {"S": f"{worker}-{n % 100}"}, "n": {"N": str(n)}}
                connection.request("POST", "/", json.dumps({"TableName": "load", "Item": item}), headers)
                response = connection.getresponse()
                assert response.status == 200, response.read()
                response.read()
        finally:
            connection.close()

    with ThreadPoolExecutor(LOAD_THREADS) as pool:
        list(pool.map(write, range(LOAD_THREADS)))
