"""The one-time-code service: sending and verifying codes, free of HTTP and of boto3.

Its collaborators are passed in: a :class:`~chalicelib.store.CodeStore`, a
:class:`~chalicelib.mailer.CodeSender`, a :class:`~chalicelib.codes.CodeHasher` and a clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.codes import CodeHasher, generate_code
from chalicelib.config import Limits
from chalicelib.dependencies import DependencyError
from chalicelib.mailer import CodeSender
from chalicelib.store import CodeStore, GuessResult, SendTicket

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
        hasher: CodeHasher,
        limits: Limits,
        clock: Clock = time.time,
    ) -> None:
        self._store = store
        self._sender = sender
        self._hasher = hasher
        self._limits = limits
        self._clock = clock

    def send_code(self, email: str, source_ip: str | None) -> SentCode:
        """Mail a fresh code to the normalised address ``email``; it replaces any earlier code.

        Raises ``Throttled``, or ``DependencyError`` when storage or mail failed (a failed delivery is taken
        back, so the person can ask again at once).
        """
        code = generate_code(self._limits.code_digits)
        ticket = self._store.record_send(
            self._hasher.subject_key("addr", email),
            self._hasher.subject_key("ip", source_ip) if source_ip else None,
            self._hasher.digest(email, code),
            int(self._clock()),
        )
        try:
            self._sender.send_code(email, code, self._limits.code_ttl_seconds // 60)
        except Exception:
            self._take_back(ticket)
            raise
        return SentCode(email, self._limits.code_ttl_seconds, self._limits.resend_cooldown_seconds)

    def verify_code(self, email: str, code: str) -> None:
        """Return once ``code`` is proven to be the live code of the normalised address; it is then used up.

        Raises :class:`InvalidCode`, ``Throttled`` (failure budget spent) or ``DependencyError``.
        """
        address_key = self._hasher.subject_key("addr", email)
        result = self._store.check_guess(address_key, self._hasher.digest(email, code), int(self._clock()))
        if result is not GuessResult.RIGHT:
            raise InvalidCode()

    def _take_back(self, ticket: SendTicket) -> None:
        try:
            self._store.undo_send(ticket)
        except DependencyError as error:
            # The delivery failure is what the caller must hear about; this one only costs a cooldown. Only the
            # error code is logged: the chained SES error may quote the address.
            logger.warning("could not take back a send whose mail failed: %s", error.detail)
