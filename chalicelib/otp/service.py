"""The one-time-code service: sending and verifying codes, free of HTTP and of boto3.

Its collaborators are passed in: a :class:`~chalicelib.otp.store.CodeStore`, an
:class:`~chalicelib.accounts.store.AccountStore`, a :class:`~chalicelib.aws.mailer.CodeSender`, a
:class:`~chalicelib.accounts.sessions.SessionService`, a :class:`~chalicelib.crypto.KeyedHasher` and a clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.accounts.sessions import IssuedSession, SessionService
from chalicelib.accounts.store import AccountStore
from chalicelib.aws.dependencies import DependencyError
from chalicelib.aws.mailer import CodeSender
from chalicelib.config import Limits
from chalicelib.crypto import KeyedHasher
from chalicelib.mfa.challenge import Challenges, MfaRequired
from chalicelib.otp.codes import generate_code
from chalicelib.otp.store import CodeStore, GuessResult, SendTicket

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
EMAIL = "email"


class InvalidCode(Exception):
    """Wrong, expired, used, replaced or never requested: deliberately one answer for all of them."""


@dataclass(frozen=True)
class SentCode:
    email: str
    expires_in: int
    resend_after: int


class OtpService:
    def __init__(
        self,
        store: CodeStore,
        accounts: AccountStore,
        sender: CodeSender,
        sessions: SessionService,
        hasher: KeyedHasher,
        limits: Limits,
        clock: Clock = time.time,
        challenges: Challenges | None = None,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._sender = sender
        self._sessions = sessions
        self._hasher = hasher
        self._limits = limits
        self._clock = clock
        self._challenges = challenges

    def send_code(self, email: str, source_network: str | None) -> SentCode:
        """Mail a fresh code to the normalised address ``email``; it replaces any earlier code.

        Raises ``Throttled``, or ``DependencyError`` when storage or mail failed (a failed delivery is taken
        back, so the person can ask again at once).
        """
        code = generate_code(self._limits.code_digits)
        ticket = SendTicket(
            self._hasher.subject_key(EMAIL, email),
            self._hasher.subject_key("ip", source_network) if source_network else None,
            self._hasher.digest(email, code),
            int(self._clock()),
        )
        try:
            self._store.record_send(ticket)
        except DependencyError:
            # A timed-out write may have landed all the same: take it back, or the person would wait out a
            # cooldown for a mail that never left. The take-back changes nothing if the write did not land.
            self._take_back(ticket)
            raise
        try:
            self._sender.send_code(email, code, self._limits.code_ttl_seconds // 60)
        except Exception:
            self._take_back(ticket)
            raise
        return SentCode(email, self._limits.code_ttl_seconds, self._limits.resend_cooldown_seconds)

    def verify_code(self, email: str, code: str, source_network: str | None = None) -> IssuedSession | MfaRequired:
        """A new session, once ``code`` is proven to be the live code of the normalised address (it is used up).

        The first sign-in of an address creates its account; later ones land in the same account. Failures
        count against ``source_network``'s budgets (see :meth:`CodeStore.check_guess`). Raises
        :class:`InvalidCode`, ``Throttled`` (failure budget spent) or ``DependencyError`` (when settling the
        account or signing the tokens fails, the code is put back, so the person can still use it).
        An account with an active second factor gets :class:`MfaRequired` instead of tokens: the session stays
        pending until ``POST /mfa/verify`` (chalicelib/mfa).
        """
        now = int(self._clock())
        key = self._hasher.subject_key(EMAIL, email)
        guess_digest = self._hasher.digest(email, code)
        pending = self._sessions.prepare(key, now)
        network_key = self._hasher.subject_key("ip", source_network) if source_network else None
        guess = self._store.check_guess(key, guess_digest, now, pending.record, network_key)
        if guess.result is not GuessResult.RIGHT:
            raise InvalidCode()
        try:
            account = self._accounts.settle(key, EMAIL, email, pending.record.nonce, guess.before, now,
                                            also=self._store.failures_cleared(guess.before, now))
            challenge = self._challenges.challenge(pending, account) if self._challenges else None
            return challenge or self._sessions.issue(pending, account, now)
        except DependencyError:
            self._put_back(key, guess_digest, pending.record.nonce)
            raise

    def _put_back(self, key: str, guess_digest: str, nonce: str) -> None:
        try:
            self._store.withdraw_guess(key, guess_digest, nonce)
        except DependencyError as error:
            logger.warning("could not put back a code whose session could not be handed out: %s", error.detail)

    def _take_back(self, ticket: SendTicket) -> None:
        try:
            self._store.undo_send(ticket)
        except DependencyError as error:
            # The first failure is what the caller must hear about; this one only costs a cooldown. Only the
            # error code is logged: a chained SES error may quote the address.
            logger.warning("could not take back a failed send: %s", error.detail)
