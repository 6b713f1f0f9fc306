"""When to renew the access token, and calls that renew it transparently: a small policy with no UI in it.

Like an OAuth 2.0 client's token policy (authlib's ``ensure_active_token`` with its ``leeway`` and
``update_token``): given where the session lives, the API and the clock, :class:`TokenRenewal` renews the
access token shortly before it expires, and a call refused with 401 ``invalid_token`` renews once and is
retried once, never more. What the API says about the tokens is written into the :class:`SessionBox` at once:
rotated tokens before anything else runs (the old refresh token is used up), ``None`` once the API has refused
the session. The caller learns from the :class:`Outcome` what to show, and whether the session has ended.

Times are :func:`frontend.clock.now`-style values, as in :class:`frontend.session.Session`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from frontend import api
from frontend.session import Session, SessionBox

# Renew the access token this long before it expires (at most half its lifetime, so a short-lived token is
# not renewed on every look).
MARGIN_SECONDS = 60

Call = Callable[[str], api.ApiResult]  # an API call given the access token


class TokenApi(Protocol):
    """The part of :class:`frontend.api.OtpClient` renewal needs."""

    def refresh(self, refresh_token: str) -> api.ApiResult: ...


@dataclass(frozen=True)
class Outcome:
    """What a call (or the renewal on its way) came to.

    ``result`` is the answer to show: the call's, or the renewal's when renewing decided the outcome (the API
    could not renew, or refused the session). ``ended`` means the API no longer knows the session; the box is
    then already empty.
    """

    result: api.ApiResult
    ended: bool = False


class TokenRenewal:
    """Renews the session held in ``box`` through ``client``, reading the time from ``clock``."""

    def __init__(self, client: TokenApi, box: SessionBox, clock: Callable[[], float]) -> None:
        self._client = client
        self._box = box
        self._clock = clock

    def due(self, session: Session) -> bool:
        """True when the access token expires within the margin (or has expired): renew before using it."""
        if session.expires_in is None:
            return False  # unknown lifetime: only a 401 tells
        margin = min(MARGIN_SECONDS, session.expires_in / 2)
        return self._clock() >= session.received_at + session.expires_in - margin

    def ran_out(self, session: Session) -> bool:
        """True once the session itself has run out: no renewal can bring it back, no call needs making."""
        expires_at = session.expires_at
        return expires_at is not None and self._clock() >= expires_at

    def call(self, call: Call) -> Outcome:
        """Run ``call(access_token)`` for the session in the box, renewing it at most once on the way.

        Renews first when :meth:`due`; otherwise a 401 ``invalid_token`` renews once and ``call`` is retried
        once with the new token. A 401 that a renewal cannot cure ends the session.
        """
        renewal = self._renew() if self.due(self._current()) else None
        if renewal is not None and renewal.ended:
            return renewal
        result = call(self._current().access_token)
        if not _token_refused(result):
            return Outcome(result)
        if renewal is None:
            renewal = self._renew()
            if renewal.ended or not renewal.result.ok:
                return renewal
            result = call(self._current().access_token)
            if not _token_refused(result):
                return Outcome(result)
        elif not renewal.result.ok:
            return renewal  # the token ran out while the API could not renew it: the session may well be alive
        return self._end(result)  # a token fresh from the API was refused: the session was revoked meanwhile

    def _current(self) -> Session:
        session = self._box.current
        assert session is not None, "renewal needs a session"
        return session

    def _renew(self) -> Outcome:
        """Trade the refresh token for new tokens; it is used up, so the new session always replaces it.

        A refused refresh token ends the session. Other failures (API down, 5xx) leave it as it was. Another tab
        of the browser that renewed (or ended) the session while this one waited for the box is taken as this
        renewal's outcome: its refresh token is used up, and presenting it again would count as reuse.
        """
        meant = self._current().refresh_token
        with self._box.renewing:
            now = self._box.current
            if now is None:
                return self._end(api.ApiResult(401, "invalid_token", "The session has ended."))
            if now.refresh_token != meant:  # not a new account read: new tokens
                return Outcome(api.ApiResult(200, "refreshed", "The session was renewed."))
            return self._trade(now)

    def _trade(self, session: Session) -> Outcome:
        result = self._client.refresh(session.refresh_token)
        renewed = Session.from_answer(result.data, self._clock()) if result.ok else None
        if renewed is not None:
            # First, with a plain assignment nothing can interrupt (see SessionBox). Without account details:
            # they described the old access token.
            self._box.current = renewed
            return Outcome(result)
        if result.ok:
            # The old refresh token is spent and no usable new one came back: nothing left to renew with.
            return self._end(api.ApiResult(result.status, api.BAD_RESPONSE, api.UNEXPECTED_ANSWER))
        if result.status == 401 or result.code == "invalid_refresh_token":
            return self._end(result)
        return Outcome(result)

    def _end(self, result: api.ApiResult) -> Outcome:
        self._box.current = None
        return Outcome(result, ended=True)


def _token_refused(result: api.ApiResult) -> bool:
    return result.status == 401 and result.code == "invalid_token"
