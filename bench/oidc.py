"""The OpenID Connect flow as an application and the sign-in UI drive it, for `make bench`: over Chalice's test client
(the AWS calls of each step, bench/run.py) or over HTTP to `chalice local` (the code a cold token endpoint
exchanges). The clients are the local stage's (.chalice/config.json), as tests/oauth_flow.py has them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

from chalice.test import Client, HTTPResponse

from bench.events import FORM

# One request: (method, path with its query, body, headers) -> the answer.
Call = Callable[[str, str, str, dict[str, str]], HTTPResponse]
JSON = {"Content-Type": "application/json"}


class LocalClient(NamedTuple):
    client_id: str
    secret: str  # "" for a public client
    redirect_uri: str


DEMO = LocalClient("local-demo", "", "http://127.0.0.1:53117/callback")  # public, native, first-party
EXAMPLE = LocalClient("local-example", "local-example-secret", "http://127.0.0.1:8502/oauth2callback")  # third-party


def through(client: Client) -> Call:
    """Requests through Chalice's test client, in this process."""

    def call(method: str, path: str, body: str, headers: dict[str, str]) -> HTTPResponse:
        return client.http.request(method, path, headers=headers, body=body.encode())

    return call


def query_of(location: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def header(answer: HTTPResponse, name: str) -> str:
    return next(value for key, value in answer.headers.items() if key.lower() == name.lower())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class RelyingParty:
    """An application: its authorization request (PKCE S256, state, nonce) and its calls to the token, revocation
    and introspection endpoints, authenticated as its client is (a confidential one by HTTP Basic)."""

    def __init__(self, call: Call, client: LocalClient) -> None:
        self.call, self.client = call, client
        self.verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(self.verifier.encode()).digest()
        self.challenge = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        self.state, self.nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)

    def authorize(self) -> HTTPResponse:
        query = {
            "response_type": "code",
            "client_id": self.client.client_id,
            "redirect_uri": self.client.redirect_uri,
            "scope": "openid email offline_access",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
        }
        return self.call("GET", f"/oauth2/authorize?{urlencode(query)}", "", {})

    def form(self, form: dict[str, str]) -> tuple[str, dict[str, str]]:
        """A form to one of the client's endpoints, with the client's authentication: (body, headers)."""
        headers = {"Content-Type": FORM}
        if self.client.secret:
            credentials = f"{self.client.client_id}:{self.client.secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode()
        else:
            form = {**form, "client_id": self.client.client_id}
        return urlencode(form), headers

    def redeeming(self, code: str) -> tuple[str, dict[str, str]]:
        return self.form(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.client.redirect_uri,
                "code_verifier": self.verifier,
            }
        )

    def post(self, path: str, body: tuple[str, dict[str, str]]) -> HTTPResponse:
        return self.call("POST", path, *body)

    def redeem(self, code: str) -> HTTPResponse:
        return self.post("/oauth2/token", self.redeeming(code))

    def refresh(self, refresh_token: str) -> HTTPResponse:
        return self.post("/oauth2/token", self.form({"grant_type": "refresh_token", "refresh_token": refresh_token}))

    def revoke(self, token: str) -> HTTPResponse:
        return self.post("/oauth2/revoke", self.form({"token": token}))

    def introspect(self, token: str) -> HTTPResponse:
        return self.post("/oauth2/introspect", self.form({"token": token}))

    def logout(self, id_token: str) -> HTTPResponse:
        query = {"id_token_hint": id_token, "post_logout_redirect_uri": self.client.redirect_uri, "state": self.state}
        return self.call("GET", f"/oauth2/logout?{urlencode(query)}", "", {})


def login_challenge(authorized: HTTPResponse) -> str:
    """The login challenge the authorization endpoint's redirect to the sign-in UI carries."""
    assert authorized.status_code == 302, authorized.body
    return query_of(header(authorized, "Location"))["login_challenge"]


def login_request(call: Call, challenge: str) -> HTTPResponse:
    """What the sign-in UI asks first: the waiting request, to show it."""
    return call("GET", f"/oauth2/login?{urlencode({'login_challenge': challenge})}", "", {})


def accept(call: Call, token: str, challenge: str, consent: bool | None = None) -> HTTPResponse:
    """The sign-in UI accepts the challenge with the person's session (``consent``: their answer to the card)."""
    body: dict[str, object] = {"login_challenge": challenge}
    if consent is not None:
        body["consent"] = consent
    return call("POST", "/oauth2/login", json.dumps(body), {**JSON, **bearer(token)})


def code_in(accepted: HTTPResponse) -> str:
    """The code of the redirect an accepted challenge sends the browser to."""
    assert accepted.status_code == 200, accepted.json_body
    return query_of(accepted.json_body["redirect_to"])["code"]
