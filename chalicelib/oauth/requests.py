"""An authorization request (RFC 6749 4.1.1, OpenID Connect Core 3.1.2.1), checked in the order the standards say.

First the client and its redirect URI: while either is wrong, nothing may be sent to that URI (RFC 6749 4.1.2.1:
an open redirector otherwise), so the error is shown to the person (:class:`PageError`). Once both are right,
every other error goes back to the client at that URI (:class:`RedirectError`), with its ``state`` and this
issuer (RFC 9207).

The OAuth 2.1 rules hold for every client: ``response_type=code`` only, PKCE with S256 only (``plain`` and a missing
challenge are refused), and each parameter at most once. ``state`` is required: a client that sends none has no
defence against a forged response (RFC 6749 10.12), and every maintained client sends one.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple
from urllib.parse import urlencode, urlsplit, urlunsplit

from chalicelib.oauth.clients import Client, Clients

S256 = "S256"
PROMPTS = ("none", "login", "consent", "select_account")
# What acr_values may ask for (login.gov's names for NIST SP 800-63B's levels): AAL2 asks for two factors.
AAL1, AAL2 = "http://idmanagement.gov/ns/assurance/aal/1", "http://idmanagement.gov/ns/assurance/aal/2"
ACR_VALUES = (AAL1, AAL2)
MAX_STATE_CHARS = 512  # bounds the login challenge's item (docs/item-layout.md)
MAX_NONCE_CHARS = 255  # carried in the session entry until the code is redeemed: bounds the home item
MAX_HINT_CHARS = 254  # an address's longest
_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")  # BASE64URL(SHA256(verifier)): 32 bytes, no padding
_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 4.1
_SINGLE = (
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "acr_values",
    "response_mode",
)


class PageError(Exception):
    """An authorization request that cannot be answered at its redirect URI: shown to the person instead."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class RedirectError(Exception):
    """An authorization request refused at its (valid) redirect URI: RFC 6749 4.1.2.1's error answer."""

    def __init__(self, redirect_uri: str, error: str, description: str, state: str | None) -> None:
        super().__init__(description)
        self.redirect_uri = redirect_uri
        self.error = error
        self.description = description
        self.state = state


class AuthorizationRequest(NamedTuple):
    client: Client
    redirect_uri: str
    scopes: tuple[str, ...]  # what the client may have of what it asked for
    state: str
    code_challenge: str
    nonce: str = ""
    prompt: tuple[str, ...] = ()
    max_age: int | None = None
    login_hint: str = ""
    two_factors: bool = False  # acr_values asked for AAL2


def parse(query: Mapping[str, Sequence[str]], clients: Clients) -> AuthorizationRequest:
    """The request of the query ``query`` (each parameter's values); :class:`PageError` or :class:`RedirectError`."""
    repeated = [name for name in _SINGLE if len(query.get(name, ())) > 1]

    def one(name: str) -> str:
        values = query.get(name, ())
        return values[0] if values else ""

    client = clients.get(one("client_id"))
    if client is None or "client_id" in repeated:
        raise PageError("invalid_request", "The application that sent you here is not known to this service.")
    redirect_uri = one("redirect_uri")
    if "redirect_uri" in repeated or not redirect_uri or not client.redirects_to(redirect_uri):
        raise PageError("invalid_request", "The application sent you here with a return address it did not register.")
    state = one("state") if "state" not in repeated else ""

    def refuse(error: str, description: str) -> RedirectError:
        return RedirectError(redirect_uri, error, description, state or None)

    if repeated:
        raise refuse("invalid_request", f"{repeated[0]} must be given at most once")
    if "request" in query:
        raise refuse("request_not_supported", "request objects are not supported")
    if "request_uri" in query:
        raise refuse("request_uri_not_supported", "request_uri is not supported")
    if one("response_type") != "code":
        raise refuse("unsupported_response_type", "response_type must be code")
    if one("response_mode") not in ("", "query"):
        raise refuse("invalid_request", "response_mode must be query")
    if not state:
        raise refuse("invalid_request", "state is required")
    if len(state) > MAX_STATE_CHARS:
        raise refuse("invalid_request", f"state must be at most {MAX_STATE_CHARS} characters")
    requested = one("scope").split()
    if "openid" not in requested:
        raise refuse("invalid_scope", "scope must include openid")
    if one("code_challenge_method") != S256:
        raise refuse("invalid_request", "PKCE is required: code_challenge_method must be S256")
    if not _CHALLENGE.fullmatch(one("code_challenge")):
        raise refuse("invalid_request", "code_challenge must be the 43-character BASE64URL of a SHA-256 digest")
    nonce = one("nonce")
    if len(nonce) > MAX_NONCE_CHARS:
        raise refuse("invalid_request", f"nonce must be at most {MAX_NONCE_CHARS} characters")
    prompt = tuple(one("prompt").split())
    if not set(prompt) <= set(PROMPTS) or ("none" in prompt and len(prompt) > 1):
        raise refuse("invalid_request", "prompt must be none alone, or any of login, consent and select_account")
    max_age = None
    if one("max_age"):
        if not one("max_age").isdigit() or len(one("max_age")) > 9:
            raise refuse("invalid_request", "max_age must be a whole number of seconds")
        max_age = int(one("max_age"))
    hint = one("login_hint")
    if len(hint) > MAX_HINT_CHARS:
        raise refuse("invalid_request", f"login_hint must be at most {MAX_HINT_CHARS} characters")
    return AuthorizationRequest(
        client,
        redirect_uri,
        client.granted(requested),
        state,
        one("code_challenge"),
        nonce,
        prompt,
        max_age,
        hint,
        AAL2 in one("acr_values").split(),
    )


def challenge_of(verifier: object) -> str | None:
    """RFC 7636 4.6: the S256 challenge of a well-formed ``code_verifier`` (BASE64URL(SHA256(verifier))), else None.
    The comparison with the stored challenge is a condition of the redeeming write."""
    if not isinstance(verifier, str) or not _VERIFIER.fullmatch(verifier):
        return None
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def with_parameters(uri: str, parameters: Mapping[str, str | None]) -> str:
    """``uri`` with ``parameters`` (those not None) added to its query, keeping the query it already has (RFC 6749
    3.1.2: a registered redirect URI may carry one)."""
    parts = urlsplit(uri)
    added = urlencode({name: value for name, value in parameters.items() if value is not None})
    query = f"{parts.query}&{added}" if parts.query else added
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
