"""Bugs of the OpenID Connect provider found while documenting it, left for its author to fix.

Each test asserts the behaviour the provider should have and is marked ``xfail(strict=True)``: it fails while the
bug is there, and the run fails once it is fixed, until the fix removes the mark (and, where the mark says so, the
fuzz's allowance for it in tests/test_adversarial_fuzz.py).
"""

from __future__ import annotations

import pytest
from chalice.test import Client

from tests.conftest import FakeClock
from tests.oauth_flow import RelyingParty, accept
from tests.test_mfa_api import Person


@pytest.fixture
def alice(client: Client, clock: FakeClock) -> Person:
    return Person(client, clock)


@pytest.mark.xfail(
    strict=True,
    reason="chalicelib/http/oauth_routes.py _logout: the OAuthError of _form (a POST body that is not a form) or "
    "_single (a parameter given twice) reaches _browser_answer's catch-all, a 500 server_error page logged as a "
    "bug; tests/test_adversarial_fuzz.py's LOGOUT_500 allows it until the fix",
)
@pytest.mark.parametrize(
    ("method", "query", "content_type"),
    [("POST", "", "application/json"), ("POST", "", "text/plain"), ("GET", "?state=a&state=b", "")],
)
def test_a_logout_request_that_is_not_well_formed_is_a_400_page(
    client: Client, method: str, query: str, content_type: str
) -> None:
    answer = client.http.request(method, f"/oauth2/logout{query}", headers={"Content-Type": content_type}, body=b"{}")
    assert answer.status_code == 400
    assert "<small>invalid_request</small>" in answer.body.decode()


@pytest.mark.xfail(
    strict=True,
    reason="chalicelib/http/oauth_routes.py _client_name: a native client's loopback redirect on its own port does "
    "not start with the registered URI (which has no port), so the words name 'The application'",
)
def test_the_accepted_login_names_a_native_client_that_redirects_to_a_loopback_port(
    client: Client, alice: Person
) -> None:
    accepted = accept(alice, alice.signed_in()["access_token"], RelyingParty(client).challenge_of())
    assert accepted.json_body["message"] == "You are signed in to Local demo."
