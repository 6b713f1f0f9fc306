"""A software authenticator for the suite: makes passkeys (ES256) and answers WebAuthn ceremonies as a browser
and a platform authenticator together would, in WebAuthn Level 3's JSON forms (``credential.toJSON()``).

Each property a rule of the spec looks at can be set wrong on purpose: the origin and RP id the client data and
authenticator data carry, the UP/UV/BE/BS flags, the sign count, the challenge, the user handle.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40
AAGUID = bytes.fromhex("ea9b8d664d011d213ce4b6b48cb575d4")  # Google Password Manager's, as a real passkey has


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Key:
    """One passkey the authenticator holds."""

    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    sign_count: int = 0

    def cose(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})


@dataclass
class Authenticator:
    """A platform authenticator in a browser at ``origin``. ``synced``: a passkey that syncs (BE and BS set) and,
    as synced passkeys do, counts no signatures (sign count 0)."""

    origin: str = "http://localhost:8501"
    rp_id: str = "localhost"
    synced: bool = False
    keys: dict[str, Key] = field(default_factory=dict)

    def create(self, options: dict[str, Any], flags: int | None = None, origin: str | None = None) -> dict[str, Any]:
        """``navigator.credentials.create()`` with options as the server's JSON gives them."""
        assert options["rp"]["id"] == self.rp_id, options["rp"]
        assert options["authenticatorSelection"]["residentKey"] == "required"
        key = Key(secrets.token_bytes(32), ec.generate_private_key(ec.SECP256R1()), unb64url(options["user"]["id"]))
        self.keys[b64url(key.credential_id)] = key
        client_data = self._client_data("webauthn.create", options["challenge"], origin)
        attested = AAGUID + struct.pack(">H", len(key.credential_id)) + key.credential_id + key.cose()
        auth_data = self._auth_data(self.rp_id, self._flags(flags) | AT, 0) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(key.credential_id),
            "rawId": b64url(key.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": ["internal", "hybrid"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: dict[str, Any],
        credential_id: str | None = None,
        flags: int | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        sign_count: int | None = None,
        user_handle: bytes | None = None,
        challenge: str | None = None,
    ) -> dict[str, Any]:
        """``navigator.credentials.get()``: an assertion by ``credential_id`` (default: the newest passkey)."""
        key = self.keys[credential_id or list(self.keys)[-1]]
        if not self.synced:
            key.sign_count += 1
        count = key.sign_count if sign_count is None else sign_count
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        auth_data = self._auth_data(rp_id or options["rpId"], self._flags(flags), count)
        signature = key.private_key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": b64url(key.credential_id),
            "rawId": b64url(key.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
                "userHandle": b64url(key.user_handle if user_handle is None else user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def _flags(self, flags: int | None) -> int:
        if flags is not None:
            return flags
        return UP | UV | ((BE | BS) if self.synced else 0)

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin, "crossOrigin": False}
        return json.dumps(data, separators=(",", ":")).encode()

    @staticmethod
    def _auth_data(rp_id: str, flags: int, sign_count: int) -> bytes:
        return hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", sign_count)
