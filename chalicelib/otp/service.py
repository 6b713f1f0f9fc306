"""The one-time-code service: sending and verifying codes, free of HTTP and of boto3.

Its collaborators are passed in: a :class:`~chalicelib.otp.store.CodeStore`, an
:class:`~chalicelib.accounts.store.AccountStore`, the :class:`~chalicelib.otp.messages.CodeSender` of each kind of
identifier, a
:class:`~chalicelib.accounts.sessions.SessionService`, a :class:`~chalicelib.crypto.KeyedHasher` and a clock.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import NamedTuple

from chalicelib.accounts.identifiers import EMAIL, PHONE, Identifier
from chalicelib.accounts.sessions import IssuedSession, PendingSession, Principal, SessionService
from chalicelib.accounts.store import Account, AccountStore, Asking, Link, LinkedMeanwhile, Unlink
from chalicelib.aws.dependencies import DependencyError
from chalicelib.config import Limits
from chalicelib.core.expressions import Item, Update
from chalicelib.core.refusals import REPLAYED, AccountLocked, InvalidCode, SessionRejected
from chalicelib.core.schema import ACTIVE, SESSIONS
from chalicelib.crypto import KeyedHasher
from chalicelib.mfa.challenge import Challenges, MfaRequired
from chalicelib.otp.codes import Purpose, code_ttl, generate_code, resend_cooldown
from chalicelib.otp.messages import CodeSender
from chalicelib.otp.store import CodeStore, GuessResult, SendTicket

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
Senders = Callable[[str], CodeSender]  # the sender of a kind of identifier, built when first needed


class NotLinked(Exception):
    """Linking refused: the identifier is another account's (``reason`` is a :class:`Link` other than LINKED)."""

    def __init__(self, reason: Link) -> None:
        super().__init__(reason.value)
        self.reason = reason


class SentCode(NamedTuple):
    to: Identifier
    expires_in: int
    resend_after: int


class OtpService:
    def __init__(
        self,
        store: CodeStore,
        accounts: AccountStore,
        senders: Senders,
        sessions: SessionService,
        hasher: KeyedHasher,
        limits: Limits,
        clock: Clock = time.time,
        challenges: Challenges | None = None,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._senders = senders
        self._sessions = sessions
        self._hasher = hasher
        self._limits = limits
        self._clock = clock
        self._challenges = challenges

    def send_code(self, to: Identifier, source_network: str | None, purpose: Purpose = Purpose.SIGN_IN) -> SentCode:
        """Send a fresh code for ``purpose`` to the normalised identifier ``to``; it replaces any earlier code
        (of whatever purpose: an identifier has one live code), and works only for ``purpose``.

        Raises ``Throttled``, or ``DependencyError`` when storage or delivery failed (a failed delivery is taken
        back, so the person can ask again at once).
        """
        code = generate_code(self._limits.code_digits)
        ticket = SendTicket(
            self._hasher.subject_key(to.kind, to.value),
            to.kind,
            self._network_key(source_network),
            self._code_digest(to, code, purpose),
            int(self._clock()),
            self._hasher.subject_key("prefix", to.prefix) if to.kind == PHONE else None,
            to.country,
        )
        try:
            self._store.record_send(ticket)
        except DependencyError:
            # A timed-out write may have landed all the same: take it back, or the person would wait out a
            # cooldown for a message that never left. The take-back changes nothing if the write did not land.
            self._take_back(ticket)
            raise
        ttl = code_ttl(self._limits, to.kind)
        try:
            self._senders(to.kind).send_code(to, code, ttl // 60, purpose)
        except Exception:
            self._take_back(ticket)
            raise
        return SentCode(to, ttl, resend_cooldown(self._limits, to.kind))

    def verify_code(
        self, identifier: Identifier, code: str, source_network: str | None = None
    ) -> IssuedSession | MfaRequired:
        """A new session, once ``code`` is proven to be the identifier's live code (it is used up).

        The first sign-in of an identifier that is not linked to an account creates its account; later ones,
        and those of identifiers linked to it, land in the same account. Failures count against
        ``source_network``'s budgets (see :meth:`CodeStore.check_guess`). Raises :class:`InvalidCode`,
        ``Throttled`` (failure budget spent) or ``DependencyError`` (when settling the account or signing the
        tokens fails, the code is put back, so the person can still use it). An account with an active second
        factor gets :class:`MfaRequired` instead of tokens: the session stays pending until ``POST /mfa/verify``
        (chalicelib/mfa).
        """
        now = int(self._clock())
        key, guess_digest, guess = self._guess(identifier, code, now, source_network)
        amr = AMR[identifier.kind]
        home = self._accounts.linked_home(guess.before)
        if home:
            return self._sign_in_linked(key, guess_digest, guess, home, amr, now)
        pending = guess.pending
        try:
            account = self._accounts.settle(
                key,
                identifier.kind,
                identifier.value,
                pending.record.nonce,
                guess.before,
                now,
                also=self._store.failures_cleared(guess.before, now),
            )
        except DependencyError:
            self._put_back(key, guess_digest, pending.record.nonce)
            raise
        if isinstance(account, LinkedMeanwhile):  # linked to an account since the guess: sign in there
            linked = _Guess(account.item, pending)
            return self._sign_in_linked(key, guess_digest, linked, self._accounts.linked_home(account.item), amr, now)
        self._refuse_locked(account, key, pending.record.nonce)
        try:
            return self._issue(pending, account, now)
        except DependencyError:
            self._put_back(key, guess_digest, pending.record.nonce)
            raise

    def link(self, principal: Principal, identifier: Identifier, code: str, source_network: str | None) -> Account:
        """Add ``identifier`` to ``principal``'s account, once ``code`` proves it is theirs, while the session that
        asks is still live and of its token's generation.

        Raises :class:`InvalidCode` and ``Throttled`` as :meth:`verify_code` does, and :class:`NotLinked` when
        the identifier belongs to an account (this or another: the answer does not say whose), the account
        already holds one of its kind, or the session ended or was upgraded meanwhile.
        """
        now = int(self._clock())
        key, guess_digest, guess = self._guess(identifier, code, now, source_network, Purpose.LINK)
        nonce, account = guess.pending.record.nonce, principal.account
        try:
            outcome = self._accounts.link(
                key,
                identifier.kind,
                identifier.value,
                nonce,
                principal.ref.home,
                account.id,
                _asking(principal),
                now,
                also=self._store.failures_cleared(guess.before, now),
            )
        except DependencyError:
            self._put_back(key, guess_digest, nonce)
            raise
        if outcome is not Link.LINKED:
            raise NotLinked(outcome)
        return account._replace(identifiers={**account.identifiers, identifier.kind: identifier.value})

    def reauthenticate(
        self, principal: Principal, identifier: Identifier, code: str, source_network: str | None
    ) -> IssuedSession:
        """New tokens for ``principal``'s session once ``code`` proves, again, that its person holds
        ``identifier`` (one of the account's, sent a code for :attr:`Purpose.REAUTHENTICATE`): ``auth_time`` is
        now, and the tokens issued before are refused from then on (the session's next generation).

        The guess is spent and counted as any other (:class:`InvalidCode`, ``Throttled``); a failure to sign or
        to write puts the code back (``DependencyError``). ``SessionRejected`` if the session ended, or was
        upgraded by another request, meanwhile.
        """
        now = int(self._clock())
        key, guess_digest, guess = self._guess(identifier, code, now, source_network, Purpose.REAUTHENTICATE)
        speculative, ref, session = guess.pending.record.nonce, principal.ref, principal.session
        cleared = self._store.failures_cleared(guess.before, now)

        def tidy(update: Update) -> None:  # the guess's own session, on the home when the identifier is its own
            update.remove(SESSIONS, speculative)
            if cleared:
                cleared(update)

        renewed = session._replace(authenticated_at=now, generation=session.generation + 1)
        try:
            issued, tag = self._sessions.reissue(principal.account, ref, renewed, now)
            done = self._accounts.reauthenticated(
                ref.home, ref.nonce, session.generation, tag, now, also=tidy if key == ref.home else None
            )
        except DependencyError:
            self._put_back(key, guess_digest, speculative)
            raise
        if not done:
            self._end(key, speculative)
            raise SessionRejected("session ended or upgraded meanwhile")
        if key != ref.home:
            try:
                self._accounts.tidy_linked(key, speculative, also=cleared)
            except DependencyError as error:
                logger.warning("could not tidy an identifier after a re-authentication: %s", error.detail)
        return issued

    def unlink(self, principal: Principal, kind: str) -> bool:
        """Take the identifier of ``kind`` out of ``principal``'s account; False if the account holds none.
        ``SessionRejected`` if the session that asks ended, or was upgraded, meanwhile."""
        account = principal.account
        value = account.identifiers.get(kind)
        if value is None:
            return False
        key = self._hasher.subject_key(kind, value)
        outcome = self._accounts.unlink(
            key, kind, principal.ref.home, account.id, _asking(principal), int(self._clock())
        )
        if outcome is Unlink.SESSION_GONE:
            raise SessionRejected("session ended or upgraded meanwhile")
        return outcome is Unlink.UNLINKED

    def _guess(
        self,
        identifier: Identifier,
        code: str,
        now: int,
        source_network: str | None,
        purpose: Purpose = Purpose.SIGN_IN,
    ) -> tuple[str, str, _Guess]:
        """Spend one guess at the identifier's live code; raises :class:`InvalidCode` unless it was right."""
        key = self._hasher.subject_key(identifier.kind, identifier.value)
        guess_digest = self._code_digest(identifier, code, purpose)
        pending = self._sessions.prepare(key, now, AMR[identifier.kind])
        guess = self._store.check_guess(key, guess_digest, now, pending.record, self._network_key(source_network))
        if guess.result is GuessResult.REPLAYED:
            raise InvalidCode(REPLAYED)  # the same answer as any wrong code; the log says which
        if guess.result is not GuessResult.RIGHT:
            raise InvalidCode()
        return key, guess_digest, _Guess(guess.before, pending)

    def _issue(self, pending: PendingSession, account: Account, now: int) -> IssuedSession | MfaRequired:
        """Tokens for a proven first factor, or an mfa_token where the account owes a second one."""
        challenge = self._challenges.challenge(pending, account) if self._challenges else None
        return challenge or self._sessions.issue(pending, account, now)

    def _sign_in_linked(
        self, key: str, guess_digest: str, guess: _Guess, home: str, amr: tuple[str, ...], now: int
    ) -> IssuedSession | MfaRequired:
        """A session at the account's home for a right guess at an identifier linked to it. The speculative
        session the guess opened at the identifier goes once the tokens are out; until then it is what lets a
        failure put the code back."""
        speculative = guess.pending.record.nonce
        pending = self._sessions.prepare(home, now, amr)
        try:
            account = self._accounts.sign_in_linked(guess.before, pending.record, now)
            if account is None:
                self._put_back(key, guess_digest, speculative)
                raise InvalidCode()
            if account.status != ACTIVE:
                self._end(key, speculative)
            self._refuse_locked(account, home, pending.record.nonce)
            issued = self._issue(pending, account, now)
        except DependencyError:
            self._end(home, pending.record.nonce)
            self._put_back(key, guess_digest, speculative)
            raise
        try:
            self._accounts.tidy_linked(key, speculative, also=self._store.failures_cleared(guess.before, now))
        except DependencyError as error:
            # The session is out; what is left is a session entry no token names, dropped with the next surplus.
            logger.warning("could not tidy a linked identifier after its sign-in: %s", error.detail)
        return issued

    def _refuse_locked(self, account: Account, home: str, nonce: str) -> None:
        """Raise :class:`AccountLocked`, the session the right code opened taken out, if the account is locked.

        The status is the one the sign-in's own write saw: a lock that lands after it has emptied the sessions
        map, this session with it, so its tokens are refused from their first use.
        """
        if account.status != ACTIVE:
            self._end(home, nonce)
            raise AccountLocked()

    def _code_digest(self, to: Identifier, code: str, purpose: Purpose) -> str:
        """The stored form of ``code``, keyed by its purpose: a code sent for one purpose is a wrong guess for
        every other (a sign-in code cannot link a number, a linking code cannot sign in)."""
        if purpose is Purpose.SIGN_IN:
            return self._hasher.digest(to.value, code)
        return self._hasher.tag(f"otp-{purpose.value}", to.value, code)

    def _network_key(self, source_network: str | None) -> str | None:
        return self._hasher.subject_key("ip", source_network) if source_network else None

    def _end(self, home: str, nonce: str) -> None:
        """End a session whose tokens were not handed out (nothing names it, but it holds a slot until then)."""
        try:
            self._accounts.revoke(home, nonce)
        except DependencyError as error:
            logger.warning("could not end a session whose tokens were not handed out: %s", error.detail)

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
            # error code is logged: a chained SES or SNS error may quote the address or number.
            logger.warning("could not take back a failed send: %s", error.detail)


def _asking(principal: Principal) -> Asking:
    return Asking(principal.ref.nonce, principal.session.generation)


class _Guess(NamedTuple):
    before: Item
    pending: PendingSession


# RFC 8176 authentication method references of a code by each channel.
AMR = {EMAIL: ("otp",), PHONE: ("otp", "sms")}
