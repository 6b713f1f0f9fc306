"""The DER shapes KMS answers with for an ECC_NIST_P256 key, and an RSA_2048 key's, read strictly.

``GetPublicKey`` answers with the key's SubjectPublicKeyInfo (RFC 5480): for P-256 always the same 26 bytes
(id-ecPublicKey, prime256v1, a BIT STRING of 66 bytes) and then the uncompressed point ``04 || X || Y``.
``Sign`` with ECDSA_SHA_256 answers with ``SEQUENCE { INTEGER r, INTEGER s }`` (RFC 3279). Both are read here
with a few byte comparisons rather than with cryptography, whose key-loading imports cost a sign-in's cold
start ~8 ms of CPU (beyond the AES-GCM code it already holds) that signing a token does not need.

Anything but exactly these shapes raises :class:`ValueError`: another curve or key type, a compressed point, a
point off the curve, a truncated or padded answer, a non-minimal (BER) integer, or ``r`` / ``s`` outside
``1..n-1``.
"""

from __future__ import annotations

P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
# P-256's field prime, curve constant b (a = -3) and group order (SEC 2, 2.4.2).
P256_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

_SEQUENCE, _INTEGER = 0x30, 0x02
# An RSA_2048 key with exponent 65537 as KMS's GetPublicKey gives it (RFC 3279 2.3.1): SEQUENCE { SEQUENCE {
# rsaEncryption, NULL }, BIT STRING { SEQUENCE { INTEGER n (257 bytes: a leading zero before its set top bit),
# INTEGER e } } }, every length fixed.
RSA2048_SPKI_PREFIX = bytes.fromhex("30820122300d06092a864886f70d01010105000382010f003082010a0282010100")
RSA_F4_SUFFIX = bytes.fromhex("0203010001")
_UNCOMPRESSED = 0x04


def p256_public_point(spki: bytes) -> tuple[int, int]:
    """The point ``(x, y)`` of a P-256 public key given as DER SubjectPublicKeyInfo."""
    if len(spki) != len(P256_SPKI_PREFIX) + 65 or not spki.startswith(P256_SPKI_PREFIX):
        raise ValueError("not a P-256 SubjectPublicKeyInfo")
    point = spki[len(P256_SPKI_PREFIX) :]
    if point[0] != _UNCOMPRESSED:
        raise ValueError("not an uncompressed point")
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    # What cryptography's loader checks too: a point off the curve would publish a key nothing can verify with.
    if not (x < P256_P and y < P256_P and (y * y - (x * x * x - 3 * x + P256_B)) % P256_P == 0):
        raise ValueError("the point is not on P-256")
    return x, y


def rsa2048_public_numbers(spki: bytes) -> tuple[int, int]:
    """``(n, e)`` of an RSA_2048 public key with exponent 65537 given as DER SubjectPublicKeyInfo; ValueError for
    any other key (the caller reads those with cryptography)."""
    modulus = spki[len(RSA2048_SPKI_PREFIX) : -len(RSA_F4_SUFFIX)]
    if not (spki.startswith(RSA2048_SPKI_PREFIX) and spki.endswith(RSA_F4_SUFFIX) and len(modulus) == 256):
        raise ValueError("not an RSA_2048 SubjectPublicKeyInfo with exponent 65537")
    if not modulus[0] & 0x80:
        raise ValueError("a modulus of fewer than 2048 bits")
    return int.from_bytes(modulus, "big"), 65537


def p256_signature(der: bytes) -> tuple[int, int]:
    """``(r, s)`` of a P-256 ECDSA signature given as DER ``SEQUENCE { INTEGER r, INTEGER s }``."""
    # Each INTEGER is at most 2 + 33 bytes, so every length here is one short-form byte (< 0x80).
    if not 8 <= len(der) <= 72 or der[0] != _SEQUENCE or der[1] != len(der) - 2:
        raise ValueError("not a DER SEQUENCE of the signature's length")
    r, after_r = _integer(der, 2)
    s, end = _integer(der, after_r)
    if end != len(der):
        raise ValueError("bytes after the signature's integers")
    return r, s


def _integer(der: bytes, at: int) -> tuple[int, int]:
    """The INTEGER at ``der[at:]``, which must lie in ``1..n-1``, and the offset just after it."""
    if len(der) < at + 3 or der[at] != _INTEGER or not 1 <= der[at + 1] <= 33:
        raise ValueError("not a DER INTEGER of 1 to 33 bytes")
    body = der[at + 2 : at + 2 + der[at + 1]]
    if len(body) != der[at + 1]:
        raise ValueError("a truncated INTEGER")
    if body[0] & 0x80:
        raise ValueError("a negative INTEGER")
    if len(body) > 1 and body[0] == 0 and not body[1] & 0x80:
        raise ValueError("a non-minimal INTEGER")  # DER allows a leading zero only before a set high bit
    value = int.from_bytes(body, "big")
    if not 1 <= value < P256_N:
        raise ValueError("an INTEGER outside 1..n-1")
    return value, at + 2 + len(body)
