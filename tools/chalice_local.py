"""`chalice local` where chosen environment variables win over the stage's configuration, and callers are seen
at their real addresses.

`chalice local` copies the stage's `environment_variables` from .chalice/config.json into os.environ when
it loads the app (CLIFactory.load_chalice_app), silently replacing a value from the process environment;
the local stack must override some, e.g. the CORS origins when the UI runs on another port.

It prints one line per request, the service's own JSON access line: `chalice local`'s own request line
("POST /otp HTTP/1.1" 200) says nothing more, and botocore's notes on where it found its credentials and
endpoints are dropped.

It also reports every caller's `requestContext.identity.sourceIp` as 127.0.0.1, whatever address the caller
connected from; here it is the client's socket address, as API Gateway reports it, so per-source rules can be
tried locally from the other loopback addresses (127.0.0.2, ...).

    python -m tools.chalice_local --set OTP_CORS_ORIGINS=http://127.0.0.1:8600 -- --stage local --no-autoreload

Arguments after `--` are those of `chalice local`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any

from chalice.cli import cli
from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler


def parse_assignment(text: str) -> tuple[str, str]:
    """Split `NAME=VALUE`; raise argparse.ArgumentTypeError without a name."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def override_stage_environment(overrides: Mapping[str, str]) -> None:
    """Make `overrides` win over the stage's environment_variables whenever Chalice loads the app."""
    load_chalice_app = CLIFactory.load_chalice_app

    def load_with_overrides(
        self: CLIFactory, environment_variables: MutableMapping | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return load_chalice_app(self, {**(environment_variables or {}), **overrides}, *args, **kwargs)

    CLIFactory.load_chalice_app = load_with_overrides  # type: ignore[method-assign]


def report_client_addresses() -> None:
    """Make each request's `sourceIp` the address its connection came from, instead of chalice's fixed one.

    The request handler builds one LocalGateway, with its own event converter, per connection; the converter
    writes its LOCAL_SOURCE_IP into every event. Setting it on that converter, once the connection's peer is
    known (`setup`, before any request is read), changes only that connection's events.
    """
    setup = ChaliceRequestHandler.setup

    def setup_with_client_address(self: ChaliceRequestHandler) -> None:
        setup(self)
        self.local_gateway.event_converter.LOCAL_SOURCE_IP = self.client_address[0]

    ChaliceRequestHandler.setup = setup_with_client_address


def quiet() -> None:
    """One line per request: no request line of chalice's own server, no botocore notes below WARNING."""
    ChaliceRequestHandler.log_message = lambda self, format, *args: None
    logging.getLogger("botocore").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> None:
    """Run `chalice local` with the overrides; does not return (click exits the process)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m tools.chalice_local")
    parser.add_argument(
        "--set", dest="overrides", metavar="NAME=VALUE", type=parse_assignment, action="append", default=[]
    )
    parser.add_argument("chalice_args", nargs=argparse.REMAINDER, help="arguments of `chalice local`")
    args = parser.parse_args(argv)
    chalice_args = args.chalice_args[1:] if args.chalice_args[:1] == ["--"] else args.chalice_args

    override_stage_environment(dict(args.overrides))
    report_client_addresses()
    quiet()
    cli.main(args=["local", *chalice_args], prog_name="chalice", obj={})


if __name__ == "__main__":
    main()
