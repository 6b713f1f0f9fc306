"""The one-time-code service: sending and verifying codes, free of HTTP and of boto3.

Its collaborators are passed in: a :class:`~chalicelib.otp.store.CodeStore`, a
:class:`~chalicelib.aws.mailer.CodeSender`, a :class:`~chalicelib.accounts.sessions.SessionService`, a
:class:`~chalicelib.otp.codes.KeyedHasher` and a clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.accounts.sessions import IssuedSession, SessionService
from chalicelib.aws.dependencies import DependencyError
from chalicelib.aws.mailer import CodeSender
from chalicelib.config import Limits
from chalicelib.otp.codes import KeyedHasher, generate_code
from chalicelib.otp.store import CodeStore, GuessResult, SendTicket

logger = logging.getLogger(__name__)

Clock = Callable[[], float]


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
        sender: CodeSender,
        sessions: SessionService,
        hasher: KeyedHasher,
        limits: Limits,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._sender = sender
        self._sessions = sessions
        self._hasher = hasher
        self._limits = limits
        self._clock = clock

    def send_code(self, email: str, source_ip: str | None) -> SentCode:
        """Mail a fresh code to the normalised address ``email``; it replaces any earlier code.

        Raises ``Throttled``, or ``DependencyError`` when storage or mail failed (a failed delivery is taken
        back, so the person can ask again at once).
        """
        code = generate_code(self._limits.code_digits)
        ticket = SendTicket(
            self._hasher.subject_key("addr", email),
            self._hasher.subject_key("ip", source_ip) if source_ip else None,
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

    def verify_code(self, email: str, code: str) -> IssuedSession:
        """A new session, once ``code`` is proven to be the live code of the normalised address (it is used up).

        Raises :class:`InvalidCode`, ``Throttled`` (failure budget spent) or ``DependencyError`` (when signing
        the tokens fails, the code is put back, so the person can still use it).
        """
        now = int(self._clock())
        address_key = self._hasher.subject_key("addr", email)
        guess = self._hasher.digest(email, code)
        pending = self._sessions.prepare(email, now)
        if self._store.check_guess(address_key, guess, now, pending.record) is not GuessResult.RIGHT:
            raise InvalidCode()
        try:
            return self._sessions.issue(pending, now)
        except DependencyError:
            self._put_back(address_key, guess, pending.record.session_id)
            raise

    def _put_back(self, address_key: str, guess: str, session_id: str) -> None:
        try:
            self._store.reopen_code(address_key, guess, session_id)
        except DependencyError as error:
            logger.warning("could not put back a code whose session could not be signed: %s", error.detail)

    def _take_back(self, ticket: SendTicket) -> None:
        try:
            self._store.undo_send(ticket)
        except DependencyError as error:
            # The first failure is what the caller must hear about; this one only costs a cooldown. Only the
            # error code is logged: a chained SES error may quote the address.
            logger.warning("could not take back a failed send: %s", error.detail)
