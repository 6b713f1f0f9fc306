"""Passkeys over HTTP (Chalice's test client), with the suite's software authenticator: registering, signing in
usernameless, and each rule of WebAuthn Level 3 the service must keep, each a test."""

from __future__ import annotations

from typing import Any

import pytest
from chalice.test import Client

from chalicelib import wiring
from tests.conftest import FakeClock
from tests.test_mfa_api import Person, stage
from tests.webauthn_authenticator import Authenticator

BOB = "bob@example.com"


@pytest.fixture
def client(client: Client, monkeypatch: pytest.MonkeyPatch, no_wait_retries: None) -> Client:
    stage(monkeypatch)
    return client


class Holder(Person):
    """Someone with a mailbox and a passkey provider, talking to the API."""

    def __init__(self, client: Client, clock: FakeClock, email: str = "alice@example.com", synced: bool = False):
        super().__init__(client, clock, email)
        self.authenticator = Authenticator(synced=synced)

    def register(self, token: str, name: str = "Laptop", **create: Any) -> Any:
        options = self.post("/passkeys/register/options", token=token)
        assert options.status_code == 200, options.json_body
        body = options.json_body
        credential = self.authenticator.create(body["options"], **create)
        return self.post(
            "/passkeys/register", {"ceremony": body["ceremony"], "credential": credential, "name": name}, token
        )

    def registered(self, token: str, name: str = "Laptop") -> dict[str, Any]:
        answer = self.register(token, name)
        assert (answer.status_code, answer.json_body["code"]) == (200, "passkey_registered"), answer.json_body
        return answer.json_body["passkey"]

    def options(self) -> dict[str, Any]:
        answer = self.post("/passkeys/signin/options")
        assert (answer.status_code, answer.json_body["code"]) == (200, "passkey_options"), answer.json_body
        return answer.json_body

    def passkey_sign_in(self, **get: Any) -> Any:
        body = self.options()
        credential = self.authenticator.get(body["options"], **get)
        return self.post("/passkeys/signin", {"ceremony": body["ceremony"], "credential": credential})


def refused(answer: Any, code: str = "invalid_passkey", status: int = 401) -> None:
    assert (answer.status_code, answer.json_body["code"]) == (status, code), answer.json_body


def test_a_passkey_registered_signs_in_usernameless_at_aal2(client: Client, clock: FakeClock) -> None:
    alice = Holder(client, clock)
    token = alice.signed_in()["access_token"]
    passkey = alice.registered(token, "My laptop")
    assert passkey["name"] == "My laptop" and passkey["synced"] is False
    answer = alice.passkey_sign_in()
    assert (answer.status_code, answer.json_body["code"]) == (200, "verified"), answer.json_body
    me = alice.me(answer.json_body["access_token"]).json_body
    assert me["email"] == alice.email
    claims = wiring.get_sessions().authenticate(answer.json_body["access_token"], wiring.now())
    assert claims.aal == 2 and claims.session.amr == ("hwk", "user", "mfa")
