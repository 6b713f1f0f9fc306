"""TOTP (RFC 6238) as every authenticator app computes it: HMAC-SHA1, 6 digits, 30-second steps.

A code is accepted at the current step or one step either side (clock drift and typing time, as RFC 6238 §5.2
recommends), and :func:`matching_step` says *which* step matched, so that the caller can make "a step once used
is never used again" a write condition (:mod:`chalicelib.mfa.store`). pyotp is imported only by the MFA
modules, never when the app is imported.
"""

from __future__ import annotations

import hmac

import pyotp

from chalicelib.core.assurance import TOTP_DIGITS

DIGITS = TOTP_DIGITS
STEP_SECONDS = 30
DRIFT_STEPS = 1
SECRET_CHARS = 32  # base32: 160 bits, the HMAC-SHA1 key length RFC 4226 §4 recommends
QUIET_ZONE_MODULES = 4  # ISO/IEC 18004: a QR code's light margin, 4 modules wide


def new_secret() -> str:
    """A fresh 160-bit secret, base32 (what the person types in when they cannot scan the QR code)."""
    return pyotp.random_base32(SECRET_CHARS)


def step_at(now: int) -> int:
    return now // STEP_SECONDS


def matching_step(secret: str, code: str, now: int) -> int | None:
    """The latest step within ±``DRIFT_STEPS`` of ``now`` whose code is ``code``, or ``None``.

    Every candidate is compared, in constant time, whatever matched first.
    """
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    current = step_at(now)
    matched = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(totp.generate_otp(step), code):
            matched = step
    return matched


def provisioning_uri(secret: str, label: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI an app scans (Google Authenticator's key URI format, with the defaults)."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(name=label, issuer_name=issuer)


def qr_svg(uri: str) -> str:
    """A QR code of ``uri`` as an SVG document (segno: pure Python, imported only when a person enrolls): dark
    modules on an opaque white square that includes the 4-module quiet zone ISO/IEC 18004 asks for.

    segno leaves the light modules transparent unless told, and a page in dark mode would then show dark modules
    on a dark background: a camera cannot find the code.
    """
    import io

    import segno

    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=4, border=QUIET_ZONE_MODULES, light="#ffffff", dark="#000000", title="Authenticator key"
    )
    return out.getvalue().decode()
