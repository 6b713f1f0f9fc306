"""docs/openapi.json: the HTTP API as an OpenAPI 3.1 document, for adopters to generate clients from.

    python -m tools.openapi   (rewrites docs/openapi.json; tests/test_openapi.py fails while it is stale)

Generated, never edited by hand. Which routes exist and which methods each serves is read from app.py itself
(:func:`served`): each view is called with a stand-in request per method while what it answers through is
intercepted, so a method is listed exactly when its view hands it a handler other than the 405. A view answers in
one of three ways (:func:`answering`): the service's own JSON through ``exchange.respond``; or, for the OpenID
Connect provider (chalicelib/http/oauth_routes.py), RFC 6749's JSON to a client through ``_client_answer`` or
redirects and pages to a browser through ``_browser_answer``, each given the methods it serves.

What each operation takes and may answer is declared once here (:data:`OPERATIONS`): for the service's JSON in the
answer catalogue's own entries (chalicelib/http/errors.py), so every code, status, message and header comes from
there; for the provider's, as the standards name its errors (:class:`Reply`). tests/test_openapi.py holds the
declarations to app.py's routes, to the catalogue and to the errors the provider's code gives, and real answers to
the schemas.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple
from unittest import mock

from chalice import Chalice
from chalice.app import RouteEntry

from app import app
from chalicelib.core.assurance import TOTP_DIGITS, Needs
from chalicelib.http import errors, exchange, oauth_routes
from chalicelib.http.admin_routes import MAX_AUDIT_LIMIT, MAX_HOURS, MAX_REASON_CHARS
from chalicelib.http.errors import Answer, ErrorKind
from chalicelib.oauth import clients, requests

DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "openapi.json"
REGENERATE = "python -m tools.openapi"
LOCAL_SERVER = "http://127.0.0.1:8000"  # make run's API (chalice local)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")  # what app.py routes to its views; OPTIONS is the preflight
SCHEMAS = "#/components/schemas/"
JSON = "application/json"
# Digits, with spaces or hyphens between them as people type codes (chalicelib/otp/codes.py's parse_code).
TYPED_DIGITS = "^\\s*[0-9]+(?:[ \\u00a0\\u2009\\u202f\\u2010-\\u2013-]+[0-9]+)*\\s*$"


def typed_code(digits: str) -> dict[str, Any]:
    return {
        "type": "string",
        "pattern": TYPED_DIGITS,
        "description": f"{digits} digits; spaces or hyphens between them are taken (123 456, 123-456)",
    }


CODE = typed_code("OTP_CODE_DIGITS (6 to 10, per stage)")
STRING = {"type": "string"}
USER_ID = {"type": "string", "format": "uuid"}
TIMESTAMP = {"type": "integer", "description": "seconds since the Unix epoch"}
SECONDS = {"type": "integer", "minimum": 0}
# The schema of each path parameter app.py's routes name.
PATH_PARAMETERS = {
    "user_id": USER_ID,
    "client_id": {"type": "string", "description": "a client of OTP_OAUTH_CLIENTS"},
    "passkey_id": {
        "type": "string",
        "description": "a passkey's id, as GET /me/passkeys and GET /admin/users list it (32 hex digits)",
    },
}
RETRY_AFTER = {"type": "integer", "minimum": 1, "description": "seconds to wait before retrying; also Retry-After"}


# -- what app.py serves ------------------------------------------------------------------------------------------


class Handed(NamedTuple):
    """What a view hands over for a request of one method: how it answers, and whether that method is served."""

    kind: str  # JSON_ANSWERS, CLIENT or BROWSER
    serves: bool


JSON_ANSWERS, CLIENT, BROWSER = "json", "client", "browser"
# What a view answers through, by kind, and whether a method is served given the call's arguments.
ANSWERING: dict[str, tuple[Any, str, Callable[[str, dict[str, Any]], bool]]] = {
    JSON_ANSWERS: (exchange, "respond", lambda _, given: given["handler"] is not exchange.method_not_allowed),
    CLIENT: (oauth_routes, "_client_answer", lambda method, given: method in given["methods"]),
    BROWSER: (oauth_routes, "_browser_answer", lambda method, given: method in given["methods"]),
}


def served(api: Chalice) -> dict[str, tuple[str, ...]]:
    """Each route of ``api`` (its Chalice path template) and the methods whose handler is not the 405, in the
    order of :data:`METHODS`.

    Reads what app.py's views do rather than what they are decorated with: every route takes every method (so
    that a wrong one gets the service's 405, not Chalice's), and picks its handler by method when called.
    Calling a view builds its handlers and runs none of them: what it answers through, which would run one, is
    replaced by a recorder for the call.
    """
    return {path: methods for path, (_, methods) in answering(api).items()}


def answering(api: Chalice) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Each route of ``api``: how its view answers (one of :data:`ANSWERING`'s kinds) and the methods it serves."""
    routes: dict[str, tuple[str, tuple[str, ...]]] = {}
    for path, entries in api.routes.items():
        entry = next((entries[method] for method in METHODS if method in entries), None)
        if entry is None:  # the preflight alone
            continue
        handed = {method: _handed(api, entry, method) for method in METHODS}
        kinds = {found.kind for found in handed.values()}
        if len(kinds) != 1:
            raise RuntimeError(f"{path}: its view answers in more than one way: {sorted(kinds)}")
        routes[path] = (kinds.pop(), tuple(method for method in METHODS if handed[method].serves))
    return routes


def _handed(api: Chalice, entry: RouteEntry, method: str) -> Handed:
    """What ``entry``'s view hands over for a request of ``method``."""
    handed: list[Handed] = []

    def recorder(kind: str, original: Callable[..., Any], serves: Callable[[str, dict[str, Any]], bool]) -> Any:
        signature = inspect.signature(original)

        def record(*args: Any, **kwargs: Any) -> None:
            given = signature.bind(*args, **kwargs)
            given.apply_defaults()
            handed.append(Handed(kind, serves(method, given.arguments)))

        return record

    with contextlib.ExitStack() as patches:
        for kind, (module, name, serves) in ANSWERING.items():
            patches.enter_context(mock.patch.object(module, name, recorder(kind, getattr(module, name), serves)))
        # create: Chalice sets current_request at its first request only
        patches.enter_context(mock.patch.object(api, "current_request", SimpleNamespace(method=method), create=True))
        entry.view_function(**{name: "0" for name in entry.view_args})
    if len(handed) != 1:
        names = ", ".join(f"{module.__name__}.{name}" for module, name, _ in ANSWERING.values())
        raise RuntimeError(f"{entry.uri_pattern}: its view must answer through one of {names}, once")
    return handed[0]


# -- what each operation takes and answers -----------------------------------------------------------------------

BODY = (errors.INVALID_JSON, errors.INVALID_BODY, errors.BODY_TOO_LARGE)
THROTTLES = errors.CODE_THROTTLES
PHONE = (errors.INVALID_PHONE, errors.PHONE_NOT_SUPPORTED)
MAIL = (errors.MAIL_UNAVAILABLE, errors.MAIL_REJECTED)
SMS = (errors.SMS_UNAVAILABLE, errors.SMS_REJECTED)
# Every route but the public documents keeps state (DynamoDB) and keys (the hashing key, the signing key).
STATE = (errors.STORAGE_UNAVAILABLE, errors.STORAGE_ERROR, errors.KEYS_UNAVAILABLE, errors.KEYS_ERROR)
SERVICE = (errors.MISCONFIGURED, errors.INTERNAL_ERROR)
MFA_ROUTE = (errors.MFA_DISABLED_HERE,)  # every /mfa route, under OTP_MFA=OFF
PASSKEY_ROUTE = (errors.PASSKEYS_DISABLED_HERE,)  # every passkey route, on a stage without OTP_WEBAUTHN_RP_ID
PASSKEY_ANSWER = (*BODY, errors.PASSKEY_BODY, errors.INVALID_PASSKEY)  # a body of {ceremony, credential}
MFA_PROOF = (errors.MFA_PROOF_BODY, errors.INVALID_OTP, errors.INVALID_CODE, errors.TOO_MANY_SECOND_FACTOR_FAILURES)


def bearer(needs: Needs) -> tuple[ErrorKind, ...]:
    """What a route answers a bearer token whose session does not meet ``needs`` (chalicelib/core/assurance.py's
    ``require``), or that an OpenID Connect client holds (none of these routes is a client's)."""
    refusals: tuple[ErrorKind, ...] = (errors.INVALID_TOKEN, errors.INSUFFICIENT_SCOPE)
    if needs is not Needs.ENROLLMENT:
        refusals += (errors.MFA_ENROLLMENT_REQUIRED,)
    if needs is Needs.STEP_UP:
        refusals += (errors.MFA_NOT_ENABLED, errors.REAUTHENTICATION_REQUIRED)
    if needs is Needs.RECENT:
        refusals += (errors.REAUTHENTICATION_REQUIRED, errors.REAUTHENTICATION_BY_CODE_REQUIRED)
    return refusals


ADMIN = "an admin's session at aal 2 (OTP_ADMIN_EMAILS)"
ADMIN_ACTING = f"{ADMIN}, whose last proof is within OTP_ADMIN_STEP_UP_SECONDS"
ADMIN_READING = (*bearer(Needs.SESSION), errors.ADMIN_REQUIRED, errors.ADMIN_MFA_REQUIRED)
ADMIN_CHANGE = (
    *ADMIN_READING,
    errors.REAUTHENTICATION_REQUIRED,
    errors.INVALID_USER_ID,
    errors.REASON_REQUIRED,
    *BODY,
    errors.USER_NOT_FOUND,
)


def ref(name: str) -> dict[str, str]:
    return {"$ref": SCHEMAS + name}


def query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


@dataclass(frozen=True)
class Operation:
    """One method of one route: what it needs, takes and may answer.

    ``answers`` are catalogue entries (several may share a code: each one's message is listed). ``bodies`` name
    the component schema of a success's extra fields where the code's default (:data:`SUCCESS_BODIES`) is not the
    one. ``needs`` says, in words, which bearer token the operation needs; ``None``: none.
    """

    summary: str
    tag: str
    answers: tuple[Answer, ...]
    needs: str | None = None
    request: str | None = None  # the component schema of the JSON body
    body_required: bool = True
    parameters: tuple[dict[str, Any], ...] = ()
    bodies: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """An answer of the OpenID Connect provider outside the catalogue, by status and code, and when it is given:
    an RFC 6749 error (``{"error", "error_description"}``) to a client, a page to a browser (its code under its
    words), or the ``error`` of a redirect to the client (status 302)."""

    status: int
    code: str
    when: str
    challenge: str | None = None  # the pattern of its WWW-Authenticate header
    retries: bool = False  # it carries Retry-After


@dataclass(frozen=True)
class ClientOperation:
    """One method of a client's endpoint (chalicelib/http/oauth_routes.py's ``_client_answer``): its success is
    the component schema ``success``, its errors RFC 6749's ``{"error", "error_description"}``. ``needs``: a
    bearer token, in words; ``client_auth``: the client authenticates (RFC 6749 2.3); ``request``: the component
    schema of its form-encoded body."""

    summary: str
    tag: str
    success: str
    errors: tuple[Reply, ...]
    request: str | None = None
    needs: str | None = None
    client_auth: bool = False


@dataclass(frozen=True)
class BrowserOperation:
    """One method of a browser's endpoint (``_browser_answer``): a 302 (``redirect`` says where, and
    ``redirect_errors`` the ``error`` it may carry to the client) or a page (``pages``)."""

    summary: str
    tag: str
    redirect: str
    pages: tuple[Reply, ...]
    redirect_errors: tuple[Reply, ...] = ()
    parameters: tuple[dict[str, Any], ...] = ()
    request: str | None = None  # the component schema of the form-encoded body


Described = Operation | ClientOperation | BrowserOperation
FORM = oauth_routes.FORM
OIDC = "openid-connect"
# The provider's failures that are not the request's (oauth_routes._failure), as a client and as a browser gets them.
FAILED = "the stage's settings are incomplete, or a bug (logged without request data)"
REFUSED = "DynamoDB, KMS or Secrets Manager refused"
UNAVAILABLE = "DynamoDB, KMS or Secrets Manager throttled or failed; retry"
CLIENT_FAILURES = (
    Reply(500, "server_error", FAILED),
    Reply(502, "server_error", REFUSED),
    Reply(503, "temporarily_unavailable", UNAVAILABLE, retries=True),
)
PAGE_FAILURES = (
    Reply(500, "server_error", FAILED),
    Reply(502, "server_error", REFUSED),
    Reply(503, "temporarily_unavailable", UNAVAILABLE),
)


def literal(text: str) -> str:
    """``text`` as a regular expression that matches it (ECMA-262's, as JSON Schema's ``pattern`` is)."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", text)


# WWW-Authenticate of a client that failed to authenticate (RFC 6749 5.2) and of a bad bearer token (RFC 6750 3).
BASIC_CHALLENGE = f"^{literal(oauth_routes.REALM)}$"
BEARER_CHALLENGE = '^Bearer error="invalid_token"'


def wrong_method(*methods: str) -> Reply:
    return Reply(405, "invalid_request", f"a method other than {' or '.join(methods)}")


FORM_ERRORS = (
    Reply(400, "invalid_request", f"the body is not {FORM} of at most OTP_MAX_BODY_BYTES, or names a parameter twice"),
)
CLIENT_AUTHENTICATION = (
    Reply(
        401,
        "invalid_client",
        "no client_id; an unknown client; a confidential client's secret missing or wrong; a secret from a public "
        "client; malformed Basic credentials",
        challenge=BASIC_CHALLENGE,
    ),
    Reply(400, "invalid_request", "Basic credentials and client_secret both, or a client_id other than Basic's"),
)
TOKEN_REQUIRED = Reply(400, "invalid_request", "no token")
CLIENT_ENDPOINT = (*FORM_ERRORS, *CLIENT_AUTHENTICATION, wrong_method("POST"), *CLIENT_FAILURES)
PAGES = (Reply(405, errors.METHOD_NOT_ALLOWED.code, "a method the endpoint does not serve"), *PAGE_FAILURES)
CLIENT_AUTH = (
    "A confidential client authenticates (RFC 6749 2.3.1) with HTTP Basic, its client_id and secret each "
    "form-encoded first (client_secret_basic), or with client_id and client_secret in the form "
    "(client_secret_post), never both; a public client (none) gives its client_id in the form."
)
AUTHORIZE_PARAMETERS = (
    query("response_type", {"const": "code"}, "the authorization code flow, the only one", required=True),
    query("client_id", STRING, "a client of OTP_OAUTH_CLIENTS", required=True),
    query(
        "redirect_uri",
        STRING,
        "one the client registered, exactly (a native client's loopback on any port, RFC 8252 7.3)",
        required=True,
    ),
    query("scope", STRING, f"space-separated, with openid; of {', '.join(clients.SCOPES)}", required=True),
    query(
        "state",
        {"type": "string", "minLength": 1, "maxLength": requests.MAX_STATE_CHARS},
        "returned as given",
        required=True,
    ),
    query(
        "code_challenge",
        {"type": "string", "pattern": "^[A-Za-z0-9_-]{43}$"},
        "PKCE (RFC 7636): BASE64URL(SHA-256(code_verifier))",
        required=True,
    ),
    query("code_challenge_method", {"const": requests.S256}, "S256 only", required=True),
    query("nonce", {"type": "string", "maxLength": requests.MAX_NONCE_CHARS}, "returned in the ID token"),
    query("prompt", STRING, "none alone, or any of login, consent and select_account (space-separated)"),
    query("max_age", {"type": "integer", "minimum": 0}, "the most seconds since the person last proved who they are"),
    query("login_hint", {"type": "string", "maxLength": requests.MAX_HINT_CHARS}, "an address, shown pre-filled"),
    query("acr_values", STRING, f"{requests.AAL2} asks for two factors"),
    query("response_mode", {"const": "query"}, "query only"),
)
LOGOUT_PARAMETERS = {
    "id_token_hint": "an ID token this service issued (an expired one too): its session and the sign-in UI's end",
    "client_id": "the client; when given, the hint must be its",
    "post_logout_redirect_uri": "one the client registered: where to go afterwards",
    "state": "returned as given on the redirect",
}
LOGOUT_REDIRECT = (
    "To the post_logout_redirect_uri, with state, when it is registered for the client (client_id, or the "
    "id_token_hint's audience). The session the id_token_hint names and the sign-in UI's session it came from "
    "end first."
)
LOGOUT_PAGES = (
    Reply(200, errors.SIGNED_OUT.code, "the session the id_token_hint names has ended; no return address was given"),
    Reply(400, "invalid_request", "the post_logout_redirect_uri is not registered for the client"),
    Reply(400, "invalid_request", "no post_logout_redirect_uri, and no id_token_hint of this service names a session"),
    *PAGES,
)

REASON = "ReasonRequest"
OPERATIONS: dict[tuple[str, str], Described] = {
    ("POST", "/otp"): Operation(
        "Send a sign-in code to an address or number, or verify it and open a session",
        "sign-in",
        (
            errors.CODE_SENT,
            errors.VERIFIED,
            errors.MFA_REQUIRED,
            *BODY,
            errors.ONE_IDENTIFIER,
            errors.MISSING_ACTION,
            errors.UNKNOWN_ACTION,
            errors.INVALID_EMAIL,
            *PHONE,
            errors.INVALID_OTP,
            errors.INVALID_CODE,
            errors.ACCOUNT_LOCKED,
            *THROTTLES,
            *MAIL,
            *SMS,
            *STATE,
            *SERVICE,
        ),
        request="OtpRequest",
    ),
    ("POST", "/token/refresh"): Operation(
        "Renew a session: a new access token and a new refresh token (the old one is used up)",
        "sessions",
        (errors.REFRESHED, *BODY, errors.INVALID_REFRESH_TOKEN, errors.INVALID_TOKEN, *STATE, *SERVICE),
        request="RefreshTokenRequest",
    ),
    ("POST", "/token/revoke"): Operation(
        "End the session of a refresh token (also answered for unknown tokens, per RFC 7009)",
        "sessions",
        (errors.REVOKED, *BODY, errors.INVALID_REFRESH_TOKEN, *STATE, *SERVICE),
        request="RefreshTokenRequest",
    ),
    ("POST", "/signout"): Operation(
        "Sign out this session, or every session of the account",
        "sessions",
        (
            errors.SIGNED_OUT,
            errors.SIGNED_OUT_EVERYWHERE,
            *BODY,
            errors.EVERYWHERE_NOT_BOOLEAN,
            *bearer(Needs.ENROLLMENT),
            *STATE,
            *SERVICE,
        ),
        needs=Needs.ENROLLMENT.value,
        request="SignOutRequest",
        body_required=False,
    ),
    ("GET", "/me"): Operation(
        "The signed-in account and session",
        "sessions",
        (errors.SIGNED_IN, *bearer(Needs.SESSION), *STATE, *SERVICE),
        needs=Needs.SESSION.value,
    ),
    ("POST", "/me/phone"): Operation(
        "Text a code to a number to add it to the account",
        "account",
        (
            errors.LINK_CODE_SENT,
            *BODY,
            errors.INVALID_BODY_PHONE,
            *PHONE,
            errors.ACCOUNT_HAS_PHONE,
            *bearer(Needs.RECENT),
            *THROTTLES,
            *SMS,
            *STATE,
            *SERVICE,
        ),
        needs=Needs.RECENT.value,
        request="PhoneRequest",
    ),
    ("DELETE", "/me/phone"): Operation(
        "Remove the account's phone number",
        "account",
        (
            errors.PHONE_REMOVED,
            errors.PHONE_NOT_LINKED,
            errors.PHONE_IS_PRIMARY,
            *bearer(Needs.RECENT),
            *STATE,
            *SERVICE,
        ),
        needs=Needs.RECENT.value,
    ),
    ("POST", "/me/phone/verify"): Operation(
        "Add the number to the account with the code texted to it",
        "account",
        (
            errors.PHONE_LINKED,
            *BODY,
            errors.INVALID_BODY_PHONE,
            *PHONE,
            errors.INVALID_OTP,
            errors.INVALID_CODE,
            errors.PHONE_ALREADY_LINKED,
            errors.ACCOUNT_HAS_PHONE,
            *bearer(Needs.RECENT),
            *THROTTLES,
            *STATE,
            *SERVICE,
        ),
        needs=Needs.RECENT.value,
        request="PhoneVerifyRequest",
    ),
    ("POST", "/reauthenticate"): Operation(
        "Confirm it is you with a fresh code before an account change: without otp, send it; with otp, check it",
        "account",
        (
            errors.REAUTHENTICATION_CODE_SENT,
            errors.REAUTHENTICATED,
            *BODY,
            errors.INVALID_VIA,
            *PHONE,
            errors.INVALID_OTP,
            errors.INVALID_CODE,
            errors.USE_SECOND_FACTOR,
            *bearer(Needs.SESSION),
            *THROTTLES,
            *MAIL,
            *SMS,
            *STATE,
            *SERVICE,
        ),
        needs=Needs.SESSION.value,
        request="ReauthenticateRequest",
        body_required=False,
    ),
    ("GET", "/.well-known/jwks.json"): Operation(
        "The public keys that verify access tokens (any origin may read it; cacheable 5 minutes)",
        "public",
        (errors.JWKS, errors.KEYS_UNAVAILABLE, errors.KEYS_ERROR, *SERVICE),
    ),
    ("GET", "/.well-known/openid-configuration"): Operation(
        "OpenID Connect discovery: how to verify access tokens (any origin may read it; cacheable 5 minutes)",
        "public",
        (errors.OPENID_CONFIGURATION, *SERVICE),
    ),
    ("POST", "/passkeys/register/options"): Operation(
        "Begin registering a passkey: WebAuthn creation options and the ceremony they belong to",
        "passkeys",
        (
            errors.PASSKEY_REGISTRATION_OPTIONS,
            errors.INVALID_PASSKEY,
            errors.PASSKEY_LIMIT,
            errors.PASSKEY_QUOTA_EXCEEDED,
            *PASSKEY_ROUTE,
            *bearer(Needs.RECENT),
            *STATE,
            *SERVICE,
        ),
        needs=Needs.RECENT.value,
    ),
    ("POST", "/passkeys/register"): Operation(
        "Register the passkey the authenticator created, under a name",
        "passkeys",
        (
            errors.PASSKEY_REGISTERED,
            *PASSKEY_ANSWER,
            errors.PASSKEY_NAME,
            errors.PASSKEY_LIMIT,
            *PASSKEY_ROUTE,
            *bearer(Needs.SESSION),
            *STATE,
            *SERVICE,
        ),
        needs=Needs.SESSION.value,
        request="PasskeyRegisterRequest",
    ),
    ("POST", "/passkeys/signin/options"): Operation(
        "Begin a usernameless sign-in with a passkey: WebAuthn request options and their ceremony",
        "passkeys",
        (errors.PASSKEY_SIGN_IN_OPTIONS, errors.PASSKEY_QUOTA_EXCEEDED, *PASSKEY_ROUTE, *STATE, *SERVICE),
    ),
    ("POST", "/passkeys/signin"): Operation(
        "Sign in with a passkey's answer: a session at aal 2, as a right code's",
        "passkeys",
        (
            errors.VERIFIED,
            *PASSKEY_ANSWER,
            errors.ACCOUNT_LOCKED,
            errors.IP_FAILURE_QUOTA_EXCEEDED,
            *PASSKEY_ROUTE,
            *STATE,
            *SERVICE,
        ),
        request="PasskeyAnswerRequest",
    ),
    ("POST", "/passkeys/reauthenticate/options"): Operation(
        "Begin confirming it is you with a passkey: WebAuthn request options offering the account's passkeys",
        "passkeys",
        (
            errors.PASSKEY_REAUTHENTICATION_OPTIONS,
            errors.PASSKEY_NOT_FOUND,
            errors.INVALID_PASSKEY,
            errors.PASSKEY_QUOTA_EXCEEDED,
            *PASSKEY_ROUTE,
            *bearer(Needs.SESSION),
            *STATE,
            *SERVICE,
        ),
        needs=Needs.SESSION.value,
    ),
    ("POST", "/passkeys/reauthenticate"): Operation(
        "Confirm it is you with a passkey's answer: new tokens at aal 2 whose auth_time is now, as /mfa/reauthenticate",
        "passkeys",
        (errors.REAUTHENTICATED, *PASSKEY_ANSWER, *PASSKEY_ROUTE, *bearer(Needs.SESSION), *STATE, *SERVICE),
        needs=Needs.SESSION.value,
        request="PasskeyAnswerRequest",
        bodies={"reauthenticated": "UpgradedSession"},
    ),
    ("POST", "/passkeys/verify/options"): Operation(
        "Begin completing a two-step sign-in with a passkey: WebAuthn request options offering the account's passkeys",
        "passkeys",
        (
            errors.PASSKEY_SECOND_FACTOR_OPTIONS,
            *BODY,
            errors.INVALID_MFA_TOKEN,
            errors.PASSKEY_NOT_FOUND,
            errors.PASSKEY_QUOTA_EXCEEDED,
            *MFA_ROUTE,
            *PASSKEY_ROUTE,
            *STATE,
            *SERVICE,
        ),
        request="MfaTokenRequest",
    ),
    ("POST", "/passkeys/verify"): Operation(
        "Complete a two-step sign-in: redeem the mfa_token with a passkey's answer, as /mfa/verify with a code",
        "passkeys",
        (
            errors.VERIFIED,
            *PASSKEY_ANSWER,
            errors.INVALID_MFA_TOKEN,
            errors.ACCOUNT_LOCKED,
            errors.IP_FAILURE_QUOTA_EXCEEDED,
            *MFA_ROUTE,
            *PASSKEY_ROUTE,
            *STATE,
            *SERVICE,
        ),
        request="PasskeyVerifyRequest",
        bodies={"verified": "UpgradedSession"},
    ),
    ("GET", "/me/passkeys"): Operation(
        "The account's passkeys",
        "passkeys",
        (errors.PASSKEY_LIST, *PASSKEY_ROUTE, *bearer(Needs.SESSION), *STATE, *SERVICE),
        needs=Needs.SESSION.value,
    ),
    ("PATCH", "/me/passkeys/{passkey_id}"): Operation(
        "Rename a passkey",
        "passkeys",
        (
            errors.PASSKEY_RENAMED,
            *BODY,
            errors.PASSKEY_NAME,
            errors.PASSKEY_NOT_FOUND,
            *PASSKEY_ROUTE,
            *bearer(Needs.SESSION),
            *STATE,
            *SERVICE,
        ),
        needs=Needs.SESSION.value,
        request="PasskeyNameRequest",
    ),
    ("DELETE", "/me/passkeys/{passkey_id}"): Operation(
        "Remove a passkey: it no longer signs in",
        "passkeys",
        (errors.PASSKEY_REMOVED, errors.PASSKEY_NOT_FOUND, *PASSKEY_ROUTE, *bearer(Needs.RECENT), *STATE, *SERVICE),
        needs=Needs.RECENT.value,
    ),
    ("POST", "/mfa/totp"): Operation(
        "Start adding an authenticator app: its secret, URI and QR code, active once confirmed",
        "two-step",
        (errors.TOTP_ENROLLMENT, errors.MFA_ALREADY_ENABLED, *MFA_ROUTE, *bearer(Needs.ENROLLMENT), *STATE, *SERVICE),
        needs=Needs.ENROLLMENT.value,
    ),
    ("DELETE", "/mfa/totp"): Operation(
        "Remove the authenticator app and its recovery codes; every other session ends",
        "two-step",
        (errors.MFA_DISABLED, *MFA_ROUTE, *bearer(Needs.STEP_UP), *STATE, *SERVICE),
        needs=Needs.STEP_UP.value,
    ),
    ("POST", "/mfa/totp/confirm"): Operation(
        "Confirm the authenticator app with a code from it: recovery codes and new tokens at aal 2",
        "two-step",
        (
            errors.MFA_ENABLED,
            *BODY,
            errors.INVALID_OTP,
            errors.INVALID_CODE,
            errors.NO_PENDING_ENROLLMENT,
            errors.MFA_ALREADY_ENABLED,
            *MFA_ROUTE,
            *bearer(Needs.ENROLLMENT),
            *STATE,
            *SERVICE,
        ),
        needs=Needs.ENROLLMENT.value,
        request="TotpCodeRequest",
    ),
    ("POST", "/mfa/verify"): Operation(
        "Complete a two-step sign-in: redeem the mfa_token with the second factor",
        "two-step",
        (
            errors.VERIFIED,
            *BODY,
            *MFA_PROOF,
            errors.INVALID_MFA_TOKEN,
            errors.ACCOUNT_LOCKED,
            *MFA_ROUTE,
            *STATE,
            *SERVICE,
        ),
        request="MfaVerifyRequest",
        bodies={"verified": "UpgradedSession"},
    ),
    ("POST", "/mfa/reauthenticate"): Operation(
        "Confirm it is you with the second factor: new tokens whose auth_time is now",
        "two-step",
        (
            errors.REAUTHENTICATED,
            *BODY,
            *MFA_PROOF,
            errors.MFA_NOT_ENABLED,
            *MFA_ROUTE,
            *bearer(Needs.SESSION),
            *STATE,
            *SERVICE,
        ),
        needs=Needs.SESSION.value,
        request="MfaProofRequest",
        bodies={"reauthenticated": "UpgradedSession"},
    ),
    ("POST", "/mfa/recovery-codes"): Operation(
        "Replace the recovery codes: every earlier one stops working",
        "two-step",
        (errors.RECOVERY_CODES, *MFA_ROUTE, *bearer(Needs.STEP_UP), *STATE, *SERVICE),
        needs=Needs.STEP_UP.value,
    ),
    ("GET", "/admin/users"): Operation(
        "Look an account up by exactly one of email, phone or id",
        "admin",
        (
            errors.USER_FOUND,
            errors.USER_NOT_FOUND,
            errors.INVALID_LOOKUP,
            errors.INVALID_USER_ID,
            errors.INVALID_EMAIL,
            *PHONE,
            *ADMIN_READING,
            *STATE,
            *SERVICE,
        ),
        needs=ADMIN,
        parameters=(
            query("email", {"type": "string"}, "the account's address"),
            query("phone", {"type": "string"}, "the account's number, international format"),
            query("id", USER_ID, "the account's id"),
        ),
    ),
    ("POST", "/admin/users/{user_id}/lock"): Operation(
        "Lock an account: its sessions end and it cannot sign in",
        "admin",
        (errors.USER_LOCKED, errors.CANNOT_LOCK_SELF, *ADMIN_CHANGE, *STATE, *SERVICE),
        needs=ADMIN_ACTING,
        request=REASON,
    ),
    ("POST", "/admin/users/{user_id}/unlock"): Operation(
        "Unlock an account",
        "admin",
        (errors.USER_UNLOCKED, *ADMIN_CHANGE, *STATE, *SERVICE),
        needs=ADMIN_ACTING,
        request=REASON,
    ),
    ("POST", "/admin/users/{user_id}/signout"): Operation(
        "End every session of an account",
        "admin",
        (errors.USER_SIGNED_OUT, *ADMIN_CHANGE, *STATE, *SERVICE),
        needs=ADMIN_ACTING,
        request=REASON,
    ),
    ("DELETE", "/admin/users/{user_id}/mfa"): Operation(
        "Remove an account's second factors and recovery codes; every session ends",
        "admin",
        (errors.USER_MFA_REMOVED, *ADMIN_CHANGE, *STATE, *SERVICE),
        needs=ADMIN_ACTING,
        request=REASON,
    ),
    ("DELETE", "/admin/users/{user_id}/passkeys/{passkey_id}"): Operation(
        "Remove one of an account's passkeys: it no longer signs in; every session ends",
        "admin",
        (errors.USER_PASSKEY_REMOVED, errors.PASSKEY_NOT_FOUND, *ADMIN_CHANGE, *STATE, *SERVICE),
        needs=ADMIN_ACTING,
        request=REASON,
    ),
    ("POST", "/admin/users/{user_id}/clear-failures"): Operation(
        "Clear the failure ceilings of an account's identifiers",
        "admin",
        (errors.USER_FAILURES_CLEARED, *ADMIN_CHANGE, *STATE, *SERVICE),
        needs=ADMIN_ACTING,
        request=REASON,
    ),
    ("GET", "/admin/audit"): Operation(
        "Admin actions, newest first, a page at a time",
        "admin",
        (errors.AUDIT_ENTRIES, errors.INVALID_LIMIT, errors.INVALID_BEFORE, *ADMIN_READING, *STATE, *SERVICE),
        needs=ADMIN,
        parameters=(
            query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_AUDIT_LIMIT}, "entries per page"),
            query("before", {"type": "string"}, "the next_before of an earlier page"),
        ),
    ),
    ("GET", "/admin/stats"): Operation(
        "Sign-in metrics per hour (CloudWatch)",
        "admin",
        (
            errors.ADMIN_STATS,
            errors.INVALID_HOURS,
            errors.METRICS_UNAVAILABLE,
            errors.METRICS_ERROR,
            *ADMIN_READING,
            *STATE,
            *SERVICE,
        ),
        needs=ADMIN,
        parameters=(
            query("hours", {"type": "integer", "minimum": 1, "maximum": MAX_HOURS}, "how many hours, up to now"),
        ),
    ),
    ("GET", "/oauth2/authorize"): BrowserOperation(
        "Start a sign-in for a client (OpenID Connect, authorization code with PKCE): on to the sign-in UI",
        OIDC,
        "To OTP_OAUTH_LOGIN_URL with a login_challenge, valid OTP_OAUTH_LOGIN_SECONDS, which the sign-in UI "
        "completes through /oauth2/login. A request refused once its client and redirect_uri are known goes to "
        "the redirect_uri with error, error_description, state and iss (RFC 9207); so does the authorization "
        "response, code or error, once the UI has accepted or declined the challenge (its redirect_to).",
        (
            Reply(
                400,
                "invalid_request",
                "the client_id is unknown, or the redirect_uri is not one the client registered, or either is "
                "given twice: nothing is sent to an address the client did not register (RFC 6749 4.1.2.1)",
            ),
            *PAGES,
        ),
        redirect_errors=(
            Reply(
                302,
                "invalid_request",
                "a parameter given twice; state missing or too long; PKCE missing or not S256; a malformed "
                "code_challenge, prompt or max_age; response_mode other than query; nonce or login_hint too long",
            ),
            Reply(302, "invalid_scope", "scope without openid"),
            Reply(302, "unsupported_response_type", "response_type other than code"),
            Reply(302, "request_not_supported", "a request object"),
            Reply(302, "request_uri_not_supported", "a request_uri"),
            Reply(302, "access_denied", "the person declined (POST /oauth2/login/reject)"),
            Reply(
                302,
                "login_required",
                "prompt=none, and nobody is signed in in the UI or the session is older than max_age or prompt asks",
            ),
            Reply(302, "interaction_required", "prompt=none, and acr_values asks for a second factor not proven"),
            Reply(302, "consent_required", "prompt=none, and the person has not allowed the client these scopes"),
        ),
        parameters=AUTHORIZE_PARAMETERS,
    ),
    ("POST", "/oauth2/token"): ClientOperation(
        "Tokens for a code (authorization_code, with its PKCE verifier) or a refresh token (refresh_token)",
        OIDC,
        "TokenResponse",
        (
            *CLIENT_ENDPOINT,
            Reply(400, "invalid_request", "no grant_type, code_verifier or redirect_uri"),
            Reply(
                400,
                "invalid_grant",
                "a code malformed, not this service's, expired, or issued for another client, code_verifier or "
                "redirect_uri; a code redeemed before (the session it opened ends now); a malformed code_verifier; "
                "a refresh token invalid, expired, revoked or another client's",
            ),
            Reply(400, "unsupported_grant_type", "a grant_type other than authorization_code and refresh_token"),
            Reply(400, "invalid_scope", "a refresh asks for a scope beyond the grant"),
        ),
        request="TokenRequest",
        client_auth=True,
    ),
    **{
        (method, "/oauth2/userinfo"): ClientOperation(
            "The person's claims that the access token's scopes allow (OpenID Connect Core 5.3)",
            OIDC,
            "UserInfo",
            (
                Reply(
                    401,
                    "invalid_token",
                    "no bearer token, or one invalid, expired or revoked, or of a session owing its second factor",
                    challenge=BEARER_CHALLENGE,
                ),
                wrong_method("GET", "POST"),
                *CLIENT_FAILURES,
            ),
            needs="an OpenID Connect client (its scopes decide the claims) or of the person's own (every claim)",
        )
        for method in ("GET", "POST")
    },
    ("POST", "/oauth2/revoke"): ClientOperation(
        "End the session of one of the client's refresh or access tokens (RFC 7009); the same answer for any other",
        OIDC,
        "Revocation",
        (*CLIENT_ENDPOINT, TOKEN_REQUIRED),
        request="TokenForm",
        client_auth=True,
    ),
    ("POST", "/oauth2/introspect"): ClientOperation(
        "Whether an access token is active, and its claims (RFC 7662), for confidential clients",
        OIDC,
        "Introspection",
        (
            *CLIENT_ENDPOINT,
            TOKEN_REQUIRED,
            Reply(401, "invalid_client", "a public client", challenge=BASIC_CHALLENGE),
        ),
        request="TokenForm",
        client_auth=True,
    ),
    **{
        (method, "/oauth2/logout"): BrowserOperation(
            "End a client's session and the sign-in UI's it came from (OpenID Connect RP-Initiated Logout 1.0)",
            OIDC,
            LOGOUT_REDIRECT,
            LOGOUT_PAGES,
            parameters=tuple(query(name, STRING, words) for name, words in LOGOUT_PARAMETERS.items())
            if method == "GET"
            else (),
            request="LogoutForm" if method == "POST" else None,
        )
        for method in ("GET", "POST")
    },
    ("GET", "/oauth2/login"): Operation(
        "What a waiting authorization request asks (the sign-in UI's): the client, the scopes, the prompt",
        OIDC,
        (errors.LOGIN_REQUEST, errors.LOGIN_CHALLENGE_INVALID, *STATE, *SERVICE),
        parameters=(query("login_challenge", STRING, "from the authorization endpoint's redirect", required=True),),
    ),
    ("POST", "/oauth2/login"): Operation(
        "Accept a login challenge with the person's session: where the browser goes next, or the consent needed",
        OIDC,
        (
            errors.LOGIN_ACCEPTED,
            errors.CONSENT_REQUIRED,
            *BODY,
            errors.LOGIN_CHALLENGE_INVALID,
            *bearer(Needs.SESSION),
            errors.REAUTHENTICATION_REQUIRED,
            errors.REAUTHENTICATION_BY_CODE_REQUIRED,
            errors.REAUTHENTICATION_BY_PASSKEY_REQUIRED,
            *STATE,
            *SERVICE,
        ),
        needs=Needs.SESSION.value,
        request="LoginAcceptRequest",
    ),
    ("POST", "/oauth2/login/reject"): Operation(
        "Decline a login challenge: the client learns access_denied (or login_required)",
        OIDC,
        (errors.LOGIN_REJECTED, *BODY, errors.INVALID_LOGIN_ERROR, errors.LOGIN_CHALLENGE_INVALID, *STATE, *SERVICE),
        request="LoginRejectRequest",
    ),
    ("GET", "/me/consents"): Operation(
        "The clients the person allowed, with their scopes",
        OIDC,
        (errors.CONSENTS, *bearer(Needs.SESSION), *STATE, *SERVICE),
        needs=Needs.SESSION.value,
    ),
    ("DELETE", "/me/consents/{client_id}"): Operation(
        "Withdraw the consent to a client: it asks again, and its sessions of the account end",
        OIDC,
        (errors.CONSENT_WITHDRAWN, errors.NO_CONSENT, *bearer(Needs.SESSION), *STATE, *SERVICE),
        needs=Needs.SESSION.value,
    ),
}

# The component schema of each success's extra fields (beyond message and code); a success without one has none.
SUCCESS_BODIES = {
    "code_sent": "CodeSent",
    "verified": "Session",
    "mfa_required": "MfaRequired",
    "refreshed": "Session",
    "signed_in": "SignedIn",
    "jwks": "Jwks",
    "openid_configuration": "OpenIdConfiguration",
    "phone_linked": "PhoneLinked",
    "reauthenticated": "Session",
    "totp_enrollment": "TotpEnrollment",
    "mfa_enabled": "MfaEnabled",
    "recovery_codes": "RecoveryCodes",
    "user_found": "UserFound",
    "user_locked": "AdminAction",
    "user_unlocked": "AdminAction",
    "user_signed_out": "AdminAction",
    "user_mfa_removed": "AdminAction",
    "user_passkey_removed": "AdminPasskeyAction",
    "user_failures_cleared": "AdminAction",
    "audit_entries": "AuditEntries",
    "admin_stats": "AdminStats",
    "login_request": "LoginRequest",
    "login_accepted": "Redirect",
    "login_rejected": "Redirect",
    "consent_required": "ConsentRequired",
    "consent_list": "Consents",
    "passkey_options": "PasskeyCeremony",
    "passkey_registered": "PasskeyCard",
    "passkey_renamed": "PasskeyCard",
    "passkey_list": "Passkeys",
}


# -- the schemas -------------------------------------------------------------------------------------------------


def obj(properties: dict[str, Any], required: Iterable[str] | None = None, **more: Any) -> dict[str, Any]:
    """A JSON object schema; every property is required unless ``required`` says which are."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties if required is None else required),
        **more,
    }


def array(items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": items}


SERIES = array({"type": "number"})  # one value per hour of the answer's timestamps
IDENTIFIER_KIND = {"enum": ["email", "phone"]}
PHONE_NUMBER = {"type": "string", "description": "a mobile number in international format: + and the country code"}


def schemas() -> dict[str, Any]:
    """The document's component schemas: the answers' common shape, success bodies and request bodies."""
    codes = sorted({entry.code for entry in errors.CATALOGUE.values()})
    session = obj(
        {
            "user_id": USER_ID,
            "email": STRING,
            "phone": STRING,
            "access_token": STRING,
            "token_type": {"const": "Bearer"},
            "expires_in": SECONDS,
            "refresh_token": STRING,
            "refresh_expires_in": SECONDS,
        },
        ["user_id", "access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"],
        description="A session's tokens (OAuth 2.0 names) and the account's identifiers.",
    )
    upgraded = {
        "allOf": [ref("Session"), obj({"recovery_codes_left": SECONDS, "recovery_codes_low": {"type": "boolean"}})],
        "description": "A session upgraded by a second factor.",
    }
    new_codes = obj({"recovery_codes": array(STRING)})
    passkey = obj(
        {
            "id": {"type": "string", "description": "what /me/passkeys/{passkey_id} names it by"},
            "name": STRING,
            "created_at": TIMESTAMP,
            "last_used_at": {**TIMESTAMP, "type": ["integer", "null"], "description": "null: never used to sign in"},
            "synced": {"type": "boolean", "description": "backup eligible: a passkey that syncs between devices"},
            "backed_up": {"type": "boolean"},
            "aaguid": {"type": "string", "description": "the authenticator's model (zeros when it says none)"},
        }
    )
    passkey_answer = {
        "ceremony": STRING,
        "credential": {"type": "object", "description": "the PublicKeyCredential, as its toJSON() gives it"},
    }
    passkey_name = {"type": "string", "minLength": 1, "maxLength": 64, "description": "one line"}
    identifiers = array(obj({"type": IDENTIFIER_KIND, "value": STRING}))
    audit_entry = obj(
        {
            "at": {"type": "number"},
            "actor": obj({"user_id": USER_ID, "email": STRING}),
            "action": STRING,
            "user_id": USER_ID,
            "identifiers": identifiers,
            "reason": STRING,
            "request_id": STRING,
            "cursor": STRING,
            "passkey_id": {"type": "string", "description": "delete_passkey only: the id of the passkey removed"},
        },
        ["at", "actor", "action", "user_id", "identifiers", "reason", "request_id", "cursor"],
    )
    proof = {"otp": typed_code(str(TOTP_DIGITS)), "recovery_code": STRING}
    client_card = obj({"client_id": STRING, "client_name": STRING, "first_party": {"type": "boolean"}})
    scopes = array({"enum": list(clients.SCOPES)})
    return {
        "Answer": obj(
            {
                "message": {"type": "string", "description": "for people: may change, never parse it"},
                "code": {"enum": codes, "description": "for programs: stable"},
            },
            description="What every answer carries; a success adds its own fields.",
        ),
        "Retry": obj({"retry_after": RETRY_AFTER}),
        "Session": session,
        "UpgradedSession": upgraded,
        "CodeSent": obj({"to": STRING, "expires_in": SECONDS, "resend_after": SECONDS}),
        "MfaRequired": obj(
            {"mfa_token": STRING, "factors": array({"enum": ["totp", "recovery_code"]}), "expires_in": SECONDS}
        ),
        "SignedIn": obj(
            {
                "user_id": USER_ID,
                "email": STRING,
                "phone": STRING,
                "identifiers": identifiers,
                "created_at": TIMESTAMP,
                "last_sign_in_at": TIMESTAMP,
                "mfa": obj(
                    {
                        "totp": {"type": "boolean"},
                        "recovery_codes_left": SECONDS,
                        "recovery_codes_low": {"type": "boolean"},
                    }
                ),
                "admin": {
                    "type": "boolean",
                    "description": "named in OTP_ADMIN_EMAILS: the admin routes open to it at AAL 2",
                },
                "session": obj(
                    {
                        "id": STRING,
                        "signed_in_at": TIMESTAMP,
                        "amr": array(STRING),
                        "aal": {"enum": [1, 2]},
                        "auth_time": TIMESTAMP,
                        "access_token_issued_at": TIMESTAMP,
                        "access_token_expires_at": TIMESTAMP,
                        "expires_at": TIMESTAMP,
                    }
                ),
            },
            ["user_id", "identifiers", "created_at", "last_sign_in_at", "mfa", "session"],
        ),
        "Jwks": obj(
            {
                "keys": array(
                    {
                        "oneOf": [
                            obj(
                                {
                                    "kty": {"const": "EC"},
                                    "crv": {"const": "P-256"},
                                    "x": STRING,
                                    "y": STRING,
                                    "kid": STRING,
                                    "use": {"const": "sig"},
                                    "alg": {"const": "ES256"},
                                }
                            ),
                            obj(
                                {
                                    "kty": {"const": "RSA"},
                                    "n": STRING,
                                    "e": STRING,
                                    "kid": STRING,
                                    "use": {"const": "sig"},
                                    "alg": {"const": "RS256"},
                                }
                            ),
                        ]
                    }
                )
            },
            description="The public keys of the current and previous signing keys of each algorithm; a key's kid is "
            "its RFC 7638 thumbprint.",
        ),
        "OpenIdConfiguration": _discovery(),
        "PhoneLinked": obj({"phone": STRING, "identifiers": identifiers}),
        "TotpEnrollment": obj(
            {
                "secret": {"type": "string", "description": "base32, for manual entry"},
                "otpauth_uri": STRING,
                "qr_svg": {"type": "string", "description": "an SVG document"},
            }
        ),
        "MfaEnabled": {"allOf": [ref("UpgradedSession"), new_codes]},
        "RecoveryCodes": new_codes,
        "UserFound": obj(
            {
                "user": obj(
                    {
                        "id": USER_ID,
                        "status": STRING,
                        "created_at": TIMESTAMP,
                        "last_sign_in_at": TIMESTAMP,
                        "identifiers": array(
                            obj(
                                {
                                    "type": IDENTIFIER_KIND,
                                    "value": STRING,
                                    "failures": obj({"count": SECONDS, "limit": SECONDS, "resets_in": SECONDS}),
                                }
                            )
                        ),
                        "factors": array(STRING),
                        "recovery_codes_left": SECONDS,
                        "live_sessions": SECONDS,
                        "passkeys": array(
                            obj(
                                {
                                    "id": {"type": "string", "description": "what .../passkeys/{passkey_id} names"},
                                    "name": STRING,
                                    "created_at": TIMESTAMP,
                                    "last_used_at": {
                                        **TIMESTAMP,
                                        "type": ["integer", "null"],
                                        "description": "null: never used to sign in",
                                    },
                                    "synced": {"type": "boolean", "description": "false: bound to one device"},
                                }
                            )
                        ),
                    }
                )
            }
        ),
        "AuditEntry": audit_entry,
        "AdminAction": obj({"user_id": USER_ID, "audit": ref("AuditEntry")}),
        "AdminPasskeyAction": obj(
            {"user_id": USER_ID, "passkey_id": PATH_PARAMETERS["passkey_id"], "audit": ref("AuditEntry")}
        ),
        "AuditEntries": obj(
            {
                "entries": array(ref("AuditEntry")),
                "next_before": {"type": ["string", "null"], "description": "null on the last page"},
            }
        ),
        "AdminStats": obj(
            {
                "hours": SECONDS,
                "timestamps": array(TIMESTAMP),
                "period": SECONDS,
                "channels": {
                    "type": "object",
                    "additionalProperties": obj(
                        {
                            "metrics": {"type": "object", "additionalProperties": SERIES},
                            "refused": {"type": "object", "additionalProperties": SERIES},
                        }
                    ),
                },
                "countries": {
                    "type": "object",
                    "additionalProperties": {"type": "object", "additionalProperties": SERIES},
                },
                "accounts_locked": SERIES,
                "refresh_reuse": SERIES,
                "second_factor": {"type": "object", "additionalProperties": SERIES},
                "sms_budget": obj(
                    {
                        "texts": SECONDS,
                        "window_seconds": SECONDS,
                        "prices_usd": {"type": "object", "additionalProperties": {"type": "number"}},
                    }
                ),
            }
        ),
        # Request bodies. The service parses a body as JSON whatever its declared type.
        "OtpRequest": {
            "oneOf": [ref("SendOtpRequest"), ref("VerifyOtpRequest")],
            "discriminator": {
                "propertyName": "action",
                "mapping": {"send_otp": SCHEMAS + "SendOtpRequest", "verify_otp": SCHEMAS + "VerifyOtpRequest"},
            },
        },
        "SendOtpRequest": _otp_request("send_otp"),
        "VerifyOtpRequest": _otp_request("verify_otp", otp=True),
        "RefreshTokenRequest": obj({"refresh_token": STRING}),
        "SignOutRequest": obj({"everywhere": {"type": "boolean", "default": False}}, []),
        "PhoneRequest": obj({"phone": PHONE_NUMBER}),
        "PhoneVerifyRequest": obj({"phone": PHONE_NUMBER, "otp": CODE}),
        "ReauthenticateRequest": obj(
            {
                "via": {**IDENTIFIER_KIND, "description": "one of the account's own; by default its address"},
                "otp": {**CODE, "description": f"absent: send a code; given: check it, {CODE['description']}"},
            },
            [],
        ),
        "TotpCodeRequest": obj({"otp": proof["otp"]}),
        "MfaProofRequest": {
            "type": "object",
            "properties": proof,
            "oneOf": [{"required": ["otp"]}, {"required": ["recovery_code"]}],
        },
        "MfaVerifyRequest": {"allOf": [ref("MfaProofRequest"), obj({"mfa_token": STRING})]},
        REASON: obj({"reason": {"type": "string", "minLength": 1, "maxLength": MAX_REASON_CHARS}}),
        # The OpenID Connect provider: the sign-in UI's side (the service's JSON), then the clients' (RFC 6749's).
        "LoginRequest": obj(
            {
                "client": client_card,
                "scopes": scopes,
                "prompt": array({"enum": list(requests.PROMPTS)}),
                "login_hint": {"type": ["string", "null"], "description": "an address to pre-fill"},
                "acr_values": {
                    **array({"enum": [requests.AAL2]}),
                    "description": "the AAL2 of the client's acr_values when it asked for two factors, else empty",
                },
                "expires_at": TIMESTAMP,
            }
        ),
        "Redirect": obj(
            {
                "redirect_to": {
                    "type": "string",
                    "description": "the client's redirect_uri with the authorization response (code or error, "
                    "state, iss): the browser goes there, a top-level navigation",
                }
            }
        ),
        "ConsentRequired": obj({"client": client_card, "scopes": scopes}),
        "Consents": obj(
            {
                "consents": array(
                    obj({"client_id": STRING, "client_name": STRING, "scopes": scopes, "granted_at": TIMESTAMP})
                )
            }
        ),
        "PasskeyCeremony": obj(
            {
                "options": {
                    "type": "object",
                    "description": "WebAuthn Level 3's PublicKeyCredentialCreationOptionsJSON or "
                    "PublicKeyCredentialRequestOptionsJSON, as parseCreationOptionsFromJSON and "
                    "parseRequestOptionsFromJSON take them",
                },
                "ceremony": {"type": "string", "description": "opaque, single use; the options' challenge"},
                "expires_in": SECONDS,
            }
        ),
        "Passkey": passkey,
        "PasskeyCard": obj({"passkey": ref("Passkey")}),
        "Passkeys": obj({"passkeys": array(ref("Passkey")), "most": SECONDS}),
        "PasskeyAnswerRequest": obj(passkey_answer),
        "MfaTokenRequest": obj({"mfa_token": STRING}),
        "PasskeyVerifyRequest": obj({**passkey_answer, "mfa_token": STRING}, ["mfa_token", "ceremony", "credential"]),
        "PasskeyRegisterRequest": obj({**passkey_answer, "name": passkey_name}, ["ceremony", "credential"]),
        "PasskeyNameRequest": obj({"name": passkey_name}),
        "LoginAcceptRequest": obj(
            {
                "login_challenge": STRING,
                "consent": {"type": "boolean", "default": False, "description": "the person allowed the scopes"},
            },
            ["login_challenge"],
        ),
        "LoginRejectRequest": obj(
            {
                "login_challenge": STRING,
                "error": {
                    "enum": list(oauth_routes.LOGIN_ERRORS),
                    "default": oauth_routes.LOGIN_ERRORS[0],
                    "description": "login_required: prompt=none and nobody is signed in in the UI",
                },
            },
            ["login_challenge"],
        ),
        "OAuthError": obj(
            {"error": STRING, "error_description": STRING},
            description="An error of the OpenID Connect provider's client endpoints (RFC 6749 5.2).",
        ),
        "TokenResponse": obj(
            {
                "access_token": {"type": "string", "description": "a JWT (typ at+jwt, RFC 9068) with client_id, scope"},
                "token_type": {"const": "Bearer"},
                "expires_in": SECONDS,
                "id_token": {
                    "type": "string",
                    "description": "authorization_code only: a JWT signed with the client's "
                    "id_token_signed_response_alg (RS256 by default)",
                },
                "refresh_token": {
                    "type": "string",
                    "description": "with offline_access; a refresh gives a new one and uses the old one up",
                },
                "scope": {"type": "string", "description": "what was granted, space-separated"},
            },
            ["access_token", "token_type", "expires_in", "scope"],
        ),
        "UserInfo": obj(
            {
                "sub": USER_ID,
                "email": STRING,
                "email_verified": {"const": True},
                "phone_number": STRING,
                "phone_number_verified": {"const": True},
            },
            ["sub"],
            description="email with the email scope, phone_number with phone, if the account has them.",
        ),
        "Revocation": obj({}, additionalProperties=False, description="RFC 7009: the same answer whatever the token."),
        "Introspection": obj(
            {
                "active": {"type": "boolean"},
                "token_type": {"const": "Bearer"},
                "sub": USER_ID,
                "iss": STRING,
                "iat": TIMESTAMP,
                "exp": TIMESTAMP,
                "auth_time": TIMESTAMP,
                "acr": {"enum": list(requests.ACR_VALUES)},
                "aal": {"enum": [1, 2]},
                "sid": STRING,
                "client_id": {"type": "string", "description": "a client's token only"},
                "scope": {"type": "string", "description": "a client's token only"},
            },
            ["active"],
            description="Only active: false for a token that is not a live access token of this service.",
        ),
        "TokenRequest": {
            "oneOf": [
                client_form(
                    {
                        "grant_type": {"const": "authorization_code"},
                        "code": STRING,
                        "redirect_uri": {"type": "string", "description": "as in the authorization request"},
                        "code_verifier": {"type": "string", "pattern": "^[A-Za-z0-9._~-]{43,128}$"},
                    }
                ),
                client_form(
                    {
                        "grant_type": {"const": "refresh_token"},
                        "refresh_token": STRING,
                        "scope": {"type": "string", "description": "at most what was granted"},
                    },
                    ["grant_type", "refresh_token"],
                ),
            ]
        },
        "TokenForm": client_form(
            {"token": STRING, "token_type_hint": {"type": "string", "description": "ignored"}}, ["token"]
        ),
        "LogoutForm": obj(
            {name: {"type": "string", "description": words} for name, words in LOGOUT_PARAMETERS.items()}, []
        ),
    }


def client_form(fields: dict[str, Any], required: Iterable[str] | None = None) -> dict[str, Any]:
    """A client endpoint's form with ``fields``, and the client's own (client_secret_post, or a public client)."""
    own = {
        "client_id": {"type": "string", "description": "with client_secret_post, or a public client"},
        "client_secret": {"type": "string", "description": "client_secret_post"},
    }
    return obj({**fields, **own}, list(fields) if required is None else required)


def _discovery() -> dict[str, Any]:
    """The discovery document's schema, read from what the provider writes (oauth_routes.discovery)."""

    def shape(name: str, value: object) -> dict[str, Any]:
        if isinstance(value, bool):
            return {"type": "boolean"}
        if isinstance(value, list):
            return array(STRING)
        return (
            {"type": "string", "format": "uri"} if name == "issuer" or name.endswith(("_uri", "_endpoint")) else STRING
        )

    return obj(
        {name: shape(name, value) for name, value in oauth_routes.discovery(LOCAL_SERVER).items()},
        description="OpenID Connect Discovery 1.0 and RFC 8414: what this provider does, and only that.",
    )


def _otp_request(action: str, otp: bool = False) -> dict[str, Any]:
    """POST /otp's body for ``action``: exactly one of email and phone, and the code to verify."""
    properties = {"action": {"const": action}, "email": {"type": "string", "format": "email"}, "phone": PHONE_NUMBER}
    if otp:
        properties["otp"] = CODE
    return {
        **obj(properties, ["action", "otp"] if otp else ["action"]),
        "oneOf": [{"required": ["email"]}, {"required": ["phone"]}],
    }


# -- the document ------------------------------------------------------------------------------------------------


def responses(operation: Operation) -> dict[str, Any]:
    """The operation's answers by status: each status's codes, messages, body schema and headers."""
    by_status: dict[int, list[Answer]] = {}
    for entry in operation.answers:
        by_status.setdefault(entry.status, []).append(entry)
    return {str(status): _response(by_status[status], operation.bodies) for status in sorted(by_status)}


def _response(entries: list[Answer], bodies: dict[str, str]) -> dict[str, Any]:
    """One status's answers. Its successes and failures are told apart by their code: a success with a status of
    a failure (403 ``consent_required``: the sign-in UI has a consent to ask for) is one of the shapes."""
    codes = list(dict.fromkeys(entry.code for entry in entries))
    description = "\n".join(f"- `{entry.code}`: {entry.message}" for entry in dict.fromkeys(entries))
    failures = [entry for entry in entries if isinstance(entry, ErrorKind)]
    succeeded = list(dict.fromkeys(entry.code for entry in entries if not isinstance(entry, ErrorKind)))
    shapes = [_success(code, bodies.get(code, SUCCESS_BODIES.get(code))) for code in succeeded]
    headers: dict[str, Any] = {}
    if failures:
        failed = list(dict.fromkeys(entry.code for entry in failures))
        if set(failed) & set(succeeded):
            raise ValueError(f"{codes}: a code is a success or a failure, not both")
        retries = [entry.retries for entry in failures]
        schema: dict[str, Any] = {"allOf": [ref("Answer")], "properties": {"code": {"enum": failed}}}
        if any(retries):
            schema["allOf"].append(ref("Retry") if all(retries) else {"properties": {"retry_after": RETRY_AFTER}})
            headers["Retry-After"] = _retry_after(all(retries) and not shapes)
        challenges = [dict(entry.headers).get("WWW-Authenticate") for entry in failures]
        if any(challenges):
            headers["WWW-Authenticate"] = {
                "description": "the bearer error (RFC 6750, RFC 9470)",
                "required": all(challenges) and not shapes,
                "schema": {"enum": sorted({value for value in challenges if value})},
            }
        shapes.append(schema)
    one = shapes[0] if len(shapes) == 1 else {"oneOf": shapes}
    answer = {"description": description, "content": {JSON: {"schema": one}}}
    return {**answer, "headers": headers} if headers else answer


def _retry_after(required: bool) -> dict[str, Any]:
    return {
        "description": "seconds to wait before retrying",
        "required": required,
        "schema": {"type": "integer", "minimum": 1},
    }


def _success(code: str, extra: str | None) -> dict[str, Any]:
    parts = [ref("Answer"), ref(extra)] if extra else [ref("Answer")]
    return {"allOf": parts, "properties": {"code": {"const": code}}}


def _replies(replies: Iterable[Reply]) -> dict[int, list[Reply]]:
    by_status: dict[int, list[Reply]] = {}
    for reply in replies:
        by_status.setdefault(reply.status, []).append(reply)
    return dict(sorted(by_status.items()))


def _listed(replies: Iterable[Reply]) -> str:
    return "\n".join(f"- `{reply.code}`: {reply.when}" for reply in replies)


# RFC 6749 5.1: a token endpoint's answers are never cached, by HTTP/1.1 or HTTP/1.0 caches.
NOT_CACHED = {
    "Cache-Control": {"required": True, "schema": {"const": "no-store"}},
    "Pragma": {"required": True, "schema": {"const": "no-cache"}},
}


def client_responses(operation: ClientOperation) -> dict[str, Any]:
    """A client endpoint's answers: its success, and its errors by status in RFC 6749's shape."""
    described: dict[str, Any] = {
        "200": {
            "description": operation.summary,
            "headers": NOT_CACHED,
            "content": {JSON: {"schema": ref(operation.success)}},
        }
    }
    for status, replies in _replies(operation.errors).items():
        schema = {
            "allOf": [ref("OAuthError")],
            "properties": {"error": {"enum": list(dict.fromkeys(r.code for r in replies))}},
        }
        headers: dict[str, Any] = dict(NOT_CACHED)
        challenges = sorted({reply.challenge for reply in replies if reply.challenge})
        if challenges:
            headers["WWW-Authenticate"] = {
                "description": "the client's authentication (RFC 6749 5.2) or the bearer error (RFC 6750 3)",
                "required": all(reply.challenge for reply in replies),
                "schema": {"type": "string", "pattern": "|".join(challenges)},
            }
        if any(reply.retries for reply in replies):
            headers["Retry-After"] = _retry_after(all(reply.retries for reply in replies))
        described[str(status)] = {
            "description": _listed(replies),
            "headers": headers,
            "content": {JSON: {"schema": schema}},
        }
    return described


HTML = "text/html"
PAGE = {HTML: {"schema": {"type": "string", "description": "a page in words, its code under them"}}}


def browser_responses(operation: BrowserOperation) -> dict[str, Any]:
    """A browser endpoint's answers: its redirect and its pages by status."""
    redirect = operation.redirect
    if operation.redirect_errors:
        redirect += " Its error to the client:\n" + _listed(operation.redirect_errors)
    location = {"required": True, "schema": {"type": "string", "format": "uri"}}
    described: dict[str, Any] = {"302": {"description": redirect, "headers": {"Location": location}}}
    for status, replies in _replies(operation.pages).items():
        described[str(status)] = {"description": _listed(replies), "content": PAGE}
    return dict(sorted(described.items()))


# What a route answers a method it does not serve, by how its view answers.
NOT_SERVED = {
    JSON_ANSWERS: f"Any other method answers 405 `{errors.METHOD_NOT_ALLOWED.code}`.",
    CLIENT: "Any other method answers 405 with error `invalid_request`.",
    BROWSER: f"Any other method answers a 405 page (`{errors.METHOD_NOT_ALLOWED.code}`).",
}
KINDS: dict[type, str] = {Operation: JSON_ANSWERS, ClientOperation: CLIENT, BrowserOperation: BROWSER}


def document(api: Chalice) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``api``'s routes, as :data:`OPERATIONS` describes them.

    Raises ``ValueError`` when app.py serves an operation that is not described, a description names one app.py
    does not serve, or describes it as answering in another way than its view does: the document is then out of
    step with the code.
    """
    routes = answering(api)
    found = {(method, path) for path, (_, methods) in routes.items() for method in methods}
    if found != set(OPERATIONS):
        raise ValueError(
            f"describe in tools/openapi.py: {sorted(found - set(OPERATIONS))}; "
            f"no longer served: {sorted(set(OPERATIONS) - found)}"
        )
    paths: dict[str, Any] = {}
    for path, (kind, methods) in routes.items():
        entries = api.routes[path]
        item: dict[str, Any] = {"description": NOT_SERVED[kind]}
        if entries[methods[0]].view_args:
            item["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
                for name in entries[methods[0]].view_args
            ]
        for method in methods:
            described = OPERATIONS[method, path]
            if KINDS[type(described)] != kind:
                raise ValueError(f"{method} {path} answers as {kind}, but is described as {KINDS[type(described)]}")
            item[method.lower()] = _operation(method, entries[method].view_name, described)
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OTP Sign-in",
            "version": "1",
            "summary": "Passwordless sign-in by a code mailed or texted, sessions of signed access tokens and "
            "rotating refresh tokens, two-step verification, admin routes, and an OpenID Connect provider.",
            "description": "Every answer is JSON with a human `message` and a stable `code` (docs/api.md), but "
            "those of the OpenID Connect provider's own endpoints: redirects and pages for a browser, RFC 6749's "
            '`{"error", "error_description"}` for a client. Generated by '
            f"`{REGENERATE}` from app.py and chalicelib/http/errors.py: do not edit.",
        },
        "servers": [{"url": LOCAL_SERVER, "description": "the local stack (make run)"}],
        "tags": [{"name": tag} for tag in dict.fromkeys(operation.tag for operation in OPERATIONS.values())],
        "paths": paths,
        "components": {
            "schemas": schemas(),
            "responses": {"MethodNotAllowed": _response([errors.METHOD_NOT_ALLOWED], {})},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "an access token (ES256, or RS256 where OTP_ACCESS_TOKEN_ALGORITHM says) from a "
                    "verified code; an OpenID Connect client's opens /oauth2/userinfo only",
                },
                "client": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "an OpenID Connect client's client_id and secret (client_secret_basic)",
                },
            },
        },
    }


def _operation(method: str, view: str, operation: Described) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": f"{method.lower()}_{view}",
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if isinstance(operation, BrowserOperation):
        if operation.parameters:
            described["parameters"] = list(operation.parameters)
        if operation.request is not None:
            described["requestBody"] = {"required": False, "content": {FORM: {"schema": ref(operation.request)}}}
        described["responses"] = browser_responses(operation)
        return described
    if operation.needs is not None:
        described["description"] = f"Needs a bearer token of {operation.needs}."
        described["security"] = [{"bearer": []}]
    if isinstance(operation, ClientOperation):
        if operation.client_auth:
            described["description"] = CLIENT_AUTH
            described["security"] = [{"client": []}, {}]  # {}: client_secret_post and public clients, in the form
        if operation.request is not None:
            described["requestBody"] = {"required": True, "content": {FORM: {"schema": ref(operation.request)}}}
        described["responses"] = client_responses(operation)
        return described
    if operation.parameters:
        described["parameters"] = list(operation.parameters)
    if operation.request is not None:
        described["requestBody"] = {
            "required": operation.body_required,
            "content": {JSON: {"schema": ref(operation.request)}},
        }
    described["responses"] = responses(operation)
    return described


def render(api: Chalice) -> str:
    """The document as docs/openapi.json holds it."""
    return json.dumps(document(api), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    DOCUMENT.write_text(render(app))
    print(f"wrote {DOCUMENT}")


if __name__ == "__main__":
    main()
