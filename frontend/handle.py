"""The browser's handle on its state in the UI server: an opaque random cookie, and the server-side map from it.

Why a cookie set by the server, and what it holds:

- A Streamlit session lives as long as one websocket: a reload or a new tab starts a new one, empty. To survive
  them, the browser must carry something the server recognises. What it carries is an opaque, random handle
  (256 bits from :mod:`secrets`), never a token: the person's access and refresh tokens, an ``mfa_token`` and
  the sign-in in progress stay in this process's memory (:class:`HandleStore`), so nothing a script in the page,
  an extension or a copied cookie jar can read is usable against the API.
- The handle is set by the server on the page's own HTTP answer (:class:`HandleCookie`, a Starlette middleware
  mounted by :mod:`frontend.server`), which is the only way to make it ``HttpOnly``: a script in the page (a
  component, ``st.html``) could set a cookie, but then every script of the page could read it too.
  ``SameSite=Lax``: the websocket of another site's page does not carry it, while a person arriving from a link
  (a mail) still finds their session (``Strict`` would hide the cookie from that first page load, and the
  middleware would issue a new handle over the good one). Over https it is ``Secure`` and named with the
  ``__Host-`` prefix, which browsers accept only from the origin itself, without ``Domain``: a sibling
  subdomain cannot plant a handle of its choosing (session fixation).
- Streamlit gives the script the cookies of the websocket's opening request (``st.context.cookies``); the
  script looks its state up with :func:`current` and never writes the cookie.

The store is bounded (:data:`MAX_HANDLES`, least recently used first out) and forgets a handle unused for
:data:`IDLE_SECONDS`; the UI forgets a handle's state at sign-out and whenever the API ends the session.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

NAME = "otp_ui"
SECURE_NAME = f"__Host-{NAME}"  # over https: only this origin can set it, for its whole path
MAX_HANDLES = 10_000
IDLE_SECONDS = 12 * 3600
_HANDLE_CHARS = 43  # secrets.token_urlsafe(32): 256 bits in base64url without padding
# Paths the page's HTML is not served from: assets, the websocket, health checks. Only a page load issues a handle.
_NOT_PAGES = ("/_stcore/", "/static/", "/media/", "/component/", "/app/static/", "/favicon")


def page_load(scope: Mapping[str, Any]) -> bool:
    """True for an ASGI request of the page itself (its HTML), not of an asset, the websocket or a health check."""
    return scope["type"] == "http" and scope.get("method") == "GET" and not scope["path"].startswith(_NOT_PAGES)


T = TypeVar("T")


def new_handle() -> str:
    return secrets.token_urlsafe(32)


def well_formed(value: str | None) -> bool:
    """True for a value shaped like a handle we issue: anything else is ignored and replaced."""
    return (
        value is not None
        and len(value) == _HANDLE_CHARS
        and all(char.isascii() and (char.isalnum() or char in "-_") for char in value)
    )


def cookie_name(https: bool) -> str:
    return SECURE_NAME if https else NAME


def from_cookies(cookies: Mapping[str, str], https: bool) -> str | None:
    """The handle the browser sent, if well formed. Over https only the ``__Host-`` cookie counts."""
    value = cookies.get(cookie_name(https))
    return value if well_formed(value) else None


def set_cookie_header(handle: str, https: bool) -> str:
    """The ``Set-Cookie`` value that gives the browser ``handle``: a session cookie (no expiry of its own)."""
    attributes = ["Path=/", "HttpOnly", "SameSite=Lax"]
    if https:
        attributes.append("Secure")
    return "; ".join([f"{cookie_name(https)}={handle}", *attributes])


class HandleCookie:
    """ASGI middleware: a page load without a well-formed handle gets a new one, ``HttpOnly`` (see module doc).

    https is judged by the request's scheme, or ``X-Forwarded-Proto`` from a proxy that terminates TLS: a wrong
    "https" only makes the cookie stricter (a browser on http drops a ``Secure`` cookie, and the session then
    lasts one tab, as without this middleware).
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Callable[..., Any]) -> None:
        if not page_load(scope):
            await self.app(scope, receive, send)
            return
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        forwarded = headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        https = scope.get("scheme") == "https" or forwarded == "https"
        if from_cookies(_parse_cookies(headers.get("cookie", "")), https) is not None:
            await self.app(scope, receive, send)
            return
        header = set_cookie_header(new_handle(), https).encode("latin-1")

        async def send_with_cookie(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", header)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _parse_cookies(header: str) -> dict[str, str]:
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, found, value = part.strip().partition("=")
        if found and name not in cookies:  # the first of duplicates, as browsers send the most specific first
            cookies[name] = value
    return cookies


class HandleStore(Generic[T]):
    """Handle -> state in this process's memory, bounded in count and idle time; safe across script threads.

    ``make`` builds the state of a handle seen for the first time (or again after it was forgotten). Past the
    limit the least recently used state goes, one that ``precious`` does not keep first: a stream of new
    visitors (or a script opening sessions) pushes out other visitors, not the people signed in.
    """

    def __init__(
        self,
        make: Callable[[], T],
        limit: int = MAX_HANDLES,
        idle_seconds: float = IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        precious: Callable[[T], bool] = lambda _: False,
    ) -> None:
        self._make = make
        self._precious = precious
        self._limit = limit
        self._idle = idle_seconds
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, handle: str) -> T:
        """The state of ``handle``, made afresh if unknown or idle too long; marks it used now."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            entry = self._entries.pop(handle, None)
            state = entry[1] if entry is not None else self._make()
            self._entries[handle] = (now, state)  # most recently used last
            if len(self._entries) > self._limit:
                self._evict_one()
            return state

    def _evict_one(self) -> None:
        for handle, (_, state) in self._entries.items():
            if not self._precious(state):
                del self._entries[handle]
                return
        self._entries.popitem(last=False)

    def forget(self, handle: str) -> None:
        with self._lock:
            self._entries.pop(handle, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _expire(self, now: float) -> None:
        while self._entries:
            handle, (used, _) = next(iter(self._entries.items()))
            if now - used < self._idle:
                return
            del self._entries[handle]
