"""docs/openapi.json: the HTTP API as an OpenAPI 3.1 document, for adopters to generate clients from.

    python -m tools.openapi   (rewrites docs/openapi.json; tests/test_openapi.py fails while it is stale)

Generated, never edited by hand. Which routes exist and which methods each serves is read from app.py itself
(:func:`served`): each view is called with a stand-in request per method while ``exchange.respond`` is intercepted,
so a method is listed exactly when its view hands it a handler other than the 405. What each operation takes and
may answer is declared once here (:data:`OPERATIONS`), in the answer catalogue's own entries
(chalicelib/http/errors.py), so every code, status, message and header comes from there; tests/test_openapi.py
holds the declarations to app.py's routes and to the catalogue, and real answers to the schemas.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

from chalice import Chalice
from chalice.app import RouteEntry

from app import app
from chalicelib.core.assurance import TOTP_DIGITS, Needs
from chalicelib.http import errors, exchange
from chalicelib.http.admin_routes import MAX_AUDIT_LIMIT, MAX_HOURS, MAX_REASON_CHARS
from chalicelib.http.errors import Answer, ErrorKind

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
USER_ID = {"type": "string", "format": "uuid"}
TIMESTAMP = {"type": "integer", "description": "seconds since the Unix epoch"}
SECONDS = {"type": "integer", "minimum": 0}
PATH_PARAMETERS = {"user_id": USER_ID}  # the schema of each path parameter app.py's routes name
RETRY_AFTER = {"type": "integer", "minimum": 1, "description": "seconds to wait before retrying; also Retry-After"}


# -- what app.py serves ------------------------------------------------------------------------------------------


def served(api: Chalice) -> dict[str, tuple[str, ...]]:
    """Each route of ``api`` (its Chalice path template) and the methods whose handler is not the 405, in the
    order of :data:`METHODS`.

    Reads what app.py's views do rather than what they are decorated with: every route takes every method (so
    that a wrong one gets the service's JSON 405, not Chalice's), and picks its handler by method when called.
    Calling a view builds its handlers and runs none of them: ``exchange.respond``, which would run one, is
    replaced by a recorder for the call.
    """
    routes: dict[str, tuple[str, ...]] = {}
    for path, entries in api.routes.items():
        entry = next((entries[method] for method in METHODS if method in entries), None)
        if entry is None:  # the preflight alone
            continue
        routes[path] = tuple(
            method for method in METHODS if _handler(api, entry, method) is not exchange.method_not_allowed
        )
    return routes


def _handler(api: Chalice, entry: RouteEntry, method: str) -> exchange.Handler:
    """The handler ``entry``'s view hands ``exchange.respond`` for a request of ``method``."""
    handed: list[exchange.Handler] = []
    # create: Chalice sets current_request at its first request only
    with (
        mock.patch.object(exchange, "respond", lambda _request, _path, handler, **_: handed.append(handler)),
        mock.patch.object(api, "current_request", SimpleNamespace(method=method), create=True),
    ):
        entry.view_function(**{name: "0" for name in entry.view_args})
    if len(handed) != 1:
        raise RuntimeError(f"{entry.uri_pattern}: its view must answer through exchange.respond, once")
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
MFA_PROOF = (errors.MFA_PROOF_BODY, errors.INVALID_OTP, errors.INVALID_CODE, errors.TOO_MANY_SECOND_FACTOR_FAILURES)


def bearer(needs: Needs) -> tuple[ErrorKind, ...]:
    """What a route answers a bearer token whose session does not meet ``needs`` (chalicelib/core/assurance.py's
    ``require``)."""
    refusals: tuple[ErrorKind, ...] = (errors.INVALID_TOKEN,)
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


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


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


REASON = "ReasonRequest"
OPERATIONS: dict[tuple[str, str], Operation] = {
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
    "user_failures_cleared": "AdminAction",
    "audit_entries": "AuditEntries",
    "admin_stats": "AdminStats",
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


STRING = {"type": "string"}
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
        }
    )
    proof = {"otp": typed_code(str(TOTP_DIGITS)), "recovery_code": STRING}
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
                    obj(
                        {
                            "kty": {"const": "EC"},
                            "crv": STRING,
                            "x": STRING,
                            "y": STRING,
                            "kid": STRING,
                            "use": STRING,
                            "alg": {"const": "ES256"},
                        }
                    )
                )
            }
        ),
        "OpenIdConfiguration": obj(
            {
                "issuer": STRING,
                "jwks_uri": STRING,
                **{
                    name: array(STRING)
                    for name in (
                        "id_token_signing_alg_values_supported",
                        "subject_types_supported",
                        "response_types_supported",
                        "claims_supported",
                        "token_endpoint_auth_methods_supported",
                    )
                },
            }
        ),
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
                    }
                )
            }
        ),
        "AuditEntry": audit_entry,
        "AdminAction": obj({"user_id": USER_ID, "audit": ref("AuditEntry")}),
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
    }


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
    codes = list(dict.fromkeys(entry.code for entry in entries))
    description = "\n".join(f"- `{entry.code}`: {entry.message}" for entry in dict.fromkeys(entries))
    failures = [entry for entry in entries if isinstance(entry, ErrorKind)]
    if not failures:
        shapes = [_success(code, bodies.get(code, SUCCESS_BODIES.get(code))) for code in codes]
        one = shapes[0] if len(shapes) == 1 else {"oneOf": shapes}
        return {"description": description, "content": {JSON: {"schema": one}}}
    if len(failures) != len(entries):
        raise ValueError(f"{codes}: a status is either successes or failures")
    retries = [entry.retries for entry in failures]
    schema: dict[str, Any] = {"allOf": [ref("Answer")], "properties": {"code": {"enum": codes}}}
    headers: dict[str, Any] = {}
    if any(retries):
        schema["allOf"].append(ref("Retry") if all(retries) else {"properties": {"retry_after": RETRY_AFTER}})
        headers["Retry-After"] = {
            "description": "seconds to wait before retrying",
            "required": all(retries),
            "schema": {"type": "integer", "minimum": 1},
        }
    challenges = [dict(entry.headers).get("WWW-Authenticate") for entry in failures]
    if any(challenges):
        headers["WWW-Authenticate"] = {
            "description": "the bearer error (RFC 6750, RFC 9470)",
            "required": all(challenges),
            "schema": {"enum": sorted({value for value in challenges if value})},
        }
    answer = {"description": description, "content": {JSON: {"schema": schema}}}
    return {**answer, "headers": headers} if headers else answer


def _success(code: str, extra: str | None) -> dict[str, Any]:
    parts = [ref("Answer"), ref(extra)] if extra else [ref("Answer")]
    return {"allOf": parts, "properties": {"code": {"const": code}}}


def document(api: Chalice) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``api``'s routes, as :data:`OPERATIONS` describes them.

    Raises ``ValueError`` when app.py serves an operation that is not described, or a description names one
    app.py does not serve: the document is then out of step with the code.
    """
    routes = served(api)
    found = {(method, path) for path, methods in routes.items() for method in methods}
    if found != set(OPERATIONS):
        raise ValueError(
            f"describe in tools/openapi.py: {sorted(found - set(OPERATIONS))}; "
            f"no longer served: {sorted(set(OPERATIONS) - found)}"
        )
    paths: dict[str, Any] = {}
    for path, methods in routes.items():
        entries = api.routes[path]
        item: dict[str, Any] = {"description": f"Any other method answers 405 `{errors.METHOD_NOT_ALLOWED.code}`."}
        if entries[methods[0]].view_args:
            item["parameters"] = [
                {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
                for name in entries[methods[0]].view_args
            ]
        for method in methods:
            item[method.lower()] = _operation(method, entries[method].view_name, OPERATIONS[method, path])
        paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "OTP Sign-in",
            "version": "1",
            "summary": "Passwordless sign-in by a code mailed or texted, sessions of ES256 access tokens and "
            "rotating refresh tokens, two-step verification and admin routes.",
            "description": "Every answer is JSON with a human `message` and a stable `code` (README.md, "
            f'"API reference"). Generated by `{REGENERATE}` from app.py and '
            "chalicelib/http/errors.py: do not edit.",
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
                    "description": "an access token (ES256) from a verified code",
                }
            },
        },
    }


def _operation(method: str, view: str, operation: Operation) -> dict[str, Any]:
    described: dict[str, Any] = {
        "operationId": f"{method.lower()}_{view}",
        "summary": operation.summary,
        "tags": [operation.tag],
    }
    if operation.needs is not None:
        described["description"] = f"Needs a bearer token of {operation.needs}."
        described["security"] = [{"bearer": []}]
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
