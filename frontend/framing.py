"""No other site may show the UI in a frame: every page answer says so, the old way and the new.

A page framed by another site can be laid under that site's bait, so that a click meant for the bait lands on a
button here ("Allow" on an app's consent card, "Remove access", "Send code"): clickjacking. The handle's cookie is
``SameSite=Lax``, which keeps a signed-in session out of other sites' frames, but not out of a same-site page's (a
sibling subdomain), and a framed sign-in page can be clicked through as well.
``Content-Security-Policy: frame-ancestors 'none'`` is what browsers follow (CSP Level 2); ``X-Frame-Options: DENY``
is for those that predate it (RFC 7034). Only ``frame-ancestors`` is set: a fuller policy would have to allow the
inline scripts and styles Streamlit's page is made of.

Streamlit frames its custom components in the page, from the same origin: their pages (``/component/...``) say
``frame-ancestors 'self'`` (``X-Frame-Options: SAMEORIGIN``), so the UI's own page may frame them and no other site
may. That matters most for the passkey button (frontend/passkey.py): it runs WebAuthn for the UI's relying party,
and another site framing it could hand it sign-in options of its own and take the credential it answers. The other
assets carry no such headers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from frontend.handle import page_load

HEADERS = ((b"x-frame-options", b"DENY"), (b"content-security-policy", b"frame-ancestors 'none'"))
COMPONENT_HEADERS = ((b"x-frame-options", b"SAMEORIGIN"), (b"content-security-policy", b"frame-ancestors 'self'"))
COMPONENTS = "/component/"  # where Streamlit serves custom components' pages and files
_NAMES = {name for name, _ in HEADERS}  # a header of the same name from further in is replaced, not repeated


class NoFraming:
    """ASGI middleware: the headers above on every page answer, and on every component's (see the module doc)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Callable[..., Any]) -> None:
        if page_load(scope):
            headers = HEADERS
        elif scope["type"] == "http" and scope["path"].startswith(COMPONENTS):
            headers = COMPONENT_HEADERS
        else:
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                kept = [(name, value) for name, value in message.get("headers", []) if name.lower() not in _NAMES]
                message = {**message, "headers": [*kept, *headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
