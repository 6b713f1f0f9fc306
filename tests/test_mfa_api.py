"""Two-step sign-in over HTTP (Chalice's test client): the contract, the policy per stage, forged and stale
tokens where a second factor is needed, and AWS failing in the middle of a second-factor sign-in."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from chalice.test import Client

from chalicelib import wiring
from tests.conftest import FakeClock, code_in, code_in_text, override_settings, sent_mails
from tests.test_adversarial_faults import Faults, aws_error, timeout

ALICE = "alice@example.com"


class Person:
    """Someone with a mailbox and an authenticator app, talking to the API."""

    def __init__(self, client: Client, clock: FakeClock, email: str = ALICE) -> None:
        self.client, self.clock, self.email = client, clock, email
        self.secret = ""

    def post(self, path: str, body: Any = None, token: str | None = None, method: str = "POST") -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        raw = json.dumps(body) if body is not None else ""
        return getattr(self.client.http, method.lower())(path, headers=headers, body=raw)

    def delete(self, path: str, token: str) -> Any:
        return self.client.http.delete(path, headers={"Authorization": f"Bearer {token}"})

    def me(self, token: str) -> Any:
        return self.client.http.get("/me", headers={"Authorization": f"Bearer {token}"})

    def first_factor(self) -> Any:
        assert self.post("/otp", {"action": "send_otp", "email": self.email}).status_code == 200
        code = code_in([mail for mail in sent_mails() if mail["to"] == [self.email]][-1])
        answer = self.post("/otp", {"action": "verify_otp", "email": self.email, "otp": code})
        self.clock.advance(30)  # past the resend cooldown; also a new TOTP step
        return answer

    def signed_in(self) -> dict[str, Any]:
        answer = self.first_factor()
        assert (answer.status_code, answer.json_body["code"]) == (200, "verified"), answer.json_body
        return answer.json_body

    def code(self, steps: int = 0) -> str:
        return pyotp.TOTP(self.secret).at(int(self.clock()) + 30 * steps)

    def enroll(self, token: str) -> dict[str, Any]:
        enrolled = self.post("/mfa/totp", token=token)
        assert enrolled.status_code == 200, enrolled.json_body
        self.secret = enrolled.json_body["secret"]
        confirmed = self.post("/mfa/totp/confirm", {"otp": self.code()}, token)
        assert (confirmed.status_code, confirmed.json_body["code"]) == (200, "mfa_enabled"), confirmed.json_body
        return confirmed.json_body

    def mfa_token(self) -> str:
        answer = self.first_factor()
        assert (answer.status_code, answer.json_body["code"]) == (200, "mfa_required"), answer.json_body
        return answer.json_body["mfa_token"]


def stage(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    """The local stage with ``overrides``; sign-ins here follow each other faster than its send quota allows."""
    override_settings(monkeypatch, OTP_SENDS_PER_ADDRESS="1000", **overrides)
    wiring.reset()  # what was built from the earlier settings (a container sees one stage's all its life)


@pytest.fixture
def client(client: Client, monkeypatch: pytest.MonkeyPatch, no_wait_retries: None) -> Client:
    """conftest.py's client on :func:`stage`, whose faults are retried without waiting."""
    stage(monkeypatch)
    return client


@pytest.fixture
def alice(client: Client, clock: FakeClock) -> Person:
    return Person(client, clock)


@pytest.fixture
def faults() -> Iterator[Faults]:
    injected = Faults()
    yield injected
    injected.clear()


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_enroll_sign_in_with_both_factors_then_a_recovery_code_then_remove_after_step_up(
    alice: Person, clock: FakeClock
) -> None:
    first = alice.signed_in()
    enrollment = alice.post("/mfa/totp", token=first["access_token"]).json_body
    assert set(enrollment) == {"message", "code", "secret", "otpauth_uri", "qr_svg"}
    assert enrollment["qr_svg"].startswith("<?xml") and enrollment["secret"] in enrollment["otpauth_uri"]
    alice.secret = enrollment["secret"]
    confirmed = alice.post("/mfa/totp/confirm", {"otp": alice.code()}, first["access_token"]).json_body
    assert len(confirmed["recovery_codes"]) == 10 and confirmed["user_id"] == first["user_id"]
    # The same session, upgraded with new tokens: the earlier ones are refused (a token never carries more than its
    # own claims), so a token stolen before enrollment cannot remove the new factor.
    assert alice.me(first["access_token"]).json_body["code"] == "invalid_token"
    me = alice.me(confirmed["access_token"]).json_body
    assert me["mfa"] == {"totp": True, "recovery_codes_left": 10, "recovery_codes_low": False}
    assert (me["session"]["aal"], me["session"]["amr"], me["session"]["auth_time"]) == (2, ["otp", "mfa"], int(clock()))
    assert alice.post("/mfa/totp", token=confirmed["access_token"]).json_body["code"] == "mfa_already_enabled"
    assert alice.post("/signout", token=confirmed["access_token"]).status_code == 200

    clock.advance(30)
    challenge = alice.first_factor().json_body
    assert {k: challenge[k] for k in ("code", "factors", "expires_in")} == {
        "code": "mfa_required",
        "factors": ["totp", "recovery_code"],
        "expires_in": 300,
    }
    assert "access_token" not in challenge and "refresh_token" not in challenge
    code = alice.code()
    verified = alice.post("/mfa/verify", {"mfa_token": challenge["mfa_token"], "otp": code})
    assert (verified.status_code, verified.json_body["code"], verified.json_body["recovery_codes_left"]) == (
        200,
        "verified",
        10,
    )
    assert claims_of(verified.json_body["access_token"])["aal"] == 2
    replayed = alice.post("/mfa/verify", {"mfa_token": alice.mfa_token(), "otp": code})
    assert (replayed.status_code, replayed.json_body["code"]) == (401, "invalid_code")

    recovery_code = confirmed["recovery_codes"][0]
    rescued = alice.post("/mfa/verify", {"mfa_token": alice.mfa_token(), "recovery_code": recovery_code})
    assert (rescued.status_code, rescued.json_body["recovery_codes_left"]) == (200, 9)
    again = alice.post("/mfa/verify", {"mfa_token": alice.mfa_token(), "recovery_code": recovery_code})
    assert (again.status_code, again.json_body["code"]) == (401, "invalid_code")

    token = rescued.json_body["access_token"]
    clock.advance(301)
    stale = alice.delete("/mfa/totp", token)
    assert (stale.status_code, stale.json_body["code"]) == (401, "reauthentication_required")
    assert stale.headers["WWW-Authenticate"] == 'Bearer error="insufficient_user_authentication"'
    renewed = alice.post("/mfa/reauthenticate", {"otp": alice.code()}, token).json_body
    assert renewed["code"] == "reauthenticated" and claims_of(renewed["access_token"])["auth_time"] == int(clock())
    removed = alice.delete("/mfa/totp", renewed["access_token"])
    assert (removed.status_code, removed.json_body["code"]) == (200, "mfa_disabled")
    assert alice.me(verified.json_body["access_token"]).status_code == 401  # every other session ended
    assert alice.me(renewed["access_token"]).json_body["mfa"]["totp"] is False
    assert alice.first_factor().json_body["code"] == "verified"


def test_recovery_codes_are_renewed_only_after_step_up(alice: Person, clock: FakeClock) -> None:
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    renewed = alice.post("/mfa/recovery-codes", token=confirmed["access_token"])
    assert (renewed.status_code, renewed.json_body["code"], len(renewed.json_body["recovery_codes"])) == (
        200,
        "recovery_codes",
        10,
    )
    clock.advance(301)
    assert alice.post("/mfa/recovery-codes", token=confirmed["access_token"]).json_body["code"] == (
        "reauthentication_required"
    )


def test_the_body_of_a_second_factor_is_exactly_one_proof(alice: Person) -> None:
    alice.enroll(alice.signed_in()["access_token"])
    token = alice.mfa_token()
    for body, code in [
        ({"mfa_token": token}, "invalid_body"),
        ({"mfa_token": token, "otp": "123456", "recovery_code": "x"}, "invalid_body"),
        ({"mfa_token": token, "otp": "12345"}, "invalid_otp"),
        ({"mfa_token": token, "recovery_code": "not-a-code"}, "invalid_code"),
        ({"otp": "123456"}, "invalid_mfa_token"),
        ({"mfa_token": "mt1.x.y.z", "otp": "123456"}, "invalid_mfa_token"),
    ]:
        assert alice.post("/mfa/verify", body).json_body["code"] == code, body


def test_the_second_factor_budget_answers_429_with_retry_after(alice: Person, clock: FakeClock) -> None:
    alice.enroll(alice.signed_in()["access_token"])
    clock.advance(900 - int(clock()) % 900)
    bad = f"{(int(alice.code()) + 1) % 1_000_000:06d}"
    for _ in range(2):
        token = alice.mfa_token()
        for _ in range(5):
            assert alice.post("/mfa/verify", {"mfa_token": token, "otp": bad}).status_code == 401
    refused = alice.post("/mfa/verify", {"mfa_token": alice.mfa_token(), "otp": alice.code()})
    assert (refused.status_code, refused.json_body["code"]) == (429, "too_many_failures")
    assert int(refused.headers["Retry-After"]) == refused.json_body["retry_after"] == 900 - 3 * 30  # three sign-ins


# -- policy -------------------------------------------------------------------------------------------------


def test_with_two_step_required_a_person_without_a_factor_may_only_enroll(
    alice: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage(monkeypatch, OTP_MFA="required")
    first = alice.signed_in()
    token = first["access_token"]
    refused = alice.me(token)
    assert (refused.status_code, refused.json_body["code"]) == (403, "mfa_enrollment_required")
    assert alice.post("/mfa/reauthenticate", {"otp": "123456"}, token).json_body["code"] == ("mfa_enrollment_required")
    refreshed = alice.post("/token/refresh", {"refresh_token": first["refresh_token"]}).json_body
    assert refreshed["code"] == "refreshed"
    confirmed = alice.enroll(refreshed["access_token"])
    assert alice.me(confirmed["access_token"]).status_code == 200
    assert alice.post("/signout", token=confirmed["access_token"]).status_code == 200
    assert alice.first_factor().json_body["code"] == "mfa_required"


def test_an_enrollment_only_session_can_sign_out(alice: Person, monkeypatch: pytest.MonkeyPatch) -> None:
    stage(monkeypatch, OTP_MFA="required")
    token = alice.signed_in()["access_token"]
    assert alice.post("/signout", token=token).json_body["code"] == "signed_out"
    assert alice.post("/mfa/totp", token=token).status_code == 401


def test_where_two_step_is_off_its_routes_say_so(alice: Person, monkeypatch: pytest.MonkeyPatch) -> None:
    stage(monkeypatch, OTP_MFA="off")
    token = alice.signed_in()["access_token"]
    for answer in (
        alice.post("/mfa/totp", token=token),
        alice.delete("/mfa/totp", token),
        alice.post("/mfa/verify", {"mfa_token": "x", "otp": "123456"}),
        alice.post("/mfa/recovery-codes"),
    ):
        assert (answer.status_code, answer.json_body["code"]) == (403, "mfa_disabled_here")


# -- forged and stale tokens ------------------------------------------------------------------------------


def sign(claims: dict[str, Any]) -> str:
    """A token signed by the service's own key: what only a bug or a stolen key could make."""
    token, _ = wiring.get_sessions()._tokens.issue(
        claims["sub"],
        claims["sid"],
        claims["iat"],
        {name: value for name, value in claims.items() if name in ("amr", "auth_time", "aal", "gen", "email")},
    )
    return token


def test_a_token_claiming_aal_2_for_a_pending_session_is_refused(alice: Person, clock: FakeClock) -> None:
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    _, session_id, _, _ = alice.mfa_token().split(".")
    forged = sign(
        {
            **claims_of(confirmed["access_token"]),
            "sid": session_id,
            "amr": ["otp", "mfa"],
            "aal": 2,
            "iat": int(clock()),
        }
    )
    assert alice.me(forged).json_body["code"] == "invalid_token"
    assert alice.delete("/mfa/totp", forged).json_body["code"] == "invalid_token"


def test_a_token_claiming_a_fresh_auth_time_does_not_pass_step_up(alice: Person, clock: FakeClock) -> None:
    """Step-up is decided by the server's session entry, not by the token's claims."""
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    clock.advance(301)
    forged = sign({**claims_of(confirmed["access_token"]), "auth_time": int(clock()), "iat": int(clock())})
    assert alice.me(forged).status_code == 200
    assert alice.delete("/mfa/totp", forged).json_body["code"] == "reauthentication_required"


def test_an_aal_1_token_where_aal_2_is_needed(alice: Person, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> None:
    """A session opened where two-step was off is at aal 1; back under optional it opens nothing."""
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    stage(monkeypatch, OTP_MFA="off")
    clock.advance(30)
    aal1 = alice.signed_in()
    assert claims_of(aal1["access_token"])["aal"] == 1
    stage(monkeypatch, OTP_MFA="optional")
    for answer in (
        alice.me(aal1["access_token"]),
        alice.delete("/mfa/totp", aal1["access_token"]),
        alice.post("/mfa/recovery-codes", token=aal1["access_token"]),
        alice.post("/token/refresh", {"refresh_token": aal1["refresh_token"]}),
    ):
        assert answer.json_body["code"] == "invalid_token"
    assert alice.me(confirmed["access_token"]).status_code == 200


def test_step_up_on_an_account_without_a_factor(alice: Person) -> None:
    token = alice.signed_in()["access_token"]
    assert alice.delete("/mfa/totp", token).json_body["code"] == "mfa_not_enabled"
    assert alice.post("/mfa/totp/confirm", {"otp": "123456"}, token).json_body["code"] == "no_pending_enrollment"


# -- AWS failing in the middle -----------------------------------------------------------------------------


def test_a_failed_signature_leaves_the_mfa_token_and_the_code_usable(alice: Person, faults: Faults) -> None:
    alice.enroll(alice.signed_in()["access_token"])
    token, code = alice.mfa_token(), alice.code()
    faults.inject("kms", "Sign", aws_error("KMSInternalException", 500))
    failed = alice.post("/mfa/verify", {"mfa_token": token, "otp": code})
    assert (failed.status_code, failed.json_body["code"]) == (503, "keys_unavailable")
    faults.clear()
    assert alice.post("/mfa/verify", {"mfa_token": token, "otp": code}).json_body["code"] == "verified"


def test_a_failed_upgrade_write_leaves_the_mfa_token_and_the_code_usable(alice: Person, faults: Faults) -> None:
    alice.enroll(alice.signed_in()["access_token"])
    token, code = alice.mfa_token(), alice.code()
    faults.inject("dynamodb", "UpdateItem", aws_error("ProvisionedThroughputExceededException", 400), skip=1)
    failed = alice.post("/mfa/verify", {"mfa_token": token, "otp": code})
    assert (failed.status_code, failed.json_body["code"]) == (503, "storage_unavailable")
    faults.clear()
    verified = alice.post("/mfa/verify", {"mfa_token": token, "otp": code}).json_body
    assert verified["code"] == "verified" and alice.me(verified["access_token"]).status_code == 200


def test_an_upgrade_that_landed_but_whose_answer_was_lost_still_signs_in(alice: Person, faults: Faults) -> None:
    alice.enroll(alice.signed_in()["access_token"])
    token = alice.mfa_token()
    lost = faults.inject("dynamodb", "UpdateItem", timeout(), skip=1, applied=True, times=1)
    verified = alice.post("/mfa/verify", {"mfa_token": token, "otp": alice.code()}).json_body
    assert (verified["code"], lost.fired) == ("verified", 1), verified
    assert alice.me(verified["access_token"]).status_code == 200
    assert alice.post("/token/refresh", {"refresh_token": verified["refresh_token"]}).status_code == 200


def test_a_confirm_that_landed_but_whose_answer_was_lost_still_enables(alice: Person, faults: Faults) -> None:
    token = alice.signed_in()["access_token"]
    alice.secret = alice.post("/mfa/totp", token=token).json_body["secret"]
    lost = faults.inject("dynamodb", "UpdateItem", timeout(), applied=True, times=1)
    confirmed = alice.post("/mfa/totp/confirm", {"otp": alice.code()}, token).json_body
    assert (confirmed["code"], lost.fired) == ("mfa_enabled", 1), confirmed
    assert alice.me(confirmed["access_token"]).json_body["mfa"]["totp"] is True


def test_a_removal_that_landed_but_whose_answer_was_lost_still_answers_removed(alice: Person, faults: Faults) -> None:
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    lost = faults.inject("dynamodb", "UpdateItem", timeout(), applied=True, times=1)
    removed = alice.delete("/mfa/totp", confirmed["access_token"])
    assert (removed.status_code, removed.json_body["code"], lost.fired) == (200, "mfa_disabled", 1)
    assert alice.me(confirmed["access_token"]).json_body["mfa"]["totp"] is False


def test_a_reauthentication_that_landed_but_whose_answer_was_lost_still_renews(
    alice: Person, faults: Faults, clock: FakeClock
) -> None:
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    clock.advance(301)
    lost = faults.inject("dynamodb", "UpdateItem", timeout(), skip=1, applied=True, times=1)
    renewed = alice.post("/mfa/reauthenticate", {"otp": alice.code()}, confirmed["access_token"]).json_body
    assert (renewed["code"], lost.fired) == ("reauthenticated", 1), renewed
    faults.clear()
    assert alice.post("/mfa/recovery-codes", token=renewed["access_token"]).json_body["code"] == "recovery_codes"


# -- by text message: a phone that created its account, and one linked to an email account ------------------


def by_phone(alice: Person, number: str) -> Any:
    assert alice.post("/otp", {"action": "send_otp", "phone": number}).status_code == 200
    answer = alice.post("/otp", {"action": "verify_otp", "phone": number, "otp": code_in_text(number)})
    alice.clock.advance(61)  # past the SMS resend cooldown; also a new TOTP step
    return answer


def test_a_phone_account_with_a_factor_signs_in_with_both(alice: Person) -> None:
    number = "+14155550123"
    first = by_phone(alice, number).json_body
    alice.enroll(first["access_token"])
    challenge = by_phone(alice, number).json_body
    assert challenge["code"] == "mfa_required"
    verified = alice.post("/mfa/verify", {"mfa_token": challenge["mfa_token"], "otp": alice.code()}).json_body
    assert (verified["code"], verified["phone"]) == ("verified", number)
    assert claims_of(verified["access_token"])["amr"] == ["otp", "sms", "mfa"]


def test_a_phone_linked_to_an_account_with_a_factor_needs_the_factor_too(alice: Person) -> None:
    number = "+14155550124"
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    assert alice.post("/me/phone", {"phone": number}, confirmed["access_token"]).status_code == 200
    linked = alice.post("/me/phone/verify", {"phone": number, "otp": code_in_text(number)}, confirmed["access_token"])
    assert linked.json_body["code"] == "phone_linked", linked.json_body
    alice.clock.advance(61)
    challenge = by_phone(alice, number).json_body
    assert challenge["code"] == "mfa_required", challenge
    verified = alice.post("/mfa/verify", {"mfa_token": challenge["mfa_token"], "otp": alice.code()}).json_body
    assert verified["code"] == "verified" and verified["user_id"] == confirmed["user_id"]
    assert alice.me(verified["access_token"]).json_body["session"]["aal"] == 2


# -- an upgrade issues new tokens and ends the old ones (a token never carries more than its own claims) --------


def test_a_token_from_before_enrollment_cannot_remove_the_new_factor(alice: Person) -> None:
    """The outside review's finding: token A (AAL1) used to inherit the session's upgrade and remove the factor."""
    first = alice.signed_in()
    confirmed = alice.enroll(first["access_token"])
    for path, method in (("/mfa/totp", "DELETE"), ("/mfa/recovery-codes", "POST"), ("/me", "GET")):
        answer = alice.post(path, token=first["access_token"], method=method)
        assert (answer.status_code, answer.json_body["code"]) == (401, "invalid_token"), path
    assert claims_of(confirmed["access_token"])["gen"] == claims_of(first["access_token"])["gen"] + 1
    # Its refresh token is retired without grace: presented now, it is reuse, and the session ends with it.
    reused = alice.post("/token/refresh", {"refresh_token": first["refresh_token"]})
    assert (reused.status_code, reused.json_body["code"]) == (401, "invalid_token")
    assert alice.me(confirmed["access_token"]).status_code == 401


def test_re_authenticating_ends_the_tokens_issued_before_it(alice: Person, clock: FakeClock) -> None:
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    clock.advance(301)
    old = confirmed["access_token"]
    renewed = alice.post("/mfa/reauthenticate", {"otp": alice.code()}, old).json_body
    assert renewed["code"] == "reauthenticated"
    stale = alice.delete("/mfa/totp", old)
    assert (stale.status_code, stale.json_body["code"]) == (401, "invalid_token")
    # Within the refresh grace that a refresh would honour: the upgrade honours none.
    reused = alice.post("/token/refresh", {"refresh_token": confirmed["refresh_token"]})
    assert (reused.status_code, reused.json_body["code"]) == (401, "invalid_token")


def test_a_refresh_keeps_the_generation_and_the_refreshed_token_keeps_working(alice: Person) -> None:
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    refreshed = alice.post("/token/refresh", {"refresh_token": confirmed["refresh_token"]}).json_body
    assert claims_of(refreshed["access_token"])["gen"] == claims_of(confirmed["access_token"])["gen"]
    assert alice.me(confirmed["access_token"]).status_code == 200  # a refresh is no upgrade: both stay valid
    assert alice.me(refreshed["access_token"]).status_code == 200


def test_a_token_whose_own_claims_say_less_than_the_session_gets_no_more(alice: Person, clock: FakeClock) -> None:
    """Step-up reads the lesser of the token's claims and the server's entry: a token of the current generation
    that claims AAL1, or an old auth_time, cannot act as if it had proven more."""
    confirmed = alice.enroll(alice.signed_in()["access_token"])
    claims = claims_of(confirmed["access_token"])
    for weaker in ({"aal": 1}, {"auth_time": int(clock()) - 3600}):
        forged = sign({**claims, **weaker, "iat": int(clock())})
        assert alice.me(forged).status_code == 200  # genuine, live and current: a session
        refused = alice.delete("/mfa/totp", forged)
        assert (refused.status_code, refused.json_body["code"]) == (401, "reauthentication_required"), weaker
    assert alice.delete("/mfa/totp", confirmed["access_token"]).json_body["code"] == "mfa_disabled"
