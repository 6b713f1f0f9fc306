"""No other site may show the UI in a frame: every page answer says so, the old way and the new.

A page framed by another site can be laid under that site's bait, so that a click meant for the bait lands on a
button here ("Allow" on an app's consent card, "Remove access", "Send code"): clickjacking. The handle's cookie is
``SameSite=Lax``, which keeps a signed-in session out of other sites' frames, but not out of a same-site page's (a
sibling subdomain), and a framed sign-in page can be clicked through as well.
``Content-Security-Policy: frame-ancestors 'none'`` is what browsers follow (CSP Level 2); ``X-Frame-Options: DENY``
is for those that predate it (RFC 7034). Only ``frame-ancestors`` is set: a fuller policy would have to allow the
inline scripts and styles Streamlit's page is made of.

Only the page's own answer carries them: Streamlit frames some of its own assets (custom components) in the page,
from the same origin, and those must still load.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from frontend.handle import page_load

HEADERS = ((b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"))
_NAMES = {name for name, _ in HEADERS}  # a header of the same name from further in is replaced, not repeated


class NoFraming:
    """ASGI middleware: the headers above on every page answer (see the module doc)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Callable[..., Any]) -> None:
        if not page_load(scope):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in _NAMES]
                message = {**message, "headers": [*kept, *HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
