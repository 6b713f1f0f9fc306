"""Passkeys over HTTP (Chalice's test client), with the suite's software authenticator: registering, signing in
usernameless, and each rule of WebAuthn Level 3 the service must keep, each a test."""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.oauth.requests import AAL2
from chalicelib.passkeys.service import MAX_PUBLIC_KEY_BYTES
from tests.aws_calls import RECORDER
from tests.conftest import FakeClock, json_lines, serialize_dynamodb
from tests.dynamodb_size import item_size
from tests.oauth_flow import RelyingParty, accept, claims, query_of
from tests.test_adversarial_faults import Faults, aws_error, timeout
from tests.test_mfa_api import Person, stage
from tests.webauthn_authenticator import UP, UV, Authenticator, b64url

BOB = "bob@example.com"
CREDENTIAL_ITEM_BOUND = 2 * 1024  # docs/item-layout.md


@pytest.fixture
def client(client: Client, monkeypatch: pytest.MonkeyPatch, no_wait_retries: None) -> Client:
    stage(monkeypatch)
    return client


class Holder(Person):
    """Someone with a mailbox and a passkey provider, talking to the API."""

    def __init__(self, client: Client, clock: FakeClock, email: str = "alice@example.com", synced: bool = False):
        super().__init__(client, clock, email)
        self.authenticator = Authenticator(synced=synced)

    def register(self, token: str, name: str = "Laptop", **create: Any) -> Any:
        options = self.post("/passkeys/register/options", token=token)
        assert options.status_code == 200, options.json_body
        body = options.json_body
        credential = self.authenticator.create(body["options"], **create)
        return self.post(
            "/passkeys/register", {"ceremony": body["ceremony"], "credential": credential, "name": name}, token
        )

    def registered(self, token: str, name: str = "Laptop") -> dict[str, Any]:
        answer = self.register(token, name)
        assert (answer.status_code, answer.json_body["code"]) == (200, "passkey_registered"), answer.json_body
        return answer.json_body["passkey"]

    def options(self) -> dict[str, Any]:
        answer = self.post("/passkeys/signin/options")
        assert (answer.status_code, answer.json_body["code"]) == (200, "passkey_options"), answer.json_body
        return answer.json_body

    def passkey_sign_in(self, **get: Any) -> Any:
        body = self.options()
        credential = self.authenticator.get(body["options"], **get)
        return self.post("/passkeys/signin", {"ceremony": body["ceremony"], "credential": credential})

    def step_up_options(self, token: str) -> dict[str, Any]:
        answer = self.post("/passkeys/reauthenticate/options", token=token)
        assert (answer.status_code, answer.json_body["code"]) == (200, "passkey_options"), answer.json_body
        return answer.json_body

    def step_up(self, token: str, **get: Any) -> Any:
        """``POST /passkeys/reauthenticate`` with this holder's newest passkey (``get``: the authenticator's)."""
        body = self.step_up_options(token)
        credential = self.authenticator.get(body["options"], **get)
        return self.post("/passkeys/reauthenticate", {"ceremony": body["ceremony"], "credential": credential}, token)


def refused(answer: Any, code: str = "invalid_passkey", status: int = 401) -> None:
    assert (answer.status_code, answer.json_body["code"]) == (status, code), answer.json_body


def test_a_passkey_registered_signs_in_usernameless_at_aal2(client: Client, clock: FakeClock) -> None:
    alice = Holder(client, clock)
    token = alice.signed_in()["access_token"]
    passkey = alice.registered(token, "My laptop")
    assert passkey["name"] == "My laptop" and passkey["synced"] is False
    answer = alice.passkey_sign_in()
    assert (answer.status_code, answer.json_body["code"]) == (200, "verified"), answer.json_body
    me = alice.me(answer.json_body["access_token"]).json_body
    assert me["email"] == alice.email
    claims = wiring.get_sessions().authenticate(answer.json_body["access_token"], wiring.now())
    assert claims.aal == 2 and claims.session.amr == ("hwk", "user", "mfa")


def test_a_synced_passkey_that_counts_nothing_signs_in_again_and_is_swk(client: Client, clock: FakeClock) -> None:
    alice = Holder(client, clock, synced=True)
    passkey = alice.registered(alice.signed_in()["access_token"])
    assert (passkey["synced"], passkey["backed_up"]) == (True, True)
    for _ in range(2):  # sign count 0 each time: accepted, as synced passkeys report
        answer = alice.passkey_sign_in()
        assert answer.status_code == 200, answer.json_body
    session = wiring.get_sessions().authenticate(answer.json_body["access_token"], wiring.now())
    assert session.session.amr == ("swk", "user", "mfa")


# -- the rules of WebAuthn Level 3 ------------------------------------------------------------------------------


@pytest.fixture
def alice(client: Client, clock: FakeClock) -> Holder:
    """Alice, with one passkey registered."""
    holder = Holder(client, clock)
    holder.token = holder.signed_in()["access_token"]
    holder.registered(holder.token)
    return holder


def test_an_assertion_made_for_another_origin_is_refused(alice: Holder) -> None:
    refused(alice.passkey_sign_in(origin="https://evil.example"))
    refused(alice.passkey_sign_in(origin="http://127.0.0.1:8501"))  # not the RP's: the UI is opened at localhost
    assert alice.passkey_sign_in().status_code == 200


def test_a_registration_made_for_another_origin_is_refused(client: Client, clock: FakeClock) -> None:
    bob = Holder(client, clock, BOB)
    token = bob.signed_in()["access_token"]
    refused(bob.register(token, origin="https://evil.example"))
    assert (
        bob.me(token).status_code == 200
        and bob.post("/me/passkeys", method="GET", token=token).json_body["passkeys"] == []
    )


def test_an_assertion_for_another_rp_id_is_refused(alice: Holder) -> None:
    refused(alice.passkey_sign_in(rp_id="evil.example"))


def test_a_challenge_works_once(alice: Holder) -> None:
    body = alice.options()
    first = alice.authenticator.get(body["options"])
    assert alice.post("/passkeys/signin", {"ceremony": body["ceremony"], "credential": first}).status_code == 200
    again = alice.authenticator.get(body["options"])  # a new signature, over the spent challenge
    refused(alice.post("/passkeys/signin", {"ceremony": body["ceremony"], "credential": again}))


def test_ten_simultaneous_answers_to_one_ceremony_sign_in_exactly_once(
    alice: Holder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Single use is the write's condition, not a read before it: answers racing for one challenge land once."""
    body = alice.options()
    answers = [alice.authenticator.get(body["options"]) for _ in range(10)]  # each its own, growing count
    serialize_dynamodb(monkeypatch)  # as DynamoDB applies writes to one item: moto's threads could interleave
    service = wiring.get_passkeys()

    def run(credential: dict[str, Any]) -> str:
        try:
            service.sign_in(body["ceremony"], credential, None, wiring.now())
            return "ok"
        except Exception as error:
            return type(error).__name__

    with ThreadPoolExecutor(max_workers=len(answers)) as pool:
        results = list(pool.map(run, answers))
    assert results.count("ok") == 1 and set(results) == {"ok", "InvalidPasskey"}, results


def test_an_assertion_over_another_ceremonys_challenge_is_refused(alice: Holder) -> None:
    mine, other = alice.options(), alice.options()
    credential = alice.authenticator.get(mine["options"], challenge=other["options"]["challenge"])
    refused(alice.post("/passkeys/signin", {"ceremony": mine["ceremony"], "credential": credential}))


def test_a_ceremony_expires(alice: Holder) -> None:
    body = alice.options()
    alice.clock.advance(301)
    credential = alice.authenticator.get(body["options"])
    refused(alice.post("/passkeys/signin", {"ceremony": body["ceremony"], "credential": credential}))


def test_user_presence_and_user_verification_are_both_required(alice: Holder) -> None:
    refused(alice.passkey_sign_in(flags=UV))  # verified, but no presence
    refused(alice.passkey_sign_in(flags=UP))  # present, not verified: one factor only
    assert alice.passkey_sign_in().status_code == 200


def test_a_registration_without_user_verification_is_refused(client: Client, clock: FakeClock) -> None:
    bob = Holder(client, clock, BOB)
    refused(bob.register(bob.signed_in()["access_token"], flags=UP))


def test_a_sign_count_that_does_not_grow_is_refused(alice: Holder) -> None:
    assert alice.passkey_sign_in().status_code == 200  # count 1
    assert alice.passkey_sign_in().status_code == 200  # count 2
    refused(alice.passkey_sign_in(sign_count=2))  # a clone replaying the count
    refused(alice.passkey_sign_in(sign_count=0))  # nor may a counting authenticator fall back to 0
    assert alice.passkey_sign_in(sign_count=9).status_code == 200


def test_a_sign_count_regression_is_named_in_the_access_log_and_no_refusal_logs_request_data(
    alice: Holder, capsys: pytest.CaptureFixture[str]
) -> None:
    assert alice.passkey_sign_in().status_code == 200
    capsys.readouterr()
    refused(alice.passkey_sign_in(sign_count=1))
    refused(alice.passkey_sign_in(origin="https://evil.example"))
    lines = [line for line in json_lines(capsys.readouterr().out) if line.get("route") == "/passkeys/signin"]
    assert [line.get("reason") for line in lines] == ["sign count regression", "assertion does not verify"]


def test_a_credential_of_one_account_cannot_sign_in_to_another(alice: Holder, client: Client, clock: FakeClock) -> None:
    bob = Holder(client, clock, BOB)
    bob.registered(bob.signed_in()["access_token"])
    bob_handle = bob.authenticator.keys[list(bob.authenticator.keys)[-1]].user_handle
    refused(alice.passkey_sign_in(user_handle=bob_handle))  # Alice's key, claiming Bob's account


def test_a_registration_ceremony_of_one_account_cannot_register_on_another(
    alice: Holder, client: Client, clock: FakeClock
) -> None:
    bob = Holder(client, clock, BOB)
    bob_token = bob.signed_in()["access_token"]
    options = alice.post("/passkeys/register/options", token=alice.token).json_body
    credential = bob.authenticator.create(options["options"])
    body = {"ceremony": options["ceremony"], "credential": credential, "name": "Bob's"}
    refused(bob.post("/passkeys/register", body, bob_token))  # Alice's ceremony, completed by Bob's session
    assert bob.post("/me/passkeys", method="GET", token=bob_token).json_body["passkeys"] == []


def test_a_sign_in_ceremony_cannot_complete_a_registration(alice: Holder) -> None:
    options = alice.options()
    registration = alice.post("/passkeys/register/options", token=alice.token).json_body["options"]
    credential = alice.authenticator.create({**registration, "challenge": options["options"]["challenge"]})
    refused(alice.post("/passkeys/register", {"ceremony": options["ceremony"], "credential": credential}, alice.token))


def test_an_unknown_credential_is_answered_exactly_like_a_wrong_signature(alice: Holder) -> None:
    stranger = Authenticator()
    stranger.create(alice.post("/passkeys/register/options", token=alice.token).json_body["options"])  # never sent
    body = alice.options()
    unknown = alice.post(
        "/passkeys/signin", {"ceremony": body["ceremony"], "credential": stranger.get(body["options"])}
    )
    body = alice.options()
    wrong = alice.authenticator.get(body["options"])
    wrong["response"]["signature"] = b64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    forged = alice.post("/passkeys/signin", {"ceremony": body["ceremony"], "credential": wrong})
    assert (
        (unknown.status_code, unknown.json_body)
        == (forged.status_code, forged.json_body)
        == (
            401,
            {"code": "invalid_passkey", "message": unknown.json_body["message"]},
        )
    )


def test_a_removed_passkey_is_refused_at_once_and_the_account_still_signs_in_by_code(alice: Holder) -> None:
    (listed,) = alice.post("/me/passkeys", method="GET", token=alice.token).json_body["passkeys"]
    removed = alice.delete(f"/me/passkeys/{listed['id']}", alice.token)
    assert (removed.status_code, removed.json_body["code"]) == (200, "passkey_removed")
    refused(alice.passkey_sign_in())
    refused(alice.delete(f"/me/passkeys/{listed['id']}", alice.token), "passkey_not_found", 404)
    assert alice.signed_in()["code"] == "verified"  # the address it was created with is always a way in


def test_a_locked_account_is_refused(alice: Holder) -> None:
    home = wiring.get_sessions().authenticate(alice.token, wiring.now()).ref.home
    wiring.get_client("dynamodb").update_item(
        TableName=wiring.get_settings().table_name,
        Key={"pk": {"S": home}},
        UpdateExpression="SET #s = :locked",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":locked": {"S": "locked"}},
    )
    refused(alice.passkey_sign_in(), "account_locked", 403)


# -- sessions, factors and limits -------------------------------------------------------------------------------


def test_a_passkey_is_both_factors_of_an_account_with_totp(client: Client, clock: FakeClock) -> None:
    alice = Holder(client, clock)
    token = alice.enroll(alice.signed_in()["access_token"])["access_token"]
    alice.registered(token)
    answer = alice.passkey_sign_in()
    assert (answer.status_code, answer.json_body["code"]) == (200, "verified"), answer.json_body
    assert alice.post("/mfa/recovery-codes", token=answer.json_body["access_token"]).status_code == 200  # stepped up


def test_a_passkey_meets_a_stage_that_requires_two_factors(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = Holder(client, clock), Holder(client, clock, BOB)
    alice.registered(alice.signed_in()["access_token"])
    stage(monkeypatch, OTP_MFA="REQUIRED")
    refused(bob.me(bob.signed_in()["access_token"]), "mfa_enrollment_required", 403)  # no factor: enroll one
    answer = alice.passkey_sign_in()
    assert alice.me(answer.json_body["access_token"]).status_code == 200


def test_under_required_a_passkey_is_the_second_factor_a_code_sign_in_owes(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the stage requires two factors, an account's passkey is its second factor: a code alone earns an
    mfa_token that only the passkey redeems, never a session that could enroll an authenticator app past it."""
    alice = Holder(client, clock)
    alice.registered(alice.signed_in()["access_token"])
    stage(monkeypatch, OTP_MFA="REQUIRED")
    first = alice.first_factor().json_body
    assert (first["code"], first["factors"]) == ("mfa_required", ["passkey"]), first
    options = alice.post("/passkeys/verify/options", {"mfa_token": first["mfa_token"]}).json_body
    credential = alice.authenticator.get(options["options"])
    answer = alice.post(
        "/passkeys/verify", {"mfa_token": first["mfa_token"], "ceremony": options["ceremony"], "credential": credential}
    )
    assert (answer.status_code, answer.json_body["code"]) == (200, "verified"), answer.json_body
    token = answer.json_body["access_token"]
    assert alice.me(token).status_code == 200
    # Its recent proof is the passkey's, not a code's.
    refused(alice.post("/reauthenticate", {}, token), "use_second_factor", 403)
    clock.advance(wiring.get_settings().limits.step_up_seconds + 1)
    late = alice.post("/passkeys/register/options", token=token)
    assert late.json_body["message"] == "Please confirm it is you with your passkey first.", late.json_body
    token = alice.step_up(token).json_body["access_token"]
    assert alice.post("/passkeys/register/options", token=token).status_code == 200
    # Where two-step is optional, the same account signs in with a code alone (the passkey is a way in of its own).
    stage(monkeypatch)
    assert alice.first_factor().json_body["code"] == "verified"


# -- the second factor after a code -----------------------------------------------------------------------------


class TwoStep(Holder):
    """Someone with an authenticator app and a passkey: a code earns an mfa_token, which either redeems."""

    def __init__(self, client: Client, clock: FakeClock, email: str = "alice@example.com", synced: bool = False):
        super().__init__(client, clock, email, synced)
        self.token = self.enroll(self.signed_in()["access_token"])["access_token"]
        self.registered(self.token)

    def verify_options(self, mfa_token: str) -> Any:
        return self.post("/passkeys/verify/options", {"mfa_token": mfa_token})

    def verify(self, mfa_token: str, **get: Any) -> Any:
        """``POST /passkeys/verify`` with this holder's passkey (``get``: the authenticator's)."""
        options = self.verify_options(mfa_token)
        assert (options.status_code, options.json_body["code"]) == (200, "passkey_options"), options.json_body
        body = options.json_body
        credential = self.authenticator.get(body["options"], **get)
        return self.post(
            "/passkeys/verify", {"mfa_token": mfa_token, "ceremony": body["ceremony"], "credential": credential}
        )


@pytest.fixture
def two_step(client: Client, clock: FakeClock) -> TwoStep:
    return TwoStep(client, clock)


def test_a_passkey_is_the_second_factor_after_a_code(two_step: TwoStep) -> None:
    first = two_step.first_factor().json_body
    assert first["code"] == "mfa_required" and first["factors"] == ["totp", "recovery_code", "passkey"]
    answer = two_step.verify(first["mfa_token"])
    assert (answer.status_code, answer.json_body["code"]) == (200, "verified"), answer.json_body
    assert answer.json_body["recovery_codes_left"] == 10 and answer.json_body["recovery_codes_low"] is False
    session = wiring.get_sessions().authenticate(answer.json_body["access_token"], wiring.now())
    # The code's method stays, the passkey's are added: two factors, proven now.
    assert session.aal == 2 and session.session.amr == ("otp", "hwk", "user", "mfa")
    assert session.session.auth_time == wiring.now()
    assert two_step.post("/mfa/recovery-codes", token=answer.json_body["access_token"]).status_code == 200
    assert two_step.post("/token/refresh", {"refresh_token": answer.json_body["refresh_token"]}).status_code == 200


def test_an_mfa_token_redeemed_by_a_passkey_works_once_and_not_with_a_code_after(two_step: TwoStep) -> None:
    mfa_token = two_step.mfa_token()
    options = two_step.verify_options(mfa_token).json_body
    assert two_step.verify(mfa_token).status_code == 200
    refused(two_step.verify_options(mfa_token), "invalid_mfa_token")
    credential = two_step.authenticator.get(options["options"])  # a ceremony opened before the redemption
    late = {"mfa_token": mfa_token, "ceremony": options["ceremony"], "credential": credential}
    refused(two_step.post("/passkeys/verify", late), "invalid_mfa_token")
    refused(two_step.post("/mfa/verify", {"mfa_token": mfa_token, "otp": two_step.code(1)}), "invalid_mfa_token")


def test_an_mfa_token_redeemed_by_a_code_no_longer_opens_a_passkey_ceremony(two_step: TwoStep) -> None:
    mfa_token = two_step.mfa_token()
    options = two_step.verify_options(mfa_token).json_body
    assert two_step.post("/mfa/verify", {"mfa_token": mfa_token, "otp": two_step.code()}).status_code == 200
    credential = two_step.authenticator.get(options["options"])
    answer = two_step.post(
        "/passkeys/verify", {"mfa_token": mfa_token, "ceremony": options["ceremony"], "credential": credential}
    )
    refused(answer, "invalid_mfa_token")


def test_the_second_factor_offers_only_the_accounts_passkeys_and_refuses_anothers(
    two_step: TwoStep, client: Client, clock: FakeClock
) -> None:
    bob = TwoStep(client, clock, BOB)
    mfa_token = two_step.mfa_token()
    options = two_step.verify_options(mfa_token).json_body
    allowed = [entry["id"] for entry in options["options"]["allowCredentials"]]
    assert allowed == list(two_step.authenticator.keys)
    # Bob's authenticator answers Alice's ceremony with Bob's passkey (it signs whatever it is given).
    bobs = bob.authenticator.get({**options["options"], "allowCredentials": []})
    answer = two_step.post(
        "/passkeys/verify", {"mfa_token": mfa_token, "ceremony": options["ceremony"], "credential": bobs}
    )
    refused(answer)
    assert two_step.verify(mfa_token).status_code == 200  # Alice's token still redeems with Alice's


def test_a_second_factor_ceremony_is_bound_to_its_pending_session(
    two_step: TwoStep, client: Client, clock: FakeClock
) -> None:
    first, second = two_step.mfa_token(), two_step.mfa_token()
    options = two_step.verify_options(first).json_body
    credential = two_step.authenticator.get(options["options"])
    answer = two_step.post(
        "/passkeys/verify", {"mfa_token": second, "ceremony": options["ceremony"], "credential": credential}
    )
    refused(answer)  # another sign-in's ceremony
    sign_in = two_step.options()  # nor does a sign-in's ceremony (bound to no session) redeem a token
    credential = two_step.authenticator.get(sign_in["options"])
    refused(
        two_step.post(
            "/passkeys/verify", {"mfa_token": second, "ceremony": sign_in["ceremony"], "credential": credential}
        )
    )
    assert two_step.verify(second).status_code == 200


def test_the_second_factor_needs_presence_verification_and_a_growing_count(two_step: TwoStep) -> None:
    mfa_token = two_step.mfa_token()
    refused(two_step.verify(mfa_token, flags=UP))
    refused(two_step.verify(mfa_token, origin="https://evil.example"))
    assert two_step.passkey_sign_in(sign_count=5).status_code == 200  # the stored count is 5 from here
    refused(two_step.verify(mfa_token, sign_count=5))  # a clone replaying the count
    assert two_step.verify(mfa_token, sign_count=9).status_code == 200


def test_an_expired_mfa_token_opens_no_passkey_ceremony(two_step: TwoStep, clock: FakeClock) -> None:
    mfa_token = two_step.mfa_token()
    options = two_step.verify_options(mfa_token).json_body
    clock.advance(wiring.get_settings().limits.mfa_token_seconds)
    refused(two_step.verify_options(mfa_token), "invalid_mfa_token")
    credential = two_step.authenticator.get(options["options"])
    answer = two_step.post(
        "/passkeys/verify", {"mfa_token": mfa_token, "ceremony": options["ceremony"], "credential": credential}
    )
    refused(answer, "invalid_mfa_token")
    refused(two_step.verify_options("mt1.not.a.token"), "invalid_mfa_token")


def test_a_removed_passkey_is_no_second_factor_and_the_answer_stops_listing_it(two_step: TwoStep) -> None:
    mfa_token = two_step.mfa_token()
    options = two_step.verify_options(mfa_token).json_body
    (listed,) = two_step.post("/me/passkeys", method="GET", token=two_step.token).json_body["passkeys"]
    assert two_step.delete(f"/me/passkeys/{listed['id']}", two_step.token).status_code == 200
    credential = two_step.authenticator.get(options["options"])
    answer = two_step.post(
        "/passkeys/verify", {"mfa_token": mfa_token, "ceremony": options["ceremony"], "credential": credential}
    )
    refused(answer)
    refused(two_step.verify_options(mfa_token), "passkey_not_found", 404)
    assert two_step.first_factor().json_body["factors"] == ["totp", "recovery_code"]


def test_an_account_locked_mid_sign_in_is_refused_its_second_factor(two_step: TwoStep) -> None:
    mfa_token = two_step.mfa_token()
    options = two_step.verify_options(mfa_token).json_body
    table = wiring.get_settings().table_name
    home = next(
        item["pk"]
        for item in boto3.client("dynamodb").scan(TableName=table)["Items"]
        if item["pk"]["S"].startswith("email#") and "account" in item
    )
    boto3.client("dynamodb").update_item(
        TableName=table,
        Key={"pk": home},
        UpdateExpression="SET #s = :l",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":l": {"S": "locked"}},
    )
    credential = two_step.authenticator.get(options["options"])
    answer = two_step.post(
        "/passkeys/verify", {"mfa_token": mfa_token, "ceremony": options["ceremony"], "credential": credential}
    )
    assert answer.json_body["code"] in {"account_locked", "invalid_mfa_token"}, answer.json_body
    assert answer.status_code in {401, 403}


def test_eight_simultaneous_redemptions_of_one_mfa_token_upgrade_it_once(
    two_step: TwoStep, monkeypatch: pytest.MonkeyPatch
) -> None:
    mfa_token = two_step.mfa_token()
    answers = []
    for _ in range(8):  # eight ceremonies, each answered by the passkey (its count growing with each)
        options = two_step.verify_options(mfa_token).json_body
        answers.append((options["ceremony"], two_step.authenticator.get(options["options"])))
    serialize_dynamodb(monkeypatch)
    service = wiring.get_passkeys()  # over the serialized client (moto's in-process DynamoDB is not thread-safe)

    def redeem(answer: tuple[str, dict[str, Any]]) -> str:
        try:
            service.second_factor(mfa_token, answer[0], answer[1], None, wiring.now())
        except Exception as refusal:
            return type(refusal).__name__
        return "verified"

    with ThreadPoolExecutor(8) as pool:
        outcomes = Counter(pool.map(redeem, answers))
    assert outcomes["verified"] == 1, outcomes
    assert set(outcomes) - {"verified"} <= {"InvalidMfaToken", "InvalidPasskey"}, outcomes


def test_a_second_factor_whose_write_landed_but_whose_answer_was_lost_still_signs_in(two_step: TwoStep) -> None:
    faults = Faults()
    mfa_token = two_step.mfa_token()
    options = two_step.verify_options(mfa_token).json_body
    credential = two_step.authenticator.get(options["options"])
    lost = faults.inject("dynamodb", "TransactWriteItems", timeout(), applied=True, times=1)
    try:
        answer = two_step.post(
            "/passkeys/verify", {"mfa_token": mfa_token, "ceremony": options["ceremony"], "credential": credential}
        )
    finally:
        faults.clear()
    assert (answer.status_code, answer.json_body["code"], lost.fired) == (200, "verified", 1), answer.json_body
    assert two_step.me(answer.json_body["access_token"]).status_code == 200


def test_a_second_factor_is_one_read_one_write_and_the_signatures(two_step: TwoStep) -> None:
    mfa_token = two_step.mfa_token()
    options = two_step.verify_options(mfa_token).json_body
    credential = two_step.authenticator.get(options["options"])
    before = Counter(RECORDER.calls)
    answer = two_step.post(
        "/passkeys/verify", {"mfa_token": mfa_token, "ceremony": options["ceremony"], "credential": credential}
    )
    assert answer.status_code == 200, answer.json_body
    made = Counter()
    for call, count in (RECORDER.calls - before).items():
        made[(call.service, call.operation)] += count
    assert {op: n for (service, op), n in made.items() if service == "dynamodb"} == {
        "BatchGetItem": 1,
        "TransactWriteItems": 1,
    }
    assert set(made) - {("dynamodb", "BatchGetItem"), ("dynamodb", "TransactWriteItems")} <= {("kms", "Sign")}


def test_where_two_step_is_off_the_passkey_second_factor_says_so(
    two_step: TwoStep, monkeypatch: pytest.MonkeyPatch
) -> None:
    mfa_token = two_step.mfa_token()
    stage(monkeypatch, OTP_MFA="OFF")
    refused(two_step.verify_options(mfa_token), "mfa_disabled_here", 403)


# -- step-up with a passkey --------------------------------------------------------------------------------------


def test_a_passkey_steps_up_a_session_and_its_earlier_tokens_are_refused(client: Client, clock: FakeClock) -> None:
    alice = Holder(client, clock)
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    alice.registered(confirmed["access_token"])
    clock.advance(301)  # past the step-up window: removing the factor needs a new proof
    refused(alice.delete("/mfa/totp", confirmed["access_token"]), "reauthentication_required", 401)
    answer = alice.step_up(confirmed["access_token"])
    body = answer.json_body
    assert (answer.status_code, body["code"]) == (200, "reauthenticated"), body
    assert (body["recovery_codes_left"], body["recovery_codes_low"]) == (10, False)
    session = wiring.get_sessions().authenticate(body["access_token"], wiring.now())
    assert session.aal == 2 and session.session.authenticated_at == wiring.now()
    assert session.session.amr == ("otp", "mfa", "hwk", "user")  # the code's sign-in and the passkey's factors
    removed = alice.delete("/mfa/totp", body["access_token"])
    assert (removed.status_code, removed.json_body["code"]) == (200, "mfa_disabled"), removed.json_body
    refused(alice.me(confirmed["access_token"]), "invalid_token", 401)  # the earlier generation
    # The earlier refresh token was retired without grace: presenting it is a reuse, which ends the session.
    refused(alice.post("/token/refresh", {"refresh_token": confirmed["refresh_token"]}), "invalid_token", 401)
    refused(alice.me(body["access_token"]), "invalid_token", 401)


def test_a_passkey_step_up_renews_an_admins_proof_for_an_action(client: Client, clock: FakeClock) -> None:
    target = Holder(client, clock, BOB).signed_in()["user_id"]
    admin = Holder(client, clock, "admin@example.com")  # the local stage's admin
    token = admin.enroll(admin.signed_in()["access_token"])["access_token"]  # admins act at AAL2
    admin.registered(token)
    clock.advance(901)  # past OTP_ADMIN_STEP_UP_SECONDS
    refused(admin.post(f"/admin/users/{target}/lock", {"reason": "a test"}, token), "reauthentication_required", 401)
    renewed = admin.step_up(token).json_body["access_token"]
    locked = admin.post(f"/admin/users/{target}/lock", {"reason": "a test"}, renewed)
    assert locked.status_code == 200, locked.json_body


def test_a_passkey_step_up_renews_a_recent_proof_and_offers_only_the_accounts_passkeys(alice: Holder) -> None:
    (listed,) = alice.post("/me/passkeys", method="GET", token=alice.token).json_body["passkeys"]
    options = alice.step_up_options(alice.token)["options"]
    key = list(alice.authenticator.keys)[-1]
    assert [entry["id"] for entry in options["allowCredentials"]] == [key]
    assert options["userVerification"] == "required"
    alice.clock.advance(301)
    refused(alice.delete(f"/me/passkeys/{listed['id']}", alice.token), "reauthentication_required", 401)
    renewed = alice.step_up(alice.token).json_body
    assert renewed["code"] == "reauthenticated" and renewed["recovery_codes_low"] is False, renewed
    assert alice.delete(f"/me/passkeys/{listed['id']}", renewed["access_token"]).status_code == 200


def test_an_account_without_a_passkey_is_offered_no_passkey_step_up(client: Client, clock: FakeClock) -> None:
    bob = Holder(client, clock, BOB)
    refused(
        bob.post("/passkeys/reauthenticate/options", token=bob.signed_in()["access_token"]), "passkey_not_found", 404
    )


def test_another_accounts_passkey_is_refused_exactly_like_a_wrong_one(
    alice: Holder, client: Client, clock: FakeClock
) -> None:
    bob = Holder(client, clock, BOB)
    bob.registered(bob.signed_in()["access_token"])
    body = alice.step_up_options(alice.token)
    foreign = bob.authenticator.get(body["options"])  # Bob's passkey, answering Alice's ceremony
    theirs = alice.post("/passkeys/reauthenticate", {"ceremony": body["ceremony"], "credential": foreign}, alice.token)
    body = alice.step_up_options(alice.token)
    wrong = alice.authenticator.get(body["options"])
    wrong["response"]["signature"] = b64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    forged = alice.post("/passkeys/reauthenticate", {"ceremony": body["ceremony"], "credential": wrong}, alice.token)
    assert (theirs.status_code, theirs.json_body) == (forged.status_code, forged.json_body)
    refused(theirs)
    assert alice.me(alice.token).status_code == 200  # a refusal changes nothing of the session


def test_a_step_up_ceremony_of_another_session_is_refused(alice: Holder) -> None:
    other = alice.signed_in()["access_token"]  # a second session of the same account
    body = alice.step_up_options(alice.token)
    credential = alice.authenticator.get(body["options"])
    refused(alice.post("/passkeys/reauthenticate", {"ceremony": body["ceremony"], "credential": credential}, other))
    again = alice.authenticator.get(body["options"])  # still unspent: the session that asked completes it
    answer = alice.post("/passkeys/reauthenticate", {"ceremony": body["ceremony"], "credential": again}, alice.token)
    assert answer.json_body["code"] == "reauthenticated", answer.json_body


def test_a_step_up_ceremony_works_once_and_no_other_ceremony_completes_it(alice: Holder) -> None:
    body = alice.step_up_options(alice.token)
    first = alice.post(
        "/passkeys/reauthenticate",
        {"ceremony": body["ceremony"], "credential": alice.authenticator.get(body["options"])},
        alice.token,
    )
    assert first.status_code == 200, first.json_body
    token = first.json_body["access_token"]
    replay = {"ceremony": body["ceremony"], "credential": alice.authenticator.get(body["options"])}
    refused(alice.post("/passkeys/reauthenticate", replay, token))
    sign_in = alice.options()  # a sign-in's ceremony is not a step-up's
    credential = alice.authenticator.get(sign_in["options"])
    refused(alice.post("/passkeys/reauthenticate", {"ceremony": sign_in["ceremony"], "credential": credential}, token))
    assert alice.me(token).status_code == 200


def test_a_passkey_step_up_needs_presence_verification_and_a_growing_count(alice: Holder) -> None:
    refused(alice.step_up(alice.token, flags=UV))
    refused(alice.step_up(alice.token, flags=UP))
    stepped = alice.step_up(alice.token, sign_count=3)
    assert stepped.status_code == 200, stepped.json_body
    token = stepped.json_body["access_token"]
    refused(alice.step_up(token, sign_count=3))  # a clone replaying the count
    assert alice.step_up(token, sign_count=50).status_code == 200


# -- a passkey inside the OpenID Connect login challenge ----------------------------------------------------------


def test_an_app_asking_for_a_fresh_sign_in_is_let_in_after_a_passkey_step_up(alice: Holder) -> None:
    """prompt=login of a session signed in by code: the passkey re-proves it (no code), and the app's ID token says
    so: auth_time now, the passkey's methods, two factors."""
    rp = RelyingParty(alice.client)
    alice.clock.advance(60)
    challenge = rp.challenge_of(prompt="login")
    refused(accept(alice, alice.token, challenge), "reauthentication_required", 401)
    renewed = alice.step_up(alice.token).json_body["access_token"]
    answer = accept(alice, renewed, challenge)
    assert answer.status_code == 200, answer.json_body
    tokens = rp.redeem(query_of(answer.json_body["redirect_to"])["code"]).json_body
    id_token = claims(tokens["id_token"])
    assert id_token["auth_time"] == int(alice.clock())
    assert id_token["amr"] == ["otp", "hwk", "user", "mfa"] and id_token["acr"] == AAL2


def test_two_factors_asked_of_a_session_by_code_are_met_with_the_accounts_passkey(alice: Holder) -> None:
    """acr_values AAL2 of an AAL1 session whose account has a passkey and no authenticator app: not "set up an
    authenticator" but "confirm with your passkey" (a code would prove one factor), and the passkey lets the app in
    at AAL2. The UI learns that two factors are asked from the request itself."""
    rp = RelyingParty(alice.client)
    challenge = rp.challenge_of(acr_values=AAL2)
    asked = alice.client.http.get(f"/oauth2/login?login_challenge={challenge}").json_body
    assert asked["acr_values"] == [AAL2]
    refusal = accept(alice, alice.token, challenge)
    refused(refusal, "reauthentication_required", 401)
    assert refusal.json_body["message"] == "Please confirm it is you with your passkey first."
    assert refusal.headers["WWW-Authenticate"] == 'Bearer error="insufficient_user_authentication"'
    renewed = alice.step_up(alice.token).json_body["access_token"]
    answer = accept(alice, renewed, challenge)
    assert answer.status_code == 200, answer.json_body
    id_token = claims(rp.redeem(query_of(answer.json_body["redirect_to"])["code"]).json_body["id_token"])
    assert id_token["acr"] == AAL2 and "mfa" in id_token["amr"]
    plain = alice.client.http.get(f"/oauth2/login?login_challenge={rp.challenge_of()}").json_body
    assert plain["acr_values"] == []


def test_two_factors_asked_where_the_stage_offers_no_passkeys_lead_to_an_authenticator(
    alice: Holder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The account's passkey cannot be used on a stage that names no relying party: an authenticator app is the
    way to two factors there, as for an account without a passkey."""
    stage(monkeypatch, OTP_WEBAUTHN_RP_ID="", OTP_WEBAUTHN_ORIGINS="")
    challenge = RelyingParty(alice.client).challenge_of(acr_values=AAL2)
    refused(accept(alice, alice.token, challenge), "mfa_enrollment_required", 403)


def test_registering_needs_a_recent_proof_and_removing_too_but_renaming_does_not(alice: Holder) -> None:
    (listed,) = alice.post("/me/passkeys", method="GET", token=alice.token).json_body["passkeys"]
    alice.clock.advance(301)
    refused(alice.post("/passkeys/register/options", token=alice.token), "reauthentication_required", 401)
    refused(alice.delete(f"/me/passkeys/{listed['id']}", alice.token), "reauthentication_required", 401)
    renamed = alice.post(f"/me/passkeys/{listed['id']}", {"name": "Phone"}, alice.token, method="PATCH")
    assert (renamed.status_code, renamed.json_body["passkey"]["name"]) == (200, "Phone"), renamed.json_body
    listed = alice.post("/me/passkeys", method="GET", token=alice.token).json_body["passkeys"]
    assert [passkey["name"] for passkey in listed] == ["Phone"]
    assert listed[0]["last_used_at"] is None  # never used to sign in


def test_an_account_holds_at_most_its_limit_of_passkeys(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage(monkeypatch, OTP_MAX_PASSKEYS="2")
    alice = Holder(client, clock)
    token = alice.signed_in()["access_token"]
    first = alice.post("/passkeys/register/options", token=token).json_body  # two ceremonies open at once
    alice.registered(token)
    alice.registered(token)
    refused(alice.post("/passkeys/register/options", token=token), "passkey_limit_reached", 409)
    late = alice.authenticator.create(first["options"])
    refused(
        alice.post("/passkeys/register", {"ceremony": first["ceremony"], "credential": late}, token),
        "passkey_limit_reached",
        409,
    )
    listed = alice.post("/me/passkeys", method="GET", token=token).json_body
    assert (len(listed["passkeys"]), listed["most"]) == (2, 2)


def test_sign_in_ceremonies_are_limited_per_source_network(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage(monkeypatch, OTP_PASSKEY_CEREMONIES_PER_IP="2")
    alice = Holder(client, clock)
    alice.options()
    alice.options()
    answer = alice.post("/passkeys/signin/options")
    refused(answer, "passkey_quota_exceeded", 429)
    assert int(answer.headers["Retry-After"]) > 0


def test_every_kind_of_ceremony_counts_in_the_networks_budget(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Registration, step-up and second-factor options write a ceremony item each, as sign-in's do: a stolen token
    or mfa_token cannot make a network write them without end."""
    two_step = TwoStep(client, clock)  # its registration's options were the first ceremony
    stage(monkeypatch, OTP_PASSKEY_CEREMONIES_PER_IP="4")
    mfa_token = two_step.mfa_token()
    token = two_step.post("/mfa/reauthenticate", {"otp": two_step.code(1)}, two_step.token).json_body["access_token"]
    assert two_step.post("/passkeys/register/options", token=token).status_code == 200  # 2
    two_step.step_up_options(token)  # 3
    assert two_step.verify_options(mfa_token).status_code == 200  # 4
    for answer in (
        two_step.post("/passkeys/register/options", token=token),
        two_step.post("/passkeys/reauthenticate/options", token=token),
        two_step.verify_options(mfa_token),
        two_step.post("/passkeys/signin/options"),
    ):
        refused(answer, "passkey_quota_exceeded", 429)


def test_failed_passkey_sign_ins_spend_the_networks_failure_budget(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage(monkeypatch, OTP_FAILURES_PER_IP="2")
    alice = Holder(client, clock)
    alice.registered(alice.signed_in()["access_token"])
    refused(alice.passkey_sign_in(flags=UP))
    refused(alice.passkey_sign_in(origin="https://evil.example"))
    refused(alice.passkey_sign_in(), "ip_failure_quota_exceeded", 429)  # even the right passkey, from there


def test_malformed_answers_are_refused_before_any_lookup(alice: Holder) -> None:
    body = alice.options()
    refused(alice.post("/passkeys/signin", {"ceremony": body["ceremony"]}), "invalid_body", 400)
    refused(alice.post("/passkeys/signin", {"ceremony": "x", "credential": {}}))
    credential = alice.authenticator.get(body["options"])
    credential["response"]["userHandle"] = b64url(b"admin#not-a-home")
    refused(alice.post("/passkeys/signin", {"ceremony": body["ceremony"], "credential": credential}))
    refused(alice.post("/me/passkeys/not-an-id", {"name": "x"}, alice.token, method="PATCH"), "passkey_not_found", 404)
    refused(
        alice.post("/passkeys/register", {"ceremony": "x", "credential": {}, "name": "\n"}, alice.token),
        "invalid_body",
        400,
    )


def test_a_stage_without_a_relying_party_offers_no_passkeys(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage(monkeypatch, OTP_WEBAUTHN_RP_ID="", OTP_WEBAUTHN_ORIGINS="")
    refused(Holder(client, clock).post("/passkeys/signin/options"), "passkeys_disabled_here", 403)


def test_options_are_webauthn_level_3_json(alice: Holder) -> None:
    registration = alice.post("/passkeys/register/options", token=alice.token).json_body
    options = registration["options"]
    assert options["rp"] == {"id": "localhost", "name": "OTP Sign-in"}
    assert options["authenticatorSelection"] == {
        "residentKey": "required",
        "requireResidentKey": True,
        "userVerification": "required",
    }
    assert options["attestation"] == "none" and options["timeout"] == 300_000
    assert [param["alg"] for param in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert len(options["excludeCredentials"]) == 1 and options["challenge"] == registration["ceremony"]
    assert options["user"]["name"] == alice.email and alice.email not in options["user"]["id"]
    signin = alice.options()["options"]
    assert signin["rpId"] == "localhost" and signin["userVerification"] == "required"
    assert signin.get("allowCredentials", []) == []


# -- at the floor: calls and item sizes --------------------------------------------------------------------------


def test_a_passkey_sign_in_is_one_read_and_one_write(alice: Holder) -> None:
    body = alice.options()
    credential = alice.authenticator.get(body["options"])
    before = Counter(RECORDER.calls)
    answer = alice.post("/passkeys/signin", {"ceremony": body["ceremony"], "credential": credential})
    assert answer.status_code == 200, answer.json_body
    made = Counter()
    for call, count in (RECORDER.calls - before).items():
        made[(call.service, call.operation)] += count
    dynamodb = {operation: count for (service, operation), count in made.items() if service == "dynamodb"}
    assert dynamodb == {"BatchGetItem": 1, "TransactWriteItems": 1}  # beside them only the token's KMS signature
    assert set(made) - {("dynamodb", "BatchGetItem"), ("dynamodb", "TransactWriteItems")} <= {("kms", "Sign")}


def test_the_account_index_names_only_the_home_of_an_account_with_passkeys(alice: Holder) -> None:
    """The admin's lookup by id takes the first item the ``account`` index gives for the account's home: a
    credential item there (it once carried ``account``) could be taken for the account and acted on."""
    table = wiring.get_settings().table_name
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    homes = [item for item in items if "account" in item]
    assert [item["pk"]["S"].split("#")[0] for item in homes] == ["email"]
    assert any(item["pk"]["S"].startswith("passkey#") for item in items)  # the control: a passkey is there


def test_a_passkey_s_items_are_small_and_bounded(alice: Holder) -> None:
    table = wiring.get_settings().table_name
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    (credential,) = [item for item in items if item["pk"]["S"].startswith("passkey#")]
    ceremonies = [item for item in items if item["pk"]["S"].startswith("ceremony#")]
    assert set(credential) == {"pk", "owner", "home", "cose", "sc", "be", "bs", "uv", "ag", "c", "lu", "v"}
    assert "u" in ceremonies[0] and all(item_size(item) < 200 for item in ceremonies)
    # The largest the service stores: the longest COSE key it takes, the largest numbers.
    largest = {
        **credential,
        "cose": {"S": "A" * (MAX_PUBLIC_KEY_BYTES * 4 // 3 + 1)},
        **{name: {"N": str(10**10 - 1)} for name in ("sc", "c", "lu")},
    }
    assert item_size(largest) < CREDENTIAL_ITEM_BOUND
    assert item_size(credential) < 400  # an ES256 passkey's, as registered


# -- AWS failing in the middle of a sign-in ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "failure", "status", "code"),
    [
        ("BatchGetItem", "throttled", 503, "storage_unavailable"),
        ("TransactWriteItems", "throttled", 503, "storage_unavailable"),
        ("TransactWriteItems", "refused", 502, "storage_error"),
        ("TransactWriteItems", "timeout", 503, "storage_unavailable"),
    ],
)
def test_a_sign_in_dynamodb_fails_is_answered_and_can_be_tried_again(
    alice: Holder, operation: str, failure: str, status: int, code: str
) -> None:
    faults = Faults()
    failures = {
        "throttled": lambda: aws_error("ProvisionedThroughputExceededException", 400),
        "refused": lambda: aws_error("AccessDeniedException", 400),
        "timeout": timeout,
    }
    body = alice.options()
    credential = alice.authenticator.get(body["options"])
    faults.inject("dynamodb", operation, failures[failure]())
    try:
        refused(alice.post("/passkeys/signin", {"ceremony": body["ceremony"], "credential": credential}), code, status)
    finally:
        faults.clear()
    alice.authenticator.keys[credential["id"]].sign_count -= 1  # nothing was recorded: the same count works
    answer = alice.post(
        "/passkeys/signin", {"ceremony": body["ceremony"], "credential": alice.authenticator.get(body["options"])}
    )
    assert (answer.status_code, answer.json_body["code"]) == (200, "verified"), answer.json_body


@pytest.mark.parametrize("step", ["options", "register", "sign in"])
def test_a_write_that_landed_but_whose_answer_was_lost_still_succeeds(
    client: Client, clock: FakeClock, step: str
) -> None:
    """botocore retries a timed-out transaction; the retry is refused, for the first attempt did it all. Each
    passkey write recognises its own: the ceremony recorded, the credential registered, the session opened."""
    alice = Holder(client, clock)
    token = alice.signed_in()["access_token"]
    faults = Faults()
    try:
        if step == "options":
            lost = faults.inject("dynamodb", "TransactWriteItems", timeout(), applied=True, times=1)
            body = alice.options()  # asserts 200 passkey_options
            alice.registered(token)
            assert (
                alice.post(
                    "/passkeys/signin",
                    {"ceremony": body["ceremony"], "credential": alice.authenticator.get(body["options"])},
                ).json_body["code"]
                == "verified"
            )  # the ceremony recorded is the one answered
        elif step == "register":
            options = alice.post("/passkeys/register/options", token=token).json_body
            credential = alice.authenticator.create(options["options"])
            lost = faults.inject("dynamodb", "TransactWriteItems", timeout(), applied=True, times=1)
            answer = alice.post(
                "/passkeys/register", {"ceremony": options["ceremony"], "credential": credential}, token
            )
            assert answer.json_body["code"] == "passkey_registered", answer.json_body
            faults.clear()
            assert len(alice.post("/me/passkeys", method="GET", token=token).json_body["passkeys"]) == 1
        else:
            alice.registered(token)
            body = alice.options()
            credential = alice.authenticator.get(body["options"])
            lost = faults.inject("dynamodb", "TransactWriteItems", timeout(), applied=True, times=1)
            answer = alice.post("/passkeys/signin", {"ceremony": body["ceremony"], "credential": credential})
            assert answer.json_body["code"] == "verified", answer.json_body
            faults.clear()
            assert alice.me(answer.json_body["access_token"]).status_code == 200
    finally:
        faults.clear()
    assert lost.fired == 1


def test_a_page_may_rename_a_passkey_from_the_browser(client: Client) -> None:
    """PATCH is the first method of the API a page sends that is not GET, POST or DELETE: the preflight allows it."""
    preflight = client.http.request(
        "OPTIONS",
        "/me/passkeys/" + "0" * 32,
        headers={"Origin": "http://localhost:8501", "Access-Control-Request-Method": "PATCH"},
    )
    assert preflight.status_code == 204
    assert "PATCH" in preflight.headers["Access-Control-Allow-Methods"].split(", ")
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:8501"
