"""Who may use the admin routes: an admin's account, signed in with two factors, recently for a change.

The assurance of a session is two-step sign-in's own rule (:mod:`chalicelib.core.assurance`: a session whose ``amr``
holds ``"mfa"`` is at AAL2; its ``auth_time`` is the last proof), the lesser of what the caller's token claims and
what the server's session entry holds (:class:`chalicelib.accounts.sessions.Principal`).
"""

from __future__ import annotations

from chalicelib.accounts.identifiers import EMAIL
from chalicelib.accounts.sessions import Principal
from chalicelib.config import Settings
from chalicelib.core.assurance import recent
from chalicelib.core.refusals import AdminMfaRequired, NotAdmin, ReauthenticationRequired


def is_admin(settings: Settings, email: str | None) -> bool:
    """Whether ``email`` (normalised, lower-case) is one of the stage's admins (``OTP_ADMIN_EMAILS``)."""
    return email is not None and email in {admin.lower() for admin in settings.admin_emails}


def require_admin(principal: Principal, settings: Settings, now: int, changing: bool) -> None:
    """Refuse ``principal`` unless it is an admin at AAL2, and for a ``changing`` action one who proved it
    within ``OTP_ADMIN_STEP_UP_SECONDS`` (else two-step sign-in's :class:`ReauthenticationRequired`, renewed by
    ``POST /mfa/reauthenticate``). Checked in that order, so a non-admin learns nothing more."""
    if not is_admin(settings, principal.account.identifiers.get(EMAIL)):
        raise NotAdmin()
    if principal.aal < 2:
        raise AdminMfaRequired()
    if changing and not recent(principal.auth_time, now, settings.admin_step_up_seconds):
        raise ReauthenticationRequired()
