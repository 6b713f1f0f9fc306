"""The embedded AWS of the local stack: moto's server, with DynamoDB writes made atomic as in AWS, and a dev inbox.

moto evaluates a write's condition and applies its update in separate Python steps, so two threads of its
server can interleave inside one request; real DynamoDB serialises writes to an item. The service's
guarantees (at most N guesses per code, exactly one session per code) rest on that serialisation, so the
local stack and its tests serialise DynamoDB requests here instead of inheriting moto's race.

``GET /_dev/inbox?limit=N`` answers the newest N (default 20) mails moto's SES captured and SMS its SNS
published, newest first, read from moto's backends in this process::

    {"mails": [{"kind": "Message" | "RawMessage" | "TemplateMessage", <the model's attributes>}, ...],
     "sms": [{"id": str, "phone_number": str, "message": str}, ...]}

moto's own ``/moto-api/data.json`` holds the same mails, but serialises every object moto ever created (each
DynamoDB write leaves one behind): after about 1,000 requests to the API it was 7.6 MB and took 34 s.

    python -m tools.embedded_aws --port 4566
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID
from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends
from werkzeug.serving import make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

DEFAULT_REGION = "us-east-1"
DEV_INBOX_PATH = "/_dev/inbox"
DEV_INBOX_LIMIT = 20  # as many as the UI lists
MAX_DEV_INBOX_LIMIT = 1000


def serialize_dynamodb(app: WsgiApp) -> WsgiApp:
    """``app`` with every DynamoDB request handled alone, as DynamoDB handles writes to one item."""
    lock = threading.Lock()

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return app(environ, start_response)
        with lock:
            # Materialise the body inside the lock: moto does its work while the response is produced.
            return list(app(environ, start_response))

    return handle


def captured_mails(region: str) -> list[Any]:
    """Every mail moto's SES (v1 and v2 share it) captured in ``region``, oldest first: moto's model objects."""
    return ses_backends[DEFAULT_ACCOUNT_ID][region].sent_messages


def dev_inbox(region: str, limit: int) -> dict[str, list[dict[str, Any]]]:
    """The newest ``limit`` captured mails and SMS, newest first (see the module's docstring)."""
    # Copies taken in one step (under the GIL): other threads append while this one reads.
    mails = captured_mails(region)[-limit:]
    sms = list(sns_backends[DEFAULT_ACCOUNT_ID][region].sms_messages.items())[-limit:]
    return {
        "mails": [{"kind": type(mail).__name__, **vars(mail)} for mail in reversed(mails)],
        "sms": [{"id": id_, "phone_number": phone, "message": text} for id_, (phone, text) in reversed(sms)],
    }


def with_dev_inbox(app: WsgiApp, region: str) -> WsgiApp:
    """``app`` with ``GET /_dev/inbox`` answered from moto's backends in this process."""

    def handle(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != DEV_INBOX_PATH:
            return app(environ, start_response)
        raw = parse_qs(environ.get("QUERY_STRING", "")).get("limit", [str(DEV_INBOX_LIMIT)])[0]
        if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_DEV_INBOX_LIMIT:  # "²" is a digit too
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [json.dumps({"message": f"limit must be 1 to {MAX_DEV_INBOX_LIMIT}, not {raw!r}"}).encode()]
        start_response("200 OK", [("Content-Type", "application/json"), ("Cache-Control", "no-store")])
        # default=str: an attribute moto may add to its models (a timestamp) must not break the inbox.
        return [json.dumps(dev_inbox(region, int(raw)), default=str).encode()]

    return handle


def create_app(region: str = DEFAULT_REGION) -> WsgiApp:
    """moto's server application, DynamoDB requests serialised, with the dev inbox of ``region``."""
    return with_dev_inbox(serialize_dynamodb(DomainDispatcherApplication(create_backend_app)), region)


def stack_region() -> str:
    """The region the local stack's clients use: the one its environment names (tools.run_local sets it)."""
    return os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def serve(app: WsgiApp, argv: Sequence[str] | None = None, prog: str = "python -m tools.embedded_aws") -> None:
    """Serve ``app`` on ``--host``/``--port`` from ``argv``, one thread per request, until killed."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    print(f"embedded AWS on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    serve(create_app(stack_region()), argv)


if __name__ == "__main__":
    main()
