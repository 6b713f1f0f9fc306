"""The signed-in session as the UI holds it: the two tokens, when they run out, and the account details.

Kept in the UI server's memory only (:mod:`frontend.state`, under the browser's opaque handle), never in the
browser, query parameters, logs or the page. The tokens are excluded from ``repr`` so that a session printed or
logged by mistake does not show them (``st.write`` would still render the fields: never hand it a session).

Times are :func:`frontend.clock.now` values (a monotonic clock) computed from the ``expires_in`` and
``refresh_expires_in`` of the answer that issued the tokens: only durations the API measured itself are
used, so a wrong wall clock on either side changes nothing. When to renew them is :mod:`frontend.renewal`'s
business.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from frontend import api


@dataclass(frozen=True)
class Identifier:
    """One way to sign in to the account, e.g. ``("email", "a@b.com")``."""

    type: str
    value: str


@dataclass(frozen=True)
class TwoStep:
    """The account's second factor as ``/me`` describes it (``mfa``)."""

    totp: bool
    recovery_codes_left: int | None
    recovery_codes_low: bool  # the API's own judgement of "few left": the UI does not count

    @classmethod
    def from_answer(cls, data: object) -> TwoStep | None:
        """The ``mfa`` object of a ``/me`` answer, or ``None`` when the API sent none (two-step not offered)."""
        if not isinstance(data, dict) or not isinstance(data.get("totp"), bool):
            return None
        left = data.get("recovery_codes_left")
        return cls(
            totp=data["totp"],
            recovery_codes_left=left if isinstance(left, int) and not isinstance(left, bool) and left >= 0 else None,
            recovery_codes_low=data.get("recovery_codes_low") is True,
        )


@dataclass(frozen=True)
class Account:
    """What ``GET /me`` said about the account and the session, times as epoch seconds of the API's clock.

    An account holds an email address, a phone (E.164) or both. Fields an older API does not send are ``None``
    (or no identifiers).
    """

    email: str | None
    signed_in_at: int | None
    access_token_expires_at: int | None
    expires_at: int | None
    user_id: str | None = None  # the stable, opaque account id
    identifiers: tuple[Identifier, ...] = ()
    created_at: int | None = None
    last_sign_in_at: int | None = None
    phone: str | None = None
    two_step: TwoStep | None = None
    aal: int | None = None  # the session's assurance level: 2 once a second factor was proven
    admin: bool = False  # the API names the account an admin (its admin routes open at aal 2)
    # The session began with a passkey (RFC 8176 amr "hwk": bound to one device, "swk": synced), which proves
    # both factors at once.
    by_passkey: bool = False

    @property
    def name(self) -> str:
        """Who is signed in, as the account view names them: the address, else the number."""
        return self.email or self.phone or ""

    @classmethod
    def from_answer(cls, data: Mapping[str, Any]) -> Account | None:
        """The account of a ``/me`` answer, or ``None`` when it names neither an address nor a number."""
        email, phone = _text(data.get("email")), _text(data.get("phone"))
        if email is None and phone is None:
            return None
        details = data.get("session")
        details = details if isinstance(details, dict) else {}
        identifiers = data.get("identifiers")
        aal, amr = details.get("aal"), details.get("amr")
        return cls(
            email=email,
            signed_in_at=epoch(details.get("signed_in_at")),
            access_token_expires_at=epoch(details.get("access_token_expires_at")),
            expires_at=epoch(details.get("expires_at")),
            user_id=_text(data.get("user_id")),
            identifiers=tuple(_identifiers(identifiers if isinstance(identifiers, list) else [])),
            created_at=epoch(data.get("created_at")),
            last_sign_in_at=epoch(data.get("last_sign_in_at")),
            phone=phone,
            two_step=TwoStep.from_answer(data.get("mfa")),
            aal=aal if aal in (1, 2) and not isinstance(aal, bool) else None,
            admin=data.get("admin") is True,
            by_passkey=isinstance(amr, list) and bool({"hwk", "swk"} & {each for each in amr if isinstance(each, str)}),
        )


@dataclass(frozen=True)
class Session:
    """Tokens from one ``verified`` or ``refreshed`` answer.

    ``account`` belongs to this access token: a renewed session starts without one until ``/me`` is asked
    again, so the details on screen always describe the token in use.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    received_at: float
    expires_in: int | None  # access token lifetime, seconds from received_at
    refresh_expires_in: int | None  # session lifetime, seconds from received_at
    account: Account | None = None

    @classmethod
    def from_answer(cls, data: Mapping[str, Any], now: float) -> Session | None:
        """The session of a ``verified``/``refreshed`` answer, or ``None`` when it carries no usable tokens."""
        access_token = data.get("access_token")
        refresh_token = data.get("refresh_token")
        if not (isinstance(access_token, str) and access_token and isinstance(refresh_token, str) and refresh_token):
            return None
        return cls(
            access_token=access_token,
            refresh_token=refresh_token,
            received_at=now,
            expires_in=api.parse_seconds(data.get("expires_in")),
            refresh_expires_in=api.parse_seconds(data.get("refresh_expires_in")),
        )

    @property
    def access_expires_at(self) -> float | None:
        return None if self.expires_in is None else self.received_at + self.expires_in

    @property
    def expires_at(self) -> float | None:
        return None if self.refresh_expires_in is None else self.received_at + self.refresh_expires_in

    def with_account(self, account: Account) -> Session:
        return replace(self, account=account)


def _identifiers(entries: list[object]) -> Iterator[Identifier]:
    for entry in entries:
        if isinstance(entry, dict):
            kind, value = _text(entry.get("type")), _text(entry.get("value"))
            if kind and value:
                yield Identifier(kind, value)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def epoch(value: object) -> int | None:
    """A time the API gave in epoch seconds, as whole seconds; ``None`` for anything else (zero, a flag, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    return int(value)


class SessionBox:
    """The one place the session lives while signed in, changed in place and never replaced.

    Streamlit may abort a script run at any ``st`` call, reading or writing ``st.session_state`` included, when
    a newer run is requested (a click during the keep-alive renewal, say). Refresh tokens rotate: once the API
    has answered a refresh, the old token is used up and presenting it again after the short grace window ends
    the whole session; after a proof (an authenticator confirmed, a re-authentication) there is no grace at all.
    So the new session is stored with a plain attribute assignment, which no rerun can interrupt, before
    anything else happens.

    The tabs of one browser share the box (see :mod:`frontend.state`), and their scripts run on threads of their
    own: ``renewing`` is held while the refresh token is traded, so that two tabs due at once trade it once.
    """

    __slots__ = ("current", "renewing")

    def __init__(self) -> None:
        self.current: Session | None = None
        self.renewing = threading.Lock()

    def __repr__(self) -> str:
        return f"SessionBox(signed_in={self.current is not None})"
