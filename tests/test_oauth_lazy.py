"""The OpenID Connect provider's code loads at the first request of its routes, never for a sign-in: a container
that only signs people in keeps the cold start it had before the provider (docs/benchmarks.md#openid-connect).

In process: app.py and chalicelib are imported anew, as a new container imports them, and what they import is read
from ``sys.modules``; this process's own copies are put back after.
"""

from __future__ import annotations

import importlib
import json
import sys
import types
from collections.abc import Iterator
from contextlib import contextmanager

from chalice.test import Client

from tests.conftest import REPO_ROOT, code_in, sent_mails

PROVIDER = (
    "chalicelib.http.oauth_routes",
    "chalicelib.oauth.id_tokens",
    "chalicelib.oauth.requests",
    "chalicelib.oauth.service",
    "chalicelib.oauth.store",
)
CLIENTS = "chalicelib.oauth.clients"  # what the settings check the stage's clients with, at start-up on purpose
ADDRESS = "lazy@example.com"


def _service_module(name: str) -> bool:
    return name == "app" or name == "chalicelib" or name.startswith("chalicelib.")


@contextmanager
def new_container() -> Iterator[types.ModuleType]:
    """app.py imported with none of app.py and chalicelib loaded yet, as a new container imports it."""
    kept = {name: module for name, module in sys.modules.items() if _service_module(name)}
    for name in kept:
        del sys.modules[name]
    try:
        yield importlib.import_module("app")
    finally:
        for name in [name for name in sys.modules if _service_module(name)]:
            del sys.modules[name]
        sys.modules.update(kept)


def provider_loaded() -> list[str]:
    return sorted(set(PROVIDER) & set(sys.modules))


def test_a_sign_in_loads_none_of_the_providers_code_and_the_providers_first_route_loads_it(aws: None) -> None:
    with new_container() as fresh, Client(fresh.app, stage_name="local", project_dir=str(REPO_ROOT)) as client:
        assert provider_loaded() == [] and CLIENTS in sys.modules

        def otp(body: dict[str, str]) -> int:
            headers = {"Content-Type": "application/json"}
            return client.http.post("/otp", headers=headers, body=json.dumps(body)).status_code

        assert otp({"action": "send_otp", "email": ADDRESS}) == 200
        code = code_in([mail for mail in sent_mails() if mail["to"] == [ADDRESS]][-1])
        assert otp({"action": "verify_otp", "email": ADDRESS, "otp": code}) == 200
        assert provider_loaded() == []

        # The control: the same container's first request of an OpenID Connect route loads every module above.
        assert client.http.get("/.well-known/openid-configuration").status_code == 200
        assert provider_loaded() == list(PROVIDER)
