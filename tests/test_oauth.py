"""The OpenID Connect provider over HTTP (Chalice's test client): the flow, and each attack the standards name.

RFC 6749 (10: security considerations), RFC 7636 (PKCE), RFC 8252 (loopback redirects), RFC 9207 (``iss``),
OAuth 2.1 and OpenID Connect Core; tests/test_oauth_authlib.py runs the same flow with a client nobody here wrote.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.core.refusals import LoginChallengeInvalid
from chalicelib.oauth.service import OAuthError, Redirect
from tests.conftest import FakeClock, override_settings, serialize_dynamodb
from tests.oauth_flow import (
    DEMO,
    DEMO_REDIRECT,
    EXAMPLE,
    EXAMPLE_REDIRECT,
    EXAMPLE_SECRET,
    ISSUER,
    RelyingParty,
    accept,
    basic,
    claims,
    code_for,
    query_of,
)
from tests.test_mfa_api import Person

BOB = "bob@example.com"


@pytest.fixture
def concurrent(
    client: Client, monkeypatch: pytest.MonkeyPatch, stage_env: dict[str, str]
) -> Callable[[Callable[[], Any]], list[Any]]:
    """Run a call of the service on 8 threads at once. In process, not through Chalice's test client, which swaps
    ``os.environ`` per request (threads would leave it swapped); with the stage's settings pinned, and DynamoDB
    applying one write to an item at a time, as it does (:class:`tests.conftest.SerializedClient`)."""
    override_settings(monkeypatch, **stage_env)
    serialize_dynamodb(monkeypatch)

    def run(call: Callable[[], Any]) -> list[Any]:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda _: call(), range(8)))

    return run


@pytest.fixture
def alice(client: Client, clock: FakeClock) -> Person:
    return Person(client, clock)


@pytest.fixture
def token(alice: Person) -> str:
    """Alice's session in the sign-in UI: the bearer that accepts login challenges."""
    return str(alice.signed_in()["access_token"])


def demo(client: Client) -> RelyingParty:
    return RelyingParty(client)


def example(client: Client) -> RelyingParty:
    return RelyingParty(client, EXAMPLE, EXAMPLE_REDIRECT, EXAMPLE_SECRET)


def signed_in_client(alice: Person, rp: RelyingParty, token: str, **overrides: str) -> dict[str, Any]:
    code = code_for(alice, rp, token, consent=None if rp.client_id == DEMO else True, **overrides)
    answer = rp.redeem(code)
    assert answer.status_code == 200, answer.json_body
    return dict(answer.json_body)


def userinfo(client: Client, access_token: str) -> Any:
    return client.http.get("/oauth2/userinfo", headers={"Authorization": f"Bearer {access_token}"})


# -- the flow --------------------------------------------------------------------------------------------------


def test_a_public_client_signs_in_with_pkce_and_gets_an_id_token(client: Client, alice: Person, token: str) -> None:
    rp = demo(client)
    tokens = signed_in_client(alice, rp, token)

    assert tokens["token_type"] == "Bearer" and tokens["scope"] == "openid email offline_access"
    id_token = claims(tokens["id_token"])
    me = alice.me(token).json_body
    assert id_token["iss"] == ISSUER and id_token["aud"] == DEMO and id_token["sub"] == me["user_id"]
    assert id_token["nonce"] == rp.nonce and id_token["email"] == alice.email and id_token["email_verified"] is True
    assert id_token["auth_time"] == me["session"]["auth_time"]  # the sign-in the UI session proved, not this one
    assert id_token["amr"] == ["otp"] and id_token["acr"].endswith("/aal/1")
    header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256"
    access = claims(tokens["access_token"])
    assert access["client_id"] == DEMO and access["scope"] == tokens["scope"] and access["sid"] == id_token["sid"]
    assert "phone_number" not in access  # what the scope did not grant, the token does not carry
    assert userinfo(client, tokens["access_token"]).json_body == {
        "sub": me["user_id"],
        "email": alice.email,
        "email_verified": True,
    }


def test_the_token_answer_is_never_cached_and_cannot_be_framed(client: Client, alice: Person, token: str) -> None:
    rp = demo(client)
    answer = rp.redeem(code_for(alice, rp, token))
    assert answer.headers["Cache-Control"] == "no-store" and answer.headers["Pragma"] == "no-cache"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


def test_every_page_of_the_flow_refuses_to_be_framed(client: Client, alice: Person, token: str) -> None:
    rp = demo(client)
    pages = [
        rp.authorize(),  # 302 to the login page
        rp.authorize(redirect_uri="https://evil.example/callback"),  # an error page
        rp.authorize(code_challenge_method="plain"),  # an error redirect
        client.http.get("/oauth2/logout"),
    ]
    for page in pages:
        assert page.headers["X-Frame-Options"] == "DENY", page.status_code
        assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
        assert page.headers["Cache-Control"] == "no-store"


def test_without_offline_access_there_is_no_refresh_token_and_the_session_ends_with_the_access_token(
    client: Client, alice: Person, token: str, clock: FakeClock
) -> None:
    rp = demo(client)
    tokens = signed_in_client(alice, rp, token, scope="openid email")
    assert "refresh_token" not in tokens
    clock.advance(tokens["expires_in"])
    assert userinfo(client, tokens["access_token"]).status_code == 401


def test_a_refresh_rotates_and_a_reused_refresh_token_ends_the_session(
    client: Client, alice: Person, token: str
) -> None:
    rp = example(client)
    tokens = signed_in_client(alice, rp, token)
    renewed = rp.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200 and renewed.json_body["scope"] == tokens["scope"]
    assert renewed.json_body["refresh_token"] != tokens["refresh_token"]
    assert claims(renewed.json_body["access_token"])["client_id"] == EXAMPLE
    alice.clock.advance(wiring.get_settings().limits.refresh_grace_seconds + 1)
    reused = rp.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert (reused.status_code, reused.json_body["error"]) == (400, "invalid_grant")
    assert userinfo(client, renewed.json_body["access_token"]).status_code == 401  # reuse ended the session


def test_a_refresh_cannot_widen_the_scope(client: Client, alice: Person, token: str) -> None:
    rp = demo(client)
    tokens = signed_in_client(alice, rp, token)
    wider = rp.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"], "scope": "openid phone"})
    assert (wider.status_code, wider.json_body["error"]) == (400, "invalid_scope")


def test_scopes_the_client_may_not_have_are_left_out(client: Client, alice: Person, token: str) -> None:
    tokens = signed_in_client(alice, demo(client), token, scope="openid profile email")
    assert tokens["scope"] == "openid email"  # RFC 6749 3.3: the answer says what was granted


# -- the authorization request ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "//evil.example/callback",
        "http://127.0.0.1:8502@evil.example/oauth2callback",
        "http://127.0.0.1:8502/oauth2callback#fragment",
        "http://127.0.0.1:8502/oauth2callback/",
        "http://127.0.0.1:8502/OAuth2callback",
        "HTTP://127.0.0.1:8502/oauth2callback",
        "http://127.0.0.1:8503/oauth2callback",  # a web client's port is part of its URI
        "http://127.0.0.1:8502/oauth2callback?next=https://evil.example",
        "",
    ],
)
def test_a_redirect_uri_that_is_not_registered_is_a_page_never_a_redirect(client: Client, redirect_uri: str) -> None:
    answer = example(client).authorize(redirect_uri=redirect_uri or None)
    assert answer.status_code == 400 and "Location" not in answer.headers
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "return address" in answer.body.decode()


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://127.0.0.1:1/callback", "http://localhost:65535/callback", "http://127.0.0.1/callback"],
)
def test_a_native_client_s_loopback_redirect_works_on_any_port(client: Client, redirect_uri: str) -> None:
    assert demo(client).authorize(redirect_uri=redirect_uri).status_code == 302


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8080/callback/",
        "http://127.0.0.1:8080/Callback",
        "http://LOCALHOST:8080/callback",
        "http://127.0.0.2:8080/callback",
        "http://127.0.0.1:8080@evil.example/callback",
        "https://127.0.0.1:8080/callback",
        "http://127.0.0.1:8080/callback#x",
        "http://127.0.0.1:x/callback",
    ],
)
def test_the_any_port_rule_allows_nothing_else(client: Client, redirect_uri: str) -> None:
    assert demo(client).authorize(redirect_uri=redirect_uri).status_code == 400


def test_an_unknown_client_is_a_page(client: Client) -> None:
    answer = RelyingParty(client, "nobody", DEMO_REDIRECT).authorize()
    assert answer.status_code == 400 and "Location" not in answer.headers


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),  # PKCE downgrade
        ({"code_challenge_method": None}, "invalid_request"),  # RFC 7636's default is plain: refused too
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"state": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": "code id_token"}, "unsupported_response_type"),
        ({"scope": "email"}, "invalid_scope"),
        ({"prompt": "none login"}, "invalid_request"),
        ({"max_age": "-1"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"request": "eyJ..."}, "request_not_supported"),
        ({"nonce": "n" * 256}, "invalid_request"),
    ],
)
def test_a_bad_request_with_a_good_redirect_uri_is_answered_there(
    client: Client, overrides: dict[str, str | None], error: str
) -> None:
    rp = demo(client)
    answer = rp.authorize(**overrides)
    assert answer.status_code == 302
    location = answer.headers["Location"]
    assert location.startswith(rp.redirect_uri + "?")
    returned = query_of(location)
    assert returned["error"] == error and returned["iss"] == ISSUER  # RFC 9207
    assert returned.get("state") == (rp.state if overrides.get("state", "") is not None else None)


def test_a_parameter_given_twice_is_refused(client: Client) -> None:
    rp = demo(client)
    query = urlencode(
        [
            ("response_type", "code"),
            ("client_id", DEMO),
            ("redirect_uri", rp.redirect_uri),
            ("scope", "openid"),
            ("state", rp.state),
            ("code_challenge", rp.challenge),
            ("code_challenge", rp.challenge),
            ("code_challenge_method", "S256"),
        ]
    )
    answer = client.http.get(f"/oauth2/authorize?{query}")
    assert query_of(answer.headers["Location"])["error"] == "invalid_request"


# -- the login challenge -----------------------------------------------------------------------------------------


def test_the_ui_reads_what_the_challenge_asks(client: Client) -> None:
    challenge = example(client).challenge_of(login_hint="alice@example.com", prompt="login")
    answer = client.http.get(f"/oauth2/login?login_challenge={challenge}")
    assert answer.status_code == 200
    assert answer.json_body["client"] == {"client_id": EXAMPLE, "client_name": "Example app", "first_party": False}
    assert answer.json_body["scopes"] == ["openid", "email", "offline_access"]
    assert answer.json_body["prompt"] == ["login"] and answer.json_body["login_hint"] == "alice@example.com"


def test_a_challenge_works_once_and_expires(client: Client, alice: Person, token: str, clock: FakeClock) -> None:
    rp = demo(client)
    challenge = rp.challenge_of()
    assert accept(alice, token, challenge).status_code == 200
    used = accept(alice, token, challenge)
    assert (used.status_code, used.json_body["code"]) == (400, "login_challenge_invalid")
    late = rp.challenge_of()
    clock.advance(wiring.get_settings().limits.oauth_login_seconds)
    expired = accept(alice, token, late)
    assert (expired.status_code, expired.json_body["code"]) == (400, "login_challenge_invalid")
    for unknown in ("", "x" * 43, "not a challenge"):
        assert accept(alice, token, unknown).json_body["code"] == "login_challenge_invalid"


def test_accepting_needs_the_person_s_own_full_session(client: Client, alice: Person, token: str) -> None:
    challenge = demo(client).challenge_of()
    assert alice.post("/oauth2/login", {"login_challenge": challenge}).status_code == 401
    tokens = signed_in_client(alice, demo(client), token)
    # A client's token cannot mint codes, for itself or for another client.
    answer = alice.post("/oauth2/login", {"login_challenge": challenge}, token=tokens["access_token"])
    assert (answer.status_code, answer.json_body["code"]) == (403, "insufficient_scope")


def test_a_challenge_accepted_with_another_person_s_token_signs_in_that_person_only(
    client: Client, alice: Person, token: str, clock: FakeClock
) -> None:
    # The challenge is the browser's secret: whoever presents it with their session gets a code for their own
    # account, never for the account of whoever started the request (and the challenge is then spent).
    rp = demo(client)
    challenge = rp.challenge_of(login_hint=alice.email)
    bob = Person(client, clock, BOB)
    bob_token = bob.signed_in()["access_token"]
    answer = accept(bob, bob_token, challenge)
    tokens = rp.redeem(query_of(answer.json_body["redirect_to"])["code"]).json_body
    assert claims(tokens["id_token"])["email"] == BOB
    assert accept(alice, token, challenge).json_body["code"] == "login_challenge_invalid"


def test_prompt_none_answers_login_required_without_a_page(client: Client) -> None:
    rp = demo(client)
    challenge = rp.challenge_of(prompt="none")
    answer = client.http.post(
        "/oauth2/login/reject",
        headers={"Content-Type": "application/json"},
        body=json.dumps({"login_challenge": challenge, "error": "login_required"}),
    )
    assert answer.status_code == 200
    returned = query_of(answer.json_body["redirect_to"])
    assert returned == {"error": "login_required", "state": rp.state, "iss": ISSUER}


def test_prompt_none_with_a_session_that_needs_consent_answers_consent_required(
    client: Client, alice: Person, token: str
) -> None:
    rp = example(client)
    answer = accept(alice, token, rp.challenge_of(prompt="none"))
    assert answer.status_code == 200
    assert query_of(answer.json_body["redirect_to"])["error"] == "consent_required"


def test_a_first_party_client_skips_consent_and_a_third_party_one_asks_once(
    client: Client, alice: Person, token: str
) -> None:
    assert accept(alice, token, demo(client).challenge_of()).status_code == 200
    rp = example(client)
    challenge = rp.challenge_of()
    asked = accept(alice, token, challenge)
    assert (asked.status_code, asked.json_body["code"]) == (403, "consent_required")
    assert asked.json_body["scopes"] == ["openid", "email", "offline_access"]
    assert accept(alice, token, challenge, consent="yes").status_code == 400  # type: ignore[arg-type]
    assert accept(alice, token, challenge, consent=True).status_code == 200
    assert accept(alice, token, rp.challenge_of()).status_code == 200  # remembered
    wider = accept(alice, token, rp.challenge_of(scope="openid email phone"))
    assert wider.json_body["code"] == "consent_required"  # a new scope is asked again
    again = accept(alice, token, rp.challenge_of(prompt="consent"))
    assert again.json_body["code"] == "consent_required"  # prompt=consent asks whatever is remembered


def test_simultaneous_acceptances_of_one_challenge_issue_one_code(
    client: Client, alice: Person, token: str, concurrent: Callable[[Callable[[], Any]], list[Any]]
) -> None:
    challenge = demo(client).challenge_of()
    service, now = wiring.get_oauth(), int(alice.clock())
    principal = wiring.get_sessions().authenticate(token, now)

    def one() -> str:
        try:
            outcome = service.accept(principal, challenge, False, now)
        except LoginChallengeInvalid:
            return "login_challenge_invalid"
        return "accepted" if isinstance(outcome, Redirect) else "other"

    assert sorted(concurrent(one)) == ["accepted"] + ["login_challenge_invalid"] * 7


def test_declining_sends_access_denied(client: Client, alice: Person, token: str) -> None:
    rp = example(client)
    challenge = rp.challenge_of()
    answer = alice.post("/oauth2/login/reject", {"login_challenge": challenge})
    assert query_of(answer.json_body["redirect_to"])["error"] == "access_denied"
    assert accept(alice, token, challenge, consent=True).json_body["code"] == "login_challenge_invalid"


def test_consents_are_listed_and_withdrawing_one_ends_the_client_s_sessions(
    client: Client, alice: Person, token: str
) -> None:
    tokens = signed_in_client(alice, example(client), token)
    listed = client.http.get("/me/consents", headers={"Authorization": f"Bearer {token}"}).json_body["consents"]
    assert [(entry["client_id"], entry["scopes"]) for entry in listed] == [
        (EXAMPLE, ["openid", "email", "offline_access"])
    ]
    assert alice.delete(f"/me/consents/{EXAMPLE}", token).status_code == 200
    assert userinfo(client, tokens["access_token"]).status_code == 401
    assert client.http.get("/me/consents", headers={"Authorization": f"Bearer {token}"}).json_body["consents"] == []
    assert alice.delete(f"/me/consents/{EXAMPLE}", token).status_code == 404
    challenge = example(client).challenge_of()
    assert accept(alice, token, challenge).json_body["code"] == "consent_required"
    assert accept(alice, token, challenge, consent=True).status_code == 200  # into the map left empty


def test_prompt_login_and_max_age_want_a_newer_proof(
    client: Client, alice: Person, token: str, clock: FakeClock
) -> None:
    rp = demo(client)
    clock.advance(1)
    fresh = accept(alice, token, rp.challenge_of(prompt="login"))
    # An account without a second factor re-proves with a code (the answer says so in words; one code for both).
    assert (fresh.status_code, fresh.json_body["code"]) == (401, "reauthentication_required")
    assert "code" in fresh.json_body["message"]
    old = accept(alice, token, rp.challenge_of(max_age="10"))
    assert old.json_body["code"] == "reauthentication_required"
    assert accept(alice, token, rp.challenge_of(max_age="3600")).status_code == 200
    # Re-proven with a code (the UI's step-up), the same challenge is accepted, and says when.
    challenge = rp.challenge_of(prompt="login")
    assert alice.post("/reauthenticate", {"action": "send_otp"}, token=token).status_code == 200
    from tests.conftest import code_in, sent_mails

    proven = alice.post("/reauthenticate", {"otp": code_in(sent_mails()[-1])}, token=token).json_body
    answer = accept(alice, proven["access_token"], challenge)
    assert answer.status_code == 200
    tokens = rp.redeem(query_of(answer.json_body["redirect_to"])["code"]).json_body
    assert claims(tokens["id_token"])["auth_time"] == int(clock())


def test_two_factors_asked_of_an_account_with_one_only(client: Client, alice: Person, token: str) -> None:
    aal2 = "http://idmanagement.gov/ns/assurance/aal/2"
    answer = accept(alice, token, demo(client).challenge_of(acr_values=aal2))
    assert (answer.status_code, answer.json_body["code"]) == (403, "mfa_enrollment_required")


def test_two_factors_asked_of_an_account_with_totp(client: Client, alice: Person, token: str) -> None:
    upgraded = alice.enroll(token)  # confirms the factor: AAL2 tokens
    rp = demo(client)
    tokens = signed_in_client(
        alice, rp, upgraded["access_token"], acr_values="http://idmanagement.gov/ns/assurance/aal/2"
    )
    id_token = claims(tokens["id_token"])
    assert id_token["acr"].endswith("/aal/2") and "mfa" in id_token["amr"]


# -- the token endpoint ------------------------------------------------------------------------------------------


def test_a_code_works_once_and_its_second_redemption_ends_what_the_first_opened(
    client: Client, alice: Person, token: str
) -> None:
    rp = demo(client)
    code = code_for(alice, rp, token)
    first = rp.redeem(code)
    assert first.status_code == 200
    second = rp.redeem(code)
    assert (second.status_code, second.json_body["error"]) == (400, "invalid_grant")
    assert userinfo(client, first.json_body["access_token"]).status_code == 401
    refreshed = rp.token({"grant_type": "refresh_token", "refresh_token": first.json_body["refresh_token"]})
    assert refreshed.status_code == 400
    assert alice.me(token).status_code == 200  # the person's own session is not the client's


def test_simultaneous_redemptions_of_one_code_issue_tokens_once(
    client: Client, alice: Person, token: str, concurrent: Callable[[Callable[[], Any]], list[Any]]
) -> None:
    rp = demo(client)
    code = code_for(alice, rp, token)
    service, now = wiring.get_oauth(), int(alice.clock())
    public = service.clients.get(DEMO)
    assert public is not None
    form = {"code": code, "code_verifier": rp.verifier, "redirect_uri": rp.redirect_uri}

    def one() -> str:
        try:
            return "tokens" if service.grant_code(public, form, now)["access_token"] else "none"
        except OAuthError as refused:
            return refused.error

    assert sorted(concurrent(one)) == ["invalid_grant"] * 7 + ["tokens"]


def test_a_code_is_bound_to_its_verifier_client_and_redirect_uri(client: Client, alice: Person, token: str) -> None:
    rp = demo(client)
    code = code_for(alice, rp, token)
    other_verifier = RelyingParty(client).verifier
    for form, error in [
        ({"code_verifier": other_verifier}, "invalid_grant"),
        ({"code_verifier": "short"}, "invalid_grant"),
        ({"redirect_uri": "http://127.0.0.1:9/callback"}, "invalid_grant"),  # another port than the request's
        ({"code": code[:-1] + ("0" if code[-1] != "0" else "1")}, "invalid_grant"),
        ({"code": ".".join([*code.split(".")[:4], "b3RoZXI", code.split(".")[5]])}, "invalid_grant"),  # a nonce of mine
    ]:
        answer = rp.redeem(**{"code": code, **form})
        assert (answer.status_code, answer.json_body["error"]) == (400, error), form
    missing = rp.token({"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri})
    assert (missing.status_code, missing.json_body["error"]) == (400, "invalid_request")  # no verifier
    assert rp.redeem(code).status_code == 200  # none of those spent it


def test_a_code_of_one_client_cannot_be_redeemed_by_another(client: Client, alice: Person, token: str) -> None:
    mine = demo(client)
    code = code_for(alice, mine, token)
    thief = example(client)
    thief.verifier, thief.redirect_uri = mine.verifier, mine.redirect_uri
    answer = thief.redeem(code)
    assert (answer.status_code, answer.json_body["error"]) == (400, "invalid_grant")
    assert mine.redeem(code).status_code == 200


def test_a_refresh_token_works_only_for_its_client(client: Client, alice: Person, token: str) -> None:
    tokens = signed_in_client(alice, demo(client), token)
    stolen = example(client).token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert (stolen.status_code, stolen.json_body["error"]) == (400, "invalid_grant")
    json_refresh = alice.post("/token/refresh", {"refresh_token": tokens["refresh_token"]})
    assert json_refresh.status_code == 401  # the API's own refresh serves only its own sessions
    ui_refresh = alice.signed_in()["refresh_token"]
    assert demo(client).token({"grant_type": "refresh_token", "refresh_token": ui_refresh}).status_code == 400
    # None of those counted as reuse: the token still works for its client.
    own = demo(client).token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]})
    assert own.status_code == 200


def test_a_locked_account_mid_flow_gets_no_tokens(client: Client, alice: Person, token: str) -> None:
    rp = demo(client)
    code = code_for(alice, rp, token)
    me = alice.me(token).json_body
    home = me["session"]["id"]
    from chalicelib.accounts.sessions import SessionRef

    wiring.get_admin()  # the admin's own store locks accounts; here straight on the item, as a lock writes it
    import boto3

    boto3.client("dynamodb").update_item(
        TableName=wiring.get_settings().table_name,
        Key={"pk": {"S": SessionRef.parse(home).home}},
        UpdateExpression="SET #s = :locked",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":locked": {"S": "locked"}},
    )
    answer = rp.redeem(code)
    assert (answer.status_code, answer.json_body["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("auth", "form", "status", "error"),
    [
        (basic(EXAMPLE, "wrong"), {}, 401, "invalid_client"),
        (basic("nobody", "x"), {}, 401, "invalid_client"),
        ("Basic !!!", {}, 401, "invalid_client"),
        ("", {"client_id": EXAMPLE}, 401, "invalid_client"),  # a confidential client without its secret
        ("", {"client_id": EXAMPLE, "client_secret": "wrong"}, 401, "invalid_client"),
        (basic(EXAMPLE, EXAMPLE_SECRET), {"client_secret": EXAMPLE_SECRET}, 400, "invalid_request"),  # two methods
        ("", {"client_id": DEMO, "client_secret": "anything"}, 401, "invalid_client"),  # a public client has none
        ("", {}, 401, "invalid_client"),
    ],
)
def test_client_authentication(client: Client, auth: str, form: dict[str, str], status: int, error: str) -> None:
    answer = client.http.post(
        "/oauth2/token",
        headers={"Content-Type": "application/x-www-form-urlencoded", **({"Authorization": auth} if auth else {})},
        body=urlencode({"grant_type": "refresh_token", "refresh_token": "x", **form}),
    )
    assert (answer.status_code, answer.json_body["error"]) == (status, error)
    if status == 401:
        assert answer.headers["WWW-Authenticate"].startswith("Basic")


def test_client_secret_post_works_too(client: Client, alice: Person, token: str) -> None:
    rp = example(client)
    code = code_for(alice, rp, token, consent=True)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": rp.redirect_uri,
        "code_verifier": rp.verifier,
        "client_id": EXAMPLE,
        "client_secret": EXAMPLE_SECRET,
    }
    answer = rp.token(form, auth="")
    assert answer.status_code == 200, answer.json_body


@pytest.mark.parametrize(
    ("body", "content_type", "error"),
    [
        (json.dumps({"grant_type": "authorization_code"}), "application/json", "invalid_request"),
        ("grant_type=password&username=a&password=b", "application/x-www-form-urlencoded", "unsupported_grant_type"),
        ("grant_type=client_credentials", "application/x-www-form-urlencoded", "unsupported_grant_type"),
        ("", "application/x-www-form-urlencoded", "invalid_request"),
        ("grant_type=refresh_token&grant_type=refresh_token", "application/x-www-form-urlencoded", "invalid_request"),
        ("grant_type=%ff", "application/x-www-form-urlencoded", "invalid_request"),
    ],
)
def test_a_malformed_token_request_is_an_rfc_6749_error(
    client: Client, body: str, content_type: str, error: str
) -> None:
    answer = client.http.post(
        "/oauth2/token",
        headers={"Content-Type": content_type, "Authorization": basic(EXAMPLE, EXAMPLE_SECRET)},
        body=body,
    )
    assert answer.status_code == 400
    assert answer.json_body == {"error": error, "error_description": answer.json_body["error_description"]}


# -- revocation, introspection, logout ----------------------------------------------------------------------------


def test_revoking_a_refresh_token_ends_its_session_and_only_for_its_client(
    client: Client, alice: Person, token: str
) -> None:
    tokens = signed_in_client(alice, demo(client), token)
    other = example(client).form("/oauth2/revoke", {"token": tokens["refresh_token"]})
    assert other.status_code == 200  # RFC 7009: the same answer, but nothing was revoked
    assert userinfo(client, tokens["access_token"]).status_code == 200
    mine = demo(client).form("/oauth2/revoke", {"token": tokens["refresh_token"], "token_type_hint": "refresh_token"})
    assert (mine.status_code, mine.json_body) == (200, {})
    assert userinfo(client, tokens["access_token"]).status_code == 401
    assert demo(client).form("/oauth2/revoke", {"token": "garbage"}).status_code == 200
    assert demo(client).form("/oauth2/revoke", {}).json_body["error"] == "invalid_request"


def test_revoking_a_refresh_token_rotated_out_ends_nothing(client: Client, alice: Person, token: str) -> None:
    rp = demo(client)
    tokens = signed_in_client(alice, rp, token)
    renewed = rp.token({"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}).json_body
    assert rp.form("/oauth2/revoke", {"token": tokens["refresh_token"]}).status_code == 200
    assert userinfo(client, renewed["access_token"]).status_code == 200  # as /token/revoke: not a current token


def test_revoking_an_access_token_ends_its_session(client: Client, alice: Person, token: str) -> None:
    tokens = signed_in_client(alice, example(client), token)
    assert example(client).form("/oauth2/revoke", {"token": tokens["access_token"]}).status_code == 200
    assert userinfo(client, tokens["access_token"]).status_code == 401


def test_introspection_is_for_confidential_clients_and_tells_a_live_token_from_an_ended_one(
    client: Client, alice: Person, token: str
) -> None:
    tokens = signed_in_client(alice, demo(client), token)
    assert demo(client).form("/oauth2/introspect", {"token": tokens["access_token"]}).status_code == 401
    live = example(client).form("/oauth2/introspect", {"token": tokens["access_token"]}).json_body
    assert live["active"] is True and live["client_id"] == DEMO and live["scope"] == tokens["scope"]
    demo(client).form("/oauth2/revoke", {"token": tokens["refresh_token"]})
    assert example(client).form("/oauth2/introspect", {"token": tokens["access_token"]}).json_body == {"active": False}


def test_rp_initiated_logout_ends_the_client_s_session_and_the_ui_s(client: Client, alice: Person, token: str) -> None:
    rp = example(client)
    tokens = signed_in_client(alice, rp, token)
    query = urlencode(
        {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": EXAMPLE_REDIRECT,
            "state": "after",
            "client_id": EXAMPLE,
        }
    )
    answer = client.http.get(f"/oauth2/logout?{query}")
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{EXAMPLE_REDIRECT}?state=after"
    assert userinfo(client, tokens["access_token"]).status_code == 401
    assert alice.me(token).status_code == 401  # signed out of the UI too: ended everywhere it is checked


def test_logout_redirects_only_to_a_registered_uri(client: Client, alice: Person, token: str) -> None:
    tokens = signed_in_client(alice, example(client), token)
    query = urlencode({"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://evil.example/"})
    answer = client.http.get(f"/oauth2/logout?{query}")
    assert answer.status_code == 400 and "Location" not in answer.headers
    forged = urlencode({"id_token_hint": tokens["id_token"][:-4] + "AAAA", "client_id": EXAMPLE})
    assert client.http.get(f"/oauth2/logout?{forged}").status_code == 400
    assert userinfo(client, tokens["access_token"]).status_code == 200  # a forged hint ends nothing


# -- what the discovery document promises -----------------------------------------------------------------------


def test_discovery_names_only_what_exists(client: Client) -> None:
    document = client.http.get("/.well-known/openid-configuration")
    assert document.headers["Access-Control-Allow-Origin"] == "*"
    metadata = document.json_body
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "revocation_endpoint"):
        path = metadata[name].removeprefix(ISSUER)
        answer = client.http.options(path) if name != "authorization_endpoint" else client.http.get(path)
        assert answer.status_code != 404, name
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert "RS256" in metadata["id_token_signing_alg_values_supported"]


def test_cors_for_the_clients_web_origins(
    client: Client, monkeypatch: pytest.MonkeyPatch, stage_env: dict[str, str]
) -> None:
    clients = json.loads(stage_env["OTP_OAUTH_CLIENTS"])
    clients[0]["allowed_cors_origins"] = ["https://app.example"]  # a browser app, the public client with PKCE
    override_settings(monkeypatch, OTP_OAUTH_CLIENTS=json.dumps(clients))
    preflight = client.http.options(
        "/oauth2/token", headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    )
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example"
    other = client.http.options("/oauth2/token", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
    answer = client.http.post(
        "/oauth2/token",
        headers={"Origin": "https://app.example", "Content-Type": "application/x-www-form-urlencoded"},
        body="grant_type=refresh_token&refresh_token=x&client_id=local-demo",
    )
    assert answer.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_when_signing_fails_the_code_works_again(
    client: Client, alice: Person, token: str, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    rp = demo(client)
    code = code_for(alice, rp, token)
    keys = wiring.get_keys()
    for signer in keys.values():
        signer.signing_kid  # noqa: B018 - the public keys are read once; only signing fails below

    def unavailable(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "KMSInternalException"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "Sign"
        )

    monkeypatch.setattr(wiring.get_client("kms"), "sign", unavailable)
    failed = rp.redeem(code)
    assert (failed.status_code, failed.json_body["error"]) == (503, "temporarily_unavailable")
    assert failed.headers["Retry-After"]
    monkeypatch.undo()
    monkeypatch.setattr(wiring, "CLOCK", clock)
    retried = rp.redeem(code)
    assert retried.status_code == 200, retried.json_body
    assert userinfo(client, retried.json_body["access_token"]).status_code == 200


def test_when_storage_fails_the_code_is_not_spent(
    client: Client, alice: Person, token: str, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    rp = demo(client)
    code = code_for(alice, rp, token)

    def unavailable(**_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": "InternalServerError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "UpdateItem"
        )

    monkeypatch.setattr(wiring.get_client("dynamodb"), "update_item", unavailable)
    failed = rp.redeem(code)
    assert (failed.status_code, failed.json_body["error"]) == (503, "temporarily_unavailable")
    monkeypatch.undo()
    monkeypatch.setattr(wiring, "CLOCK", clock)
    assert rp.redeem(code).status_code == 200


@pytest.mark.parametrize(
    ("method", "query", "content_type"),
    [("POST", "", "application/json"), ("POST", "", "text/plain"), ("GET", "?state=a&state=b", "")],
)
def test_a_logout_request_that_is_not_well_formed_is_a_400_page(
    client: Client, method: str, query: str, content_type: str
) -> None:
    answer = client.http.request(method, f"/oauth2/logout{query}", headers={"Content-Type": content_type}, body=b"{}")
    assert answer.status_code == 400 and answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<small>invalid_request</small>" in answer.body.decode()


def test_the_answers_name_the_client_whatever_port_its_loopback_redirect_took(
    client: Client, alice: Person, token: str
) -> None:
    accepted = accept(alice, token, demo(client).challenge_of())
    assert accepted.json_body["message"] == "You are signed in to Local demo."
    declined = alice.post("/oauth2/login/reject", {"login_challenge": demo(client).challenge_of()})
    assert declined.json_body["message"] == "Local demo was told you did not sign in."
