"""Every answer the service gives, declared once: its stable ``code``, its HTTP status and its human message.

Handlers raise failures from here (``INVALID_JSON.error()``) and build successes from here
(``REVOKED.answer()``); no other module spells a code. The tables of docs/api.md list exactly these codes
with these statuses, and tests/test_errors.py holds the two together and reaches every entry with a request.

A message is a :meth:`str.format` template; its fields (``{reason}``, ``{method}``, ``{email}``) are filled in where
the answer is made. A code may have more than one entry when the same kind of answer needs different words
(``invalid_body``, ``signed_out``); a code always has one status.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Answer:
    code: str
    status: int
    message: str

    def text(self, **fields: object) -> str:
        return self.message.format(**fields)

    def fields(self) -> frozenset[str]:
        """The names the message template needs."""
        return frozenset(name for _, name, _, _ in string.Formatter().parse(self.message) if name is not None)

    def matches(self, message: str) -> bool:
        """Whether ``message`` is this answer's message with its fields filled in (with anything at all)."""
        parts = [
            re.escape(literal) + ("" if name is None else ".*")
            for literal, name, _, _ in string.Formatter().parse(self.message)
        ]
        return re.fullmatch("".join(parts), message, re.DOTALL) is not None


@dataclass(frozen=True)
class Success(Answer):
    def answer(self, extra: Mapping[str, Any] | None = None, **fields: object) -> tuple[int, dict[str, Any]]:
        """``(status, body)``: the message and code first, then ``extra``."""
        return self.status, {"message": self.text(**fields), "code": self.code, **(extra or {})}


@dataclass(frozen=True)
class ErrorKind(Answer):
    retries: bool = False  # the answer says when to retry: ``retry_after`` in the body and a ``Retry-After`` header
    headers: tuple[tuple[str, str], ...] = ()

    def error(self, retry_after: int | None = None, **fields: object) -> ApiError:
        return ApiError(self, self.text(**fields), retry_after)


class ApiError(Exception):
    """An answer other than success, with everything the client needs to act on it."""

    def __init__(self, kind: ErrorKind, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = kind.status
        self.code = kind.code
        self.message = message
        self.retry_after = retry_after
        self.headers = dict(kind.headers)


# -- successes -----------------------------------------------------------------------------------------------

CODE_SENT = Success("code_sent", 200, "We sent a sign-in code to {to}. It is valid for {minutes} minutes.")
LINK_CODE_SENT = Success(
    "code_sent", 200, "We sent a code to {to} to add it to your account. It is valid for {minutes} minutes."
)
REAUTHENTICATION_CODE_SENT = Success(
    "code_sent", 200, "We sent a code to {to} to confirm it is you. It is valid for {minutes} minutes."
)
VERIFIED = Success("verified", 200, "You are signed in.")
REFRESHED = Success("refreshed", 200, "Your session was renewed.")
REVOKED = Success("revoked", 200, "The session has ended.")
SIGNED_OUT = Success("signed_out", 200, "You are signed out.")
SIGNED_OUT_EVERYWHERE = Success("signed_out", 200, "You are signed out on every device.")
SIGNED_IN = Success("signed_in", 200, "Signed in as {who}.")
JWKS = Success("jwks", 200, "Public keys for verifying access tokens.")
OPENID_CONFIGURATION = Success("openid_configuration", 200, "This OpenID Connect provider's metadata.")
PHONE_LINKED = Success("phone_linked", 200, "{phone} is now a way to sign in to your account.")
PHONE_REMOVED = Success("phone_removed", 200, "The phone number was removed from your account.")

# -- the request ---------------------------------------------------------------------------------------------

BODY_TOO_LARGE = ErrorKind("body_too_large", 400, "The request body is too large.")
INVALID_JSON = ErrorKind("invalid_json", 400, "The request body is not valid JSON.")
INVALID_BODY = ErrorKind("invalid_body", 400, "The request body must be a JSON object.")
EVERYWHERE_NOT_BOOLEAN = ErrorKind("invalid_body", 400, '"everywhere" must be true or false.')
ONE_IDENTIFIER = ErrorKind("invalid_body", 400, 'Give exactly one of "email" or "phone".')
INVALID_BODY_PHONE = ErrorKind("invalid_body", 400, 'Give the "phone" number to add.')
INVALID_VIA = ErrorKind("invalid_body", 400, '"via" must be "email" or "phone", and one your account has.')
MISSING_ACTION = ErrorKind("missing_action", 400, 'Say what to do: "action" is "send_otp" or "verify_otp".')
UNKNOWN_ACTION = ErrorKind("unknown_action", 400, 'Unknown action: use "send_otp" or "verify_otp".')
INVALID_EMAIL = ErrorKind("invalid_email", 400, "Enter a valid email address. {reason}")
INVALID_PHONE = ErrorKind("invalid_phone", 400, "Enter a valid phone number: {reason}.")
PHONE_NOT_SUPPORTED = ErrorKind("phone_not_supported", 400, "We cannot text a code to this number: {reason}.")
INVALID_OTP = ErrorKind("invalid_otp", 400, "Enter the {reason} of the code.")
INVALID_REFRESH_TOKEN = ErrorKind("invalid_refresh_token", 400, '"refresh_token" is required.')
METHOD_NOT_ALLOWED = ErrorKind("method_not_allowed", 405, "{method} is not supported here.")

# -- who is asking -------------------------------------------------------------------------------------------

INVALID_CODE = ErrorKind("invalid_code", 401, "The code is invalid or has expired.")
INVALID_TOKEN = ErrorKind(
    "invalid_token",
    401,
    "Your session is invalid or has ended. Please sign in again.",
    headers=(("WWW-Authenticate", 'Bearer error="invalid_token"'),),
)

# -- the account -----------------------------------------------------------------------------------------------

PHONE_ALREADY_LINKED = ErrorKind(
    "phone_already_linked", 409, "This number cannot be added to your account: it is already used to sign in."
)
ACCOUNT_HAS_PHONE = ErrorKind("account_has_phone", 409, "Your account already has a phone number: remove it first.")
PHONE_NOT_LINKED = ErrorKind("phone_not_linked", 404, "Your account has no phone number.")
PHONE_IS_PRIMARY = ErrorKind(
    "phone_is_primary",
    409,
    "This account was created with its phone number, which is how it signs in: it cannot be removed.",
)

# -- limits ----------------------------------------------------------------------------------------------------

RESEND_COOLDOWN = ErrorKind(
    "resend_cooldown", 429, "Please wait a moment before asking for another code.", retries=True
)
SEND_QUOTA_EXCEEDED = ErrorKind(
    "send_quota_exceeded",
    429,
    "Too many codes were requested for this address or number. Please try again later.",
    retries=True,
)
IP_QUOTA_EXCEEDED = ErrorKind(
    "ip_quota_exceeded", 429, "Too many codes were requested from your network. Please try again later.", retries=True
)
TOO_MANY_FAILURES = ErrorKind(
    "too_many_failures",
    429,
    "Too many failed attempts for this address or number. Please try again later.",
    retries=True,
)
IP_FAILURE_QUOTA_EXCEEDED = ErrorKind(
    "ip_failure_quota_exceeded",
    429,
    "Too many failed attempts from your network. Please try again later.",
    retries=True,
)
PREFIX_QUOTA_EXCEEDED = ErrorKind(
    "prefix_quota_exceeded",
    429,
    "Too many codes were texted to numbers like this one. Please try again later.",
    retries=True,
)
COUNTRY_QUOTA_EXCEEDED = ErrorKind(
    "country_quota_exceeded",
    429,
    "Too many codes were texted to this country today. Please try again later or sign in by email.",
    retries=True,
)
SMS_BUDGET_EXCEEDED = ErrorKind(
    "sms_budget_exceeded",
    429,
    "We cannot text more codes today. Please sign in by email or try again later.",
    retries=True,
)
# The limits of sending a code and of guessing one: a send or a verify may get any of them.
CODE_THROTTLES = (
    RESEND_COOLDOWN,
    SEND_QUOTA_EXCEEDED,
    IP_QUOTA_EXCEEDED,
    TOO_MANY_FAILURES,
    IP_FAILURE_QUOTA_EXCEEDED,
    PREFIX_QUOTA_EXCEEDED,
    COUNTRY_QUOTA_EXCEEDED,
    SMS_BUDGET_EXCEEDED,
)

# -- dependencies: 503 when an immediate retry may work, 502 when it will not ------------------------------

MAIL_UNAVAILABLE = ErrorKind(
    "mail_unavailable", 503, "We could not send the mail just now. Please try again.", retries=True
)
MAIL_REJECTED = ErrorKind("mail_rejected", 502, "The mail service refused to send the code. Please try again later.")
SMS_UNAVAILABLE = ErrorKind(
    "sms_unavailable", 503, "We could not text the code just now. Please try again.", retries=True
)
SMS_REJECTED = ErrorKind(
    "sms_rejected",
    502,
    "The text message service refused to send the code. Please try again later or sign in by email.",
)
STORAGE_UNAVAILABLE = ErrorKind(
    "storage_unavailable", 503, "The service is busy. Please try again in a moment.", retries=True
)
STORAGE_ERROR = ErrorKind("storage_error", 502, "The service could not complete the request. Please try again later.")
KEYS_UNAVAILABLE = ErrorKind(
    "keys_unavailable", 503, "The service is busy. Please try again in a moment.", retries=True
)
KEYS_ERROR = ErrorKind("keys_error", 502, "The service could not complete the request. Please try again later.")

# -- the service itself --------------------------------------------------------------------------------------

MISCONFIGURED = ErrorKind("misconfigured", 500, "The service is not configured correctly.")
INTERNAL_ERROR = ErrorKind("internal_error", 500, "Something went wrong on our side. Please try again.")


# -- two-step sign-in (chalicelib/mfa, chalicelib/http/mfa_routes.py) ------------------------------------------

MFA_REQUIRED = Success("mfa_required", 200, "Two-step verification is on: finish signing in with your second factor.")
TOTP_ENROLLMENT = Success(
    "totp_enrollment", 200, "Scan the QR code with your authenticator app, then confirm with a code from it."
)
MFA_ENABLED = Success(
    "mfa_enabled",
    200,
    "Two-step verification is on. Keep your recovery codes somewhere safe: they are shown only this once.",
)
REAUTHENTICATED = Success("reauthenticated", 200, "Thank you: you confirmed it is you.")
MFA_DISABLED = Success("mfa_disabled", 200, "Two-step verification is off. Your other sessions have ended.")
RECOVERY_CODES = Success("recovery_codes", 200, "Here are your new recovery codes; the earlier ones no longer work.")
TOO_MANY_SECOND_FACTOR_FAILURES = ErrorKind(
    "too_many_failures", 429, "Too many wrong codes for this account. Please try again later.", retries=True
)
MFA_PROOF_BODY = ErrorKind("invalid_body", 400, 'Send exactly one of "otp" and "recovery_code".')
INVALID_MFA_TOKEN = ErrorKind(
    "invalid_mfa_token", 401, "This sign-in has expired or was already completed. Please sign in again."
)
# RFC 9470 (OAuth 2.0 Step-Up Authentication Challenge): the token is fine, its authentication is not recent enough.
REAUTHENTICATION_REQUIRED = ErrorKind(
    "reauthentication_required",
    401,
    "Please confirm it is you with your authenticator app first.",
    headers=(("WWW-Authenticate", 'Bearer error="insufficient_user_authentication"'),),
)
# The same, for an account without a second factor: a fresh code re-proves it (POST /reauthenticate).
REAUTHENTICATION_BY_CODE_REQUIRED = ErrorKind(
    "reauthentication_required",
    401,
    "Please confirm it is you with a new code first.",
    headers=(("WWW-Authenticate", 'Bearer error="insufficient_user_authentication"'),),
)
# The same, for an account whose only second factor is a passkey: where two factors are asked (an app's acr_values),
# or where the stage requires two (OTP_MFA=required): a code proves one factor, the passkey two
# (POST /passkeys/reauthenticate).
REAUTHENTICATION_BY_PASSKEY_REQUIRED = ErrorKind(
    "reauthentication_required",
    401,
    "Please confirm it is you with your passkey first.",
    headers=(("WWW-Authenticate", 'Bearer error="insufficient_user_authentication"'),),
)
USE_SECOND_FACTOR = ErrorKind(
    "use_second_factor",
    403,
    "Your account has two-step verification: confirm it is you with your authenticator app or a recovery code instead.",
)
MFA_ENROLLMENT_REQUIRED = ErrorKind("mfa_enrollment_required", 403, "Set up two-step verification to use your account.")
MFA_DISABLED_HERE = ErrorKind("mfa_disabled_here", 403, "Two-step verification is not offered here.")
NO_PENDING_ENROLLMENT = ErrorKind(
    "no_pending_enrollment", 404, "There is no authenticator setup to confirm. Please start again."
)
MFA_NOT_ENABLED = ErrorKind("mfa_not_enabled", 404, "Two-step verification is not on for this account.")
MFA_ALREADY_ENABLED = ErrorKind(
    "mfa_already_enabled", 409, "Two-step verification is already on. Remove it before adding another authenticator."
)

# -- admins (chalicelib/admin, chalicelib/http/admin_routes.py) ------------------------------------------------

USER_FOUND = Success("user_found", 200, "One account matches.")
USER_LOCKED = Success("user_locked", 200, "The account is locked: its sessions have ended and it cannot sign in.")
USER_UNLOCKED = Success("user_unlocked", 200, "The account is unlocked; it signs in again with a new code.")
USER_SIGNED_OUT = Success("user_signed_out", 200, "Every session of the account has ended.")
USER_MFA_REMOVED = Success(
    "user_mfa_removed",
    200,
    "The account's second factors and recovery codes are removed and every session of it has ended.",
)
USER_PASSKEY_REMOVED = Success(
    "user_passkey_removed", 200, "The passkey is removed from the account and every session of it has ended."
)
USER_FAILURES_CLEARED = Success(
    "user_failures_cleared", 200, "The failure counts of the account's identifiers are cleared."
)
AUDIT_ENTRIES = Success("audit_entries", 200, "Admin actions, newest first.")
ADMIN_STATS = Success("admin_stats", 200, "Sign-in metrics per hour.")
INVALID_LOOKUP = ErrorKind("invalid_query", 400, 'Look an account up by exactly one of "email", "phone" or "id".')
INVALID_LIMIT = ErrorKind("invalid_query", 400, '"limit" must be a whole number from 1 to {most}.')
INVALID_BEFORE = ErrorKind("invalid_query", 400, '"before" must be the "next_before" of an earlier page.')
INVALID_HOURS = ErrorKind("invalid_query", 400, '"hours" must be a whole number from 1 to {most}.')
INVALID_USER_ID = ErrorKind(
    "invalid_user_id", 400, "An account id is a UUID such as 0b6e3c5a-8f0e-4a51-9d43-6f1f2d7c9e10."
)
REASON_REQUIRED = ErrorKind("reason_required", 400, 'Say why in "reason": 1 to {most} characters.')
ADMIN_REQUIRED = ErrorKind("admin_required", 403, "This is for the service's admins only.")
ADMIN_MFA_REQUIRED = ErrorKind(
    "admin_mfa_required", 403, "Admins sign in with two-step verification: sign in again with your authenticator app."
)
ACCOUNT_LOCKED = ErrorKind("account_locked", 403, "This account is locked. Please contact the service's support.")
USER_NOT_FOUND = ErrorKind("user_not_found", 404, "No account matches.")
CANNOT_LOCK_SELF = ErrorKind("cannot_lock_self", 409, "You cannot lock your own account: ask another admin.")
METRICS_UNAVAILABLE = ErrorKind(
    "metrics_unavailable", 503, "The metrics cannot be read just now. Please try again.", retries=True
)
METRICS_ERROR = ErrorKind("metrics_error", 502, "The metrics service refused the request.")

# -- the OpenID Connect provider's sign-in UI side (chalicelib/oauth): the token endpoint, userinfo, revocation and
# introspection answer RFC 6749's {"error", "error_description"} instead (chalicelib/http/oauth_routes.py) ------

LOGIN_REQUEST = Success("login_request", 200, "{client} asks you to sign in.")
LOGIN_ACCEPTED = Success("login_accepted", 200, "You are signed in to {client}.")
LOGIN_REJECTED = Success("login_rejected", 200, "{client} was told you did not sign in.")
CONSENT_REQUIRED = Success("consent_required", 403, "{client} asks for access to your account: allow it or not.")
CONSENTS = Success("consent_list", 200, "The applications you allowed to access your account.")
CONSENT_WITHDRAWN = Success("consent_revoked", 200, "{client} can no longer access your account.")
LOGIN_CHALLENGE_INVALID = ErrorKind(
    "login_challenge_invalid", 400, "This sign-in request has expired or was used. Go back to the app and start again."
)
INVALID_LOGIN_ERROR = ErrorKind("invalid_body", 400, '"error" must be "access_denied" or "login_required".')
NO_CONSENT = ErrorKind("consent_not_found", 404, "You have not allowed this application to access your account.")
INSUFFICIENT_SCOPE = ErrorKind(
    "insufficient_scope",
    403,
    "An application's token cannot do this: sign in to this service itself.",
    headers=(("WWW-Authenticate", 'Bearer error="insufficient_scope"'),),
)

# -- passkeys (chalicelib/passkeys): a sign-in with one answers as a right code does (VERIFIED, ACCOUNT_LOCKED) ----

PASSKEY_REGISTRATION_OPTIONS = Success(
    "passkey_options", 200, "Create a passkey for your account: confirm it on your device."
)
PASSKEY_SIGN_IN_OPTIONS = Success("passkey_options", 200, "Choose a passkey to sign in with.")
PASSKEY_REAUTHENTICATION_OPTIONS = Success("passkey_options", 200, "Confirm it is you with one of your passkeys.")
PASSKEY_SECOND_FACTOR_OPTIONS = Success("passkey_options", 200, "Finish signing in with one of your passkeys.")
PASSKEY_REGISTERED = Success("passkey_registered", 200, "Your passkey was added: you can sign in with it.")
PASSKEY_LIST = Success("passkey_list", 200, "The passkeys of your account.")
PASSKEY_RENAMED = Success("passkey_renamed", 200, "The passkey was renamed.")
PASSKEY_REMOVED = Success("passkey_removed", 200, "The passkey was removed: it no longer signs in.")
PASSKEY_BODY = ErrorKind(
    "invalid_body", 400, 'Send "ceremony" (from the options) and "credential" (the passkey\'s answer, as JSON).'
)
PASSKEY_NAME = ErrorKind("invalid_body", 400, '"name" must be 1 to {most} characters on one line.')
INVALID_PASSKEY = ErrorKind(
    "invalid_passkey", 401, "The passkey could not be verified, or this request has expired. Please try again."
)
PASSKEY_LIMIT = ErrorKind(
    "passkey_limit_reached", 409, "Your account has as many passkeys as it may: remove one first."
)
PASSKEY_NOT_FOUND = ErrorKind("passkey_not_found", 404, "The account has no such passkey.")
PASSKEYS_DISABLED_HERE = ErrorKind("passkeys_disabled_here", 403, "Passkeys are not offered here.")
PASSKEY_QUOTA_EXCEEDED = ErrorKind(
    "passkey_quota_exceeded",
    429,
    "Too many passkey sign-ins were started from your network. Please try again later.",
    retries=True,
)

# -- refusals: the answer to each refusal of the core (chalicelib/core/refusals.py), by its reason --------------

REFUSALS: dict[str, ErrorKind] = {
    **{kind.code: kind for kind in CODE_THROTTLES},  # a limit of codes refuses with its answer's code as reason
    "too_many_second_factor_failures": TOO_MANY_SECOND_FACTOR_FAILURES,  # the same code, for the account
    "invalid_email": INVALID_EMAIL,
    "invalid_phone": INVALID_PHONE,
    "phone_not_supported": PHONE_NOT_SUPPORTED,
    "invalid_otp": INVALID_OTP,
    "invalid_code": INVALID_CODE,
    "account_locked": ACCOUNT_LOCKED,
    "invalid_token": INVALID_TOKEN,
    "invalid_mfa_token": INVALID_MFA_TOKEN,
    "no_pending_enrollment": NO_PENDING_ENROLLMENT,
    "mfa_already_enabled": MFA_ALREADY_ENABLED,
    "mfa_not_enabled": MFA_NOT_ENABLED,
    "mfa_enrollment_required": MFA_ENROLLMENT_REQUIRED,
    "reauthentication_required": REAUTHENTICATION_REQUIRED,
    "reauthentication_by_code_required": REAUTHENTICATION_BY_CODE_REQUIRED,
    "reauthentication_by_passkey_required": REAUTHENTICATION_BY_PASSKEY_REQUIRED,
    "admin_required": ADMIN_REQUIRED,
    "admin_mfa_required": ADMIN_MFA_REQUIRED,
    "user_not_found": USER_NOT_FOUND,
    "cannot_lock_self": CANNOT_LOCK_SELF,
    "insufficient_scope": INSUFFICIENT_SCOPE,
    "login_challenge_invalid": LOGIN_CHALLENGE_INVALID,
    "invalid_passkey": INVALID_PASSKEY,
    "passkey_limit_reached": PASSKEY_LIMIT,
    "passkey_not_found": PASSKEY_NOT_FOUND,
    "passkey_quota_exceeded": PASSKEY_QUOTA_EXCEEDED,
}
# The answers of the rate limits, counted as the metric "Refused" by code (chalicelib/http/metrics.py).
THROTTLE_CODES = frozenset(
    kind.code for kind in (*CODE_THROTTLES, TOO_MANY_SECOND_FACTOR_FAILURES, PASSKEY_QUOTA_EXCEEDED)
)


CATALOGUE: dict[str, Answer] = {name: value for name, value in globals().items() if isinstance(value, Answer)}
