"""No other site may frame the UI (frontend/framing.py): every page answer forbids it, in the header browsers follow
(``Content-Security-Policy: frame-ancestors 'none'``) and the older one (``X-Frame-Options: DENY``), beside the
handle's cookie; components' pages, which Streamlit frames in its own page, may be framed by the UI only; other
assets carry neither. Here over HTTP in process, with the middleware in frontend/server.py's order;
tests/test_e2e_browser_oidc.py checks the UI server itself, and that Chromium refuses to show it in a frame
(tests/test_e2e_browser_passkeys.py, the passkey button's frame).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from frontend.framing import NoFraming
from frontend.handle import HandleCookie


def page(_: Request) -> Response:
    return HTMLResponse("<html><body>the UI</body></html>")


def framed_elsewhere(_: Request) -> Response:
    """An answer that already says something about framing: the UI's rule replaces it, never sits beside it."""
    return HTMLResponse("<html></html>", headers={"X-Frame-Options": "SAMEORIGIN"})


def asset(_: Request) -> Response:
    return PlainTextResponse("ok")


SERVER = Starlette(
    routes=[
        Route("/", page),
        Route("/account", page),
        Route("/legacy", framed_elsewhere),
        Route("/_stcore/health", asset),
        Route("/component/some.component/index.html", page),
    ],
    middleware=[Middleware(NoFraming), Middleware(HandleCookie)],
)


def get(path: str) -> tuple[int, dict[str, list[str]]]:
    """The status and headers (each name's values, in order) of a browser's GET of ``path``, with no cookie."""
    location, _, query = path.partition("?")
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": location,
        "raw_path": location.encode(),
        "query_string": query.encode(),
        "headers": [(b"host", b"127.0.0.1:8501")],
        "server": ("127.0.0.1", 8501),
        "client": ("127.0.0.1", 50000),
    }
    started: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            started.append(message)

    asyncio.run(SERVER(scope, receive, send))
    (start,) = started
    headers: dict[str, list[str]] = {}
    for name, value in start["headers"]:
        headers.setdefault(name.decode().lower(), []).append(value.decode())
    return start["status"], headers


def test_every_page_answer_forbids_framing() -> None:
    for path in ("/", "/account?login_challenge=lc1", "/legacy"):
        status, headers = get(path)
        assert status == 200
        assert headers["x-frame-options"] == ["DENY"], path
        assert headers["content-security-policy"] == ["frame-ancestors 'none'"], path
        (cookie,) = headers["set-cookie"]
        assert cookie.startswith("otp_ui=")  # the handle's cookie still comes along


def test_assets_are_left_as_they_are() -> None:
    status, headers = get("/_stcore/health")
    assert status == 200
    assert "x-frame-options" not in headers and "content-security-policy" not in headers


def test_components_may_be_framed_by_the_ui_only() -> None:
    """The passkey button is a component: another site framing it could feed it options and take the credential."""
    status, headers = get("/component/some.component/index.html")
    assert status == 200
    assert headers["x-frame-options"] == ["SAMEORIGIN"]
    assert headers["content-security-policy"] == ["frame-ancestors 'self'"]
    assert "set-cookie" not in headers  # not a page load: the handle is not issued here
