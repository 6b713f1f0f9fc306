"""Every refusal the service's rules make: a request refused is an answer, not a failure.

Each refusal names its ``reason``, a stable key that the answer catalogue maps to its answer, once
(:data:`chalicelib.http.errors.REFUSALS`: status, code and words); tests/test_errors.py holds every refusal here to
an entry there. ``detail`` is what may be shown with the answer (the words of an input's fault) or, where the
answer's words have no place for it, what the log says; it never holds a code, token or full identifier.
"""

from __future__ import annotations


class Refusal(Exception):
    """A request the service's rules refuse; ``retry_after`` (seconds) when waiting is what lifts it."""

    reason = "refused"
    retry_after: int | None = None

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.reason)
        self.detail = detail


# -- input that cannot be what it claims to be -----------------------------------------------------------------


class InvalidAddress(Refusal):
    """The input is not an address we can mail a code to."""

    reason = "invalid_email"


class InvalidPhone(Refusal):
    """The input is not a phone number in international format."""

    reason = "invalid_phone"


class PhoneNotSupported(Refusal):
    """A valid number this stage does not text codes to (its country, or its type)."""

    reason = "phone_not_supported"


class MalformedCode(Refusal):
    """The submitted code is not a string of exactly the configured number of digits."""

    reason = "invalid_otp"


# -- proofs ----------------------------------------------------------------------------------------------------


class InvalidCode(Refusal):
    """Wrong, expired, used, replaced or never requested: deliberately one answer for all of them. Its detail
    :data:`REPLAYED` (for the log and the metrics only) marks the used code presented again, as a double submit
    does: no one's wrong guess."""

    reason = "invalid_code"


REPLAYED = "replayed"


class AccountLocked(Refusal):
    """A right code for an account an admin has locked: said only to someone who just proved the code."""

    reason = "account_locked"


class InvalidPasskey(Refusal):
    """A passkey's answer that does not verify, for a ceremony that is not live, from a credential that is not
    registered (or no longer is), or of another account than the ceremony's: deliberately one answer for all of
    them, so that no one learns which credentials exist. ``detail`` says which, in fixed words, for the access
    log's ``reason`` (never request data)."""

    reason = "invalid_passkey"


class PasskeyLimit(Refusal):
    """The account holds as many passkeys as it may (``OTP_MAX_PASSKEYS``)."""

    reason = "passkey_limit_reached"


class PasskeyNotFound(Refusal):
    """No passkey of the caller's account has this id."""

    reason = "passkey_not_found"


class Throttled(Refusal):
    """A rate limit refused the request (``reason`` names which); it may be tried again after ``retry_after``."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = max(1, retry_after)


class SessionRejected(Refusal):
    """Missing, malformed, expired, revoked or reused credentials: one answer for all of them (``detail`` is
    for the log)."""

    reason = "invalid_token"


# -- two-step sign-in ------------------------------------------------------------------------------------------


class InvalidMfaToken(Refusal):
    """Malformed, forged, expired, already used or out of tries: one answer for all of them."""

    reason = "invalid_mfa_token"


class NoPendingEnrollment(Refusal):
    """Confirm without an enrollment to confirm."""

    reason = "no_pending_enrollment"


class MfaAlreadyEnabled(Refusal):
    """The account has a factor already (remove it first)."""

    reason = "mfa_already_enabled"


class MfaNotEnabled(Refusal):
    """The account has no factor to use, remove or renew codes for."""

    reason = "mfa_not_enabled"


class EnrollmentRequired(Refusal):
    """Under ``OTP_MFA=REQUIRED`` a session of an account without a factor may only enroll one."""

    reason = "mfa_enrollment_required"


class InsufficientScope(Refusal):
    """A token an OpenID Connect client holds, on a route only the person's own sessions may use (the account's
    changes, two-step, admin): a client's token never carries more than its client was granted."""

    reason = "insufficient_scope"


class LoginChallengeInvalid(Refusal):
    """A login challenge that is unknown, spent or expired (chalicelib/oauth)."""

    reason = "login_challenge_invalid"


class ReauthenticationRequired(Refusal):
    """The action needs a proof within ``OTP_STEP_UP_SECONDS`` (RFC 9470's step-up): the second factor on an
    account that uses one (``POST /mfa/reauthenticate``), else a fresh code (``by_code``, ``POST /reauthenticate``);
    or, where two factors are asked (an app's ``acr_values``, or a stage under ``OTP_MFA=required``) of an account
    whose only second factor is a passkey, that passkey (``by_passkey``, ``POST /passkeys/reauthenticate``: a code
    would prove one factor only)."""

    def __init__(self, by_code: bool = False, by_passkey: bool = False) -> None:
        super().__init__("by passkey" if by_passkey else "by code" if by_code else "by second factor")
        self.by_code = by_code
        self.by_passkey = by_passkey
        if by_passkey:
            self.reason = "reauthentication_by_passkey_required"
        elif by_code:
            self.reason = "reauthentication_by_code_required"
        else:
            self.reason = "reauthentication_required"


# -- administration --------------------------------------------------------------------------------------------


class NotAdmin(Refusal):
    """The account is not named in ``OTP_ADMIN_EMAILS``."""

    reason = "admin_required"


class AdminMfaRequired(Refusal):
    """An admin's session at AAL1: an admin route needs the second factor used at sign-in."""

    reason = "admin_mfa_required"


class UserNotFound(Refusal):
    """No account has that id (any more)."""

    reason = "user_not_found"


class CannotLockSelf(Refusal):
    """An admin tried to lock their own account (no admin could then unlock it but another)."""

    reason = "cannot_lock_self"
