"""What an admin may do: names only, free of everything else.

app.py's routes name the actions and import this module alone, so that a container which only signs people in
never loads the admin code (its cold start is the one a visitor waits for); the admin's refusals are the core's
(:mod:`chalicelib.core.refusals`). The code that acts is in :mod:`chalicelib.admin.service` and
:mod:`chalicelib.admin.store`.
"""

from __future__ import annotations

import enum


class Action(enum.Enum):
    LOCK = "lock"
    UNLOCK = "unlock"
    SIGN_OUT = "signout"
    DELETE_MFA = "delete_mfa"
    DELETE_PASSKEY = "delete_passkey"
    CLEAR_FAILURES = "clear_failures"
