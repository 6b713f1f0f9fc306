"""CORS as a browser enforces it: Chromium (tests/browser.py) calls `chalice local` with ``fetch()`` from pages of
two other origins, served by a tiny ``http.server`` on two loopback ports. The stage allows the first only.

- From the allowed origin a page reads the JSON of a refusal and the headers it needs (``Retry-After`` of a 429,
  ``WWW-Authenticate`` of a 401), which a browser hides unless they are exposed.
- From any other origin the API's answers are unreadable (``fetch()`` rejects), but the JWKS and the discovery
  document, public by nature, are not.

One stack for the module (``tools.run_local.headless_stack``: no UI), with the allowed origin as its only one.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests import browser, logscan
from tests.browser import needs_chromium
from tools.run_local import HOST, Stack, StackError, headless_stack

pytestmark = needs_chromium
page = browser.page  # a fresh Chromium page per test, once the module's stack is up

ADDRESS = "cors-page@example.com"
# What a page sees of one fetch(): its status, body and the headers asked for, or the error it rejected with.
OUTCOME_JS = """
window.outcome = async (request, headers = []) => {
  try {
    const answer = await request;
    return {status: answer.status, body: await answer.json(),
            headers: Object.fromEntries(headers.map(name => [name, answer.headers.get(name)]))};
  } catch (error) {
    return {error: error.name};
  }
};
"""


class OriginPage(BaseHTTPRequestHandler):
    """An empty HTML page at every path: an origin for the browser to call the API from."""

    def do_GET(self) -> None:
        body = b"<!doctype html><title>an origin</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:  # the test's output is the stack's and the assertions'
        pass


@pytest.fixture(scope="module")
def origins() -> Iterator[tuple[str, str]]:
    """The allowed origin and another one, each serving :class:`OriginPage` on a loopback port of its own."""
    servers = [ThreadingHTTPServer((HOST, 0), OriginPage) for _ in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        allowed, other = (f"http://{HOST}:{server.server_address[1]}" for server in servers)
        yield allowed, other
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture(scope="module")
def stack(origins: tuple[str, str]) -> Iterator[Stack]:
    lines: list[str] = []
    logscan.remember(addresses=[ADDRESS])
    try:
        with headless_stack({"OTP_CORS_ORIGINS": origins[0]}, echo=lines.append) as running:
            yield running
    except StackError as error:
        pytest.fail(f"the local stack did not start: {error}\n" + "\n".join(error.tail))
    finally:
        logscan.add_log_lines("chalice local and the embedded AWS (tests/test_e2e_browser_cors.py)", lines)


def fetched(page: Any, origin: str, script: str, arg: Any) -> dict[str, Any]:
    """What ``script`` (a function of ``arg`` that may call ``outcome``) returns on a page of ``origin``."""
    page.goto(origin)
    page.evaluate(OUTCOME_JS)
    return page.evaluate(script, arg)


def test_a_page_of_an_allowed_origin_reads_the_refusal_and_its_headers(
    stack: Stack, origins: tuple[str, str], page: Any
) -> None:
    seen = fetched(
        page,
        origins[0],
        """
      async ([api, email]) => {
        // application/json makes these preflighted requests: the preflight must allow them first.
        const send = () => fetch(api + "/otp", {method: "POST", headers: {"Content-Type": "application/json"},
                                                body: JSON.stringify({action: "send_otp", email})});
        return {
          sent: await outcome(send()),
          again: await outcome(send(), ["Retry-After"]),  // within the resend cooldown
          me: await outcome(fetch(api + "/me", {headers: {Authorization: "Bearer nonsense"}}), ["WWW-Authenticate"]),
        };
      }""",
        [stack.api_url, ADDRESS],
    )

    assert (seen["sent"]["status"], seen["sent"]["body"]["code"]) == (200, "code_sent")
    again = seen["again"]
    assert (again["status"], again["body"]["code"]) == (429, "resend_cooldown")
    assert again["headers"]["Retry-After"] == str(again["body"]["retry_after"]), again  # null if not exposed
    assert int(again["headers"]["Retry-After"]) > 0
    me = seen["me"]
    assert (me["status"], me["body"]["code"]) == (401, "invalid_token")
    assert me["headers"]["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_a_page_of_another_origin_reads_only_the_public_documents(
    stack: Stack, origins: tuple[str, str], page: Any
) -> None:
    seen = fetched(
        page,
        origins[1],
        """
      async (api) => ({
        // Refused at the preflight: the request is never made.
        send: await outcome(fetch(api + "/otp", {method: "POST", headers: {"Content-Type": "application/json"},
                                                 body: JSON.stringify({action: "send_otp"})})),
        me: await outcome(fetch(api + "/me", {headers: {Authorization: "Bearer nonsense"}})),
        // A simple request: made and answered, but the answer is not this page's to read.
        simple: await outcome(fetch(api + "/me")),
        jwks: await outcome(fetch(api + "/.well-known/jwks.json")),
        discovery: await outcome(fetch(api + "/.well-known/openid-configuration")),
        // A header that needs a preflight: the public documents allow it too.
        preflighted: await outcome(fetch(api + "/.well-known/jwks.json", {headers: {"X-Requested-With": "page"}})),
      })""",
        stack.api_url,
    )

    for refused in ("send", "me", "simple"):
        assert seen[refused] == {"error": "TypeError"}, (refused, seen[refused])  # "Failed to fetch"
    for public, code in (("jwks", "jwks"), ("discovery", "openid_configuration"), ("preflighted", "jwks")):
        assert (seen[public]["status"], seen[public]["body"]["code"]) == (200, code), (public, seen[public])
    assert [key["kty"] for key in seen["jwks"]["body"]["keys"]] == ["EC", "RSA"]  # ES256 and RS256
    assert seen["discovery"]["body"]["jwks_uri"] == stack.api_url + "/.well-known/jwks.json"
