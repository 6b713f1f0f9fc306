"""The embedded AWS of the local stack: moto's server, with DynamoDB writes made atomic as in AWS, and a dev inbox.

moto evaluates a write's condition and applies its update in separate Python steps, so two threads of its
server can interleave inside one request; real DynamoDB serialises writes to an item. The service's
guarantees (at most N guesses per code, exactly one session per code) rest on that serialisation, so the
local stack and its tests serialise DynamoDB requests here instead of inheriting moto's race.

moto also takes a deep copy of every table a ``TransactWriteItems`` names before it runs, to roll a cancelled one
back: its time grows with the table (7 items in-process: 14 ms in an empty table, 98 ms at 500 items, 244 ms at
1,000), where DynamoDB's does not. Here a transaction keeps a copy of the items it names instead, and puts those
back when it fails, whatever the failure (moto's own rollback missed some).

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
import copy
import functools
import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import parse_qs

from moto.core import DEFAULT_ACCOUNT_ID
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends
from werkzeug.serving import ThreadedWSGIServer

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

DEFAULT_REGION = "us-east-1"
# The listen backlog. werkzeug's 128 overflowed when a test's 200 concurrent requests each opened a connection
# here while the accepting thread waited for the CPU: a dropped SYN is only retried by TCP after a second, past
# the service's 1 s connect timeout, and the request answered 503 (seen on a loaded 2-core CI machine). The
# kernel caps it at net.core.somaxconn.
LISTEN_BACKLOG = 1024
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


class _TablesByReference:
    """The ``copy`` module as moto's DynamoDB backend sees it: deep copies as ever, but a table is itself. The one
    table moto copies is a transaction's rollback state, which :func:`_by_item` keeps item by item instead."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)  # anything else of the module, as it is


def _by_item(transact: Callable[[DynamoDBBackend, list[dict[str, Any]]], None]) -> Callable[..., None]:
    """moto's ``transact_write_items``, rolled back from copies of the items it names (module docstring)."""

    @functools.wraps(transact)
    def transact_write_items(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        saved: dict[tuple[str, DynamoType], tuple[Table, bool, Any]] = {}
        for entry in transact_items:
            for op in entry.values():
                table = backend.tables.get(op.get("TableName", "")) if isinstance(op, dict) else None  # no table is ""
                key = (op.get("Item") if "Put" in entry else op.get("Key")) if table else None
                if table is None or not isinstance(key, dict) or table.hash_key_attr not in key:
                    continue  # moto refuses it before it writes anything
                hash_value = DynamoType(key[table.hash_key_attr])
                if (table.name, hash_value) not in saved:  # (a range key's items share their hash's entry)
                    present = hash_value in table.items
                    saved[table.name, hash_value] = (table, present, copy.deepcopy(table.items.get(hash_value)))
        try:
            transact(backend, transact_items)
        except Exception:
            for (_, hash_value), (table, present, before) in saved.items():
                if present:
                    table.items[hash_value] = before
                else:
                    table.items.pop(hash_value, None)
            raise

    return transact_write_items


def transactions_by_item() -> None:
    """Make moto's transactions cost what their items cost, not what their tables hold (module docstring)."""
    if not hasattr(DynamoDBBackend.transact_write_items, "__wrapped__"):
        dynamodb_models.copy = _TablesByReference()  # type: ignore[assignment]
        DynamoDBBackend.transact_write_items = _by_item(DynamoDBBackend.transact_write_items)  # type: ignore[method-assign]


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
    """moto's server application, DynamoDB requests serialised, transactions rolled back item by item, with the
    dev inbox of ``region``."""
    transactions_by_item()
    return with_dev_inbox(serialize_dynamodb(DomainDispatcherApplication(create_backend_app)), region)


def stack_region() -> str:
    """The region the local stack's clients use: the one its environment names (tools.run_local sets it)."""
    return os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


class _Server(ThreadedWSGIServer):
    request_queue_size = LISTEN_BACKLOG


class _QuietHandler(MotoRequestHandler):
    """No line per AWS call: the API's access line says what a request did (its errors are still logged)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def serve(app: WsgiApp, argv: Sequence[str] | None = None, prog: str = "python -m tools.embedded_aws") -> None:
    """Serve ``app`` on ``--host``/``--port`` from ``argv``, one thread per request, until killed."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=4566)
    parser.add_argument("--log-requests", action="store_true", help="a line per AWS call, as moto's server prints")
    args = parser.parse_args(argv)
    server = _Server(args.host, args.port, app, handler=MotoRequestHandler if args.log_requests else _QuietHandler)
    print(f"embedded AWS on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


def main(argv: Sequence[str] | None = None) -> None:
    serve(create_app(stack_region()), argv)


if __name__ == "__main__":
    main()
