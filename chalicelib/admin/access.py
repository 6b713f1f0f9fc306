"""Who may use the admin routes: an admin's account, signed in with two factors, recently for a change.

The one place that reads a session's assurance for the admin routes, so that it follows two-step sign-in's own
rule (chalicelib/mfa: a session whose ``amr`` holds ``"mfa"`` is at AAL2; ``auth_time`` is the last proof).
"""

from __future__ import annotations

from chalicelib.accounts.identifiers import EMAIL
from chalicelib.accounts.sessions import Principal
from chalicelib.config import Settings

MFA_AMR = "mfa"  # RFC 8176: more than one factor was proven


class NotAdmin(Exception):
    """The account is not named in ``OTP_ADMIN_EMAILS``."""


class AdminMfaRequired(Exception):
    """An admin's session at AAL1: an admin route needs the second factor used at sign-in."""


class ReauthenticationRequired(Exception):
    """The action changes an account and the admin's last proof is older than ``OTP_ADMIN_STEP_UP_SECONDS``."""


def require_admin(principal: Principal, settings: Settings, now: int, changing: bool) -> None:
    """Refuse ``principal`` unless it is an admin at AAL2, and for a ``changing`` action one who proved it
    within ``OTP_ADMIN_STEP_UP_SECONDS``. Checked in that order, so a non-admin learns nothing more."""
    if not settings.is_admin(principal.account.identifiers.get(EMAIL)):
        raise NotAdmin()
    session = principal.session
    if MFA_AMR not in session.amr:
        raise AdminMfaRequired()
    if changing and now - session.created_at > settings.admin_step_up_seconds:
        raise ReauthenticationRequired()
