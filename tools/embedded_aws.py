"""The embedded AWS of the local stack: moto's server, with DynamoDB writes made atomic as in AWS.

moto evaluates a write's condition and applies its update in separate Python steps, so two threads of its
server can interleave inside one request; real DynamoDB serialises writes to an item. The service's
guarantees (at most N guesses per code, exactly one session per code) rest on that serialisation, so the
local stack and its tests serialise DynamoDB requests here instead of inheriting moto's race.

    python -m tools.embedded_aws --port 4566
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from moto.moto_server.threaded_moto_server import MotoRequestHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


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


def create_app() -> WsgiApp:
    """moto's server application, DynamoDB requests serialised."""
    return serialize_dynamodb(DomainDispatcherApplication(create_backend_app))


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
    serve(create_app(), argv)


if __name__ == "__main__":
    main()
