"""OTP_OAUTH_CLIENTS: every declaration checked at start-up with a message naming the client and the field, and the
redirect URI rules (exact match; RFC 8252's any-port loopback for native clients only)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from chalicelib.config import ConfigError
from chalicelib.oauth.clients import MAX_CLIENTS, Clients
from chalicelib.wiring import read_settings
from tests.test_config import MINIMAL

SECRET_SHA256 = hashlib.sha256(b"a-secret").hexdigest()
WEB = {
    "client_id": "web",
    "client_secret_sha256": SECRET_SHA256,
    "redirect_uris": ["https://app.example/callback"],
}


def parsed(*clients: dict[str, Any]) -> Clients:
    return Clients.parse(json.dumps(list(clients)))


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("[", "not valid JSON"),
        ('{"client_id": "x"}', "must be a JSON array"),
        (json.dumps([WEB, WEB]), "declares client_id 'web' twice"),
        (json.dumps([{**WEB, "client_id": f"c{i}"} for i in range(MAX_CLIENTS + 1)]), f"at most {MAX_CLIENTS}"),
        (json.dumps([{**WEB, "colour": "blue"}]), "client 'web': unknown fields colour"),
        (json.dumps([{**WEB, "client_id": "a b"}]), "client_id must be"),
        (json.dumps([{**WEB, "token_endpoint_auth_method": "private_key_jwt"}]), "token_endpoint_auth_method"),
        (json.dumps([{**WEB, "token_endpoint_auth_method": "none"}]), "a public client"),
        (json.dumps([{**WEB, "client_secret_sha256": "a-secret"}]), "client_secret_sha256 must be"),
        (json.dumps([{**WEB, "redirect_uris": []}]), "at least one URI"),
        (json.dumps([{**WEB, "redirect_uris": ["http://app.example/callback"]}]), "must be https"),
        (json.dumps([{**WEB, "redirect_uris": ["https://app.example/cb#x"]}]), "without fragment"),
        (json.dumps([{**WEB, "redirect_uris": ["https://user@app.example/cb"]}]), "userinfo"),
        (json.dumps([{**WEB, "scope": "email"}]), "scope must name openid"),
        (json.dumps([{**WEB, "scope": "openid admin"}]), "scope must name openid"),
        (json.dumps([{**WEB, "first_party": "yes"}]), "first_party"),
        (json.dumps([{**WEB, "id_token_signed_response_alg": "HS256"}]), "id_token_signed_response_alg"),
        (json.dumps([{**WEB, "allowed_cors_origins": ["https://app.example/path"]}]), "is not an origin"),
        (json.dumps([{**WEB, "application_type": "desktop"}]), "application_type"),
    ],
)
def test_a_bad_declaration_is_refused_naming_what_to_change(declared: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Clients.parse(declared)


def test_the_stage_refuses_clients_without_a_login_page_or_named_as_the_audience() -> None:
    clients = json.dumps([WEB])
    with pytest.raises(ConfigError, match="OTP_OAUTH_LOGIN_URL"):
        read_settings({**MINIMAL, "OTP_OAUTH_CLIENTS": clients})
    login = {"OTP_OAUTH_LOGIN_URL": "https://signin.example.com/"}
    assert read_settings({**MINIMAL, **login, "OTP_OAUTH_CLIENTS": clients}).oauth_clients == clients
    named = json.dumps([{**WEB, "client_id": MINIMAL["OTP_TOKEN_AUDIENCE"]}])
    with pytest.raises(ConfigError, match="OTP_TOKEN_AUDIENCE"):
        read_settings({**MINIMAL, **login, "OTP_OAUTH_CLIENTS": named})


def test_a_secret_is_compared_with_its_digest_only() -> None:
    client = parsed(WEB).get("web")
    assert client is not None and client.proves("a-secret")
    assert not client.proves("a-secreT") and not client.proves("") and not client.proves(SECRET_SHA256)


def test_a_web_client_s_redirect_uri_matches_exactly() -> None:
    client = parsed({**WEB, "redirect_uris": ["https://app.example/callback?from=signin"]}).get("web")
    assert client is not None
    assert client.redirects_to("https://app.example/callback?from=signin")
    for other in (
        "https://app.example/callback",
        "https://app.example/callback?from=signin&x=1",
        "https://APP.example/callback?from=signin",
    ):
        assert not client.redirects_to(other), other


def test_only_a_native_client_s_loopback_redirect_matches_any_port() -> None:
    loopback = {"redirect_uris": ["http://127.0.0.1/cb", "http://[::1]/cb", "http://localhost/cb"]}
    native = parsed(
        {"client_id": "app", "token_endpoint_auth_method": "none", "application_type": "native", **loopback}
    )
    web = parsed({**WEB, **loopback})
    for uri in ("http://127.0.0.1:5000/cb", "http://[::1]:5000/cb", "http://localhost:1/cb"):
        assert native.get("app").redirects_to(uri), uri  # type: ignore[union-attr]
        assert not web.get("web").redirects_to(uri), uri  # type: ignore[union-attr]
    for uri in (
        "http://127.0.0.1:5000/cb/",
        "http://[::2]:5000/cb",
        "https://127.0.0.1:5000/cb",
        "http://127.0.0.1:5000/cb?x",
    ):
        assert not native.get("app").redirects_to(uri), uri  # type: ignore[union-attr]


def test_a_private_use_scheme_is_a_native_app_s_redirect() -> None:
    client = parsed(
        {"client_id": "app", "token_endpoint_auth_method": "none", "redirect_uris": ["com.example.app:/cb"]}
    )
    assert client.get("app").redirects_to("com.example.app:/cb")  # type: ignore[union-attr]
