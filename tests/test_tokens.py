"""Access tokens signed in KMS: standard verifiers accept them, and only verifying loads PyJWT and cryptography."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key

from chalicelib.accounts.tokens import ALGORITHM, AccessTokens, InvalidToken, KmsKeys, b64url
from chalicelib.config import Settings
from tests.conftest import REPO_ROOT

NOW = 1_800_000_000
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/0f1e2d3c-0000-4000-8000-000000000000"


def unpadded(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def test_a_token_signed_in_kms_verifies_with_pyjwt_and_cryptography_against_the_jwks(settings: Settings) -> None:
    keys = KmsKeys(boto3.client, [settings.signing_key_id])
    tokens = AccessTokens({ALGORITHM: keys}, settings.token_issuer, settings.token_audience, 3600)
    token, expires_at = tokens.issue("account-1", "session-1", NOW, {"email": "a@example.com"})
    (jwk,) = keys.jwks()["keys"]
    kms_key = load_der_public_key(boto3.client("kms").get_public_key(KeyId=settings.signing_key_id)["PublicKey"])
    assert isinstance(kms_key, ec.EllipticCurvePublicKey)
    published = ec.EllipticCurvePublicNumbers(
        int.from_bytes(unpadded(jwk["x"]), "big"), int.from_bytes(unpadded(jwk["y"]), "big"), ec.SECP256R1()
    )
    assert published == kms_key.public_numbers()  # the JWKS publishes the key KMS holds

    claims = jwt.decode(
        token,
        jwt.PyJWK(jwk).key,
        algorithms=["ES256"],
        audience=settings.token_audience,
        issuer=settings.token_issuer,
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert (claims["sub"], claims["sid"], claims["exp"], claims["email"]) == (
        "account-1",
        "session-1",
        expires_at,
        "a@example.com",
    )
    header, payload, signature = token.split(".")
    raw = unpadded(signature)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    published.public_key().verify(der, f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if not
    assert tokens.verify(token, NOW).subject == "account-1"


class StubKms:
    """KMS for one P-256 key held here, signing until a signature's (r, s) is one ``wanted`` accepts.

    ``public_key`` and ``trailing`` (bytes after each signature) let a test make KMS answer out of shape.
    """

    def __init__(self, wanted: Callable[[int, int], bool] = lambda r, s: True) -> None:
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.public_key = self.private_key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        self.wanted = wanted
        self.trailing = b""

    def get_public_key(self, KeyId: str) -> dict[str, Any]:
        return {"KeyId": KEY_ARN, "PublicKey": self.public_key}

    def sign(self, KeyId: str, Message: bytes, MessageType: str, SigningAlgorithm: str) -> dict[str, Any]:
        assert (MessageType, SigningAlgorithm) == ("RAW", "ECDSA_SHA_256")
        while True:  # ECDSA draws a fresh nonce each time: the same message signs to another (r, s)
            der = self.private_key.sign(Message, ec.ECDSA(hashes.SHA256()))
            if self.wanted(*decode_dss_signature(der)):
                return {"KeyId": KEY_ARN, "Signature": der + self.trailing}


@pytest.mark.parametrize(
    "wanted",
    [lambda r, s: r < 2**248, lambda r, s: s < 2**248, lambda r, s: r >> 255 == s >> 255 == 1],
    ids=["r with a leading zero byte", "s with a leading zero byte", "both with a high bit"],
)
def test_every_signature_shape_becomes_a_64_byte_jws_signature(wanted: Callable[[int, int], bool]) -> None:
    kms = StubKms(wanted)
    tokens = AccessTokens({ALGORITHM: KmsKeys(lambda name: kms, [KEY_ARN])}, "https://issuer.example", "audience", 60)
    token, _ = tokens.issue("account-1", "session-1", NOW, {})
    assert len(unpadded(token.rsplit(".", 1)[1])) == 64
    assert (
        jwt.decode(
            token,
            kms.private_key.public_key(),
            algorithms=["ES256"],
            audience="audience",
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )["sub"]
        == "account-1"
    )
    assert tokens.verify(token, NOW).session_id == "session-1"


def test_a_kms_answer_out_of_shape_is_refused_as_before() -> None:
    kms = StubKms()
    kms.trailing = b"\x00"
    with pytest.raises(ValueError):
        AccessTokens({ALGORITHM: KmsKeys(lambda name: kms, [KEY_ARN])}, "https://issuer.example", "audience", 60).issue(
            "account-1", "session-1", NOW, {}
        )
    p384 = ec.generate_private_key(ec.SECP384R1()).public_key()
    kms.public_key = p384.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="signing keys must be ECC_NIST_P256"):
        KmsKeys(lambda name: kms, [KEY_ARN]).jwks()


# Runs in a fresh interpreter: the KMS answers come from this process (which may import anything), so that the
# child's sys.modules shows what the service's own code loads.
CHILD = """
import json, os, sys
from chalicelib.accounts.tokens import ALGORITHM, AccessTokens, InvalidToken, KmsKeys

answers = json.loads(os.environ["KMS_ANSWERS"])

class Kms:
    def get_public_key(self, KeyId):
        return {"KeyId": answers["key_arn"], "PublicKey": bytes.fromhex(answers["public_key"])}

    def sign(self, **_):
        return {"KeyId": answers["key_arn"], "Signature": bytes.fromhex(answers["signature"])}

def loaded():
    return sorted({"cryptography", "jwt"} & set(sys.modules))

keys = KmsKeys(lambda name: Kms(), [answers["key_arn"]])
tokens = AccessTokens({ALGORITHM: keys}, "https://issuer.example", "audience", 60)
steps = {"import": loaded()}
token, _ = tokens.issue("account-1", "session-1", answers["now"], {"amr": ["otp"]})
steps["issue"] = loaded()
keys.jwks()
steps["jwks"] = loaded()
steps["subject"] = tokens.verify(answers["token"], answers["now"]).subject
steps["verify"] = loaded()
print(json.dumps(steps))
"""


def test_issuing_a_token_loads_neither_cryptography_nor_pyjwt_and_verifying_loads_both() -> None:
    kms = StubKms()
    token, _ = AccessTokens(
        {ALGORITHM: KmsKeys(lambda name: kms, [KEY_ARN])}, "https://issuer.example", "audience", 60
    ).issue("account-1", "session-1", NOW, {})
    answers = {
        "key_arn": KEY_ARN,
        "public_key": kms.public_key.hex(),
        "now": NOW,
        "token": token,
        "signature": kms.sign(KEY_ARN, b"any message", "RAW", "ECDSA_SHA_256")["Signature"].hex(),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KMS_ANSWERS": json.dumps(answers)},
        check=True,
    )
    steps = json.loads(child.stdout)
    assert steps == {"import": [], "issue": [], "jwks": [], "subject": "account-1", "verify": ["cryptography", "jwt"]}


def test_a_token_under_the_published_kid_but_signed_by_another_key_is_refused() -> None:
    kms = StubKms()
    keys = KmsKeys(lambda name: kms, [KEY_ARN])
    tokens = AccessTokens({ALGORITHM: keys}, "https://issuer.example", "audience", 60)
    genuine, _ = tokens.issue("account-1", "session-1", NOW, {})
    signing_input = genuine.rsplit(".", 1)[0].encode()
    r, s = decode_dss_signature(ec.generate_private_key(ec.SECP256R1()).sign(signing_input, ec.ECDSA(hashes.SHA256())))
    forged = f"{signing_input.decode()}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"
    with pytest.raises(InvalidToken):
        tokens.verify(forged, NOW)
    assert tokens.verify(genuine, NOW).subject == "account-1"  # the control: the key the kid names verifies
