"""What the two-step service takes and gives, importable without the TOTP library (the HTTP face uses them)."""

from __future__ import annotations

from typing import NamedTuple

from chalicelib.accounts.sessions import IssuedSession

NEW_RECOVERY_CODES = "recovery_codes"  # the answer field that carries new recovery codes, shown only then


class Proof(NamedTuple):
    """A second factor as presented: a TOTP code (``totp``) or a normalised recovery code."""

    code: str
    totp: bool


class Enrollment(NamedTuple):
    secret: str
    otpauth_uri: str
    qr_svg: str


class Upgraded(NamedTuple):
    """Tokens at AAL2, the recovery codes left, and the new codes themselves right after confirming."""

    session: IssuedSession
    recovery_codes_left: int
    recovery_codes: list[str] | None = None
