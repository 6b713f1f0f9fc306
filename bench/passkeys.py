"""Passkeys as the sign-in UI and a browser drive them, for `make bench`: over Chalice's test client (the AWS calls
of each step, bench/run.py) or over HTTP to `chalice local` (the ceremony a cold ``POST /passkeys/signin`` answers).

The browser and its authenticator are the suite's (tests/webauthn_authenticator.py), at the local stage's origin and
RP id: the one tests/test_passkeys.py holds to each rule of WebAuthn Level 3, so the bench signs as the tests do
rather than with a copy that could drift from them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalice.test import HTTPResponse

from bench.oidc import JSON, Call, bearer
from tests.webauthn_authenticator import Authenticator

# What docs/item-layout.md says a passkey's sign-in is, warm: one consistent read of the credential, the account's
# home and the network's failure counter, one transaction (the ceremony spent, the sign count, the session), plus
# the access token's signature.
SIGN_IN_PATH = "/passkeys/signin"
SIGN_IN = f"POST {SIGN_IN_PATH}"  # its row
ONE_READ_ONE_WRITE_ONE_SIGNATURE = {"dynamodb.BatchGetItem": 1, "dynamodb.TransactWriteItems": 1, "kms.Sign": 1}


def post(call: Call, path: str, body: dict[str, Any], token: str = "") -> HTTPResponse:
    return call("POST", path, json.dumps(body), {**JSON, **(bearer(token) if token else {})})


def options(answer: HTTPResponse) -> dict[str, Any]:
    """The ``{"options", "ceremony"}`` of an options request."""
    assert answer.status_code == 200, answer.body
    return dict(answer.json_body)


def registered(call: Call, authenticator: Authenticator, token: str) -> None:
    """A passkey made by ``authenticator`` for the account whose session ``token`` is (uncounted)."""
    begun = options(post(call, "/passkeys/register/options", {}, token))
    credential = authenticator.create(begun["options"])
    body = {"ceremony": begun["ceremony"], "credential": credential, "name": "Laptop"}
    answer = post(call, "/passkeys/register", body, token)
    assert answer.status_code == 200, answer.body


def signing_in(call: Call, authenticator: Authenticator) -> dict[str, Any]:
    """The body of a ``POST /passkeys/signin``: a sign-in ceremony begun, answered by ``authenticator``."""
    begun = options(post(call, "/passkeys/signin/options", {}))
    return {"ceremony": begun["ceremony"], "credential": authenticator.get(begun["options"])}


Step = Callable[[str, Callable[[], HTTPResponse], int], HTTPResponse]


def passkey_steps(
    call: Call, sign_in: Callable[[str], dict[str, Any]], step: Step, who: str, authenticator: Authenticator
) -> None:
    """A person signed in by a code registers a passkey made by ``authenticator`` (a browser at the stage's UI),
    signs in with it usernameless, and steps up with it."""
    token = sign_in(f"{who}-ivan@example.com")["access_token"]
    begun = options(
        step("POST /passkeys/register/options", lambda: post(call, "/passkeys/register/options", {}, token), 200)
    )
    credential = authenticator.create(begun["options"])
    body = {"ceremony": begun["ceremony"], "credential": credential, "name": "Laptop"}
    step("POST /passkeys/register", lambda: post(call, "/passkeys/register", body, token), 200)
    begun = options(step("POST /passkeys/signin/options", lambda: post(call, "/passkeys/signin/options", {}), 200))
    body = {"ceremony": begun["ceremony"], "credential": authenticator.get(begun["options"])}
    token = step(SIGN_IN, lambda: post(call, SIGN_IN_PATH, body), 200).json_body["access_token"]
    begun = options(
        step(
            "POST /passkeys/reauthenticate/options",
            lambda: post(call, "/passkeys/reauthenticate/options", {}, token),
            200,
        )
    )
    body = {"ceremony": begun["ceremony"], "credential": authenticator.get(begun["options"])}
    step("POST /passkeys/reauthenticate", lambda: post(call, "/passkeys/reauthenticate", body, token), 200)
