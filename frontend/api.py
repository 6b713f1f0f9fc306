"""A tiny client for the sign-in API: ``POST /otp`` (by email or phone), the session routes (``/token/refresh``,
``/token/revoke``, ``/signout``, ``GET /me``), a phone on the account (``/me/phone``), confirming it is you before
such a change (``/reauthenticate``), two-step verification (``/mfa/...``), and the UI's part of the OpenID Connect
provider: the login requests apps send people here with (``/oauth2/login``) and the apps a person let in
(``/me/consents``), and passkeys (``/passkeys/...``, ``/me/passkeys``): their WebAuthn options and credentials pass
through as the JSON objects they are.

Contract: every call returns an :class:`ApiResult` and never raises for HTTP errors, unreachable servers or
malformed answers, so the UI has exactly one shape to render. The API's own ``message`` is passed through
untouched whenever the API sent one, because it is written for the person signing in.

Tokens are parameters, never state of the client: the caller holds them (server-side, :mod:`frontend.state`) and
decides when to renew them. Nothing here logs or formats a token. An answer that proves more about the person
(``mfa_enabled``, ``reauthenticated``) carries new tokens and the API refuses the earlier ones from then on: the
caller must replace both, and never present the old ones again (an old refresh token counts as reuse and ends
the session).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

import requests

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT_SECONDS = 10.0

# Codes the client itself produces; the API never uses them, so the UI can tell them apart from API answers.
UNREACHABLE = "api_unreachable"
BAD_RESPONSE = "bad_response"
# For a 2xx answer that lacks what it promised (tokens, an address), so it cannot be used.
UNEXPECTED_ANSWER = "The sign-in service sent an unexpected answer. Please try again."

Channel = Literal["email", "phone"]  # how a sign-in code travels; also the body field that names the identifier
SecondFactor = Literal["otp", "recovery_code"]  # the body field a second-factor code travels in
# Why the UI turns an app's login request down: the person said no, or (prompt=none) nobody is signed in here.
LoginError = Literal["access_denied", "login_required"]
Method = Literal["GET", "POST", "PATCH", "DELETE"]


@dataclass(frozen=True)
class ApiResult:
    """The outcome of one API call.

    ``status`` is the HTTP status, or ``None`` when no HTTP answer arrived at all (``code`` is then
    :data:`UNREACHABLE`). ``code``/``message`` are the API's machine code and human text (or the client's own
    when the API sent none). ``retry_after`` is whole seconds for 429 answers, else ``None``. ``data`` is the
    full JSON object of the answer (empty when there was none), so callers can read fields such as
    ``resend_after`` and newer fields this client does not know about. It may hold tokens, so it is left out
    of ``repr``.
    """

    status: int | None
    code: str
    message: str
    retry_after: int | None = None
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """True for a 2xx answer."""
        return self.status is not None and 200 <= self.status < 300

    @property
    def unreachable(self) -> bool:
        """True when the API could not be reached (refused, DNS failure, timeout...)."""
        return self.status is None


def resolve_base_url(environ: Mapping[str, str], secrets: Mapping[str, Any] | None) -> str:
    """The API base URL: ``OTP_API_URL`` from ``environ``, else ``secrets["api_url"]``, else the default.

    A trailing slash is dropped so paths can be appended uniformly. Empty values count as unset.
    """
    for candidate in (environ.get("OTP_API_URL"), (secrets or {}).get("api_url")):
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip().rstrip("/")
    return DEFAULT_BASE_URL


class OtpClient:
    """Calls the sign-in API. Holds no state besides where the API is and how long to wait for it."""

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def send_otp(self, address: str, channel: Channel = "email") -> ApiResult:
        """Ask the API to send a code to ``address`` (an email address, or with ``channel="phone"`` a number in
        international format). Success carries ``resend_after``, ``expires_in`` and, for a phone, ``to``: the
        number as the API understood it, in international format."""
        return self._post("/otp", {"action": "send_otp", channel: address})

    def verify_otp(self, address: str, otp: str, channel: Channel = "email") -> ApiResult:
        """Check ``otp`` for ``address``. Success is either ``verified``, which opens a session (``user_id``,
        ``access_token``, ``expires_in``, ``refresh_token``, ``refresh_expires_in`` and the account's ``email``
        and/or ``phone``), or, for an account with a second factor, ``mfa_required`` (``mfa_token``,
        ``factors``, ``expires_in``): then :meth:`verify_mfa` finishes the sign-in."""
        return self._post("/otp", {"action": "verify_otp", channel: address, "otp": otp})

    def verify_mfa(self, mfa_token: str, code: str, kind: SecondFactor = "otp") -> ApiResult:
        """Finish a sign-in with the second factor: an authenticator code, or with ``kind="recovery_code"`` a
        recovery code. Success is ``verified`` with the session and ``recovery_codes_left``; 401 ``invalid_code``
        (try again), 401 ``invalid_mfa_token`` (the first step must be repeated), 429 ``too_many_failures``."""
        return self._post("/mfa/verify", {"mfa_token": mfa_token, kind: code})

    def refresh(self, refresh_token: str) -> ApiResult:
        """Renew a session. Success carries the same token fields as ``verify_otp``; the refresh token sent is
        used up, so the new one must replace it. 401 ``invalid_token`` means the session has ended."""
        return self._post("/token/refresh", {"refresh_token": refresh_token})

    def revoke(self, refresh_token: str) -> ApiResult:
        """End the session of ``refresh_token`` (200 ``revoked``, also for tokens the API does not know)."""
        return self._post("/token/revoke", {"refresh_token": refresh_token})

    def sign_out(self, access_token: str, everywhere: bool = False) -> ApiResult:
        """End this session, or with ``everywhere`` every session of the address. 401 for a bad token."""
        return self._post("/signout", {"everywhere": everywhere}, access_token=access_token)

    def me(self, access_token: str) -> ApiResult:
        """Who is signed in: ``email`` and/or ``phone``, ``session`` and (newer APIs) the account's ``user_id``,
        ``identifiers``, ``created_at``, ``last_sign_in_at`` and ``mfa``; times in epoch seconds. 401 for a
        bad/expired/revoked token; 403 ``mfa_enrollment_required`` for a session that may only enroll."""
        return self._send("GET", "/me", None, access_token)

    def add_phone(self, access_token: str, phone: str) -> ApiResult:
        """Send a code to ``phone`` to link it to the account: 200 ``code_sent`` (with ``to``, as for sign-in).

        Like :meth:`link_phone` and :meth:`remove_phone` it needs a recent proof: 401 ``reauthentication_required``
        once the last one is older than the stage's step-up window (then :meth:`send_reauthentication_code` and
        :meth:`reauthenticate_by_code`, or for an account with an authenticator app :meth:`reauthenticate`)."""
        return self._post("/me/phone", {"phone": phone}, access_token)

    def link_phone(self, access_token: str, phone: str, otp: str) -> ApiResult:
        """Link ``phone`` with the code sent to it: 200 ``phone_linked``; 409 ``phone_already_linked`` or
        ``account_has_phone``; 401 ``reauthentication_required`` as :meth:`add_phone`."""
        return self._post("/me/phone/verify", {"phone": phone, "otp": otp}, access_token)

    def remove_phone(self, access_token: str) -> ApiResult:
        """Unlink the account's phone: 200 ``phone_removed``; 404 ``phone_not_linked``, 409 ``phone_is_primary``;
        401 ``reauthentication_required`` as :meth:`add_phone`."""
        return self._send("DELETE", "/me/phone", None, access_token)

    def send_reauthentication_code(self, access_token: str, via: Channel | None = None) -> ApiResult:
        """Send a code that confirms it is the person before an account change, to the account's own address or
        number (``via``; by default the address, else the number): 200 ``code_sent`` with ``to``, ``expires_in``
        and ``resend_after``; 403 ``use_second_factor`` for an account with an authenticator app (it proves with
        :meth:`reauthenticate` instead), 400 ``invalid_body`` when ``via`` names nothing the account has, and the
        429s and 502/503 of :meth:`send_otp`."""
        return self._post("/reauthenticate", {"via": via} if via else {}, access_token)

    def reauthenticate_by_code(self, access_token: str, otp: str, via: Channel | None = None) -> ApiResult:
        """Prove the code :meth:`send_reauthentication_code` sent (with the same ``via``): 200 ``reauthenticated``
        with a new session (``access_token``, ``refresh_token``, ``expires_in``, ``refresh_expires_in``...) whose
        proof is now; the earlier tokens are refused from then on. 401 ``invalid_code``, 400 ``invalid_otp``, 403
        ``use_second_factor``, the 429s of :meth:`verify_otp`."""
        body: dict[str, str] = {"otp": otp, "via": via} if via else {"otp": otp}
        return self._post("/reauthenticate", body, access_token)

    def start_totp(self, access_token: str) -> ApiResult:
        """Begin enrolling an authenticator app: 200 ``totp_enrollment`` with ``secret``, ``otpauth_uri`` and
        ``qr_svg``; nothing is active until :meth:`confirm_totp`. 409 ``mfa_already_enabled``."""
        return self._post("/mfa/totp", {}, access_token)

    def confirm_totp(self, access_token: str, otp: str) -> ApiResult:
        """Activate the pending authenticator with a code from it: 200 ``mfa_enabled`` with ``recovery_codes``
        and a new session (tokens at the higher assurance level; the earlier ones are refused from then on); 401
        ``invalid_code``, 404 ``no_pending_enrollment``."""
        return self._post("/mfa/totp/confirm", {"otp": otp}, access_token)

    def reauthenticate(self, access_token: str, code: str, kind: SecondFactor = "otp") -> ApiResult:
        """Prove the second factor again for a sensitive action or an account change: 200 ``reauthenticated``
        with a new session (the earlier tokens are refused from then on); 401 ``invalid_code``, 404
        ``mfa_not_enabled``, 429 ``too_many_failures``."""
        return self._post("/mfa/reauthenticate", {kind: code}, access_token)

    def remove_totp(self, access_token: str) -> ApiResult:
        """Remove the authenticator (step-up: 401 ``reauthentication_required`` unless recently proven):
        200 ``mfa_disabled``, which ends every other session; 404 ``mfa_not_enabled``."""
        return self._send("DELETE", "/mfa/totp", None, access_token)

    def new_recovery_codes(self, access_token: str) -> ApiResult:
        """Replace the recovery codes (step-up, as :meth:`remove_totp`): 200 ``recovery_codes``."""
        return self._post("/mfa/recovery-codes", {}, access_token)

    def login_request(self, challenge: str) -> ApiResult:
        """What an app's login request asks for (no token: the page reads it before anyone signs in): 200
        ``login_request`` with ``client`` (``client_id``, ``client_name``, ``first_party``), ``scopes``, ``prompt``,
        ``login_hint`` and ``expires_at``; 400 ``login_challenge_invalid`` once it is unknown, used or expired."""
        return self._send("GET", f"/oauth2/login?{urlencode({'login_challenge': challenge})}", None, None)

    def accept_login(self, access_token: str, challenge: str, consent: bool = False) -> ApiResult:
        """Let the app of ``challenge`` in as the person of this session; ``consent`` says the person agreed to
        the scopes it asks for. 200 ``login_accepted`` with ``redirect_to`` (the app's redirect URI, to go to);
        403 ``consent_required`` (``client``, ``scopes``: ask, then call again with ``consent``); 401
        ``reauthentication_required`` (a fresh proof first, as for an account change); 403
        ``mfa_enrollment_required``; 400 ``login_challenge_invalid``."""
        body: dict[str, Any] = {"login_challenge": challenge}
        if consent:
            body["consent"] = True
        return self._post("/oauth2/login", body, access_token)

    def reject_login(self, challenge: str, error: LoginError = "access_denied") -> ApiResult:
        """Turn the login request down: 200 ``login_rejected`` with ``redirect_to``, which takes the person back
        to the app with ``error``; 400 ``login_challenge_invalid``."""
        return self._post("/oauth2/login/reject", {"login_challenge": challenge, "error": error})

    def consents(self, access_token: str) -> ApiResult:
        """The apps the person let in: 200 ``consents`` with ``consents``, each ``client_id``, ``client_name``,
        ``scopes`` and ``granted_at`` (epoch seconds)."""
        return self._send("GET", "/me/consents", None, access_token)

    def revoke_consent(self, access_token: str, client_id: str) -> ApiResult:
        """Take an app's access away: 200 ``consent_revoked``; the API also ends that app's sessions of the
        account."""
        return self._send("DELETE", f"/me/consents/{quote(client_id, safe='')}", None, access_token)

    def passkey_signin_options(self) -> ApiResult:
        """Begin a usernameless passkey sign-in: 200 ``passkey_options`` with ``options`` (WebAuthn Level 3 JSON
        request options) and ``ceremony``; 429 ``passkey_quota_exceeded``; 403 ``passkeys_disabled_here``."""
        return self._post("/passkeys/signin/options", {})

    def passkey_signin(self, ceremony: str, credential: Mapping[str, Any]) -> ApiResult:
        """Sign in with the credential a browser gave for ``ceremony``: the answers of a right code (200
        ``verified`` with a session at aal 2, 403 ``account_locked``, ...); 401 ``invalid_passkey``."""
        return self._post("/passkeys/signin", {"ceremony": ceremony, "credential": credential})

    def passkey_verify_options(self, mfa_token: str) -> ApiResult:
        """Begin finishing a sign-in with a passkey as its second factor: 200 ``passkey_options`` with request
        ``options`` offering the account's passkeys and ``ceremony`` (bound to the mfa_token's sign-in); 401
        ``invalid_mfa_token`` (the first step must be repeated); 404 ``passkey_not_found``."""
        return self._post("/passkeys/verify/options", {"mfa_token": mfa_token})

    def passkey_verify(self, mfa_token: str, ceremony: str, credential: Mapping[str, Any]) -> ApiResult:
        """Finish the sign-in with the credential a browser gave for ``ceremony``: the answers of
        :meth:`verify_mfa` (200 ``verified``, 401 ``invalid_mfa_token``, ...); 401 ``invalid_passkey``."""
        return self._post("/passkeys/verify", {"mfa_token": mfa_token, "ceremony": ceremony, "credential": credential})

    def passkey_register_options(self, access_token: str) -> ApiResult:
        """Begin registering a passkey (needs a recent proof: 401 ``reauthentication_required``): 200
        ``passkey_options`` with creation ``options`` and ``ceremony``; 409 ``passkey_limit_reached``."""
        return self._post("/passkeys/register/options", {}, access_token)

    def passkey_register(self, access_token: str, ceremony: str, credential: Mapping[str, Any], name: str) -> ApiResult:
        """Register the credential a browser created for ``ceremony`` under ``name``: 200 ``passkey_registered``
        with ``passkey``; 401 ``invalid_passkey``; 400 ``invalid_body`` for a name the API refuses."""
        body = {"ceremony": ceremony, "credential": credential, "name": name}
        return self._post("/passkeys/register", body, access_token)

    def passkey_reauthenticate_options(self, access_token: str) -> ApiResult:
        """Begin confirming it is you with a passkey: 200 ``passkey_options`` with request ``options`` offering the
        account's passkeys and ``ceremony`` (bound to this session); 404 ``passkey_not_found`` for an account
        with none."""
        return self._post("/passkeys/reauthenticate/options", {}, access_token)

    def passkey_reauthenticate(self, access_token: str, ceremony: str, credential: Mapping[str, Any]) -> ApiResult:
        """Confirm it is you with the credential a browser gave for ``ceremony``: 200 ``reauthenticated`` with a
        new session, as :meth:`reauthenticate` (the earlier tokens are refused from then on); 401
        ``invalid_passkey``."""
        return self._post("/passkeys/reauthenticate", {"ceremony": ceremony, "credential": credential}, access_token)

    def passkeys(self, access_token: str) -> ApiResult:
        """The account's passkeys: 200 ``passkey_list`` with ``passkeys`` (each ``id``, ``name``, ``created_at``,
        ``last_used_at``, ``synced``, ``backed_up``, ``aaguid``) and ``most``."""
        return self._send("GET", "/me/passkeys", None, access_token)

    def rename_passkey(self, access_token: str, passkey_id: str, name: str) -> ApiResult:
        """200 ``passkey_renamed``; 404 ``passkey_not_found``; 400 ``invalid_body`` for a name the API refuses."""
        return self._send("PATCH", f"/me/passkeys/{quote(passkey_id, safe='')}", {"name": name}, access_token)

    def remove_passkey(self, access_token: str, passkey_id: str) -> ApiResult:
        """Remove a passkey (step-up: 401 ``reauthentication_required`` unless recently proven): 200
        ``passkey_removed``; 404 ``passkey_not_found``."""
        return self._send("DELETE", f"/me/passkeys/{quote(passkey_id, safe='')}", None, access_token)

    def _post(self, path: str, payload: Mapping[str, Any], access_token: str | None = None) -> ApiResult:
        return self._send("POST", path, payload, access_token)

    def _send(
        self, method: Method, path: str, payload: Mapping[str, Any] | None, access_token: str | None
    ) -> ApiResult:
        url = f"{self.base_url}{path}"
        headers = {"Authorization": f"Bearer {access_token}"} if access_token is not None else None
        try:
            if method == "GET":
                response = requests.get(url, headers=headers, timeout=self.timeout)
            elif method == "DELETE":
                response = requests.delete(url, headers=headers, timeout=self.timeout)
            elif method == "PATCH":
                response = requests.patch(url, json=payload, headers=headers, timeout=self.timeout)
            else:
                response = requests.post(url, json=payload, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            return ApiResult(None, UNREACHABLE, "The sign-in service did not answer in time. Please try again.")
        except requests.RequestException:
            # Connection refused, DNS failure, TLS error...: the person can only retry later.
            return ApiResult(None, UNREACHABLE, "The sign-in service cannot be reached right now. Please try again.")
        return _to_result(response)


def _to_result(response: requests.Response) -> ApiResult:
    """Map any HTTP answer to an ApiResult; a non-JSON or non-object body becomes :data:`BAD_RESPONSE`."""
    try:
        body = response.json()
    except ValueError:  # requests' JSONDecodeError subclasses ValueError
        body = None
    if not isinstance(body, dict):
        # E.g. an HTML error page from a proxy or gateway in front of the API.
        return ApiResult(
            response.status_code,
            BAD_RESPONSE,
            f"The sign-in service sent an unexpected answer (HTTP {response.status_code}). Please try again.",
        )

    code = body.get("code")
    message = body.get("message")
    if not isinstance(code, str) or not code:
        code = "ok" if response.ok else "http_error"
    if not isinstance(message, str) or not message:
        message = "Done." if response.ok else f"The request failed (HTTP {response.status_code})."

    retry_after = None
    if response.status_code == 429:
        # The body field is the documented contract; the header is the standard fallback.
        retry_after = parse_seconds(body.get("retry_after"))
        if retry_after is None:
            retry_after = parse_seconds(response.headers.get("Retry-After"))
    return ApiResult(response.status_code, code, message, retry_after, body)


def parse_seconds(value: object) -> int | None:
    """A non-negative whole number of seconds (rounded up) from a number or a digit string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(math.ceil(value), 0) if math.isfinite(value) else None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def client_from_env(secrets: Mapping[str, Any] | None = None) -> OtpClient:
    """A client for the API configured in the process environment (and optional secrets)."""
    return OtpClient(resolve_base_url(os.environ, secrets))
