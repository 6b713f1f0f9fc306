"""Two-step sign-in: enrolling an authenticator app, redeeming an mfa_token, stepping up, removing the factor.

Free of HTTP. Every change is one conditional write on the account's home item (:mod:`chalicelib.mfa.store`),
and tokens are signed *before* that write: a failed signature writes nothing (the mfa_token, the code and the
session stay as they were, only the try is counted), and a write that lands but whose answer is lost is
recognised on its retry by the new refresh tag it stored, so a sign-in is never lost between the two.

Invariant kept by :meth:`MfaService.confirm`: once an account has a factor, every live session of it has
``"mfa"`` in its ``amr``; a session without it is pending and refused everywhere
(:meth:`chalicelib.accounts.sessions.SessionService.authenticate`, ``refresh``).

Every upgrade (confirm, verify, reauthenticate) counts the session's generation up and retires its refresh token
with no grace: the tokens issued before it are refused from then on, so none carries more than its own claims.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from chalicelib.accounts.sessions import IssuedSession, Principal, SessionService
from chalicelib.accounts.store import AccountStore, SessionView
from chalicelib.config import Limits
from chalicelib.core.assurance import MFA_AMR, Factors, stepped_up
from chalicelib.core.expressions import Item, Update, read_map, read_number, read_string
from chalicelib.core.refusals import (
    InvalidCode,
    InvalidMfaToken,
    MfaAlreadyEnabled,
    MfaNotEnabled,
    NoPendingEnrollment,
    ReauthenticationRequired,
    SessionRejected,
)
from chalicelib.core.schema import MFA, MFA_PENDING, SESSIONS
from chalicelib.crypto import KeyedHasher, Sealed
from chalicelib.mfa import recovery, totp
from chalicelib.mfa.answers import Enrollment, Proof, Upgraded
from chalicelib.mfa.challenge import Challenges
from chalicelib.mfa.store import WRITE_ATTEMPTS, MfaStore, RecoveryDigest, Spend, TotpStep, plain

logger = logging.getLogger(__name__)


class MfaService:
    def __init__(
        self,
        store: MfaStore,
        challenges: Challenges,
        sessions: SessionService,
        accounts: AccountStore,
        hasher: KeyedHasher,
        limits: Limits,
        issuer: str,
    ) -> None:
        self._store = store
        self._challenges = challenges
        self._sessions = sessions
        self._accounts = accounts
        self._hasher = hasher
        self._limits = limits
        self._issuer = issuer

    def enroll(self, principal: Principal, now: int) -> Enrollment:
        """A fresh secret as the account's pending enrollment (it replaces an earlier one); nothing is active yet."""
        if Factors.of(principal.account.mfa).active:
            raise MfaAlreadyEnabled()
        secret = totp.new_secret()
        self._store.begin(principal.ref.home, secret, now)
        identifiers = principal.account.identifiers
        label = identifiers.get("email") or next(iter(identifiers.values()), principal.account.id)
        uri = totp.provisioning_uri(secret, label, self._issuer)
        return Enrollment(secret, uri, totp.qr_svg(uri))

    def confirm(self, principal: Principal, code: str, now: int) -> Upgraded:
        """Activate the pending secret with a code of it (that step counts as used): ten new recovery codes, this
        session at AAL2 with new tokens, and every other session of the account ended.

        Raises :class:`NoPendingEnrollment`, :class:`MfaAlreadyEnabled`, ``InvalidCode`` or ``SessionRejected``.
        """
        ref = principal.ref
        codes = recovery.new_codes()
        digests = [recovery.digest(self._hasher, ref.home, recovery.normalised(c) or "") for c in codes]
        signed: tuple[IssuedSession, str] | None = None
        for _ in range(WRITE_ATTEMPTS):
            item = self._store.read(ref.home)
            if Factors.of(read_map(item, MFA)).active:
                raise MfaAlreadyEnabled()
            sealed = read_string(read_map(item, MFA_PENDING), "s")
            if not sealed:
                raise NoPendingEnrollment()
            step = totp.matching_step(self._open(ref.home, sealed), code, now)
            if step is None:
                raise InvalidCode()
            entry = _live_entry(item, ref.nonce, now)
            view = _upgraded(entry, read_number(entry, "x"), now)
            signed = signed or self._sessions.reissue(principal.account, ref, view, now)
            session, tag = signed
            upgraded = {
                **{name: plain(value) for name, value in entry.items() if name not in _RETIRED},
                "amr": list(view.amr),
                "a": now,
                "h": tag,
                "g": view.generation,
            }
            done, found = self._store.confirm(
                ref.home, ref.nonce, sealed, step, digests, upgraded, read_string(entry, "h"), now
            )
            if done or _holds(found, ref.nonce, tag):
                return Upgraded(session, len(codes), codes)
            # Refreshed, replaced or confirmed meanwhile: look again.
        raise SessionRejected("the session kept changing while the factor was confirmed")

    def verify(self, raw_token: object, proof: Proof, now: int) -> Upgraded:
        """Redeem an mfa_token with a second factor: the pending session at AAL2, with new tokens.

        Raises ``InvalidMfaToken``, ``InvalidCode`` (the try is counted) or ``Throttled``.
        """
        ticket = self._challenges.parse(raw_token)
        ref = ticket.ref
        item = self._store.reserve(ref.home, ref.nonce, proof.totp, now, ticket.pending_tag)
        spend = self._spend(ref.home, item, proof, now)
        entry = read_map(item, SESSIONS)[ref.nonce]["M"]
        view = _upgraded(entry, now + self._limits.session_seconds, now)
        session, tag = self._sessions.reissue(self._accounts.account(ref.home, item), ref, view, now)
        upgrade = _changing(
            ref.nonce, {"amr": list(view.amr), "h": tag, "a": now, "x": view.expires_at, "g": view.generation}, "t"
        )
        done, found = self._store.spend(ref.home, ref.nonce, spend, ticket.pending_tag, upgrade)
        if not (done or _holds(found, ref.nonce, tag)):
            if read_string(read_map(found, SESSIONS).get(ref.nonce, {}).get("M", {}), "h") != ticket.pending_tag:
                raise InvalidMfaToken()  # another try with this token won meanwhile
            raise InvalidCode()  # the step or the recovery code was spent meanwhile
        return Upgraded(session, self._codes_left(item, spend))

    def reauthenticate(self, principal: Principal, proof: Proof, now: int) -> Upgraded:
        """Prove the second factor again: ``auth_time`` renewed, new tokens of the next generation (the earlier
        access tokens are refused, and the earlier refresh token is retired without grace)."""
        ref = principal.ref
        item = reserved = self._store.reserve(ref.home, ref.nonce, proof.totp, now, seen=principal.account.mfa)
        spend = self._spend(ref.home, item, proof, now)
        signed: tuple[IssuedSession, str] | None = None
        for _ in range(WRITE_ATTEMPTS):
            entry = _live_entry(item, ref.nonce, now)
            view = _upgraded(entry, read_number(entry, "x"), now)
            signed = signed or self._sessions.reissue(principal.account, ref, view, now)
            session, tag = signed
            retired = read_string(entry, "h")
            renew = _changing(ref.nonce, {"a": now, "h": tag, "amr": list(view.amr), "g": view.generation}, *_RETIRED)
            done, item = self._store.spend(ref.home, ref.nonce, spend, retired, renew)
            if done or _holds(item, ref.nonce, tag):
                return Upgraded(session, self._codes_left(reserved, spend))
            if not _still_spendable(item, spend):
                raise InvalidCode()
            # The session was refreshed meanwhile: renew it from where it now stands.
        raise SessionRejected("the session kept changing while it was re-authenticated")

    def disable(self, principal: Principal, now: int) -> None:
        """Remove the factor and its recovery codes, and end every other session of the account (step-up)."""
        ref = principal.ref
        for _ in range(WRITE_ATTEMPTS):
            item = self._store.read(ref.home)
            if not Factors.of(read_map(item, MFA)).active:
                raise MfaNotEnabled()
            entry = _live_entry(item, ref.nonce, now)
            kept = {name: plain(value) for name, value in entry.items()}
            done, found = self._store.disable(
                ref.home, ref.nonce, kept, read_string(entry, "h"), now, principal.session.generation
            )
            if done or not Factors.of(read_map(found, MFA)).active:
                return  # gone: also when this write landed, its answer was lost and botocore's retry refused
            self._refused_step_up(found, principal, now)
        raise SessionRejected("the session kept changing while the factor was removed")

    def regenerate(self, principal: Principal, now: int) -> list[str]:
        """Ten new recovery codes in place of all earlier ones (step-up)."""
        ref = principal.ref
        codes = recovery.new_codes()
        digests = [recovery.digest(self._hasher, ref.home, recovery.normalised(c) or "") for c in codes]
        done, found = self._store.replace_codes(ref.home, ref.nonce, digests, now, principal.session.generation)
        if not done:
            self._refused_step_up(found, principal, now)
            raise ReauthenticationRequired()
        return codes

    # -- helpers -----------------------------------------------------------------------------------------

    def _refused_step_up(self, item: Item, principal: Principal, now: int) -> None:
        """Why a step-up write was refused, unless only the session's refresh tag moved (then: try again)."""
        if not Factors.of(read_map(item, MFA)).active:
            raise MfaNotEnabled()
        entry = _live_entry(item, principal.ref.nonce, now)
        if read_number(entry, "g") != principal.session.generation:
            raise SessionRejected("superseded")  # upgraded meanwhile: the caller's token is of an earlier generation
        amr = [element.get("S") for element in entry.get("amr", {}).get("L", [])]
        if not stepped_up(amr, read_number(entry, "a"), now, self._limits.step_up_seconds):
            raise ReauthenticationRequired()

    def _spend(self, key: str, item: Item, proof: Proof, now: int) -> Spend:
        """What a right ``proof`` spends, compared against the item the reservation found; else ``InvalidCode``."""
        mfa = read_map(item, MFA)
        if not proof.totp:
            digest = recovery.digest(self._hasher, key, proof.code)
            if digest not in read_map(mfa, "rc"):
                raise InvalidCode()
            return RecoveryDigest(digest)
        sealed = read_string(mfa, "s")
        step = totp.matching_step(self._open(key, sealed), proof.code, now)
        # A step at or before the last one used is a replay, whether of a sign-in's code or of the confirming one.
        if step is None or ("u" in mfa and step <= read_number(mfa, "u")):
            raise InvalidCode()
        return TotpStep(step, sealed)

    def _open(self, key: str, sealed: str) -> str:
        try:
            return self._store.open(key, sealed)
        except Sealed:
            logger.error("a sealed TOTP secret did not open: moved, tampered or sealed under another key")
            raise InvalidCode() from None

    @staticmethod
    def _codes_left(reserved: Item, spend: Spend) -> int:
        """Unused recovery codes after ``spend``, from the item its reservation found."""
        left = Factors.of(read_map(reserved, MFA)).recovery_codes_left
        return left - 1 if isinstance(spend, RecoveryDigest) else left


def _changing(nonce: str, values: dict[str, Any], *removed: str) -> Callable[[Update], None]:
    """Clauses that set ``values`` in the session's entry and remove its fields ``removed``."""

    def change(update: Update) -> None:
        for name, value in values.items():
            update.set(f"{update.name(SESSIONS, nonce, name)} = {update.value(value)}")
        for name in removed:
            update.remove(SESSIONS, nonce, name)

    return change


def _live_entry(item: Item, nonce: str, now: int) -> dict[str, Any]:
    entry = read_map(item, SESSIONS).get(nonce)
    fields = dict(entry.get("M", {})) if entry else {}
    if not fields or read_number(fields, "x") <= now:
        raise SessionRejected("session ended")
    return fields


# A session entry's fields an upgrade drops: the second current refresh tag, the retired one and its grace (an
# upgrade honours no earlier refresh token), and the mfa_token's tries.
_RETIRED = ("hp", "hg", "r", "t")


def _upgraded(entry: dict[str, Any], expires_at: int, now: int) -> SessionView:
    """The session of ``entry`` once a second factor is proven at ``now``: the first factor's methods and
    ``"mfa"`` (RFC 8176), once; its next generation."""
    amr = [element.get("S", "") for element in entry.get("amr", {}).get("L", [])]
    return SessionView(
        read_number(entry, "c"), expires_at, tuple(dict.fromkeys([*amr, MFA_AMR])), now, read_number(entry, "g") + 1
    )


def _holds(item: Item, nonce: str, tag: str) -> bool:
    """Whether the session holds the refresh tag this request made: its own write landed (a lost answer)."""
    entry = read_map(item, SESSIONS).get(nonce, {}).get("M", {})
    return read_string(entry, "h") == tag


def _still_spendable(item: Item, spend: Spend) -> bool:
    mfa = read_map(item, MFA)
    if isinstance(spend, RecoveryDigest):
        return spend.digest in read_map(mfa, "rc")
    return read_string(mfa, "s") == spend.sealed and ("u" not in mfa or read_number(mfa, "u") < spend.step)
