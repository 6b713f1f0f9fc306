"""The embedded AWS of ``tools.embedded_aws`` plus a read of the last code mailed to one address, for the benchmark.

The dev inbox lists only the newest mails, and under load the one a benchmark client waits for may already be
older than those. ``GET /bench/inbox?to=<address or E.164 number>`` reads the mails moto's SES and the texts its SNS
captured in this process and answers ``{"code": ...}`` from the last one to it, in well under a millisecond.

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
from moto.sns.models import sns_backends

from tools.embedded_aws import WsgiApp, captured_mails, create_app, serve, stack_region

INBOX_PATH = "/bench/inbox"
CODE = re.compile(r"\b(\d{6,10})\b")


def with_inbox(app: WsgiApp, region: str) -> WsgiApp:
    lock = threading.Lock()
    latest: dict[str, str] = {}
    read = 0

    def inbox(address: str) -> str | None:
        nonlocal read
        if address.startswith("+"):
            texts = [text for to, text in list(sns_backends[DEFAULT_ACCOUNT_ID][region].sms_messages.values())
                     if to == address]
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


def main(argv: Sequence[str] | None = None) -> None:
    region = stack_region()
    serve(with_inbox(create_app(region), region), argv, prog="python -m bench.inbox_aws")


if __name__ == "__main__":
    main()
