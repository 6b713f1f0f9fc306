"""A relying party and a person, talking to the OpenID Connect provider through Chalice's test client: the steps of
the authorization code flow, for the tests of chalicelib/oauth."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from chalice.test import Client

from tests.test_mfa_api import Person

ISSUER = "http://127.0.0.1:8000"
DEMO = "local-demo"  # public, native, first-party (.chalice/config.json)
EXAMPLE = "local-example"  # confidential, third-party
EXAMPLE_SECRET = "local-example-secret"
EXAMPLE_REDIRECT = "http://127.0.0.1:8502/oauth2callback"
DEMO_REDIRECT = "http://127.0.0.1:53117/callback"  # any port: RFC 8252's loopback rule


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def query_of(location: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class RelyingParty:
    """A client application: builds authorization requests and calls the token endpoint."""

    def __init__(
        self, client: Client, client_id: str = DEMO, redirect_uri: str = DEMO_REDIRECT, secret: str = ""
    ) -> None:
        self.client, self.client_id, self.redirect_uri, self.secret = client, client_id, redirect_uri, secret
        self.verifier, self.challenge = pkce()
        self.state, self.nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)

    def authorize(self, **overrides: str | None) -> Any:
        parameters: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid email offline_access",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            **overrides,
        }
        query = urlencode({name: value for name, value in parameters.items() if value is not None})
        return self.client.http.get(f"/oauth2/authorize?{query}")

    def challenge_of(self, **overrides: str | None) -> str:
        answer = self.authorize(**overrides)
        assert answer.status_code == 302, answer.body
        location = answer.headers["Location"]
        assert location.startswith("http://127.0.0.1:8501/?"), location
        return query_of(location)["login_challenge"]

    def token(self, form: dict[str, str], auth: str | None = None, **headers: str) -> Any:
        if auth is None and self.secret:
            auth = basic(self.client_id, self.secret)
        if auth is None and "client_id" not in form:
            form = {**form, "client_id": self.client_id}
        sent = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        if auth:
            sent["Authorization"] = auth
        return self.client.http.post("/oauth2/token", headers=sent, body=urlencode(form))

    def redeem(self, code: str, **overrides: str) -> Any:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
            **overrides,
        }
        return self.token(form)

    def form(self, path: str, form: dict[str, str]) -> Any:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if self.secret:
            headers["Authorization"] = basic(self.client_id, self.secret)
        else:
            form = {**form, "client_id": self.client_id}
        return self.client.http.post(path, headers=headers, body=urlencode(form))


def accept(person: Person, token: str, challenge: str, consent: bool | None = None) -> Any:
    body: dict[str, Any] = {"login_challenge": challenge}
    if consent is not None:
        body["consent"] = consent
    return person.post("/oauth2/login", body, token=token)


def code_for(person: Person, rp: RelyingParty, token: str, consent: bool | None = None, **overrides: str) -> str:
    """Through the whole front channel: authorize, accept with ``token``, and the code the redirect carries."""
    answer = accept(person, token, rp.challenge_of(**overrides), consent)
    assert answer.status_code == 200, answer.json_body
    redirect = query_of(answer.json_body["redirect_to"])
    assert redirect["state"] == rp.state and redirect["iss"] == ISSUER
    assert answer.json_body["redirect_to"].startswith(rp.redirect_uri + "?")
    return redirect["code"]


def claims(jwt: str) -> dict[str, Any]:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
