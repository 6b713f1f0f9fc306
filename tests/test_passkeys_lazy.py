"""The passkey code, and the ``webauthn`` package with it, load at the first request of a passkey route, never for
a sign-in by code: a container that only mails codes keeps its cold start (as tests/test_oauth_lazy.py holds for
the OpenID Connect provider)."""

from __future__ import annotations

import ast
import json
import sys

from chalice.test import Client

from tests.conftest import REPO_ROOT, code_in, sent_mails
from tests.test_oauth_lazy import new_container

PASSKEYS = ("chalicelib.http.passkey_routes", "chalicelib.passkeys.service", "chalicelib.passkeys.store")
ADDRESS = "lazy-passkeys@example.com"


def passkeys_loaded() -> list[str]:
    return sorted(set(PASSKEYS) & set(sys.modules))


def test_a_sign_in_by_code_loads_no_passkey_code_and_a_passkey_route_loads_it(aws: None) -> None:
    with new_container() as fresh, Client(fresh.app, stage_name="local", project_dir=str(REPO_ROOT)) as client:
        headers = {"Content-Type": "application/json"}

        def otp(body: dict[str, str]) -> int:
            return client.http.post("/otp", headers=headers, body=json.dumps(body)).status_code

        assert otp({"action": "send_otp", "email": ADDRESS}) == 200
        code = code_in([mail for mail in sent_mails() if mail["to"] == [ADDRESS]][-1])
        assert otp({"action": "verify_otp", "email": ADDRESS, "otp": code}) == 200
        assert passkeys_loaded() == []

        assert client.http.post("/passkeys/signin/options", headers=headers, body="").status_code == 200
        assert passkeys_loaded() == list(PASSKEYS)


def test_only_the_passkey_service_imports_webauthn() -> None:
    """webauthn (and cbor2, pyOpenSSL, pyasn1 under it) is imported by one module, which only wiring.get_passkeys
    and the passkey routes import."""
    importers = set()
    for path in (REPO_ROOT / "chalicelib").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if any(name.split(".")[0] == "webauthn" for name in names):
                importers.add(path.relative_to(REPO_ROOT).as_posix())
    assert importers == {"chalicelib/passkeys/service.py"}
