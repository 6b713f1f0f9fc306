"""deploy/http-api-authorizer.json, the example HTTP API an adopter puts beside their own: it is wired as AWS
documents a JWT authorizer, and the tokens this service issues pass that authorizer's checks.

The authorizer itself runs only in AWS, so :func:`authorizer_claims` does what AWS's "Control access to HTTP APIs with
JWT authorizers in API Gateway" says it does, in its order, with PyJWT (a maintained JOSE library) for the signature
and the claims, knowing only what the template configures: the issuer and the audience. It reads the issuer's
discovery document and the key set its ``jwks_uri`` names over HTTP, from the API served on a loopback port. One
check cannot be made here: AWS wants an https issuer, and a loopback server speaks http; the template's ``Issuer``
parameter refuses anything else.
"""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from chalice.test import Client

from chalicelib.config import Settings
from tests.conftest import REPO_ROOT, FakeClock, override_settings
from tests.oauth_flow import DEMO, RelyingParty, accept, query_of
from tests.test_adversarial_faults import sign_in
from tests.test_mfa_api import Person
from tests.test_packaging import DEPLOYED_STAGES
from tools.bootstrap import load_stage_env

TEMPLATE = json.loads((REPO_ROOT / "deploy" / "http-api-authorizer.json").read_text())
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
# What the template configures the authorizer with, unless the adopter says otherwise.
AUDIENCE = PARAMETERS["Audience"]["Default"].split(",")
# "Currently, only RSA-based algorithms are supported" (AWS, the page above).
RSA_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]


class Refused(Exception):
    """The authorizer answers 401: the request never reaches the route."""


def authorizer_claims(authorization: str, issuer: str, audience: Sequence[str], scopes: Sequence[str] = ()) -> Any:
    """The claims an HTTP API JWT authorizer with ``issuer`` and ``audience`` hands to a route that requires one of
    ``scopes`` (none: any), for a request with this ``Authorization`` header; :class:`Refused` if it refuses it."""
    token = authorization.removeprefix("Bearer ")  # the identity source holds the token, or "Bearer " and the token
    try:
        header = jwt.get_unverified_header(token)
        if header.get("alg") not in RSA_ALGORITHMS:
            raise Refused(f"{header.get('alg')} is not an RSA-based algorithm")
        # The public key from the issuer's jwks_uri, which its discovery document names; the token's kid picks it.
        with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=10) as answer:
            jwks_uri = json.load(answer)["jwks_uri"]
        key = jwt.PyJWKClient(jwks_uri, timeout=10).get_signing_key_from_jwt(token).key
        # aud must match an audience entry; a token without aud is judged by its client_id instead.
        has_aud = "aud" in jwt.decode(token, options={"verify_signature": False})
        claims = jwt.decode(
            token,
            key,
            algorithms=RSA_ALGORITHMS,
            issuer=issuer,
            audience=list(audience) if has_aud else None,
            options={"require": ["iss", "exp", "iat"], "verify_aud": has_aud},  # exp, nbf and iat against now
        )
    except jwt.PyJWTError as error:
        raise Refused(f"{type(error).__name__}: {error}") from error
    if not has_aud and claims.get("client_id") not in audience:
        raise Refused("neither aud nor client_id names an audience")
    granted = claims.get("scope", claims.get("scp", ""))
    if scopes and not set(scopes) & set(granted.split() if isinstance(granted, str) else granted):
        raise Refused("none of the route's scopes")
    return claims


@contextmanager
def served(client: Client) -> Iterator[str]:
    """The API over HTTP on a loopback port (Chalice's test client answers), as the issuer's URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answer = client.http.get(self.path)
            self.send_response(answer.status_code)
            for name, value in answer.headers.items():
                if name.lower() not in ("content-length", "connection"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the access line of every fetch would only clutter a failure's output

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def issuer(client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The stage's issuer, served over HTTP; tokens issued now by the real clock, which PyJWT checks them against."""
    clock.now = float(int(time.time()))
    with served(client) as url:
        override_settings(monkeypatch, OTP_TOKEN_ISSUER=url, OTP_ACCESS_TOKEN_ALGORITHM="RS256")
        yield url


def sample_function() -> Any:
    """The handler of the template's inline function, as Lambda loads it."""
    namespace: dict[str, Any] = {}
    source = RESOURCES["HelloFunction"]["Properties"]["Code"]["ZipFile"]["Fn::Join"]
    exec(compile(source[0].join(source[1]), "index.py", "exec"), namespace)
    return namespace["handler"]


def request_through(claims: dict[str, Any]) -> dict[str, Any]:
    """The event of payload format 2.0 for GET /hello after the authorizer accepted a token with ``claims``."""
    return {
        "version": "2.0",
        "routeKey": "GET /hello",
        "rawPath": "/hello",
        "requestContext": {"http": {"method": "GET", "path": "/hello"}, "authorizer": {"jwt": {"claims": claims}}},
    }


# -- the tokens the service issues, through the authorizer ------------------------------------------------


def test_an_rs256_access_token_passes_the_authorizer_with_the_template_s_configuration(
    client: Client, issuer: str
) -> None:
    session = sign_in(client)
    token = session["access_token"]
    assert jwt.get_unverified_header(token)["alg"] == "RS256"

    claims = authorizer_claims(f"Bearer {token}", issuer, AUDIENCE)

    assert (claims["iss"], claims["sub"]) == (issuer, session["user_id"])
    # And the sample route answers the caller's claims, as the authorizer hands them over.
    answer = sample_function()(request_through(claims), None)
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"])["claims"]["sub"] == session["user_id"]


def test_the_default_es256_access_token_is_refused_by_the_authorizer(
    client: Client, issuer: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the example needs OTP_ACCESS_TOKEN_ALGORITHM=RS256: the authorizer takes only RSA-signed tokens."""
    override_settings(monkeypatch, OTP_TOKEN_ISSUER=issuer, OTP_ACCESS_TOKEN_ALGORITHM="ES256")
    token = sign_in(client)["access_token"]
    with pytest.raises(Refused, match="ES256 is not an RSA-based algorithm"):
        authorizer_claims(f"Bearer {token}", issuer, AUDIENCE)


def test_the_authorizer_refuses_a_token_of_another_audience_or_issuer(client: Client, issuer: str) -> None:
    """The checks above can say no: the same token, before an authorizer configured for another audience, or with
    an issuer that reaches the same server under another name (iss must match the configured issuer exactly)."""
    authorization = f"Bearer {sign_in(client)['access_token']}"
    with pytest.raises(Refused, match="InvalidAudienceError"):
        authorizer_claims(authorization, issuer, ["someone-else"])
    with pytest.raises(Refused, match="InvalidIssuerError"):
        authorizer_claims(authorization, issuer.replace("127.0.0.1", "localhost"), AUDIENCE)


def test_a_route_that_requires_a_scope_refuses_a_token_of_the_service_s_own_sign_in(
    client: Client, issuer: str
) -> None:
    """The template's RequiredScopes: tokens of the API's own sign-in (POST /otp) carry no scope."""
    authorization = f"Bearer {sign_in(client)['access_token']}"
    with pytest.raises(Refused, match="scopes"):
        authorizer_claims(authorization, issuer, AUDIENCE, scopes=["email"])


def client_tokens(client: Client, clock: FakeClock) -> tuple[str, dict[str, Any]]:
    """The account id of a person who signed in, and the token answer to the local stage's public client (local-demo,
    first party: no consent asked) after the authorization code flow with that sign-in."""
    session, rp = sign_in(client), RelyingParty(client)
    accepted = accept(Person(client, clock), session["access_token"], rp.challenge_of())
    assert accepted.status_code == 200, accepted.json_body
    redeemed = rp.redeem(query_of(accepted.json_body["redirect_to"])["code"])
    assert redeemed.status_code == 200, redeemed.json_body
    return session["user_id"], redeemed.json_body


def test_an_openid_connect_client_s_access_token_passes_and_its_id_token_does_not(
    client: Client, clock: FakeClock, issuer: str
) -> None:
    """What an adopter's application holds: the tokens of the authorization code flow. The access token passes,
    even on a route that requires a scope it was granted; the ID token (RS256 too), whose aud is the client's id,
    does not."""
    account, tokens = client_tokens(client, clock)

    claims = authorizer_claims(f"Bearer {tokens['access_token']}", issuer, AUDIENCE, scopes=["email"])

    assert (claims["sub"], claims["client_id"]) == (account, DEMO)
    assert jwt.get_unverified_header(tokens["id_token"])["alg"] == "RS256"
    with pytest.raises(Refused, match="InvalidAudienceError"):
        authorizer_claims(f"Bearer {tokens['id_token']}", issuer, AUDIENCE)


def test_an_audience_of_client_ids_would_refuse_the_client_s_own_access_token(
    client: Client, clock: FakeClock, issuer: str
) -> None:
    """Why the template's Audience is the stage's OTP_TOKEN_AUDIENCE: API Gateway judges a token's aud when it has
    one, and the aud of every access token is that, not the client's id (which is its client_id claim)."""
    _, tokens = client_tokens(client, clock)
    with pytest.raises(Refused, match="InvalidAudienceError"):
        authorizer_claims(f"Bearer {tokens['access_token']}", issuer, [DEMO])


# -- the template ---------------------------------------------------------------------------------------


def test_the_template_s_default_audience_is_what_every_stage_s_access_tokens_carry() -> None:
    """API Gateway judges aud when a token has one, and every access token of a stage carries its
    OTP_TOKEN_AUDIENCE, whichever client it was issued to."""
    for stage in ("local", *DEPLOYED_STAGES):
        assert [Settings.from_environ(load_stage_env(stage)).token_audience] == AUDIENCE, stage


def test_the_authorizer_is_a_jwt_authorizer_of_the_issuer_and_audience_parameters() -> None:
    authorizer = RESOURCES["SignInAuthorizer"]["Properties"]
    assert authorizer["AuthorizerType"] == "JWT"
    assert authorizer["ApiId"] == {"Ref": "HttpApi"}
    assert authorizer["IdentitySource"] == ["$request.header.Authorization"]
    assert authorizer["JwtConfiguration"] == {"Issuer": {"Ref": "Issuer"}, "Audience": {"Ref": "Audience"}}
    assert RESOURCES["HttpApi"]["Properties"]["ProtocolType"] == "HTTP"


@pytest.mark.parametrize(
    ("issuer", "accepted"),
    [
        *((load_stage_env(stage)["OTP_TOKEN_ISSUER"], True) for stage in DEPLOYED_STAGES),
        ("https://a1b2c3d4e5.execute-api.us-east-1.amazonaws.com/api", True),  # no custom domain: the stage's path
        (load_stage_env("local")["OTP_TOKEN_ISSUER"], False),  # http: the authorizer could not fetch its keys
        ("https://signin.example.com/", False),  # the tokens' iss has no trailing slash, and it must match exactly
        ("https://signin.example.com?x=1", False),
        ("signin.example.com", False),
    ],
)
def test_the_issuer_parameter_takes_an_https_issuer_as_the_tokens_name_it(issuer: str, accepted: bool) -> None:
    pattern = PARAMETERS["Issuer"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, issuer)) is accepted


def test_get_hello_goes_through_the_authorizer_to_the_sample_function() -> None:
    route = RESOURCES["HelloRoute"]["Properties"]
    assert route["RouteKey"] == "GET /hello"
    assert (route["AuthorizationType"], route["AuthorizerId"]) == ("JWT", {"Ref": "SignInAuthorizer"})
    # The RequiredScopes parameter's scopes, or none when it is left empty (its default).
    assert route["AuthorizationScopes"] == {
        "Fn::If": ["HasRequiredScopes", {"Ref": "RequiredScopes"}, {"Ref": "AWS::NoValue"}]
    }
    assert PARAMETERS["RequiredScopes"]["Default"] == ""
    assert route["Target"] == {"Fn::Sub": "integrations/${HelloIntegration}"}
    integration = RESOURCES["HelloIntegration"]["Properties"]
    assert (integration["IntegrationType"], integration["PayloadFormatVersion"]) == ("AWS_PROXY", "2.0")
    assert integration["IntegrationUri"] == {"Fn::GetAtt": ["HelloFunction", "Arn"]}
    permission = RESOURCES["HelloPermission"]["Properties"]
    assert permission["FunctionName"] == {"Ref": "HelloFunction"}
    assert (permission["Action"], permission["Principal"]) == ("lambda:InvokeFunction", "apigateway.amazonaws.com")
    assert permission["SourceArn"]["Fn::Sub"].endswith(":${HttpApi}/*/GET/hello")  # this route of this API only
    stage = RESOURCES["DefaultStage"]["Properties"]
    assert (stage["StageName"], stage["AutoDeploy"]) == ("$default", True)
    assert TEMPLATE["Outputs"]["HelloUrl"]["Value"] == {"Fn::Sub": "${HttpApi.ApiEndpoint}/hello"}


def test_the_sample_function_answers_the_claims_it_is_handed() -> None:
    claims = {"sub": "3f1c1f0e-8e0a-4c55-a8f2-0d6b0c9b7e21", "iss": "https://signin.example.com", "aud": "otp-signin"}
    answer = sample_function()(request_through(claims), None)
    assert answer["statusCode"] == 200
    assert answer["headers"]["content-type"] == "application/json"
    assert json.loads(answer["body"]) == {"claims": claims, "scopes": None}
