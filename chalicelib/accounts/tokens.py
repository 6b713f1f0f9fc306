"""Access tokens: JWTs signed inside AWS KMS (ES256, or RS256 where the stage asks), verified against the published
key set.

The private key never leaves KMS: a token's signing input goes to ``kms:Sign`` and comes back as a signature (DER
for ES256, re-encoded here as JWS wants it; raw for RS256). Verification uses the public keys of the current and
any previous signing keys (fetched once per container), so a key rotation leaves issued tokens valid until they
expire.
Issuing a token and publishing the keys read KMS's answers with :mod:`chalicelib.accounts.der`; only verifying
a token loads PyJWT and cryptography.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from chalicelib.accounts.der import p256_public_point, p256_signature, rsa2048_public_numbers
from chalicelib.aws.dependencies import DependencyError, guarded

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

ALGORITHM = "ES256"  # the default: P-256 signatures are short and cheap to make
RS256 = "RS256"  # what OpenID Connect requires of ID tokens, and all an API Gateway HTTP API JWT authorizer takes
ALGORITHMS = (ALGORITHM, RS256)
# RFC 9068: an access token says what it is in its header, so that it is never taken for an ID token.
ACCESS_TOKEN_TYPE = "at+jwt"
REQUIRED_CLAIMS = ("iss", "aud", "sub", "sid", "iat", "nbf", "exp", "jti")
# Every claim an access token may carry: ``sub`` is the account id; ``email`` the address it holds (OIDC names);
# ``amr`` (RFC 8176), ``auth_time`` and ``aal`` (1, or 2 after a second factor) describe the sign-in; ``gen`` is
# the generation of the session's tokens (chalicelib/accounts/sessions.py): an upgrade ends the earlier ones.
CLAIMS_SUPPORTED = (
    *REQUIRED_CLAIMS,
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "amr",
    "auth_time",
    "aal",
    "gen",
    "client_id",  # RFC 9068: the client the token was issued to
    "scope",  # RFC 9068: what the client was granted (tokens of an OpenID Connect client)
)


class InvalidToken(Exception):
    """Bad signature, unknown key, wrong algorithm, issuer or audience, expired, not yet valid or malformed."""


class Claims(NamedTuple):
    subject: str
    session_id: str
    issued_at: int
    expires_at: int
    aal: int = 1  # what the token itself says of its sign-in: a token never counts for more than its claims
    auth_time: int = 0  # absent: never a recent proof
    generation: int = 0  # absent: a token issued before generations were counted, valid until the first upgrade
    client_id: str = ""  # RFC 9068's client_id: the client it was issued to


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_int(value: int) -> str:
    return b64url(value.to_bytes(32, "big"))


@dataclass(frozen=True)
class VerificationKey:
    """A published P-256 key: its RFC 7638 thumbprint ``kid`` and its point ``(x, y)``."""

    kid: str
    x: int
    y: int

    @classmethod
    def from_der(cls, der: bytes) -> VerificationKey:
        """The key of a DER SubjectPublicKeyInfo, as ``kms:GetPublicKey`` answers; ``ValueError`` unless P-256."""
        try:
            x, y = p256_public_point(der)
        except ValueError as error:
            raise ValueError("signing keys must be ECC_NIST_P256") from error
        # RFC 7638 thumbprint: the kid names the key itself, not the KMS key that holds it.
        canonical = json.dumps(
            {"crv": "P-256", "kty": "EC", "x": _b64url_int(x), "y": _b64url_int(y)},
            separators=(",", ":"),
            sort_keys=True,
        )
        return cls(b64url(hashlib.sha256(canonical.encode()).digest()), x, y)

    @functools.cached_property
    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The key as cryptography holds it, built on first use: only verifying a token needs it."""
        from cryptography.hazmat.primitives.asymmetric import ec

        return ec.EllipticCurvePublicNumbers(self.x, self.y, ec.SECP256R1()).public_key()

    def jwk(self) -> dict[str, str]:
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64url_int(self.x),
            "y": _b64url_int(self.y),
            "kid": self.kid,
            "use": "sig",
            "alg": ALGORITHM,
        }


@dataclass(frozen=True)
class RsaVerificationKey:
    """A published RSA key: its RFC 7638 thumbprint ``kid``, modulus ``n`` and exponent ``e``."""

    kid: str
    n: int
    e: int

    @classmethod
    def from_der(cls, der: bytes) -> RsaVerificationKey:
        """The key of a DER SubjectPublicKeyInfo; ``ValueError`` unless an RSA key of 2048 bits or more."""
        try:
            n, e = rsa2048_public_numbers(der)  # KMS's RSA_2048: read without cryptography's key loading
        except ValueError:
            n, e = _rsa_numbers(der)  # a larger key
        canonical = json.dumps(
            {"e": _b64url_uint(e), "kty": "RSA", "n": _b64url_uint(n)}, separators=(",", ":"), sort_keys=True
        )
        return cls(b64url(hashlib.sha256(canonical.encode()).digest()), n, e)

    @functools.cached_property
    def public_key(self) -> rsa.RSAPublicKey:
        from cryptography.hazmat.primitives.asymmetric import rsa

        return rsa.RSAPublicNumbers(self.e, self.n).public_key()

    def jwk(self) -> dict[str, str]:
        return {
            "kty": "RSA",
            "n": _b64url_uint(self.n),
            "e": _b64url_uint(self.e),
            "kid": self.kid,
            "use": "sig",
            "alg": RS256,
        }


def _rsa_numbers(der: bytes) -> tuple[int, int]:
    """``(n, e)`` of any RSA public key of 2048 bits or more, read by cryptography."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        key = load_der_public_key(der)
    except ValueError as error:
        raise ValueError("RSA signing keys must be RSA_2048 or larger") from error
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < 2048:
        raise ValueError("RSA signing keys must be RSA_2048 or larger")
    numbers = key.public_numbers()
    return numbers.n, numbers.e


def _b64url_uint(value: int) -> str:
    """RFC 7518 6.3.1: an unsigned integer in the fewest octets."""
    return b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class KmsKeys:
    """The signing key (first id) and the keys still accepted for verification, all held in KMS.

    ``client_for("kms")`` is asked for the KMS client when a key is first needed: a container whose first
    requests only send codes never builds it.
    """

    def __init__(self, client_for: Callable[[str], Any], key_ids: Sequence[str], algorithm: str = ALGORITHM) -> None:
        self._client_for = client_for
        self._key_ids = tuple(key_ids)
        self.algorithm = algorithm

    @functools.cached_property
    def _kms(self) -> Any:
        return self._client_for("kms")

    @functools.cached_property
    def _published(self) -> list[tuple[str, VerificationKey | RsaVerificationKey]]:
        """(KMS key id, key) for each configured id, the signing key first."""
        read = RsaVerificationKey.from_der if self.algorithm == RS256 else VerificationKey.from_der
        keys: list[tuple[str, VerificationKey | RsaVerificationKey]] = []
        for key_id in self._key_ids:
            with guarded("kms"):
                answer = self._kms.get_public_key(KeyId=key_id)
            keys.append((_key_uuid(answer["KeyId"]), read(answer["PublicKey"])))
        return keys

    @property
    def verification_keys(self) -> dict[str, VerificationKey | RsaVerificationKey]:
        return {key.kid: key for _, key in self._published}

    @property
    def signing_kid(self) -> str:
        return self._published[0][1].kid

    def sign(self, signing_input: bytes) -> bytes | None:
        """The JWS (raw ``r || s``) signature of ``signing_input`` by the key :attr:`signing_kid` names.

        ``None`` when the signing alias now points at another key than the one this container published
        (a re-targeted alias): the keys are then read again, and the caller signs again with the new kid.
        """
        rsa = self.algorithm == RS256
        with guarded("kms"):
            answer = self._kms.sign(
                KeyId=self._key_ids[0],
                Message=signing_input,
                MessageType="RAW",  # KMS hashes with SHA-256 itself; tokens stay far below its 4 KB limit
                SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256" if rsa else "ECDSA_SHA_256",
            )
        if _key_uuid(answer["KeyId"]) != self._published[0][0]:
            del self._published
            return None
        if rsa:
            return bytes(answer["Signature"])  # RSASSA-PKCS1-v1_5: JWS takes KMS's signature as it is
        r, s = p256_signature(answer["Signature"])  # ValueError if KMS answered anything but a P-256 signature
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def sign_jwt(self, claims: Mapping[str, Any], typ: str) -> str:
        """``claims`` as a JWS in compact form, signed by the current key and naming it in its header."""
        for _ in range(2):  # a second time only if the signing alias was re-targeted meanwhile
            header = {"alg": self.algorithm, "typ": typ, "kid": self.signing_kid}
            signing_input = f"{_encode_json(header)}.{_encode_json(dict(claims))}"
            signature = self.sign(signing_input.encode())
            if signature is not None:
                return f"{signing_input}.{b64url(signature)}"
        raise DependencyError("kms", True, "the signing alias keeps changing its key")

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        return {"keys": [key.jwk() for key in self.verification_keys.values()]}


class AccessTokens:
    """Access tokens of one stage: signed with ``signers[algorithm]``, verified with the keys of either algorithm."""

    def __init__(
        self,
        signers: Mapping[str, KmsKeys],
        issuer: str,
        audience: str,
        lifetime_seconds: int,
        algorithm: str = ALGORITHM,
    ) -> None:
        self._signers = signers
        self._issuer = issuer
        self._audience = audience
        self._lifetime = lifetime_seconds
        self._algorithm = algorithm

    def issue(self, subject: str, session_id: str, now: int, profile: Mapping[str, Any]) -> tuple[str, int]:
        """A signed access token for account ``subject`` in session ``session_id``, and when it expires.

        ``profile`` adds the claims that describe the person, the sign-in and the client (``email``, ``amr``,
        ``client_id``, ...).
        """
        expires_at = now + self._lifetime
        claims = {
            "client_id": self._audience,  # RFC 9068 names a client: a session of the API itself names the API
            **profile,
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "sid": session_id,
            "iat": now,
            "nbf": now,
            "exp": expires_at,
            "jti": secrets.token_urlsafe(16),
        }
        return self._signers[self._algorithm].sign_jwt(claims, ACCESS_TOKEN_TYPE), expires_at

    def verify(self, token: str, now: int) -> Claims:
        """The claims of a token this service issued and that is valid at ``now``; else :class:`InvalidToken`.

        Only ES256 and RS256 with a ``kid`` this service publishes for that algorithm are accepted, whatever the
        header asks for (no ``none``, no HMAC with a public key as secret). Revocation is the caller's check.
        """
        import jwt  # here: PyJWT's imports cost a cold start ~45 ms, and only checking a token needs them

        try:
            header = jwt.get_unverified_header(token)
            algorithm = header.get("alg")
            signer = self._signers.get(algorithm) if isinstance(algorithm, str) else None
            key = None if signer is None else signer.verification_keys.get(str(header.get("kid")))
            if key is None:
                raise InvalidToken("unknown key")
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[signer.algorithm] if signer else [],
                audience=self._audience,
                issuer=self._issuer,
                # Time is checked below against the service's own clock.
                options={
                    "require": list(REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError as error:
            raise InvalidToken(type(error).__name__) from None
        numbers = (claims["iat"], claims["nbf"], claims["exp"], *(claims.get(name, 0) for name in _OPTIONAL_NUMBERS))
        if not all(type(n) is int for n in numbers) or not isinstance(claims["sub"], str):
            raise InvalidToken("malformed claims")
        if not claims["nbf"] <= now < claims["exp"]:
            raise InvalidToken("outside its validity")
        return Claims(
            claims["sub"],
            str(claims["sid"]),
            claims["iat"],
            claims["exp"],
            claims.get("aal", 1),
            claims.get("auth_time", 0),
            claims.get("gen", 0),
            str(claims.get("client_id", "")),
        )


_OPTIONAL_NUMBERS = ("aal", "auth_time", "gen")


def _key_uuid(key_id_or_arn: str) -> str:
    # KMS names the key by ARN in some answers and by bare id in others (moto), but always ends with the id.
    return key_id_or_arn.rsplit("/", 1)[-1]


def _encode_json(value: dict[str, Any]) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())
