"""The OpenID Connect provider as a client library nobody here wrote sees it: authlib, configured only with the issuer,
a client id and a loopback redirect URI, runs code + PKCE, validates the ID token (signature from the JWKS, nonce,
at_hash), calls userinfo, refreshes and revokes; its RFC 8414 and OpenID Connect Discovery validators pass the
discovery document; its RFC 9068 validator accepts the access tokens.

The HTTP of authlib's requests session goes to the service through Chalice's test client (:class:`InProcess`), so the
requests are exactly what authlib sends. The issuer is https, as RFC 8414 requires of a deployed one.
"""

from __future__ import annotations

import time
import warnings
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from authlib.deprecate import AuthlibDeprecationWarning
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oidc.core import CodeIDToken
from authlib.oidc.discovery import OpenIDProviderMetadata
from chalice.test import Client

from tests.conftest import FakeClock, override_settings
from tests.oauth_flow import DEMO, EXAMPLE, EXAMPLE_REDIRECT, EXAMPLE_SECRET, query_of
from tests.test_mfa_api import Person

# authlib.jose is deprecated for joserfc, but with its CodeIDToken (nonce, at_hash, azp, auth_time) it is what
# validates an ID token in authlib's own OpenID Connect client.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.jose import JsonWebKey, jwt
pytestmark = pytest.mark.filterwarnings("ignore::authlib.deprecate.AuthlibDeprecationWarning")
ISSUER = "https://signin.example.com"
REDIRECT = "http://127.0.0.1:49152/callback"  # a native app's loopback, on a port of the system's choosing


class InProcess(requests.adapters.BaseAdapter):
    """A requests transport that answers from the service in this process (Chalice's test client)."""

    def __init__(self, client: Client) -> None:
        super().__init__()
        self._client = client

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
        answer = self._client.http.request(str(request.method), path, body=body, headers=dict(request.headers))
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers.update(answer.headers)
        response._content = answer.body
        response.url = str(request.url)
        response.request = request
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def https_issuer(monkeypatch: pytest.MonkeyPatch) -> None:
    override_settings(monkeypatch, OTP_TOKEN_ISSUER=ISSUER)


def session_for(client: Client, client_id: str, **options: Any) -> OAuth2Session:
    session = OAuth2Session(client_id, code_challenge_method="S256", **options)
    session.mount(ISSUER, InProcess(client))
    return session


def discover(client: Client) -> dict[str, Any]:
    http = requests.Session()
    http.mount(ISSUER, InProcess(client))
    return dict(http.get(f"{ISSUER}/.well-known/openid-configuration").json())


def test_authlib_validates_the_discovery_document(client: Client, https_issuer: None) -> None:
    metadata = discover(client)
    OpenIDProviderMetadata(metadata).validate()
    AuthorizationServerMetadata(metadata).validate()


def front_channel(client: Client, person: Person, token: str, url: str, consent: bool = False) -> str:
    """What a browser does between the client's redirect and its return: follow the authorization endpoint's
    redirect to the sign-in UI, which accepts the login challenge with the person's session."""
    http = requests.Session()
    http.mount(ISSUER, InProcess(client))
    answer = http.get(url, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    challenge = query_of(answer.headers["Location"])["login_challenge"]
    body: dict[str, Any] = {"login_challenge": challenge, **({"consent": True} if consent else {})}
    accepted = person.post("/oauth2/login", body, token=token)
    assert accepted.status_code == 200, accepted.json_body
    return str(accepted.json_body["redirect_to"])


def validated_id_token(
    client: Client, metadata: dict[str, Any], id_token: str, client_id: str, nonce: str, access_token: str, now: int
) -> Any:
    http = requests.Session()
    http.mount(ISSUER, InProcess(client))
    keys = JsonWebKey.import_key_set(http.get(metadata["jwks_uri"]).json())
    claims = jwt.decode(
        id_token,
        keys,
        claims_cls=CodeIDToken,
        claims_options={"iss": {"essential": True, "value": ISSUER}},
        claims_params={"nonce": nonce, "client_id": client_id, "access_token": access_token},
    )
    claims.validate(now=now)  # nonce, aud, azp, exp, iat, auth_time and at_hash
    return claims


def test_authlib_runs_the_whole_flow_as_a_public_client(client: Client, clock: FakeClock, https_issuer: None) -> None:
    person = Person(client, clock)
    ui_token = person.signed_in()["access_token"]
    metadata = discover(client)
    session = session_for(client, DEMO, scope="openid email offline_access", redirect_uri=REDIRECT)
    verifier = "a-code-verifier-authlib-sends-as-it-is-0123456789"
    url, state = session.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce="n-0S6_WzA2Mj"
    )
    back = front_channel(client, person, ui_token, url)
    assert query_of(back)["iss"] == ISSUER and query_of(back)["state"] == state

    token = session.fetch_token(metadata["token_endpoint"], authorization_response=back, code_verifier=verifier)
    claims = validated_id_token(
        client, metadata, token["id_token"], DEMO, "n-0S6_WzA2Mj", token["access_token"], int(clock())
    )
    assert claims["email"] == person.email

    info = session.get(metadata["userinfo_endpoint"]).json()
    assert info == {"sub": claims["sub"], "email": person.email, "email_verified": True}

    old_refresh = token["refresh_token"]
    renewed = session.refresh_token(metadata["token_endpoint"], refresh_token=old_refresh)
    assert renewed["refresh_token"] != old_refresh and renewed["access_token"] != token["access_token"]
    assert session.get(metadata["userinfo_endpoint"]).status_code == 200

    revoked = session.revoke_token(metadata["revocation_endpoint"], renewed["refresh_token"])
    assert revoked.status_code == 200
    assert session.get(metadata["userinfo_endpoint"]).status_code == 401
    # authlib reads a refused refresh as an error, not as a new token (RFC 6749 5.2's shape).
    with pytest.raises(Exception, match="invalid_grant"):
        session.refresh_token(metadata["token_endpoint"], refresh_token=renewed["refresh_token"])


def test_authlib_as_a_confidential_client_and_an_rfc_9068_resource_server(
    client: Client, clock: FakeClock, https_issuer: None
) -> None:
    clock.advance(time.time() - 300 - clock())  # the validator reads the real clock: no iat after it
    person = Person(client, clock)
    ui_token = person.signed_in()["access_token"]
    metadata = discover(client)
    session = session_for(
        client, EXAMPLE, client_secret=EXAMPLE_SECRET, scope="openid email", redirect_uri=EXAMPLE_REDIRECT
    )
    verifier = "confidential-clients-use-pkce-too-0123456789"
    url, _ = session.create_authorization_url(metadata["authorization_endpoint"], code_verifier=verifier, nonce="n2")
    back = front_channel(client, person, ui_token, url, consent=True)
    token = session.fetch_token(metadata["token_endpoint"], authorization_response=back, code_verifier=verifier)
    assert "refresh_token" not in token  # no offline_access asked
    validated_id_token(client, metadata, token["id_token"], EXAMPLE, "n2", token["access_token"], int(clock()))

    http = requests.Session()
    http.mount(ISSUER, InProcess(client))
    jwks = http.get(metadata["jwks_uri"]).json()

    class Validator(JWTBearerTokenValidator):  # type: ignore[misc]
        def get_jwks(self) -> Any:
            return jwks

    validator = Validator(issuer=ISSUER, resource_server="otp-signin")
    access = validator.authenticate_token(token["access_token"])
    validator.validate_token(access, scopes=["email"], request=None)
    assert access["client_id"] == EXAMPLE and access["scope"] == "openid email"
