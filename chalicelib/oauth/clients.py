"""The stage's OpenID Connect clients (``OTP_OAUTH_CLIENTS``), read and checked once, and the rules they obey.

Clients are declared, not registered at run time: a JSON array of objects named as RFC 7591's client metadata
(``client_id``, ``client_name``, ``token_endpoint_auth_method``, ``redirect_uris``, ``post_logout_redirect_uris``,
``scope``, ``application_type``, ``id_token_signed_response_alg``), with ``client_secret_sha256`` (the secret
itself is never stored: a client secret is 256 random bits, so one SHA-256 suffices), ``allowed_cors_origins``
(the web origins whose pages call the token endpoint: a browser app) and ``first_party`` (no consent asked).

Redirect URIs match exactly (OAuth 2.1 section 2.3.1: string comparison, no pattern or prefix). The one exception
is RFC 8252 section 7.3: a *native* client's loopback redirect (``http://127.0.0.1``, ``http://[::1]``,
``http://localhost``) matches on any port, because a desktop app listens on whichever port the system gives it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from chalicelib.config import ConfigError, Settings

PUBLIC = "none"  # a public client: it proves nothing at the token endpoint, PKCE binds the code to it
SECRET_METHODS = ("client_secret_basic", "client_secret_post")
AUTH_METHODS = (PUBLIC, *SECRET_METHODS)
# Scopes this provider grants: openid (an ID token), the claims of email and phone, and offline_access.
SCOPES = ("openid", "email", "phone", "offline_access")
SIGNING_ALGORITHMS = ("RS256", "ES256")
LOOPBACK_HOSTS = ("127.0.0.1", "[::1]", "localhost")
MAX_CLIENTS = 50  # what one home item's consents map may name: it bounds the item (docs/item-layout.md)
MAX_URI_CHARS = 512
_CLIENT_ID = re.compile(r"[A-Za-z0-9._~-]{1,64}")  # URL-safe: it goes into query strings and map keys as it is
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_FIELDS = frozenset(
    {
        "client_id",
        "client_name",
        "token_endpoint_auth_method",
        "client_secret_sha256",
        "redirect_uris",
        "post_logout_redirect_uris",
        "allowed_cors_origins",
        "scope",
        "first_party",
        "application_type",
        "id_token_signed_response_alg",
    }
)


class Client(NamedTuple):
    client_id: str
    name: str
    auth_method: str
    secret_sha256: str  # empty for a public client
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    cors_origins: tuple[str, ...]
    scopes: tuple[str, ...]
    first_party: bool
    native: bool
    id_token_algorithm: str

    @property
    def public(self) -> bool:
        return self.auth_method == PUBLIC

    def redirects_to(self, uri: str) -> bool:
        """Whether ``uri`` is one of this client's redirect URIs (exactly; a native client's loopback on any port)."""
        if uri in self.redirect_uris:
            return True
        if not self.native:
            return False
        asked = _loopback(uri)
        return asked is not None and any(_loopback(registered) == asked for registered in self.redirect_uris)

    def proves(self, secret: str) -> bool:
        """Whether ``secret`` is this confidential client's secret (compared in constant time)."""
        if self.public or not secret:
            return False
        return hmac.compare_digest(hashlib.sha256(secret.encode()).hexdigest(), self.secret_sha256)

    def granted(self, requested: list[str]) -> tuple[str, ...]:
        """The scopes of a request this client may have, in its order; scopes it may not have are left out
        (RFC 6749 section 3.3: the token answer says which were granted)."""
        return tuple(scope for scope in dict.fromkeys(requested) if scope in self.scopes)


def _loopback(uri: str) -> tuple[str, str, str] | None:
    """(host, path, query) of an ``http`` loopback URI without userinfo or fragment, its port left out; else None.

    The host is compared as written: ``LOCALHOST`` or ``127.0.0.01`` is not a registered host.
    """
    try:
        parts = urlsplit(uri)
        port = parts.port  # ValueError for a port that is not a number
    except ValueError:
        return None
    host = parts.netloc[: -len(f":{port}")] if port is not None else parts.netloc
    if parts.scheme != "http" or host not in LOOPBACK_HOSTS or parts.fragment:
        return None
    return host, parts.path, parts.query


class Clients:
    """The declared clients by id."""

    def __init__(self, clients: Mapping[str, Client]) -> None:
        self._clients = dict(clients)

    def get(self, client_id: object) -> Client | None:
        return self._clients.get(client_id) if isinstance(client_id, str) else None

    def __iter__(self) -> Any:
        return iter(self._clients.values())

    def __len__(self) -> int:
        return len(self._clients)

    def cors_origins(self) -> frozenset[str]:
        """Every origin a declared client's page may call the token, userinfo and revocation endpoints from."""
        return frozenset(origin for client in self._clients.values() for origin in client.cors_origins)

    @classmethod
    def parse(cls, raw: str | None) -> Clients:
        """The clients of ``OTP_OAUTH_CLIENTS``; :class:`ConfigError` naming the client and field at fault."""
        if not raw:
            return cls({})
        try:
            entries = json.loads(raw)
        except ValueError as error:
            raise ConfigError(f"OTP_OAUTH_CLIENTS is not valid JSON: {error}") from None
        if not isinstance(entries, list):
            raise ConfigError("OTP_OAUTH_CLIENTS must be a JSON array of client objects")
        if len(entries) > MAX_CLIENTS:
            raise ConfigError(f"OTP_OAUTH_CLIENTS declares {len(entries)} clients; at most {MAX_CLIENTS}")
        clients: dict[str, Client] = {}
        for index, entry in enumerate(entries):
            client = _client(entry, index)
            if client.client_id in clients:
                raise ConfigError(f"OTP_OAUTH_CLIENTS declares client_id {client.client_id!r} twice")
            clients[client.client_id] = client
        return cls(clients)


def _client(entry: object, index: int) -> Client:
    if not isinstance(entry, dict):
        raise ConfigError(f"OTP_OAUTH_CLIENTS[{index}] must be an object")
    client_id = entry.get("client_id")
    where = f"OTP_OAUTH_CLIENTS client {client_id!r}" if isinstance(client_id, str) else f"OTP_OAUTH_CLIENTS[{index}]"

    def fail(problem: str) -> ConfigError:
        return ConfigError(f"{where}: {problem}")

    unknown = sorted(set(entry) - _FIELDS)
    if unknown:
        raise fail(f"unknown fields {', '.join(unknown)}")
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise fail("client_id must be 1 to 64 of A-Z a-z 0-9 . _ ~ -")
    method = entry.get("token_endpoint_auth_method", "client_secret_basic")
    if method not in AUTH_METHODS:
        raise fail(f"token_endpoint_auth_method must be one of {', '.join(AUTH_METHODS)}")
    secret = entry.get("client_secret_sha256", "")
    if method == PUBLIC and secret:
        raise fail("a public client (token_endpoint_auth_method none) has no secret")
    if method != PUBLIC and not (isinstance(secret, str) and _SHA256_HEX.fullmatch(secret)):
        raise fail("client_secret_sha256 must be the secret's SHA-256 in 64 lower-case hex digits")
    native = entry.get("application_type", "web")
    if native not in ("web", "native"):
        raise fail('application_type must be "web" or "native"')
    redirect_uris = _uris(entry, "redirect_uris", fail, required=True)
    scope = entry.get("scope", "openid email phone")
    if not isinstance(scope, str) or not set(scope.split()) <= set(SCOPES) or "openid" not in scope.split():
        raise fail(f"scope must name openid and only {', '.join(SCOPES)}")
    first_party = entry.get("first_party", False)
    if not isinstance(first_party, bool):
        raise fail("first_party must be true or false")
    algorithm = entry.get("id_token_signed_response_alg", "RS256")
    if algorithm not in SIGNING_ALGORITHMS:
        raise fail(f"id_token_signed_response_alg must be one of {', '.join(SIGNING_ALGORITHMS)}")
    name = entry.get("client_name", client_id)
    if not isinstance(name, str) or not 0 < len(name) <= 100 or not name.isprintable():
        raise fail("client_name must be 1 to 100 printable characters")
    origins = _strings(entry, "allowed_cors_origins", fail)
    for origin in origins:
        parts = urlsplit(origin)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.path or parts.query or parts.fragment:
            raise fail(f"allowed_cors_origins: {origin!r} is not an origin (scheme://host[:port])")
    return Client(
        client_id,
        name,
        method,
        secret,
        redirect_uris,
        _uris(entry, "post_logout_redirect_uris", fail),
        origins,
        tuple(dict.fromkeys(scope.split())),
        first_party,
        native == "native",
        algorithm,
    )


def _strings(entry: dict[str, Any], name: str, fail: Any) -> tuple[str, ...]:
    values = entry.get(name, [])
    if not isinstance(values, list) or not all(isinstance(value, str) and value for value in values):
        raise fail(f"{name} must be an array of strings")
    return tuple(values)


def _uris(entry: dict[str, Any], name: str, fail: Any, required: bool = False) -> tuple[str, ...]:
    """Absolute redirect URIs without fragment (RFC 6749 3.1.2), https or an http loopback (RFC 8252 7.3), or a
    private-use scheme of a native app (RFC 8252 7.1: ``com.example.app:/callback``)."""
    uris = _strings(entry, name, fail)
    if required and not uris:
        raise fail(f"{name} must name at least one URI")
    for uri in uris:
        parts = urlsplit(uri)
        loopback = parts.scheme == "http" and _loopback(uri) is not None
        private_use = "." in parts.scheme and parts.scheme not in ("http", "https")
        if len(uri) > MAX_URI_CHARS or parts.fragment or "@" in parts.netloc:
            raise fail(f"{name}: {uri!r} must be at most {MAX_URI_CHARS} characters, without fragment or userinfo")
        if not (parts.scheme == "https" and parts.netloc) and not loopback and not private_use:
            raise fail(f"{name}: {uri!r} must be https, an http loopback address, or a private-use scheme")
    return uris


def check_settings(settings: Settings) -> None:
    """Refuse at start-up a stage whose clients are badly declared, or that declares clients with nowhere to send
    people to sign in (``OTP_OAUTH_LOGIN_URL``)."""
    declared = Clients.parse(settings.oauth_clients)
    if not declared:
        return
    if declared.get(settings.token_audience):
        # Its ID tokens (aud = the client id) would pass an HTTP API JWT authorizer set to the access tokens' aud.
        raise ConfigError(f"OTP_OAUTH_CLIENTS: no client may be named {settings.token_audience!r} (OTP_TOKEN_AUDIENCE)")
    login = urlsplit(settings.oauth_login_url or "")
    if login.scheme not in ("https", "http") or not login.netloc or login.fragment:
        raise ConfigError(
            "OTP_OAUTH_LOGIN_URL must be the sign-in UI's page (an absolute URL) when clients are declared"
        )
