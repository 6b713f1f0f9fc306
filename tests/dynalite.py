"""dynalite, a DynamoDB emulator that enforces DynamoDB's item limit (moto does not), as tests start it.

Installed by ``make test`` (tools/dynalite, npm). It has no transactions, so only tests that need none run on
it; it is also about ten times faster per request than moto in-process, which the 10,000-refresh test needs.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.local_stack import REPO_ROOT, free_ports

DYNALITE = REPO_ROOT / "tools" / "dynalite" / "node_modules" / ".bin" / "dynalite"
TABLE = "otp_users"
STARTUP_SECONDS = 30


@contextmanager
def dynalite_table() -> Iterator[Any]:
    """A DynamoDB client for a fresh in-memory dynalite holding the service's table (``pk`` S)."""
    if not DYNALITE.exists():
        message = "dynalite is not installed: `make test` installs it (npm ci --prefix tools/dynalite)"
        if os.environ.get("CI"):
            pytest.fail(message)  # CI must run the bound tests, never skip them
        pytest.skip(message)
    (port,) = free_ports(1)
    process = subprocess.Popen(
        [str(DYNALITE), "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        client = boto3.client(
            "dynamodb",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="dynalite",
            aws_secret_access_key="dynalite",
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            try:
                client.create_table(
                    TableName=TABLE,
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                    BillingMode="PAY_PER_REQUEST",
                )
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        while client.describe_table(TableName=TABLE)["Table"]["TableStatus"] != "ACTIVE":
            time.sleep(0.05)
        yield client
    finally:
        process.terminate()
        process.wait(timeout=10)
