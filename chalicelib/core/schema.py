"""The table's attribute names and status values, declared once for every store that reads or writes them.

One table, partition key ``pk``, TTL on ``expires_at`` (:data:`chalicelib.core.expressions.TTL`). An identifier's
item (``email#<digest>``, ``phone#<digest>``) holds its code state and failure budget; the first identifier of an
account is the account's *home* and also holds the account, its sessions and its second factor; a linked
identifier's item points at its home. Counters of their own (send quotas, per-network budgets) are
:class:`chalicelib.core.windows.WindowCounter` items. Each store's module says which attributes it owns and
what bounds them.
"""

from __future__ import annotations

# -- an account, on its home item (chalicelib/accounts/store.py) -----------------------------------------------
STATUS = "status"
ACTIVE, LOCKED = "active", "locked"  # the values of STATUS; an admin locks and unlocks (chalicelib/admin/store.py)
SESSIONS = "sessions"  # nonce -> session entry
# In a session entry opened for an OpenID Connect client (chalicelib/oauth/store.py): the client and its scopes.
SESSION_CLIENT, SESSION_SCOPE = "cl", "sc"
CONSENTS = "consents"  # client id -> {s: the scopes the person agreed to, t: when} (chalicelib/oauth/store.py)
HOME, HOME_ACCOUNT = "home", "home_account"  # on a linked identifier's item: where its account lives
# An account's passkeys, on its home item (chalicelib/passkeys/store.py): credential digest -> what is shown of it
PASSKEYS = "passkeys"

# -- the second factor, on the home item (chalicelib/mfa/store.py) ---------------------------------------------
MFA = "mfa"  # the active factor: {s: sealed TOTP secret, u: last time-step, f/fw: failures, cf, rc: recovery codes}
MFA_PENDING = "mfa_p"  # an enrollment not yet confirmed
MFA_FAILS, MFA_FAILS_WINDOW = "f", "fw"  # in MFA: second-factor failures and the window they count

# -- an identifier's failed codes, on its item (chalicelib/otp/store.py) ---------------------------------------
FAILS, FAILS_WINDOW = "fails", "fails_w"
