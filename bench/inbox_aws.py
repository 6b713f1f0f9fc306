"""The embedded AWS of ``tools.embedded_aws`` plus a read of the last code mailed to one address, for the benchmark.

The dev inbox lists only the newest mails, and under load the one a benchmark client waits for may already be
older than those. ``GET /bench/inbox?to=<address or E.164 number>`` reads the mails moto's SES and the texts its SNS
captured in this process and answers ``{"code": ...}`` from the last one to it, in well under a millisecond.

It also plays the AWS Parameters and Secrets Lambda Extension for Secrets Manager: ``GET /secretsmanager/get?
secretId=<id>`` with an ``X-Aws-Parameters-Secrets-Token`` header answers the secret as ``GetSecretValue`` would,
so that a cold start can be measured with the hashing key read the way ``OTP_SECRETS_EXTENSION_PORT`` reads it.

    python -m bench.inbox_aws --port 4566
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends
from moto.sns.models import sns_backends

from tools.embedded_aws import WsgiApp, captured_mails, create_app, serve, stack_region

INBOX_PATH = "/bench/inbox"
EXTENSION_SECRET_PATH = "/secretsmanager/get"
CODE = re.compile(r"\b(\d{6,10})\b")


def with_inbox(app: WsgiApp, region: str) -> WsgiApp:
    lock = threading.Lock()
    latest: dict[str, str] = {}
    read = 0

    def inbox(address: str) -> str | None:
        nonlocal read
        if address.startswith("+"):
            texts = [
                text
                for to, text in list(sns_backends[DEFAULT_ACCOUNT_ID][region].sms_messages.values())
                if to == address
            ]
            found = CODE.search(texts[-1]) if texts else None
            return found.group(1) if found else None
        messages = captured_mails(region)
        with lock:
            for message in messages[read:]:
                for to in message.destinations.get("ToAddresses", []):
                    latest[to] = message.subject
            read = len(messages)
            subject = latest.get(address)
        found = CODE.search(subject or "")
        return found.group(1) if found else None

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != INBOX_PATH:
            return app(environ, start_response)
        address = parse_qs(environ.get("QUERY_STRING", "")).get("to", [""])[0]
        code = inbox(address)
        status = "200 OK" if code else "404 Not Found"
        start_response(status, [("Content-Type", "application/json")])
        return [json.dumps({"code": code}).encode()]

    return handle


def with_secrets_extension(app: WsgiApp, region: str) -> WsgiApp:
    """``app`` with the extension's ``GET /secretsmanager/get`` answered from moto's Secrets Manager."""

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != EXTENSION_SECRET_PATH:
            return app(environ, start_response)
        if not environ.get("HTTP_X_AWS_PARAMETERS_SECRETS_TOKEN"):
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"no X-Aws-Parameters-Secrets-Token"]
        secret_id = parse_qs(environ.get("QUERY_STRING", "")).get("secretId", [""])[0]
        try:
            secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][region].get_secret_value(secret_id, "", "")
        except Exception:  # moto's not-found and the like: the extension answers AWS's 400 as its own
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [b"ResourceNotFoundException"]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(secret, default=str).encode()]

    return handle


def main(argv: Sequence[str] | None = None) -> None:
    region = stack_region()
    app = with_secrets_extension(with_inbox(create_app(region), region), region)
    serve(app, argv, prog="python -m bench.inbox_aws")


if __name__ == "__main__":
    main()
