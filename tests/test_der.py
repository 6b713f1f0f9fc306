"""KMS's two P-256 DER answers read without cryptography: the same values as cryptography reads, and nothing else."""

from __future__ import annotations

import hashlib
import json

import pytest
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat, load_der_public_key
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm

from chalicelib.accounts.der import (
    P256_B,
    P256_N,
    P256_P,
    P256_SPKI_PREFIX,
    RSA2048_SPKI_PREFIX,
    p256_public_point,
    p256_signature,
    rsa2048_public_numbers,
)
from chalicelib.accounts.tokens import RsaVerificationKey, VerificationKey, b64url

SCALARS = st.integers(1, P256_N - 1)
# Values whose DER INTEGER takes every shape: one byte, a high bit needing a leading zero, leading zero bytes
# dropped (short integers), the largest allowed.
EDGE_SCALARS = st.sampled_from(
    [1, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 2**248 - 1, 2**248, 2**255 - 1, 2**255, P256_N - 1]
)


def spki(public_key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey) -> bytes:
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def thumbprint(public_key: ec.EllipticCurvePublicKey) -> str:
    """RFC 7638 from PyJWT's JWK of the key: an encoding of x and y independent of the service's."""
    jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
    canonical = json.dumps(
        {name: jwk[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":"), sort_keys=True
    )
    return b64url(hashlib.sha256(canonical.encode()).digest())


@settings(max_examples=200, deadline=None)
@given(SCALARS)
def test_a_public_key_reads_as_cryptography_reads_it(private_scalar: int) -> None:
    public_key = ec.derive_private_key(private_scalar, ec.SECP256R1()).public_key()
    numbers = public_key.public_numbers()
    assert p256_public_point(spki(public_key)) == (numbers.x, numbers.y)
    key = VerificationKey.from_der(spki(public_key))
    assert (key.kid, key.x, key.y) == (thumbprint(public_key), numbers.x, numbers.y)
    assert key.public_key.public_numbers() == numbers


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_a_signature_from_cryptography_reads_as_cryptography_reads_it(message: bytes) -> None:
    der = ec.generate_private_key(ec.SECP256R1()).sign(message, ec.ECDSA(hashes.SHA256()))
    assert p256_signature(der) == decode_dss_signature(der)


@given(st.one_of(SCALARS, EDGE_SCALARS), st.one_of(SCALARS, EDGE_SCALARS))
def test_every_integer_shape_reads_back(r: int, s: int) -> None:
    der = encode_dss_signature(r, s)
    assert p256_signature(der) == decode_dss_signature(der) == (r, s)


def test_real_signatures_with_a_high_bit_and_with_leading_zero_bytes_read() -> None:
    private_key = ec.generate_private_key(ec.SECP256R1())
    seen: set[str] = set()
    for attempt in range(50_000):  # r or s has a leading zero byte once in 128 signatures, a high bit in two of three
        der = private_key.sign(attempt.to_bytes(4, "big"), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        assert p256_signature(der) == (r, s)
        seen |= {"high bit" if v >> 255 else "leading zero byte" if v < 2**248 else "other" for v in (r, s)}
        if {"high bit", "leading zero byte"} <= seen:
            break
    assert {"high bit", "leading zero byte"} <= seen


def valid_spki() -> bytes:
    return spki(ec.generate_private_key(ec.SECP256R1()).public_key())


def point_with_a_small_x() -> tuple[int, int]:
    """A P-256 point whose x plus the field prime still fits 32 bytes: the same field element written out of range."""
    for x in range(1000):
        rhs = (x**3 - 3 * x + P256_B) % P256_P
        y = pow(rhs, (P256_P + 1) // 4, P256_P)  # a square root, as p = 3 (mod 4), when rhs is a square
        if y * y % P256_P == rhs:
            return x, y
    raise AssertionError("no small x on the curve")


@pytest.mark.parametrize(
    "name",
    [
        "P-384",
        "secp256k1",
        "RSA",
        "empty",
        "truncated",
        "trailing byte",
        "compressed point",
        "off the curve",
        "x beyond the field",
    ],
)
def test_a_public_key_of_another_shape_is_refused(name: str) -> None:
    good = valid_spki()
    point = good[len(P256_SPKI_PREFIX) :]
    small_x, its_y = point_with_a_small_x()
    der = {
        "P-384": lambda: spki(ec.generate_private_key(ec.SECP384R1()).public_key()),
        "secp256k1": lambda: spki(ec.generate_private_key(ec.SECP256K1()).public_key()),
        "RSA": lambda: spki(rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()),
        "empty": lambda: b"",
        "truncated": lambda: good[:-1],
        "trailing byte": lambda: good + b"\x00",
        "compressed point": lambda: P256_SPKI_PREFIX + b"\x02" + point[1:33],
        "off the curve": lambda: good[:-1] + bytes([good[-1] ^ 1]),
        "x beyond the field": lambda: (
            P256_SPKI_PREFIX + b"\x04" + (small_x + P256_P).to_bytes(32, "big") + its_y.to_bytes(32, "big")
        ),
    }[name]()
    assert canonical_point(der) is None  # cryptography refuses it too, or reads something other than a P-256 key
    with pytest.raises(ValueError):
        p256_public_point(der)
    with pytest.raises(ValueError, match="signing keys must be ECC_NIST_P256"):
        VerificationKey.from_der(der)


def test_the_small_x_point_is_a_key_when_written_in_range() -> None:
    small_x, its_y = point_with_a_small_x()  # so that the refusal above is the range check's, not the curve's
    der = P256_SPKI_PREFIX + b"\x04" + small_x.to_bytes(32, "big") + its_y.to_bytes(32, "big")
    assert p256_public_point(der) == canonical_point(der) == (small_x, its_y)


def test_every_prefix_of_a_public_key_is_refused() -> None:
    good = valid_spki()
    for end in range(len(good)):
        with pytest.raises(ValueError):
            p256_public_point(good[:end])


def integer(body: bytes) -> bytes:
    return bytes([0x02, len(body)]) + body


def sequence(*parts: bytes) -> bytes:
    content = b"".join(parts)
    return bytes([0x30, len(content)]) + content


ONE = integer(b"\x01")


@pytest.mark.parametrize(
    ("name", "der"),
    [
        ("r zero", sequence(integer(b"\x00"), ONE)),
        ("s zero", sequence(ONE, integer(b"\x00"))),
        ("r negative", sequence(integer(b"\x80"), ONE)),
        ("s negative", sequence(ONE, integer(b"\xff" * 32))),
        ("r = n", sequence(integer(b"\x00" + P256_N.to_bytes(32, "big")), ONE)),
        ("s = n + 1", sequence(ONE, integer(b"\x00" + (P256_N + 1).to_bytes(32, "big")))),
        ("r of 33 bytes beyond a leading zero", sequence(integer(b"\x01" + b"\x00" * 32), ONE)),
        ("r with a needless leading zero", sequence(integer(b"\x00\x7f"), ONE)),
        ("s with a needless leading zero", sequence(ONE, integer(b"\x00\x00\x80"))),
        ("an empty integer", sequence(integer(b""), ONE)),
        ("one integer", sequence(ONE)),
        ("three integers", sequence(ONE, ONE, ONE)),
        ("a SET, not a SEQUENCE", b"\x31" + sequence(ONE, ONE)[1:]),
        ("a BIT STRING, not an INTEGER", sequence(b"\x03\x01\x01", ONE)),
        ("a long-form length", b"\x30\x81\x06" + ONE + ONE),
        ("a long-form integer length", sequence(b"\x02\x81\x01\x01", ONE)),
        ("an outer length too long", b"\x30\x07" + ONE + ONE),
        ("an outer length too short", b"\x30\x05" + ONE + ONE),
        ("a trailing byte inside", sequence(ONE, ONE, b"\x00")),
        ("a trailing byte outside", sequence(ONE, ONE) + b"\x00"),
        ("an inner length beyond the end", sequence(ONE, b"\x02\x02\x01")),
        ("empty", b""),
    ],
)
def test_a_malformed_signature_is_refused(name: str, der: bytes) -> None:
    with pytest.raises(ValueError):
        p256_signature(der)


def test_every_prefix_of_a_signature_is_refused() -> None:
    der = ec.generate_private_key(ec.SECP256R1()).sign(b"x", ec.ECDSA(hashes.SHA256()))
    assert p256_signature(der)
    for end in range(len(der)):
        with pytest.raises(ValueError):
            p256_signature(der[:end])


def canonical_signature(der: bytes) -> tuple[int, int] | None:
    """What a strict reader must answer: (r, s) if ``der`` is exactly the DER of an in-range pair, else None."""
    try:
        r, s = decode_dss_signature(der)
    except ValueError:
        return None
    in_range = 1 <= r < P256_N and 1 <= s < P256_N
    return (r, s) if in_range and encode_dss_signature(r, s) == der else None


def canonical_point(der: bytes) -> tuple[int, int] | None:
    try:
        key = load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):  # an unknown curve
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey) or spki(key) != der or key.curve.name != "secp256r1":
        return None
    return key.public_numbers().x, key.public_numbers().y


def mutations() -> st.SearchStrategy[tuple[int, str, int]]:
    """(position, kind, byte): replace, insert or delete one byte of a valid answer."""
    return st.tuples(st.integers(0, 100), st.sampled_from(["replace", "insert", "delete"]), st.integers(0, 255))


def mutate(der: bytes, mutation: tuple[int, str, int]) -> bytes:
    at, kind, byte = mutation
    at %= len(der) + (kind == "insert")
    if kind == "replace":
        return der[:at] + bytes([byte]) + der[at + 1 :]
    if kind == "insert":
        return der[:at] + bytes([byte]) + der[at:]
    return der[:at] + der[at + 1 :]


@settings(max_examples=300, deadline=None)
@given(st.one_of(SCALARS, EDGE_SCALARS), st.one_of(SCALARS, EDGE_SCALARS), mutations())
def test_a_mutated_signature_reads_only_if_it_is_still_exactly_der(
    r: int, s: int, mutation: tuple[int, str, int]
) -> None:
    der = mutate(encode_dss_signature(r, s), mutation)
    try:
        read = p256_signature(der)
    except ValueError:
        read = None
    assert read == canonical_signature(der)


@settings(max_examples=300, deadline=None)
@given(SCALARS, mutations())
def test_a_mutated_public_key_reads_only_if_it_is_still_a_p256_key(
    private_scalar: int, mutation: tuple[int, str, int]
) -> None:
    der = mutate(spki(ec.derive_private_key(private_scalar, ec.SECP256R1()).public_key()), mutation)
    try:
        read = p256_public_point(der)
    except ValueError:
        read = None
    assert read == canonical_point(der)


# -- RSA_2048, as KMS answers for the key of ID tokens ---------------------------------------------------------


def rsa_spki(bits: int = 2048, exponent: int = 65537) -> tuple[bytes, rsa.RSAPublicNumbers]:
    key = rsa.generate_private_key(public_exponent=exponent, key_size=bits).public_key()
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo), key.public_numbers()


def test_an_rsa_2048_key_reads_as_cryptography_reads_it() -> None:
    for _ in range(5):
        der, numbers = rsa_spki()
        assert der.startswith(RSA2048_SPKI_PREFIX) and len(der) == 294
        assert rsa2048_public_numbers(der) == (numbers.n, numbers.e)
        key = RsaVerificationKey.from_der(der)
        assert (key.n, key.e) == (numbers.n, numbers.e)


def test_another_rsa_key_is_read_by_cryptography_and_a_small_one_refused() -> None:
    der, numbers = rsa_spki(3072)
    with pytest.raises(ValueError):
        rsa2048_public_numbers(der)
    assert (RsaVerificationKey.from_der(der).n, RsaVerificationKey.from_der(der).e) == (numbers.n, numbers.e)
    small, _ = rsa_spki(1024)
    with pytest.raises(ValueError, match="RSA_2048 or larger"):
        RsaVerificationKey.from_der(small)
    other_exponent, _ = rsa_spki(2048, 3)
    with pytest.raises(ValueError):
        rsa2048_public_numbers(other_exponent)
    for cut in (1, 5, 100):
        with pytest.raises(ValueError):
            rsa2048_public_numbers(rsa_spki()[0][:-cut])
