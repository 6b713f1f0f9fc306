"""The admin routes over Chalice's test client and moto: who may call them, what they answer, what they change.

Admins are the local stage's ``OTP_ADMIN_EMAILS`` (admin@example.com). An admin session at AAL2 is made by
:func:`aal2`, as a person makes one: by enrolling an authenticator app and confirming it with a code.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any
from urllib.parse import quote

import boto3
import pyotp
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.accounts.identifiers import EMAIL, Identifier
from chalicelib.admin.access import is_admin
from chalicelib.admin.actions import Action
from chalicelib.admin.service import AdminService
from chalicelib.admin.store import AUDIT_INDEX, AUDIT_MONTHS_PER_REQUEST, Actor, AdminStore
from chalicelib.config import Settings, Window
from chalicelib.core.refusals import AccountLocked, SessionRejected
from chalicelib.crypto import KeyedHasher
from chalicelib.otp.service import OtpService
from tests.aws_calls import RECORDER
from tests.conftest import FakeClock, SerializedClient, code_in, code_in_text, override_settings, sent_mails
from tests.test_adversarial_faults import Faults, aws_error
from tests.test_passkeys import Holder
from tests.test_service import KEY, RecordingSender, make_service

ADMIN, ALICE, BOB = "admin@example.com", "alice@example.com", "bob@example.com"
PHONE = "+14155550123"
TABLE = "otp_users"
NOBODY = "0b6e3c5a-8f0e-4a51-9d43-6f1f2d7c9e10"
REASON = {"reason": "support ticket 4711: the person asked us to"}


class Api:
    def __init__(self, client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client, self.clock, self.monkeypatch = client, clock, monkeypatch
        self.totp: dict[str, pyotp.TOTP] = {}  # the authenticator app of each account that enrolled one
        self.used_step: dict[str, int] = {}

    def call(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        raw = "" if body is None else json.dumps(body)
        return getattr(self.client.http, method.lower())(path, headers=headers, body=raw)

    def sign_in(self, email: str) -> dict[str, Any]:
        assert self.call("POST", "/otp", body={"action": "send_otp", "email": email}).status_code == 200
        answer = self.verify(email, self.code(email))
        assert answer.status_code == 200, answer.json_body
        return answer.json_body

    def verify(self, email: str, code: str) -> Any:
        return self.call("POST", "/otp", body={"action": "verify_otp", "email": email, "otp": code})

    @staticmethod
    def code(email: str) -> str:
        return code_in([mail for mail in sent_mails() if mail["to"] == [email]][-1])

    def me(self, token: str) -> Any:
        return self.call("GET", "/me", token)

    def admin(self) -> dict[str, Any]:
        return aal2(self, ADMIN)

    def code_from_app(self, email: str) -> str:
        """A code of the authenticator ``email`` enrolled (see :func:`aal2`), of a time step not used before: a
        used step never works again, so the clock moves on to the next one if it must."""
        totp = self.totp[email]
        if int(self.clock()) // totp.interval <= self.used_step.get(email, -1):
            self.clock.advance(totp.interval - int(self.clock()) % totp.interval)
        self.used_step[email] = int(self.clock()) // totp.interval
        return totp.at(self.clock())

    def act(self, token: str, user_id: str, action: str, body: Any = REASON) -> Any:
        method, suffix = ("DELETE", "mfa") if action == "mfa" else ("POST", action)
        return self.call(method, f"/admin/users/{user_id}/{suffix}", token, body)


@pytest.fixture
def api(client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, no_wait_retries: None) -> Api:
    return Api(client, clock, monkeypatch)


def items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=TABLE, ConsistentRead=True)["Items"]


def home(user_id: str) -> dict[str, Any]:
    (item,) = [item for item in items() if item.get("account", {}).get("S") == user_id]
    return item


def aal2(api: Api, email: str) -> dict[str, Any]:
    """A sign-in of ``email`` at AAL2, as a person makes one: the first time, by enrolling an authenticator app
    and confirming it with a code (issue 12), which raises the session and hands out new tokens; once enrolled,
    by answering the sign-in's ``mfa_required`` with a code from the app."""
    session = api.sign_in(email)
    if session["code"] == "mfa_required":
        verified = api.call(
            "POST", "/mfa/verify", None, {"mfa_token": session["mfa_token"], "otp": api.code_from_app(email)}
        )
        assert verified.status_code == 200, verified.json_body
        return verified.json_body
    enrolled = api.call("POST", "/mfa/totp", session["access_token"])
    assert enrolled.status_code == 200, enrolled.json_body
    api.totp[email] = pyotp.TOTP(enrolled.json_body["secret"])
    confirmed = api.call("POST", "/mfa/totp/confirm", session["access_token"], {"otp": api.code_from_app(email)})
    assert confirmed.status_code == 200, confirmed.json_body
    return confirmed.json_body


# -- who may call ---------------------------------------------------------------------------------------------

READING = [("GET", "/admin/users?email=alice@example.com"), ("GET", "/admin/audit"), ("GET", "/admin/stats")]
CHANGING = [
    ("POST", "/admin/users/{id}/lock"),
    ("POST", "/admin/users/{id}/unlock"),
    ("POST", "/admin/users/{id}/signout"),
    ("DELETE", "/admin/users/{id}/mfa"),
    ("POST", "/admin/users/{id}/clear-failures"),
]
ROUTES = READING + CHANGING


def _route(path: str, target: str) -> str:
    return path.replace("{id}", target)


def test_me_says_whether_the_account_is_an_admin(api: Api) -> None:
    person = api.sign_in(ALICE)["access_token"]
    admin = api.sign_in(ADMIN)["access_token"]  # at AAL1: /me names the admin all the same, the routes wait for AAL2
    assert api.me(person).json_body["admin"] is False
    assert api.me(admin).json_body["admin"] is True


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_admin_route_refuses_all_but_an_admin_at_aal2(api: Api, method: str, path: str) -> None:
    target = api.sign_in(ALICE)["user_id"]
    path = _route(path, target)
    stranger = aal2(api, BOB)["access_token"]
    admin_aal1 = api.sign_in(ADMIN)["access_token"]
    api.clock.advance(31)  # the address's resend cooldown
    for token, status, code in (
        (None, 401, "invalid_token"),
        ("not.a.token", 401, "invalid_token"),
        (stranger, 403, "admin_required"),
        (admin_aal1, 403, "admin_mfa_required"),
    ):
        answer = api.call(method, path, token, REASON)
        assert (answer.status_code, answer.json_body["code"]) == (status, code), (token, answer.json_body)
    admin = api.admin()["access_token"]
    assert api.call(method, path, admin, REASON).status_code == 200


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_revoked_or_expired_admin_token_is_refused(api: Api, method: str, path: str) -> None:
    target = api.sign_in(ALICE)["user_id"]
    revoked = api.admin()["access_token"]
    assert api.call("POST", "/signout", revoked).status_code == 200
    answer = api.call(method, _route(path, target), revoked, REASON)
    assert (answer.status_code, answer.json_body["code"]) == (401, "invalid_token")
    api.clock.advance(31)
    expiring = api.admin()["access_token"]
    api.clock.advance(3_601)  # OTP_ACCESS_TOKEN_SECONDS
    answer = api.call(method, _route(path, target), expiring, REASON)
    assert (answer.status_code, answer.json_body["code"]) == (401, "invalid_token")


@pytest.mark.parametrize(("method", "path"), CHANGING)
def test_a_change_needs_a_recent_proof_and_a_read_does_not(api: Api, method: str, path: str) -> None:
    target = api.sign_in(ALICE)["user_id"]
    admin = api.admin()["access_token"]
    api.clock.advance(901)  # OTP_ADMIN_STEP_UP_SECONDS, well inside the access token's hour
    answer = api.call(method, _route(path, target), admin, REASON)
    assert (answer.status_code, answer.json_body["code"]) == (401, "reauthentication_required")
    assert answer.headers["WWW-Authenticate"] == 'Bearer error="insufficient_user_authentication"'
    assert home(target)["status"]["S"] == "active" and api.call("GET", "/admin/audit", admin).json_body["entries"] == []
    for read_method, read_path in READING:
        assert api.call(read_method, read_path, admin).status_code == 200


@pytest.mark.parametrize(("method", "path"), CHANGING)
@pytest.mark.parametrize(
    ("user_id", "status", "code"),
    [
        (NOBODY, 404, "user_not_found"),
        ("not-an-id", 400, "invalid_user_id"),
        ("a" * 5000, 400, "invalid_user_id"),
        (NOBODY.upper(), 400, "invalid_user_id"),
        (NOBODY + "0", 400, "invalid_user_id"),
    ],
)
def test_path_ids_that_do_not_exist_or_are_malformed(
    api: Api, method: str, path: str, user_id: str, status: int, code: str
) -> None:
    admin = api.admin()["access_token"]
    answer = api.call(method, _route(path, user_id), admin, REASON)
    assert (answer.status_code, answer.json_body["code"]) == (status, code)


def test_an_admin_cannot_lock_themselves(api: Api) -> None:
    admin = api.admin()
    answer = api.act(admin["access_token"], admin["user_id"], "lock")
    assert (answer.status_code, answer.json_body["code"]) == (409, "cannot_lock_self")
    assert api.me(admin["access_token"]).status_code == 200


@pytest.mark.parametrize("body", [None, {}, {"reason": ""}, {"reason": "   "}, {"reason": 7}, {"reason": "x" * 501}])
def test_a_change_needs_a_reason(api: Api, body: Any) -> None:
    target = api.sign_in(ALICE)["user_id"]
    admin = api.admin()["access_token"]
    answer = api.act(admin, target, "lock", body)
    assert (answer.status_code, answer.json_body["code"]) == (400, "reason_required")
    assert home(target)["status"]["S"] == "active"


# -- lookup ---------------------------------------------------------------------------------------------------


def test_an_account_is_found_by_id_email_or_linked_phone(api: Api) -> None:
    alice = api.sign_in(ALICE)
    assert api.call("POST", "/me/phone", alice["access_token"], {"phone": PHONE}).status_code == 200
    linked = api.call("POST", "/me/phone/verify", alice["access_token"], {"phone": PHONE, "otp": code_in_text(PHONE)})
    assert linked.status_code == 200
    assert api.verify(ALICE, "000000").status_code == 401  # no live code: the ceiling does not move
    api.clock.advance(31)
    assert api.call("POST", "/otp", body={"action": "send_otp", "email": ALICE}).status_code == 200
    wrong = "000000" if api.code(ALICE) != "000000" else "111111"
    assert api.verify(ALICE, wrong).status_code == 401
    admin = api.admin()["access_token"]
    cards = [
        api.call("GET", f"/admin/users?{query}", admin).json_body["user"]
        for query in (f"id={alice['user_id']}", "email=Alice@Example.com", "phone=%2B14155550123")
    ]
    assert cards[0] == cards[1] == cards[2]
    card = cards[0]
    assert (card["id"], card["status"], card["factors"], card["live_sessions"]) == (alice["user_id"], "active", [], 1)
    assert card["created_at"] == card["last_sign_in_at"] == int(api.clock.now) - 31
    email, phone = card["identifiers"]
    assert (email["type"], email["value"], email["failures"]["count"], email["failures"]["limit"]) == (
        "email",
        ALICE,
        1,
        50,
    )
    assert 0 < email["failures"]["resets_in"] <= 86_400
    assert (phone["type"], phone["value"], phone["failures"]) == (
        "phone",
        PHONE,
        {"count": 0, "limit": 50, "resets_in": 0},
    )


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("email=nobody@example.com", 404, "user_not_found"),
        (f"id={NOBODY}", 404, "user_not_found"),
        ("phone=%2B14155550199", 404, "user_not_found"),
        ("", 400, "invalid_query"),
        ("email=alice@example.com&id=" + NOBODY, 400, "invalid_query"),
        ("id=42", 400, "invalid_user_id"),
        ("email=not-an-address", 400, "invalid_email"),
        ("name=alice", 400, "invalid_query"),
    ],
)
def test_a_lookup_is_exact(api: Api, query: str, status: int, code: str) -> None:
    api.sign_in(ALICE)
    admin = api.admin()["access_token"]
    answer = api.call("GET", f"/admin/users?{query}", admin)
    assert (answer.status_code, answer.json_body["code"]) == (status, code)


# -- the actions ------------------------------------------------------------------------------------------------


def test_lock_refuses_the_account_at_once_and_unlock_lets_it_sign_in_afresh(api: Api) -> None:
    alice = api.sign_in(ALICE)
    admin = api.admin()["access_token"]
    answer = api.act(admin, alice["user_id"], "lock")
    assert (answer.status_code, answer.json_body["code"]) == (200, "user_locked")
    assert api.me(alice["access_token"]).status_code == 401  # the next call, not the token's expiry
    refreshed = api.call("POST", "/token/refresh", body={"refresh_token": alice["refresh_token"]})
    assert refreshed.status_code == 401
    api.clock.advance(31)
    sent = api.call("POST", "/otp", body={"action": "send_otp", "email": ALICE})
    assert sent.status_code == 200  # a send is answered as always: it says nothing of the account
    code = api.code(ALICE)
    wrong = api.verify(ALICE, "000000" if code != "000000" else "111111")
    assert (wrong.status_code, wrong.json_body["code"]) == (401, "invalid_code")
    right = api.verify(ALICE, code)
    assert (right.status_code, right.json_body["code"]) == (403, "account_locked")
    assert set(right.json_body) == {"message", "code"}
    assert home(alice["user_id"])["sessions"]["M"] == {}  # the right code's session was taken out
    unlocked = api.act(admin, alice["user_id"], "unlock")
    assert (unlocked.status_code, unlocked.json_body["code"]) == (200, "user_unlocked")
    api.clock.advance(31)
    again = api.sign_in(ALICE)
    assert api.me(again["access_token"]).status_code == 200


def test_a_locked_account_signs_in_by_its_linked_phone_no_more(api: Api) -> None:
    alice = api.sign_in(ALICE)
    assert api.call("POST", "/me/phone", alice["access_token"], {"phone": PHONE}).status_code == 200
    verify = {"phone": PHONE, "otp": code_in_text(PHONE)}
    assert api.call("POST", "/me/phone/verify", alice["access_token"], verify).status_code == 200
    admin = api.admin()["access_token"]
    assert api.act(admin, alice["user_id"], "lock").status_code == 200
    api.clock.advance(61)
    assert api.call("POST", "/otp", body={"action": "send_otp", "phone": PHONE}).status_code == 200
    answer = api.call("POST", "/otp", body={"action": "verify_otp", "phone": PHONE, "otp": code_in_text(PHONE)})
    assert (answer.status_code, answer.json_body["code"]) == (403, "account_locked")
    assert home(alice["user_id"])["sessions"]["M"] == {}
    phone_item = next(item for item in items() if item.get("home_account", {}).get("S") == alice["user_id"])
    assert phone_item["sessions"]["M"] == {}


def test_signout_ends_every_session_of_the_account_only(api: Api) -> None:
    first, second = api.sign_in(ALICE), None
    api.clock.advance(31)
    second = api.sign_in(ALICE)
    admin = api.admin()
    answer = api.act(admin["access_token"], first["user_id"], "signout")
    assert (answer.status_code, answer.json_body["code"]) == (200, "user_signed_out")
    assert [api.me(s["access_token"]).status_code for s in (first, second)] == [401, 401]
    assert api.me(admin["access_token"]).status_code == 200
    assert home(first["user_id"])["status"]["S"] == "active"
    api.clock.advance(31)
    assert api.me(api.sign_in(ALICE)["access_token"]).status_code == 200  # not locked: signs in again


def test_removing_factors_ends_every_session(api: Api) -> None:
    alice = api.sign_in(ALICE)
    key = home(alice["user_id"])["pk"]["S"]
    # Two-step sign-in's map (chalicelib/mfa): a confirmed secret and two unused recovery codes.
    boto3.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"pk": {"S": key}},
        UpdateExpression="SET #m = :m",
        ExpressionAttributeNames={"#m": "mfa"},
        ExpressionAttributeValues={
            ":m": {"M": {"s": {"S": "sealed"}, "rc": {"M": {"a": {"N": "1"}, "b": {"N": "1"}}}}}
        },
    )
    admin = api.admin()["access_token"]
    card = api.call("GET", f"/admin/users?id={alice['user_id']}", admin).json_body["user"]
    assert (card["factors"], card["recovery_codes_left"]) == (["totp", "recovery_code"], 2)
    answer = api.act(admin, alice["user_id"], "mfa")
    assert (answer.status_code, answer.json_body["code"]) == (200, "user_mfa_removed")
    assert "mfa" not in home(alice["user_id"]) and home(alice["user_id"])["sessions"]["M"] == {}
    assert api.call("GET", f"/admin/users?id={alice['user_id']}", admin).json_body["user"]["factors"] == []


def test_the_card_lists_the_passkeys_and_an_admin_removes_one_ending_every_session(api: Api) -> None:
    alice = Holder(api.client, api.clock, ALICE)
    token = alice.signed_in()["access_token"]
    laptop = alice.registered(token, "Laptop")
    api.clock.advance(1)  # oldest first
    phone = alice.registered(token, "Phone")
    user_id = alice.me(token).json_body["user_id"]
    admin = api.admin()["access_token"]
    card = api.call("GET", f"/admin/users?id={user_id}", admin).json_body["user"]
    assert [(passkey["id"], passkey["name"], passkey["synced"]) for passkey in card["passkeys"]] == [
        (laptop["id"], "Laptop", False),
        (phone["id"], "Phone", False),
    ]
    assert set(card["passkeys"][0]) == {"id", "name", "created_at", "last_used_at", "synced"}
    assert card["passkeys"][0]["created_at"] == laptop["created_at"] and card["passkeys"][0]["last_used_at"] is None
    credential_id = home(user_id)["passkeys"]["M"][laptop["id"]]["M"]["i"]["S"]
    assert credential_id not in json.dumps(card)  # nor the public key: the card holds only what is above

    answer = api.call("DELETE", f"/admin/users/{user_id}/passkeys/{laptop['id']}", admin, REASON)
    assert (answer.status_code, answer.json_body["code"]) == (200, "user_passkey_removed"), answer.json_body
    assert answer.json_body["passkey_id"] == laptop["id"]
    assert answer.json_body["audit"]["action"] == "delete_passkey"
    assert answer.json_body["audit"]["reason"] == REASON["reason"]
    assert list(home(user_id)["passkeys"]["M"]) == [phone["id"]] and home(user_id)["sessions"]["M"] == {}
    keys = {item["pk"]["S"] for item in items()}
    assert f"passkey#{laptop['id']}" not in keys and f"passkey#{phone['id']}" in keys  # the credential's item
    assert alice.me(token).status_code == 401  # the account's sessions ended
    entries = api.call("GET", "/admin/audit", admin).json_body["entries"]
    assert [(entry["action"], entry["user_id"], entry["passkey_id"]) for entry in entries] == [
        ("delete_passkey", user_id, laptop["id"])
    ]
    card = api.call("GET", f"/admin/users?id={user_id}", admin).json_body["user"]
    assert [passkey["name"] for passkey in card["passkeys"]] == ["Phone"]
    # The removed passkey signs in no more; the other still does.
    laptop_credential, phone_credential = list(alice.authenticator.keys)
    assert alice.passkey_sign_in(credential_id=laptop_credential).json_body["code"] == "invalid_passkey"
    assert alice.passkey_sign_in(credential_id=phone_credential).json_body["code"] == "verified"


@pytest.mark.parametrize(
    ("passkey_id", "status", "code"),
    [("0" * 32, 404, "passkey_not_found"), ("x" * 32, 404, "passkey_not_found"), ("0" * 33, 404, "passkey_not_found")],
)
def test_removing_a_passkey_the_account_does_not_list(api: Api, passkey_id: str, status: int, code: str) -> None:
    alice = Holder(api.client, api.clock, ALICE)
    token = alice.signed_in()["access_token"]
    alice.registered(token)
    user_id = alice.me(token).json_body["user_id"]
    admin = api.admin()["access_token"]
    before = home(user_id)
    answer = api.call("DELETE", f"/admin/users/{user_id}/passkeys/{passkey_id}", admin, REASON)
    assert (answer.status_code, answer.json_body["code"]) == (status, code)
    assert home(user_id) == before and api.call("GET", "/admin/audit", admin).json_body["entries"] == []


def test_removing_a_passkey_needs_an_admin_a_recent_proof_and_a_reason(api: Api) -> None:
    alice = Holder(api.client, api.clock, ALICE)
    token = alice.signed_in()["access_token"]
    passkey = alice.registered(token)["id"]
    user_id = alice.me(token).json_body["user_id"]
    path = f"/admin/users/{user_id}/passkeys/{passkey}"
    answer = api.call("DELETE", path, token, REASON)
    assert (answer.status_code, answer.json_body["code"]) == (403, "admin_required")
    admin = api.admin()["access_token"]
    answer = api.call("DELETE", path, admin, {})
    assert (answer.status_code, answer.json_body["code"]) == (400, "reason_required")
    api.clock.advance(901)  # OTP_ADMIN_STEP_UP_SECONDS
    answer = api.call("DELETE", path, admin, REASON)
    assert (answer.status_code, answer.json_body["code"]) == (401, "reauthentication_required")
    answer = api.call("DELETE", f"/admin/users/{NOBODY}/passkeys/{passkey}", api.admin()["access_token"], REASON)
    assert (answer.status_code, answer.json_body["code"]) == (404, "user_not_found")
    assert passkey in home(user_id)["passkeys"]["M"]


def test_clear_failures_clears_every_identifier_of_the_account(api: Api) -> None:
    alice = api.sign_in(ALICE)
    assert api.call("POST", "/me/phone", alice["access_token"], {"phone": PHONE}).status_code == 200
    assert (
        api.call(
            "POST", "/me/phone/verify", alice["access_token"], {"phone": PHONE, "otp": code_in_text(PHONE)}
        ).status_code
        == 200
    )
    api.clock.advance(61)
    for send, guess in (({"email": ALICE}, {"email": ALICE}), ({"phone": PHONE}, {"phone": PHONE})):
        assert api.call("POST", "/otp", body={"action": "send_otp", **send}).status_code == 200
        code = api.code(ALICE) if "email" in send else code_in_text(PHONE)
        wrong = "000000" if code != "000000" else "111111"
        assert api.call("POST", "/otp", body={"action": "verify_otp", **guess, "otp": wrong}).status_code == 401
    admin = api.admin()["access_token"]
    before = api.call("GET", f"/admin/users?id={alice['user_id']}", admin).json_body["user"]
    assert [state["failures"]["count"] for state in before["identifiers"]] == [1, 1]
    answer = api.act(admin, alice["user_id"], "clear-failures")
    assert (answer.status_code, answer.json_body["code"]) == (200, "user_failures_cleared")
    after = api.call("GET", f"/admin/users?id={alice['user_id']}", admin).json_body["user"]
    assert [state["failures"]["count"] for state in after["identifiers"]] == [0, 0]
    assert after["live_sessions"] == before["live_sessions"] == 1  # clearing failures ends no session
    assert not [item for item in items() if "fails" in item]


# -- the audit trail ---------------------------------------------------------------------------------------------


def test_every_action_is_in_the_audit_newest_first_and_pages(api: Api) -> None:
    alice = api.sign_in(ALICE)
    admin = api.admin()
    token = admin["access_token"]
    for action, reason in (("lock", "stolen phone"), ("unlock", "the owner called back")):
        assert api.act(token, alice["user_id"], action, {"reason": f"  {reason}  "}).status_code == 200
        api.clock.advance(1)
    answer = api.call("GET", "/admin/audit", token).json_body
    assert answer["code"] == "audit_entries" and answer["next_before"] is None
    newest, oldest = answer["entries"]
    assert (newest["action"], newest["reason"], oldest["action"], oldest["reason"]) == (
        "unlock",
        "the owner called back",
        "lock",
        "stolen phone",
    )
    assert newest["at"] - oldest["at"] == 1
    for entry in (newest, oldest):
        assert entry["actor"] == {"user_id": admin["user_id"], "email": "a***@example.com"}
        assert entry["user_id"] == alice["user_id"] and len(entry["request_id"]) == 36
    first = api.call("GET", "/admin/audit?limit=1", token).json_body
    assert [e["action"] for e in first["entries"]] == ["unlock"] and first["next_before"] == newest["cursor"]
    second = api.call("GET", f"/admin/audit?limit=1&before={quote(first['next_before'])}", token).json_body
    assert [e["action"] for e in second["entries"]] == ["lock"]
    reasons = [item["reason"]["S"] for item in items() if item["pk"]["S"].startswith("audit#")]
    assert len(reasons) == 2 and not any("stolen" in reason for reason in reasons)  # sealed at rest


def test_the_audit_reads_across_months_and_entries_expire(api: Api) -> None:
    alice = api.sign_in(ALICE)
    token = api.admin()["access_token"]
    assert api.act(token, alice["user_id"], "signout").status_code == 200
    api.clock.advance(40 * 86_400)  # another month
    token = api.admin()["access_token"]
    assert api.act(token, alice["user_id"], "clear-failures").status_code == 200
    entries = api.call("GET", "/admin/audit", token).json_body["entries"]
    assert [entry["action"] for entry in entries] == ["clear_failures", "signout"]
    months = {item["audit_month"]["S"] for item in items() if "audit_month" in item}
    assert len(months) == 2
    for item in items():
        if "audit_month" in item:
            assert int(item["expires_at"]["N"]) == int(item["at"]["N"]) // 1000 + 400 * 86_400


def audit_page(api: Api, token: str, query: str) -> tuple[dict[str, Any], int]:
    """The answer of ``GET /admin/audit?<query>`` and the DynamoDB ``Query`` calls it made on the audit index,
    as the suite's record of AWS calls counts them (tests/aws_calls.py)."""

    def queries() -> int:
        return sum(
            count
            for call, count in RECORDER.calls.items()
            if call.operation == "Query" and call.name("IndexName") == AUDIT_INDEX
        )

    made = queries()
    answer = api.call("GET", f"/admin/audit?{query}", token)
    assert answer.status_code == 200, answer.json_body
    return answer.json_body, queries() - made


def test_a_cursor_in_the_future_reads_from_now_in_a_bounded_request(api: Api) -> None:
    """The security finding: a cursor of the year 2286 walked back one query per month (3,132 in one request)."""
    alice = api.sign_in(ALICE)
    token = api.admin()["access_token"]
    assert api.act(token, alice["user_id"], "signout").status_code == 200
    newest, queries = audit_page(api, token, "limit=100")
    future, future_queries = audit_page(api, token, "limit=100&before=9999999999999%23x")
    assert 0 < future_queries == queries <= AUDIT_MONTHS_PER_REQUEST
    assert future == newest and [entry["action"] for entry in future["entries"]] == ["signout"]
    # A client whose clock runs a little ahead still pages: its cursor reads as now, not as a refusal.
    ahead = f"{int(api.clock() + 600) * 1000:013d}%23x"
    assert audit_page(api, token, f"before={ahead}")[0]["entries"] == newest["entries"]


def test_a_cursor_past_the_retention_horizon_reads_nothing(api: Api) -> None:
    alice = api.sign_in(ALICE)
    token = api.admin()["access_token"]
    assert api.act(token, alice["user_id"], "signout").status_code == 200
    answer, queries = audit_page(api, token, "before=0000000000001%23x")
    assert (answer["entries"], answer["next_before"], queries) == ([], None, 0)


@pytest.mark.parametrize(("now", "months"), [(1_800_000_000, 14), (1_772_323_200, 15)])  # the second: 1 March 2026
def test_an_empty_trail_is_read_in_one_bounded_request(api: Api, now: int, months: int) -> None:
    """The default retention (400 days) spans at most 15 month partitions (from 1 March 2026 back to January 2025,
    for one): a request reads them all, one query each, so an empty trail is known to be empty from one request."""
    api.clock.now = now
    token = api.admin()["access_token"]
    answer, queries = audit_page(api, token, "")
    assert (answer["entries"], answer["next_before"], queries) == ([], None, months)
    assert queries <= AUDIT_MONTHS_PER_REQUEST


def test_paging_reaches_entries_older_than_one_request_reads(api: Api) -> None:
    """With a retention longer than the bound, a request that runs out of months answers the start of the oldest
    month it read as ``next_before``, however few entries it found, and paging on reaches the whole trail."""
    override_settings(api.monkeypatch, OTP_AUDIT_RETENTION_DAYS="3650")
    alice = api.sign_in(ALICE)
    token = api.admin()["access_token"]
    assert api.act(token, alice["user_id"], "lock").status_code == 200
    api.clock.advance((AUDIT_MONTHS_PER_REQUEST + 3) * 31 * 86_400)
    token = api.admin()["access_token"]
    assert api.act(token, alice["user_id"], "unlock").status_code == 200
    found, pages, query = [], 0, "limit=2"
    while True:
        answer, queries = audit_page(api, token, query)
        assert queries <= AUDIT_MONTHS_PER_REQUEST
        found += [entry["action"] for entry in answer["entries"]]
        pages += 1
        if answer["next_before"] is None:
            break
        query = f"limit=2&before={quote(answer['next_before'])}"
    # 3650 days span at most 121 month partitions, and no page here is cut short by its limit.
    assert found == ["unlock", "lock"] and 1 < pages <= -(-121 // AUDIT_MONTHS_PER_REQUEST)


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("limit=0", "invalid_query"),
        ("limit=101", "invalid_query"),
        ("limit=ten", "invalid_query"),
        ("before=yesterday", "invalid_query"),
        ("limit=²", "invalid_query"),
        ("before=123%23x", "invalid_query"),
        ("before=99999999999999%23x", "invalid_query"),
        ("before=1800000000000", "invalid_query"),
    ],
)
def test_audit_paging_parameters_are_checked(api: Api, query: str, code: str) -> None:
    token = api.admin()["access_token"]
    answer = api.call("GET", f"/admin/audit?{query}", token)
    assert (answer.status_code, answer.json_body["code"]) == (400, code)


def test_no_action_without_its_entry(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """The action and its entry are one transaction: when the entry cannot be written, nothing changes."""
    alice = api.sign_in(ALICE)
    token = api.admin()["access_token"]
    faults = Faults()
    faults.inject("dynamodb", "TransactWriteItems", aws_error("ProvisionedThroughputExceededException", 400))
    try:
        answer = api.act(token, alice["user_id"], "lock")
    finally:
        faults.clear()
    assert (answer.status_code, answer.json_body["code"]) == (503, "storage_unavailable")
    assert home(alice["user_id"])["status"]["S"] == "active" and api.me(alice["access_token"]).status_code == 200
    # An entry that cannot be put (its key taken) takes the action down with it: DynamoDB's transaction.
    taken = "7f000000-0000-4000-8000-000000000000"
    boto3.client("dynamodb").put_item(TableName=TABLE, Item={"pk": {"S": f"audit#{taken}"}})
    monkeypatch.setattr("chalicelib.admin.store.uuid.uuid4", lambda: taken)
    assert api.act(token, alice["user_id"], "lock").status_code == 404
    assert home(alice["user_id"])["status"]["S"] == "active" and api.me(alice["access_token"]).status_code == 200


# -- concurrency: a lock and a sign-in of one account ------------------------------------------------------------


@pytest.fixture
def services(settings: Settings, clock: FakeClock) -> tuple[OtpService, AdminService, RecordingSender]:
    sender = RecordingSender()
    otp = make_service(settings, sender, clock, sends_per_address=Window(100, 3_600))  # a code per round
    client = SerializedClient(boto3.client("dynamodb"))
    hasher = KeyedHasher(KEY)
    accounts = otp._accounts
    store = AdminStore(client, settings.table_name, accounts, hasher.sealer(), 400)
    return otp, AdminService(store, hasher, settings.limits, clock), sender


def test_no_session_survives_a_lock_that_races_sign_ins(
    services: tuple[OtpService, AdminService, RecordingSender], clock: FakeClock
) -> None:
    otp, admin, sender = services
    alice = Identifier(EMAIL, ALICE)
    otp.send_code(alice, None)
    account_id = otp.verify_code(alice, sender.last_code(alice)).account.id
    actor = Actor("11111111-1111-4111-8111-111111111111", "a***@example.com")
    outcomes = []
    for _ in range(12):
        clock.advance(31)
        otp.send_code(alice, None)
        code, barrier = sender.last_code(alice), threading.Barrier(2)

        def sign_in(code: str = code, barrier: threading.Barrier = barrier) -> object:
            barrier.wait()
            try:
                return otp.verify_code(alice, code)
            except AccountLocked:
                return "locked"

        def lock(barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            admin.act(Action.LOCK, account_id, actor, "race", "r")

        with ThreadPoolExecutor(max_workers=2) as pool:
            signed, locked = pool.submit(sign_in), pool.submit(lock)
            outcome, _ = signed.result(), locked.result()
        card = admin.find_by_id(account_id)
        assert card is not None and (card.status, card.live_sessions) == ("locked", 0)
        if outcome != "locked":
            with pytest.raises(SessionRejected):  # tokens handed out just before the lock are dead on arrival
                otp._sessions.authenticate(outcome.access_token, int(clock()))  # type: ignore[attr-defined]
        outcomes.append("locked" if outcome == "locked" else "signed in, then locked")
        admin.act(Action.UNLOCK, account_id, actor, "next round", "r")
    assert len(outcomes) == 12


def test_the_admin_setting_is_a_list_of_addresses(api: Api) -> None:
    override_settings(api.monkeypatch, OTP_ADMIN_EMAILS="Someone@Example.com, bob@example.com")
    wiring.reset()
    bob = aal2(api, BOB)["access_token"]
    assert api.call("GET", "/admin/audit", bob).status_code == 200
    admin = aal2(api, ADMIN)["access_token"]
    assert api.call("GET", "/admin/audit", admin).json_body["code"] == "admin_required"
    assert is_admin(replace(wiring.get_settings(), admin_emails=()), BOB) is False
