"""The OpenID Connect provider's routes (chalicelib/oauth): imported at the first request that needs one.

Three kinds of answer, as the standards want them:

- the **authorization** and **logout** endpoints answer a browser: a 302 to the client, or an HTML page where a
  redirect would be unsafe (an unknown client or redirect URI: RFC 6749 4.1.2.1);
- the **token**, **userinfo**, **revocation** and **introspection** endpoints answer a client: JSON, errors as RFC
  6749 5.2's ``{"error", "error_description"}`` (401 ``invalid_client`` with ``WWW-Authenticate``; RFC 6750 3's
  bearer errors on userinfo), never cached, readable from the clients' registered web origins;
- the **login challenge** and **consent** routes answer the sign-in UI: the service's own JSON
  ``{"message", "code"}``, like every other route of the UI.

Every answer carries the clickjacking defences (``X-Frame-Options: DENY``, CSP ``frame-ancestors 'none'``).
"""

from __future__ import annotations

import base64
import binascii
import html
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, unquote_plus

from chalice.app import Request, Response

from chalicelib import wiring
from chalicelib.accounts.sessions import Principal
from chalicelib.aws.dependencies import DependencyError
from chalicelib.config import ConfigError
from chalicelib.core.assurance import Needs
from chalicelib.core.refusals import Refusal
from chalicelib.http import errors
from chalicelib.http.exchange import (
    SECURITY_HEADERS,
    TRANSIENT_RETRY_AFTER,
    Exchange,
    Headers,
    cors_headers,
    log_answer,
)
from chalicelib.http.exchange import preflight as cors_preflight
from chalicelib.oauth import clients as declared
from chalicelib.oauth import id_tokens, requests
from chalicelib.oauth.service import INVALID_TOKEN, ConsentNeeded, OAuthError

logger = logging.getLogger(__name__)

Answer = tuple[int, dict[str, Any]]
FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'"}
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the query of an authorization request is nobody else's business
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
}
FORM = "application/x-www-form-urlencoded"
LOGIN_ERRORS = ("access_denied", "login_required")
# Endpoints a client's page may call from a browser (a public client with PKCE): the clients' web origins.
CLIENT_ENDPOINTS = ("/oauth2/token", "/oauth2/userinfo", "/oauth2/revoke")
REALM = 'Basic realm="otp-signin"'


# -- the browser's endpoints ---------------------------------------------------------------------------------


def authorize(request: Request) -> Response:
    """``GET /oauth2/authorize``: 302 to the sign-in UI with a login challenge, or the error as RFC 6749 says."""
    return _browser_answer(request, "/oauth2/authorize", _authorize, methods=("GET",))


def _authorize(exchange: Exchange, started: float) -> Response:
    service = wiring.get_oauth()
    query = _multi_query(exchange.request)
    try:
        location = service.authorize(query, wiring.now())
    except requests.PageError as error:
        return _page(exchange, started, 400, error.error, error.description)
    except requests.RedirectError as error:
        exchange.log["reason"] = error.error
        location = service.error_redirect(error.redirect_uri, error.error, error.description, error.state)
        return _redirect(exchange, started, location, error.error)
    return _redirect(exchange, started, location, "login_challenge")


def logout(request: Request) -> Response:
    """``GET|POST /oauth2/logout`` (OpenID Connect RP-Initiated Logout 1.0): end the session an ``id_token_hint``
    names and the sign-in UI's session it came from, then back to a registered ``post_logout_redirect_uri``."""
    return _browser_answer(request, "/oauth2/logout", _logout, methods=("GET", "POST"))


def _logout(exchange: Exchange, started: float) -> Response:
    request = exchange.request
    parameters = _single(_multi_query(request) if request.method == "GET" else _form(exchange))
    service = wiring.get_oauth()
    hint = service.hint(parameters.get("id_token_hint", ""), parameters.get("client_id"))
    client = service.clients.get(parameters.get("client_id") or (hint.client_id if hint else None))
    target = parameters.get("post_logout_redirect_uri")
    if target and (client is None or target not in client.post_logout_redirect_uris):
        # Checked before anything ends: an unregistered address is refused whole, never half done.
        return _page(exchange, started, 400, "invalid_request", "The application's return address is not registered.")
    ended = hint is not None and service.logout(hint)
    exchange.log["ended"] = ended
    if target:
        location = requests.with_parameters(target, {"state": parameters.get("state")})
        return _redirect(exchange, started, location, errors.SIGNED_OUT.code if ended else "not_signed_out")
    if not ended:
        return _page(exchange, started, 400, "invalid_request", "Nothing was signed out: the request named no session.")
    return _page(exchange, started, 200, errors.SIGNED_OUT.code, "You are signed out.")


# -- the client's endpoints ----------------------------------------------------------------------------------


def token(request: Request) -> Response:
    """``POST /oauth2/token`` (RFC 6749 3.2): the ``authorization_code`` and ``refresh_token`` grants."""
    return _client_answer(request, "/oauth2/token", _token)


def _token(exchange: Exchange) -> Answer:
    form = _single_form(exchange)
    service = wiring.get_oauth()
    client = _client(exchange, form, service)
    grant = form.get("grant_type")
    exchange.log["grant_type"] = grant if grant in ("authorization_code", "refresh_token") else "other"
    now = wiring.now()
    if not grant:
        raise OAuthError("invalid_request", "grant_type is required")
    if grant == "authorization_code":
        return 200, service.grant_code(client, form, now)
    if grant == "refresh_token":
        return 200, service.grant_refresh(client, form, now)
    raise OAuthError("unsupported_grant_type", "grant_type must be authorization_code or refresh_token")


def userinfo(request: Request) -> Response:
    """``GET|POST /oauth2/userinfo`` (OpenID Connect Core 5.3): the claims the access token's scopes allow."""
    return _client_answer(request, "/oauth2/userinfo", _userinfo, methods=("GET", "POST"))


def _userinfo(exchange: Exchange) -> Answer:
    try:
        principal = exchange.principal(Needs.SESSION, clients=True)
    except Refusal:  # no token, a bad one, an ended session, one still owing its second factor
        raise OAuthError(INVALID_TOKEN, "the access token is invalid, expired or revoked", 401) from None
    return 200, wiring.get_oauth().userinfo(principal)


def revoke(request: Request) -> Response:
    """``POST /oauth2/revoke`` (RFC 7009): end the session of a refresh or access token of the calling client."""
    return _client_answer(request, "/oauth2/revoke", _revoke)


def _revoke(exchange: Exchange) -> Answer:
    service, client, token = _about_a_token(exchange)
    service.revoke(client, token, wiring.now())
    return 200, {}  # RFC 7009 2.2: the same answer whether or not there was anything to revoke


def _about_a_token(exchange: Exchange) -> tuple[Any, declared.Client, str]:
    """The service, the authenticated client and the ``token`` of a revocation or introspection request."""
    form = _single_form(exchange)
    service = wiring.get_oauth()
    client = _client(exchange, form, service)
    if not form.get("token"):
        raise OAuthError("invalid_request", "token is required")
    return service, client, form["token"]


def introspect(request: Request) -> Response:
    """``POST /oauth2/introspect`` (RFC 7662), for confidential clients (resource servers)."""
    return _client_answer(request, "/oauth2/introspect", _introspect)


def _introspect(exchange: Exchange) -> Answer:
    service, client, token = _about_a_token(exchange)
    if client.public:
        raise OAuthError("invalid_client", "introspection is for confidential clients", 401)
    return 200, service.introspect(token, wiring.now())


def openid_configuration(exchange: Exchange) -> Answer:
    """OpenID Connect Discovery 1.0 and RFC 8414: what this provider does, and only that."""
    issuer = wiring.get_oauth().issuer
    return errors.OPENID_CONFIGURATION.answer(discovery(issuer))


def discovery(issuer: str) -> dict[str, Any]:
    """The metadata of the provider at ``issuer``: exactly the ``iss`` of its tokens (OpenID Connect Discovery 4.3),
    and its endpoints below it."""
    base = issuer.rstrip("/")
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{base}/oauth2/authorize",
        "token_endpoint": f"{base}/oauth2/token",
        "userinfo_endpoint": f"{base}/oauth2/userinfo",
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "revocation_endpoint": f"{base}/oauth2/revoke",
        "introspection_endpoint": f"{base}/oauth2/introspect",
        "end_session_endpoint": f"{base}/oauth2/logout",
        "scopes_supported": list(declared.SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(declared.SIGNING_ALGORITHMS),
        "token_endpoint_auth_methods_supported": list(declared.AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(declared.AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(declared.SECRET_METHODS),
        "code_challenge_methods_supported": [requests.S256],
        "prompt_values_supported": list(requests.PROMPTS),
        "acr_values_supported": list(requests.ACR_VALUES),
        "claims_supported": list(id_tokens.CLAIMS_SUPPORTED),
        "authorization_response_iss_parameter_supported": True,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
    }


# -- the sign-in UI's routes (the service's own JSON) --------------------------------------------------------


def login_request(exchange: Exchange) -> Answer:
    """``GET /oauth2/login?login_challenge=``: what the waiting request asks, for the UI to show."""
    query = exchange.request.query_params
    challenge = query.get("login_challenge") if query else None
    request, client = wiring.get_oauth().login_request(challenge, wiring.now())
    return errors.LOGIN_REQUEST.answer(
        {
            "client": _client_card(client),
            "scopes": list(request.scopes),
            "prompt": list(request.prompt),
            "login_hint": request.login_hint or None,
            # What the UI must have the person prove: two factors (an account whose only second factor is a
            # passkey is asked for that passkey, not a code).
            "acr_values": [requests.AAL2] if request.two_factors else [],
            "expires_at": request.expires_at,
        },
        client=client.name,
    )


def accept(exchange: Exchange, principal: Principal) -> Answer:
    """``POST /oauth2/login`` with the UI session's bearer token: where the browser goes next."""
    body = exchange.json_object()
    consent = body.get("consent", False)
    if not isinstance(consent, bool):
        raise errors.INVALID_BODY.error()
    service = wiring.get_oauth()
    outcome = service.accept(principal, body.get("login_challenge"), consent, wiring.now())
    if isinstance(outcome, ConsentNeeded):
        return errors.CONSENT_REQUIRED.answer(
            {"client": _client_card(outcome.client), "scopes": list(outcome.scopes)}, client=outcome.client.name
        )
    return errors.LOGIN_ACCEPTED.answer({"redirect_to": outcome.location}, client=outcome.client_name)


def reject(exchange: Exchange) -> Answer:
    """``POST /oauth2/login/reject``: the person declined (or, under ``prompt=none``, nobody is signed in)."""
    body = exchange.json_object()
    error = body.get("error", "access_denied")
    if error not in LOGIN_ERRORS:
        raise errors.INVALID_LOGIN_ERROR.error()
    back = wiring.get_oauth().reject(body.get("login_challenge"), error, wiring.now())
    return errors.LOGIN_REJECTED.answer({"redirect_to": back.location}, client=back.client_name)


def consents(exchange: Exchange, principal: Principal) -> Answer:
    return errors.CONSENTS.answer({"consents": wiring.get_oauth().consents(principal)})


def withdraw(client_id: str) -> Callable[[Exchange, Principal], Answer]:
    def serve(exchange: Exchange, principal: Principal) -> Answer:
        service = wiring.get_oauth()
        if not service.withdraw_consent(principal, client_id):
            raise errors.NO_CONSENT.error()
        client = service.clients.get(client_id)
        return errors.CONSENT_WITHDRAWN.answer(client=client.name if client else client_id)

    return serve


def _client_card(client: declared.Client) -> dict[str, Any]:
    return {"client_id": client.client_id, "client_name": client.name, "first_party": client.first_party}


# -- parsing -------------------------------------------------------------------------------------------------


def _multi_query(request: Request) -> dict[str, list[str]]:
    """The query's parameters with every value each was given (a parameter given twice is refused)."""
    multi = request.query_params
    if not multi:
        return {}
    return {name: list(multi.getlist(name)) for name in multi}


def _form(exchange: Exchange) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (RFC 6749 3.2), at most the stage's body size."""
    content_type = exchange.request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != FORM:
        raise OAuthError("invalid_request", f"the body must be {FORM}")
    try:
        raw = exchange.request.raw_body or b""
    except ValueError:
        raise OAuthError("invalid_request", "the body is malformed") from None
    if isinstance(raw, str):  # a direct invocation's body (chalicelib/http/direct.py)
        raw = raw.encode()
    if len(raw) > wiring.get_settings().max_body_bytes:
        raise OAuthError("invalid_request", "the body is too large")
    try:
        return parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(raw.strip()), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the body is not a valid form") from None


def _single(parameters: Mapping[str, list[str]]) -> dict[str, str]:
    """RFC 6749 3.1 and 3.2: a parameter sent more than once is refused."""
    for name, values in parameters.items():
        if len(values) > 1:
            raise OAuthError("invalid_request", f"{name} must be given at most once")
    return {name: values[0] for name, values in parameters.items()}


def _single_form(exchange: Exchange) -> dict[str, str]:
    return _single(_form(exchange))


def _client(exchange: Exchange, form: dict[str, str], service: Any) -> declared.Client:
    """The authenticated client of a token, revocation or introspection request (RFC 6749 2.3.1): HTTP Basic, or
    ``client_id`` and ``client_secret`` in the form, never both."""
    scheme, _, credentials = exchange.request.headers.get("authorization", "").partition(" ")
    basic = scheme.lower() == "basic"
    client_id, secret = form.get("client_id"), form.get("client_secret")
    if basic:
        if secret is not None:
            raise OAuthError("invalid_request", "use one client authentication method, not two")
        try:
            named, _, given = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
        named, given = unquote_plus(named), unquote_plus(given)  # RFC 6749 2.3.1: both are form-encoded first
        if client_id is not None and client_id != named:
            raise OAuthError("invalid_request", "client_id does not match the Basic credentials")
        client_id, secret = named, given
    if not client_id:
        raise OAuthError("invalid_client", "the client must say who it is", 401)
    exchange.log["client_id"] = client_id if service.clients.get(client_id) else "unknown"
    return service.authenticate_client(client_id, secret)


# -- answers -------------------------------------------------------------------------------------------------


def _browser_answer(
    request: Request, route: str, handler: Callable[[Exchange, float], Response], methods: tuple[str, ...]
) -> Response:
    """Run a browser endpoint's handler: its redirect or page, a 405 page for a method not in ``methods``, and a
    page for whatever it raised."""
    exchange, started = Exchange(request, {"route": route, "method": request.method}), time.perf_counter()
    try:
        if request.method not in methods:
            return _page(exchange, started, 405, errors.METHOD_NOT_ALLOWED.code, f"Use {' or '.join(methods)}.")
        return handler(exchange, started)
    except OAuthError as error:  # a request that is not well formed: said on a page, as any other refusal here
        exchange.log["reason"] = error.description
        return _page(exchange, started, 400, error.error, error.description)
    except Exception as error:  # never a stack trace to a browser
        return _page(exchange, started, *_failure(error))


def _client_answer(
    request: Request, route: str, handler: Callable[[Exchange], Answer], methods: tuple[str, ...] = ("POST",)
) -> Response:
    """Run a client endpoint's handler: JSON, errors in RFC 6749's shape, never cached, CORS for the clients."""
    exchange, started = Exchange(request, {"route": route, "method": request.method}), time.perf_counter()
    headers: Headers = {}
    try:
        if request.method not in methods:
            raise OAuthError("invalid_request", f"use {' or '.join(methods)}", 405)
        status, body = handler(exchange)
        code = "ok"
    except OAuthError as error:
        status, body, code = error.status, {"error": error.error, "error_description": error.description}, error.error
        if error.error == "invalid_client":
            headers["WWW-Authenticate"] = REALM
        elif error.error == INVALID_TOKEN:
            headers["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{error.description}"'
        exchange.log["reason"] = error.description
    except Exception as error:
        status, error_code, description = _failure(error)
        body, code = {"error": error_code, "error_description": description}, error_code
        if status == 503:
            headers["Retry-After"] = str(TRANSIENT_RETRY_AFTER)
    headers.update(SECURITY_HEADERS)
    headers.update(FRAMING)
    headers["Pragma"] = "no-cache"  # RFC 6749 5.1, for HTTP/1.0 caches
    headers.update(cors_headers(request, also=_client_origins()))
    log_answer(exchange, status, code, started)
    return Response(body=body, status_code=status, headers=headers)


def preflight(request: Request) -> Response:
    """A CORS preflight of a client endpoint, from the stage's origins and the clients' web origins."""
    return cors_preflight(request, also=_client_origins())


def _client_origins() -> frozenset[str]:
    try:
        return wiring.get_oauth().clients.cors_origins()
    except ConfigError:
        return frozenset()


def _failure(error: Exception) -> tuple[int, str, str]:
    """(status, error, description) of a failure that is not the request's fault."""
    if isinstance(error, DependencyError):
        logger.warning("%s failed: %s", error.service, error.detail)
        if error.transient:
            return 503, "temporarily_unavailable", "a service this depends on is unavailable; try again"
        return 502, "server_error", "a service this depends on refused the request"
    if isinstance(error, ConfigError):
        logger.error("configuration: %s", error)
        return 500, "server_error", "the service is not configured correctly"
    logger.error("unexpected %s\n%s", type(error).__name__, "".join(traceback.format_tb(error.__traceback__)))
    return 500, "server_error", "something went wrong on our side"


def _redirect(exchange: Exchange, started: float, location: str, code: str) -> Response:
    log_answer(exchange, 302, code, started)
    headers: Headers = {**PAGE_HEADERS, "Location": location}
    return Response(body="", status_code=302, headers=headers)


def _page(exchange: Exchange, started: float, status: int, code: str, message: str) -> Response:
    """A page for the person: what went wrong, in words, and the error's code for whoever debugs it."""
    log_answer(exchange, status, code, started)
    title = "Signed out" if status == 200 else "This sign-in cannot continue"
    body = (
        "<!doctype html><html lang=en><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title>"
        '<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(message)}</p>"
        f"<p style=color:#666><small>{html.escape(code)}</small></p></body></html>"
    )
    headers: Headers = {**PAGE_HEADERS}
    return Response(body=body, status_code=status, headers=headers)
