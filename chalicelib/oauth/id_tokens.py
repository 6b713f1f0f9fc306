"""ID tokens (OpenID Connect Core 2 and 3.1.3.6): what a client learns of the sign-in, signed in KMS.

Signed with the client's ``id_token_signed_response_alg`` (RS256 unless it asks for ES256). ``at_hash`` binds the
access token issued beside it; ``acr`` names the level of the sign-in (AAL2 once a second factor was proven),
``amr`` how (RFC 8176), ``sid`` the session the client holds (what RP-initiated logout ends).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any, NamedTuple

from chalicelib.accounts.identifiers import EMAIL, PHONE
from chalicelib.accounts.store import Account, SessionView
from chalicelib.accounts.tokens import KmsKeys
from chalicelib.core.assurance import aal
from chalicelib.oauth.requests import AAL1, AAL2

# Every claim an ID token or the userinfo endpoint may carry (discovery's claims_supported).
CLAIMS_SUPPORTED = (
    "iss",
    "sub",
    "aud",
    "azp",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "sid",
    "at_hash",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
)
ID_TOKEN_TYPE = "JWT"  # OpenID Connect Core names no type of its own; "at+jwt" marks the access tokens instead


class Hint(NamedTuple):
    """What a verified ``id_token_hint`` says: who the token was for, of whom, and which session."""

    client_id: str
    subject: str
    session_id: str


def claims_of(account: Account, scopes: tuple[str, ...]) -> dict[str, Any]:
    """The claims of the person a client's ``scopes`` let it have (OpenID Connect Core 5.4); ``sub`` always."""
    claims: dict[str, Any] = {"sub": account.id}
    if "email" in scopes and EMAIL in account.identifiers:
        claims.update(email=account.identifiers[EMAIL], email_verified=True)  # proven with a code, as every one
    if "phone" in scopes and PHONE in account.identifiers:
        claims.update(phone_number=account.identifiers[PHONE], phone_number_verified=True)
    return claims


def acr(session: SessionView) -> str:
    return AAL2 if aal(session.amr) >= 2 else AAL1


def half_hash(token: str) -> str:
    """``at_hash``: the left half of the token's SHA-256 (the hash of RS256 and ES256), in BASE64URL."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()


def issue(
    signer: KmsKeys,
    issuer: str,
    client_id: str,
    account: Account,
    session_id: str,
    session: SessionView,
    nonce: str,
    access_token: str,
    now: int,
    lifetime: int,
) -> str:
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": client_id,
        "azp": client_id,
        "exp": now + lifetime,
        "iat": now,
        "auth_time": session.auth_time,
        "acr": acr(session),
        "amr": list(session.amr),
        "sid": session_id,
        "at_hash": half_hash(access_token),
        **claims_of(account, tuple(session.scope.split())),
    }
    if nonce:
        claims["nonce"] = nonce
    return signer.sign_jwt(claims, ID_TOKEN_TYPE)


def verify_hint(token: str, signers: Mapping[str, KmsKeys], issuer: str) -> Hint | None:
    """The hint of an ID token this service issued (its signature and issuer checked; an expired one still names
    its session, as OpenID Connect RP-Initiated Logout 1.0 allows), or None."""
    import jwt

    try:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        signer = signers.get(algorithm) if isinstance(algorithm, str) else None
        key = None if signer is None else signer.verification_keys.get(str(header.get("kid")))
        if signer is None or key is None:
            return None
        claims = jwt.decode(
            token,
            key.public_key,
            algorithms=[signer.algorithm],
            issuer=issuer,
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False, "require": ["aud", "sub", "sid"]},
        )
    except jwt.PyJWTError:
        return None
    if not all(isinstance(claims[name], str) for name in ("aud", "sub", "sid")):
        return None
    return Hint(claims["aud"], claims["sub"], claims["sid"])
