"""What an account's second factor is, as its home item's ``mfa`` map holds it, and what a session proves.

Pure reading, no AWS and no TOTP library: :mod:`chalicelib.accounts.sessions` and the HTTP face use it on every
authenticated call. The map is written only by :mod:`chalicelib.mfa.store`: ``s`` the sealed TOTP secret, ``u``
the last time-step used, ``f``/``fw`` second-factor failures in window ``fw``, ``cf`` consecutive failures,
``rc`` the keyed digests of the unused recovery codes.

Assurance (NIST SP 800-63B-4): a session whose ``amr`` holds ``"mfa"`` (RFC 8176) is at AAL2, any other at AAL1.
On an account with an active factor an AAL1 session is *pending* (its first factor proven, its second not yet)
and opens nothing but ``POST /mfa/verify`` (through its mfa_token).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from chalicelib.config import OFF, REQUIRED
from chalicelib.core.expressions import Update
from chalicelib.core.refusals import EnrollmentRequired, MfaNotEnabled, ReauthenticationRequired

MFA_AMR = "mfa"  # RFC 8176: more than one factor was proven
TOTP, RECOVERY_CODE, PASSKEY = "totp", "recovery_code", "passkey"  # what an mfa_token is redeemed with
TOTP_DIGITS = 6  # what every authenticator app shows (chalicelib/mfa/totp.py)
RECOVERY_CODES_LOW = 4  # fewer unused codes than this: the answers and /me say so


class Needs(enum.Enum):
    """What a bearer route asks of its session (app.py's routes and docs/api.md's tables say which)."""

    ENROLLMENT = "any live session, also one that may only enroll a factor"
    SESSION = "a full session: under REQUIRED, of an account with a factor"
    STEP_UP = "AAL2, with the second factor proven within OTP_STEP_UP_SECONDS"
    RECENT = "a proof within OTP_STEP_UP_SECONDS: the second factor where the account uses one, else a code"


class Factors(NamedTuple):
    totp: bool
    recovery_codes_left: int

    @classmethod
    def of(cls, mfa: Mapping[str, Any]) -> Factors:
        """The factors a raw ``mfa`` map (DynamoDB attribute values) holds."""
        codes = mfa.get("rc", {}).get("M", {})
        return cls("s" in mfa, len(codes) if "s" in mfa else 0)

    @property
    def active(self) -> bool:
        return self.totp

    @property
    def recovery_codes_low(self) -> bool:
        return self.active and self.recovery_codes_left < RECOVERY_CODES_LOW

    def available(self) -> list[str]:
        """The factors an mfa_token can be redeemed with."""
        return [TOTP] + ([RECOVERY_CODE] if self.recovery_codes_left else [])

    def summary(self) -> dict[str, Any]:
        return {
            "totp": self.totp,
            "recovery_codes_left": self.recovery_codes_left,
            "recovery_codes_low": self.recovery_codes_low,
        }


def aal(amr: Iterable[str]) -> int:
    return 2 if MFA_AMR in amr else 1


def recent(proved_at: int, now: int, seconds: int) -> bool:
    """Whether a proof made at ``proved_at`` is recent at ``now``: at most ``seconds`` old (the step-up window)."""
    return now - proved_at <= seconds


def stepped_up(amr: Iterable[str], proved_at: int, now: int, seconds: int) -> bool:
    """RFC 9470's step-up: the second factor proven (AAL2), recently."""
    return aal(amr) >= 2 and recent(proved_at, now, seconds)


def stepped_up_condition(update: Update, entry: tuple[str, ...], now: int, seconds: int) -> str:
    """:func:`stepped_up` as a write condition on the stored session entry at path ``entry`` (its ``amr`` list
    and ``a``, the time of its last proof): the rule a write that needs step-up checks in the same request."""
    amr, proved_at = update.name(*entry, "amr"), update.name(*entry, "a")
    return f"contains({amr}, {update.value(MFA_AMR)}) AND {proved_at} >= {update.value(now - seconds)}"


def uses_second_factor(policy: str, mfa: Mapping[str, Any], passkeys: Mapping[str, Any] | None = None) -> bool:
    """Whether the account proves who it is with a second factor after a code: it has an authenticator app, or,
    where the stage requires two factors, a passkey (``passkeys``: the home's raw map); never where the stage has
    turned two-step off (``OTP_MFA=OFF`` leaves stored factors dormant).

    Elsewhere a passkey is a way in of its own (both factors in one touch), and an account whose person chose no
    two-step verification signs in with a code alone. Under ``REQUIRED`` the passkey is the second factor it
    already has: a code alone must not open a session that could enroll an authenticator app past it."""
    if policy == OFF:
        return False
    return Factors.of(mfa).active or (policy == REQUIRED and bool(passkeys))


def pending(policy: str, mfa: Mapping[str, Any], amr: Iterable[str], passkeys: Mapping[str, Any] | None = None) -> bool:
    """Whether a session with ``amr`` still owes its second factor (never under ``OTP_MFA=OFF``)."""
    return uses_second_factor(policy, mfa, passkeys) and aal(amr) < 2


def require(
    needs: Needs,
    policy: str,
    mfa: Mapping[str, Any],
    assurance: int,
    auth_time: int,
    now: int,
    step_up_seconds: int,
    passkeys: Mapping[str, Any] | None = None,
) -> None:
    """Refuse a live, non-pending session that does not meet ``needs``, given its ``assurance`` (AAL) and
    ``auth_time``: the lesser of the token's claims and the session entry's
    (:attr:`chalicelib.accounts.sessions.Principal.aal`).

    Raises :class:`EnrollmentRequired`, :class:`MfaNotEnabled` (step-up on an account without a factor) or
    :class:`ReauthenticationRequired`.
    """
    factors = Factors.of(mfa)
    # REQUIRED asks for two factors: a session that proved two at once (a passkey with user verification) has.
    if needs is not Needs.ENROLLMENT and policy == REQUIRED and not factors.active and assurance < 2:
        raise EnrollmentRequired()
    fresh = recent(auth_time, now, step_up_seconds)
    if needs is Needs.STEP_UP:
        if not factors.active:
            raise MfaNotEnabled()
        if assurance < 2 or not fresh:
            raise ReauthenticationRequired()
    if needs is Needs.RECENT:
        by_factor = uses_second_factor(policy, mfa, passkeys)
        if (by_factor and assurance < 2) or not fresh:
            # A second factor that is a passkey alone (REQUIRED, no authenticator app) is re-proven by the passkey.
            raise ReauthenticationRequired(by_code=not by_factor, by_passkey=by_factor and not factors.active)
