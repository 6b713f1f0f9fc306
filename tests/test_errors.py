"""The answer catalogue (``chalicelib/http/errors.py``): docs/api.md lists it, a request reaches each entry.

- docs/api.md's tables name exactly the catalogue's codes, each with the catalogue's status;
- every entry, success or not, is the answer to one request through Chalice's test client (AWS failures are
  injected as tests/test_adversarial_faults.py injects them), with its status, code, message and headers;
- every reason the code store gives for a throttle has an answer, and one without an answer is a logged 500;
- no HTTP module but the catalogue spells a code.
"""

from __future__ import annotations

import ast
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.accounts.addresses import normalize_address
from chalicelib.accounts.tokens import ALGORITHM
from chalicelib.aws.dependencies import DependencyError
from chalicelib.core.refusals import InvalidAddress, Throttled
from chalicelib.http import errors, exchange, otp_routes
from chalicelib.http.errors import ErrorKind
from chalicelib.oauth.requests import AAL2
from tests.conftest import REPO_ROOT, FakeClock, code_in, code_in_text, override_settings, sent_mails
from tests.oauth_flow import EXAMPLE, EXAMPLE_REDIRECT, EXAMPLE_SECRET, RelyingParty, accept, code_for
from tests.test_adversarial_faults import Faults, aws_error
from tests.test_mfa_api import Person
from tests.test_passkeys import Holder, TwoStep
from tests.test_sms import sns_error
from tools import openapi

ALICE = "alice@example.com"
HTTP_PACKAGE = REPO_ROOT / "chalicelib" / "http"


# -- docs/api.md --------------------------------------------------------------------------------------------


def documented_answers() -> set[tuple[int, str]]:
    """``(status, code)`` of every row of the tables of docs/api.md.

    Two layouts: ``| 502 / 503 | `storage_error` / `storage_unavailable` | ...`` (statuses and codes paired in
    order; one status for all codes when only one is given) and ``| route | 200 `signed_in`: ... | 401
    `invalid_token`, 400 `invalid_refresh_token` |`` (each status right before its code).
    """
    section = (REPO_ROOT / "docs" / "api.md").read_text()
    found: set[tuple[int, str]] = set()
    for line in section.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if re.fullmatch(r"\d{3}( / \d{3})*", cells[0]):
            statuses = [int(status) for status in cells[0].split(" / ")]
            codes = re.findall(r"`([a-z_]+)`", cells[1])
            assert codes and len(statuses) in {1, len(codes)}, f"cannot read this docs/api.md row: {line}"
            found |= set(zip(statuses * len(codes) if len(statuses) == 1 else statuses, codes, strict=True))
        else:
            found |= {
                (int(status), code) for cell in cells[1:] for status, code in re.findall(r"\b(\d{3}) `([a-z_]+)`", cell)
            }
    return found


def catalogue_answers() -> set[tuple[int, str]]:
    return {(entry.status, entry.code) for entry in errors.CATALOGUE.values()}


def test_docs_api_lists_exactly_the_catalogue() -> None:
    documented, declared = documented_answers(), catalogue_answers()
    assert not documented - declared, f"in docs/api.md but not in chalicelib/http/errors.py: {documented - declared}"
    assert not declared - documented, f"in chalicelib/http/errors.py but not in docs/api.md: {declared - documented}"


def test_docs_api_names_every_answer_of_the_provider_s_own_endpoints() -> None:
    """The OpenID Connect provider's browser and client endpoints answer outside the catalogue: docs/api.md's
    section names each error, page and redirect error tools/openapi.py describes for them (and
    tests/test_openapi.py holds those to the provider's code)."""
    text = (REPO_ROOT / "docs" / "api.md").read_text()
    section = text[text.index("\n## OpenID Connect\n") :].split("\n## ", 2)[1]
    named = set(re.findall(r"`([a-z_]+)`", section))
    described = set()
    for operation in openapi.OPERATIONS.values():
        if isinstance(operation, openapi.ClientOperation):
            described |= {reply.code for reply in operation.errors}
        if isinstance(operation, openapi.BrowserOperation):
            described |= {reply.code for reply in (*operation.pages, *operation.redirect_errors)}
    assert described and described - named == set()


def test_a_code_has_one_status() -> None:
    statuses: dict[str, set[int]] = {}
    for entry in errors.CATALOGUE.values():
        statuses.setdefault(entry.code, set()).add(entry.status)
    assert {code: found for code, found in statuses.items() if len(found) > 1} == {}


def test_entries_of_one_code_can_be_told_apart() -> None:
    """A code's entries differ in their words, so that a message names the entry that made it."""
    for name, entry in errors.CATALOGUE.items():
        for other_name, other in errors.CATALOGUE.items():
            if other_name != name and other.code == entry.code:
                assert not other.matches(entry.text(**dict.fromkeys(entry.fields(), "x"))), (name, other_name)


# -- every entry, reached --------------------------------------------------------------------------------------


class Ctx:
    """What a scenario needs: the client, the clock, settings and AWS failures."""

    def __init__(self, client: Client, monkeypatch: pytest.MonkeyPatch, faults: Faults, clock: FakeClock) -> None:
        self.client, self.monkeypatch, self.faults, self.clock = client, monkeypatch, faults, clock

    def post(self, path: str, body: Any, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        raw = body if isinstance(body, str) else json.dumps(body)
        return self.client.http.post(path, headers=headers, body=raw)

    def send(self, email: str = ALICE) -> Any:
        return self.post("/otp", {"action": "send_otp", "email": email})

    def verify(self, otp: Any, email: str = ALICE) -> Any:
        return self.post("/otp", {"action": "verify_otp", "email": email, "otp": otp})

    def last_code(self) -> str:
        return code_in([mail for mail in sent_mails() if mail["to"] == [ALICE]][-1])

    def sign_in(self) -> dict[str, Any]:
        assert self.send().status_code == 200
        answer = self.verify(self.last_code())
        assert answer.status_code == 200, answer.json_body
        return answer.json_body

    def with_settings(self, **overrides: str) -> Ctx:
        override_settings(self.monkeypatch, **overrides)
        return self

    def failing(self, service: str, operation: str, code: str, status: int) -> Ctx:
        self.faults.inject(service, operation, (sns_error if service == "sns" else aws_error)(code, status))
        return self

    def sending_text(self) -> Any:
        return text(self)


def two_sends(ctx: Ctx, first: str = ALICE, second: str = ALICE) -> Any:
    assert ctx.send(first).status_code == 200
    return ctx.send(second)


def two_wrong_guesses(ctx: Ctx) -> Any:
    ctx.with_settings(OTP_FAILURE_BUDGET="1").send()
    wrong = "000000" if ctx.last_code() != "000000" else "111111"
    assert ctx.verify(wrong).status_code == 401
    return ctx.verify(wrong)


def two_guesses_from_one_network(ctx: Ctx) -> Any:
    assert ctx.verify("000000", "a@example.com").status_code == 401
    return ctx.verify("000000", "b@example.com")  # another address: the network's budget is across addresses


def signing_fails(ctx: Ctx, code: str, status: int) -> Any:
    ctx.send()
    wiring.get_keys()[ALGORITHM].signing_kid  # noqa: B018 - the public keys are fetched once; only signing fails below
    return ctx.failing("kms", "Sign", code, status).verify(ctx.last_code())


PHONE = "+14155550123"


def text(ctx: Ctx, phone: str = PHONE) -> Any:
    return ctx.post("/otp", {"action": "send_otp", "phone": phone})


def by_phone(ctx: Ctx, phone: str = PHONE) -> dict[str, Any]:
    assert text(ctx, phone).status_code == 200
    answer = ctx.post("/otp", {"action": "verify_otp", "phone": phone, "otp": code_in_text(phone)})
    assert answer.status_code == 200, answer.json_body
    return answer.json_body


def linked(ctx: Ctx, token: str, phone: str = PHONE) -> Any:
    assert ctx.post("/me/phone", {"phone": phone}, token).status_code == 200
    return ctx.post("/me/phone/verify", {"phone": phone, "otp": code_in_text(phone)}, token)


def delete_phone(ctx: Ctx, token: str) -> Any:
    return ctx.client.http.delete("/me/phone", headers={"Authorization": f"Bearer {token}"})


def reauthentication_code(ctx: Ctx) -> Any:
    token = ctx.sign_in()["access_token"]
    ctx.clock.advance(30)  # the address's resend cooldown: its sign-in code was sent just now
    return ctx.post("/reauthenticate", "", token)


def stale_sign_in_adds_a_phone(ctx: Ctx) -> Any:
    token = ctx.sign_in()["access_token"]
    ctx.clock.advance(301)  # past OTP_STEP_UP_SECONDS: adding a way into the account needs a recent proof
    return ctx.post("/me/phone", {"phone": PHONE}, token)


def removed_phone(ctx: Ctx) -> Any:
    token = ctx.sign_in()["access_token"]
    assert linked(ctx, token).status_code == 200
    return delete_phone(ctx, token)


def another_account_s_phone(ctx: Ctx) -> Any:
    by_phone(ctx)
    ctx.clock.advance(60)  # the number's resend cooldown
    return linked(ctx, ctx.sign_in()["access_token"])


def a_second_phone(ctx: Ctx) -> Any:
    token = ctx.sign_in()["access_token"]
    assert linked(ctx, token).status_code == 200
    return ctx.post("/me/phone", {"phone": "+447400123456"}, token)


def two_texts_to_one_block(ctx: Ctx) -> Any:
    assert text(ctx.with_settings(OTP_SMS_SENDS_PER_PREFIX="1"), "+14155550123").status_code == 200
    return text(ctx, "+14155550124")


ADMIN = "admin@example.com"
REASON = {"reason": "a support ticket"}


def admin_token(ctx: Ctx) -> str:
    """An admin's access token at AAL2, made as tests/test_admin.py's aal2 makes one (an authenticator enrolled)."""
    from tests.test_admin import Api, aal2

    return aal2(Api(ctx.client, ctx.clock, ctx.monkeypatch), ADMIN)["access_token"]


def as_admin(ctx: Ctx, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token or admin_token(ctx)}", "Content-Type": "application/json"}
    return getattr(ctx.client.http, method)(path, headers=headers, body="" if body is None else json.dumps(body))


def acted(ctx: Ctx, action: str, method: str = "post") -> Any:
    target = ctx.sign_in()["user_id"]
    return as_admin(ctx, method, f"/admin/users/{target}/{action}", REASON)


def locked_sign_in(ctx: Ctx) -> Any:
    assert acted(ctx, "lock").status_code == 200
    ctx.clock.advance(31)
    ctx.send()
    return ctx.verify(ctx.last_code())


def stale_admin(ctx: Ctx) -> Any:
    token = admin_token(ctx)
    ctx.clock.advance(901)
    return as_admin(ctx, "post", "/admin/users/0b6e3c5a-8f0e-4a51-9d43-6f1f2d7c9e10/signout", REASON, token)


def locked_self(ctx: Ctx) -> Any:
    token = admin_token(ctx)
    me = ctx.client.http.get("/me", headers={"Authorization": f"Bearer {token}"}).json_body
    return as_admin(ctx, "post", f"/admin/users/{me['user_id']}/lock", REASON, token)


def admin_at_aal1(ctx: Ctx) -> Any:
    assert ctx.send(ADMIN).status_code == 200
    code = code_in([mail for mail in sent_mails() if mail["to"] == [ADMIN]][-1])
    token = ctx.verify(code, ADMIN).json_body["access_token"]
    return as_admin(ctx, "get", "/admin/audit", token=token)


def a_bug(ctx: Ctx) -> Any:
    def broken(*_: Any) -> Any:
        raise RuntimeError("a bug")

    ctx.monkeypatch.setitem(otp_routes.ACTIONS, "send_otp", broken)
    return ctx.send()


# By catalogue name: one request that gets that answer.
SCENARIOS: dict[str, Callable[[Ctx], Any]] = {
    "CODE_SENT": lambda ctx: ctx.send(),
    "VERIFIED": lambda ctx: ctx.send() and ctx.verify(ctx.last_code()),
    "REFRESHED": lambda ctx: ctx.post("/token/refresh", {"refresh_token": ctx.sign_in()["refresh_token"]}),
    "REVOKED": lambda ctx: ctx.post("/token/revoke", {"refresh_token": ctx.sign_in()["refresh_token"]}),
    "SIGNED_OUT": lambda ctx: ctx.post("/signout", "", ctx.sign_in()["access_token"]),
    "SIGNED_OUT_EVERYWHERE": lambda ctx: ctx.post("/signout", {"everywhere": True}, ctx.sign_in()["access_token"]),
    "SIGNED_IN": lambda ctx: ctx.client.http.get(
        "/me", headers={"Authorization": f"Bearer {ctx.sign_in()['access_token']}"}
    ),
    "JWKS": lambda ctx: ctx.client.http.get("/.well-known/jwks.json"),
    "OPENID_CONFIGURATION": lambda ctx: ctx.client.http.get("/.well-known/openid-configuration"),
    "BODY_TOO_LARGE": lambda ctx: ctx.post("/otp", '{"action": "send_otp", "email": "' + "a" * 5000 + '@x.com"}'),
    "INVALID_JSON": lambda ctx: ctx.post("/otp", "{not json"),
    "INVALID_BODY": lambda ctx: ctx.post("/otp", "null"),
    "EVERYWHERE_NOT_BOOLEAN": lambda ctx: ctx.post("/signout", {"everywhere": "yes"}, ctx.sign_in()["access_token"]),
    "MISSING_ACTION": lambda ctx: ctx.post("/otp", {"email": ALICE}),
    "UNKNOWN_ACTION": lambda ctx: ctx.post("/otp", {"action": "delete_everything", "email": ALICE}),
    "INVALID_EMAIL": lambda ctx: ctx.send("not-an-address"),
    "ONE_IDENTIFIER": lambda ctx: ctx.post("/otp", {"action": "send_otp", "email": ALICE, "phone": PHONE}),
    "INVALID_BODY_PHONE": lambda ctx: ctx.post("/me/phone", {"email": ALICE}, ctx.sign_in()["access_token"]),
    "INVALID_PHONE": lambda ctx: text(ctx, "4155550123"),
    "PHONE_NOT_SUPPORTED": lambda ctx: text(ctx, "+19002345678"),
    "PHONE_LINKED": lambda ctx: linked(ctx, ctx.sign_in()["access_token"]),
    "LINK_CODE_SENT": lambda ctx: ctx.post("/me/phone", {"phone": PHONE}, ctx.sign_in()["access_token"]),
    "REAUTHENTICATION_CODE_SENT": reauthentication_code,
    "INVALID_VIA": lambda ctx: ctx.post("/reauthenticate", {"via": "phone"}, ctx.sign_in()["access_token"]),
    "REAUTHENTICATION_BY_CODE_REQUIRED": stale_sign_in_adds_a_phone,
    "PHONE_REMOVED": removed_phone,
    "PHONE_ALREADY_LINKED": another_account_s_phone,
    "ACCOUNT_HAS_PHONE": a_second_phone,
    "PHONE_NOT_LINKED": lambda ctx: delete_phone(ctx, ctx.sign_in()["access_token"]),
    "PHONE_IS_PRIMARY": lambda ctx: delete_phone(ctx, by_phone(ctx)["access_token"]),
    "PREFIX_QUOTA_EXCEEDED": two_texts_to_one_block,
    "COUNTRY_QUOTA_EXCEEDED": lambda ctx: (
        text(ctx.with_settings(OTP_SMS_SENDS_PER_COUNTRY="1"), "+12125550123") and text(ctx, PHONE)
    ),
    "SMS_BUDGET_EXCEEDED": lambda ctx: (
        text(ctx.with_settings(OTP_SMS_DAILY_BUDGET="1"), "+12125550123") and text(ctx, PHONE)
    ),
    "SMS_UNAVAILABLE": lambda ctx: ctx.failing("sns", "Publish", "Throttling", 400).sending_text(),
    "SMS_REJECTED": lambda ctx: ctx.failing("sns", "Publish", "InvalidParameter", 400).sending_text(),
    "INVALID_OTP": lambda ctx: ctx.verify("12345"),
    "INVALID_REFRESH_TOKEN": lambda ctx: ctx.post("/token/refresh", {}),
    "METHOD_NOT_ALLOWED": lambda ctx: ctx.client.http.get("/otp"),
    "INVALID_CODE": lambda ctx: ctx.verify("123456"),
    "INVALID_TOKEN": lambda ctx: ctx.client.http.get("/me"),
    "RESEND_COOLDOWN": two_sends,
    "SEND_QUOTA_EXCEEDED": lambda ctx: two_sends(ctx.with_settings(OTP_SENDS_PER_ADDRESS="1")),
    "IP_QUOTA_EXCEEDED": lambda ctx: two_sends(
        ctx.with_settings(OTP_SENDS_PER_IP="1"), "a@example.com", "b@example.com"
    ),
    "TOO_MANY_FAILURES": two_wrong_guesses,
    "IP_FAILURE_QUOTA_EXCEEDED": lambda ctx: two_guesses_from_one_network(ctx.with_settings(OTP_FAILURES_PER_IP="1")),
    "MAIL_UNAVAILABLE": lambda ctx: ctx.failing("sesv2", "SendEmail", "TooManyRequestsException", 429).send(),
    "MAIL_REJECTED": lambda ctx: ctx.failing("sesv2", "SendEmail", "MessageRejected", 400).send(),
    "STORAGE_UNAVAILABLE": lambda ctx: ctx.failing(
        "dynamodb", "TransactWriteItems", "ProvisionedThroughputExceededException", 400
    ).send(),
    "STORAGE_ERROR": lambda ctx: ctx.failing("dynamodb", "TransactWriteItems", "AccessDeniedException", 400).send(),
    "KEYS_UNAVAILABLE": lambda ctx: signing_fails(ctx, "KMSInternalException", 500),
    "KEYS_ERROR": lambda ctx: signing_fails(ctx, "AccessDeniedException", 400),
    "MISCONFIGURED": lambda ctx: ctx.with_settings(OTP_SENDER="").send(),
    "INTERNAL_ERROR": a_bug,
    "USER_FOUND": lambda ctx: ctx.sign_in() and as_admin(ctx, "get", f"/admin/users?email={ALICE}"),
    "USER_LOCKED": lambda ctx: acted(ctx, "lock"),
    "USER_UNLOCKED": lambda ctx: acted(ctx, "unlock"),
    "USER_SIGNED_OUT": lambda ctx: acted(ctx, "signout"),
    "USER_MFA_REMOVED": lambda ctx: acted(ctx, "mfa", "delete"),
    "USER_FAILURES_CLEARED": lambda ctx: acted(ctx, "clear-failures"),
    "AUDIT_ENTRIES": lambda ctx: as_admin(ctx, "get", "/admin/audit"),
    "ADMIN_STATS": lambda ctx: as_admin(ctx, "get", "/admin/stats"),
    "INVALID_LOOKUP": lambda ctx: as_admin(ctx, "get", "/admin/users"),
    "INVALID_LIMIT": lambda ctx: as_admin(ctx, "get", "/admin/audit?limit=0"),
    "INVALID_BEFORE": lambda ctx: as_admin(ctx, "get", "/admin/audit?before=yesterday"),
    "INVALID_HOURS": lambda ctx: as_admin(ctx, "get", "/admin/stats?hours=1000"),
    "INVALID_USER_ID": lambda ctx: as_admin(ctx, "post", "/admin/users/42/lock", REASON),
    "REASON_REQUIRED": lambda ctx: as_admin(ctx, "post", f"/admin/users/{ctx.sign_in()['user_id']}/lock", {}),
    "ADMIN_REQUIRED": lambda ctx: ctx.client.http.get(
        "/admin/audit", headers={"Authorization": f"Bearer {ctx.sign_in()['access_token']}"}
    ),
    "ADMIN_MFA_REQUIRED": admin_at_aal1,
    "ACCOUNT_LOCKED": locked_sign_in,
    "USER_NOT_FOUND": lambda ctx: as_admin(ctx, "get", "/admin/users?email=nobody@example.com"),
    "CANNOT_LOCK_SELF": locked_self,
    "REAUTHENTICATION_REQUIRED": stale_admin,
    "METRICS_UNAVAILABLE": lambda ctx: (
        ctx.failing("cloudwatch", "GetMetricData", "Throttling", 400) and as_admin(ctx, "get", "/admin/stats")
    ),
    "METRICS_ERROR": lambda ctx: (
        ctx.failing("cloudwatch", "GetMetricData", "AccessDenied", 403) and as_admin(ctx, "get", "/admin/stats")
    ),
}


# -- two-step sign-in ----------------------------------------------------------------------------------------


def confirming(ctx: Ctx) -> tuple[str, Any]:
    """Enroll an authenticator app and confirm it: its secret and the confirming answer (tokens at aal 2)."""
    token = ctx.sign_in()["access_token"]
    secret = ctx.post("/mfa/totp", "", token).json_body["secret"]
    confirmed = ctx.post("/mfa/totp/confirm", {"otp": pyotp.TOTP(secret).at(wiring.now())}, token)
    wiring.CLOCK.advance(30)  # type: ignore[attr-defined]  # the injected clock: past the cooldown, a new step
    return secret, confirmed


def enrolled(ctx: Ctx) -> tuple[str, dict[str, Any]]:
    secret, confirmed = confirming(ctx)
    assert confirmed.status_code == 200, confirmed.json_body
    return secret, confirmed.json_body


def second_sign_in(ctx: Ctx) -> Any:
    enrolled(ctx)
    ctx.send()
    return ctx.verify(ctx.last_code())


def step_up_expired(ctx: Ctx) -> Any:
    token = enrolled(ctx)[1]["access_token"]
    wiring.CLOCK.advance(301)  # type: ignore[attr-defined]
    return ctx.client.http.delete("/mfa/totp", headers={"Authorization": f"Bearer {token}"})


def reauthenticated(ctx: Ctx) -> Any:
    secret, confirmed = enrolled(ctx)
    return ctx.post("/mfa/reauthenticate", {"otp": pyotp.TOTP(secret).at(wiring.now())}, confirmed["access_token"])


def second_factor_budget_spent(ctx: Ctx) -> Any:
    secret, _ = enrolled(ctx.with_settings(OTP_MFA_FAILURE_BUDGET="1"))
    ctx.send()
    token = ctx.verify(ctx.last_code()).json_body["mfa_token"]
    wrong = f"{(int(pyotp.TOTP(secret).at(wiring.now())) + 1) % 10**6:06d}"
    assert ctx.post("/mfa/verify", {"mfa_token": token, "otp": wrong}).status_code == 401
    return ctx.post("/mfa/verify", {"mfa_token": token, "otp": wrong})


MFA_SCENARIOS: dict[str, Callable[[Ctx], Any]] = {
    "TOO_MANY_SECOND_FACTOR_FAILURES": second_factor_budget_spent,
    "MFA_REQUIRED": second_sign_in,
    "TOTP_ENROLLMENT": lambda ctx: ctx.post("/mfa/totp", "", ctx.sign_in()["access_token"]),
    "MFA_ENABLED": lambda ctx: confirming(ctx)[1],
    "REAUTHENTICATED": reauthenticated,
    "MFA_DISABLED": lambda ctx: ctx.client.http.delete(
        "/mfa/totp", headers={"Authorization": f"Bearer {enrolled(ctx)[1]['access_token']}"}
    ),
    "RECOVERY_CODES": lambda ctx: ctx.post("/mfa/recovery-codes", "", enrolled(ctx)[1]["access_token"]),
    "MFA_PROOF_BODY": lambda ctx: ctx.post("/mfa/verify", {"mfa_token": "mt1.x"}),
    "INVALID_MFA_TOKEN": lambda ctx: ctx.post("/mfa/verify", {"mfa_token": "mt1.x", "otp": "123456"}),
    "REAUTHENTICATION_REQUIRED": step_up_expired,
    "USE_SECOND_FACTOR": lambda ctx: ctx.post("/reauthenticate", "", enrolled(ctx)[1]["access_token"]),
    "MFA_ENROLLMENT_REQUIRED": lambda ctx: ctx.with_settings(OTP_MFA="required").client.http.get(
        "/me", headers={"Authorization": f"Bearer {ctx.sign_in()['access_token']}"}
    ),
    "MFA_DISABLED_HERE": lambda ctx: ctx.with_settings(OTP_MFA="off").post("/mfa/verify", {}),
    "NO_PENDING_ENROLLMENT": lambda ctx: ctx.post(
        "/mfa/totp/confirm", {"otp": "123456"}, ctx.sign_in()["access_token"]
    ),
    "MFA_NOT_ENABLED": lambda ctx: ctx.client.http.delete(
        "/mfa/totp", headers={"Authorization": f"Bearer {ctx.sign_in()['access_token']}"}
    ),
    "MFA_ALREADY_ENABLED": lambda ctx: ctx.post("/mfa/totp", "", enrolled(ctx)[1]["access_token"]),
}
SCENARIOS.update(MFA_SCENARIOS)


# -- the OpenID Connect provider's sign-in UI side -----------------------------------------------------------


def person(ctx: Ctx) -> Person:
    return Person(ctx.client, ctx.clock)


def example(ctx: Ctx) -> RelyingParty:
    """The local stage's third-party client (confidential, asks for consent)."""
    return RelyingParty(ctx.client, EXAMPLE, EXAMPLE_REDIRECT, EXAMPLE_SECRET)


def consented(ctx: Ctx) -> str:
    """A session's access token whose account has allowed the example client, through the consent card."""
    token = ctx.sign_in()["access_token"]
    assert accept(person(ctx), token, example(ctx).challenge_of(), consent=True).status_code == 200
    return token


def client_s_token(ctx: Ctx) -> str:
    """An access token the example client redeemed its code for: a client's, not the person's own."""
    rp = example(ctx)
    redeemed = rp.redeem(code_for(person(ctx), rp, ctx.sign_in()["access_token"], consent=True))
    assert redeemed.status_code == 200, redeemed.json_body
    return str(redeemed.json_body["access_token"])


def bearer_get(ctx: Ctx, path: str, token: str) -> Any:
    return ctx.client.http.get(path, headers={"Authorization": f"Bearer {token}"})


OAUTH_SCENARIOS: dict[str, Callable[[Ctx], Any]] = {
    "LOGIN_REQUEST": lambda ctx: ctx.client.http.get(
        f"/oauth2/login?login_challenge={RelyingParty(ctx.client).challenge_of()}"
    ),
    "LOGIN_ACCEPTED": lambda ctx: accept(
        person(ctx), ctx.sign_in()["access_token"], RelyingParty(ctx.client).challenge_of()
    ),
    "LOGIN_REJECTED": lambda ctx: ctx.post(
        "/oauth2/login/reject", {"login_challenge": RelyingParty(ctx.client).challenge_of()}
    ),
    "CONSENT_REQUIRED": lambda ctx: accept(person(ctx), ctx.sign_in()["access_token"], example(ctx).challenge_of()),
    "CONSENTS": lambda ctx: bearer_get(ctx, "/me/consents", consented(ctx)),
    "CONSENT_WITHDRAWN": lambda ctx: ctx.client.http.delete(
        f"/me/consents/{EXAMPLE}", headers={"Authorization": f"Bearer {consented(ctx)}"}
    ),
    "LOGIN_CHALLENGE_INVALID": lambda ctx: ctx.client.http.get("/oauth2/login?login_challenge=" + "x" * 43),
    "INVALID_LOGIN_ERROR": lambda ctx: ctx.post(
        "/oauth2/login/reject", {"login_challenge": RelyingParty(ctx.client).challenge_of(), "error": "server_error"}
    ),
    "NO_CONSENT": lambda ctx: ctx.client.http.delete(
        f"/me/consents/{EXAMPLE}", headers={"Authorization": f"Bearer {ctx.sign_in()['access_token']}"}
    ),
    "INSUFFICIENT_SCOPE": lambda ctx: bearer_get(ctx, "/me", client_s_token(ctx)),
}
SCENARIOS.update(OAUTH_SCENARIOS)


# -- passkeys ---------------------------------------------------------------------------------------------------


def holder(ctx: Ctx) -> tuple[Holder, str]:
    """Alice with her passkey provider, signed in by code."""
    alice = Holder(ctx.client, ctx.clock)
    return alice, alice.signed_in()["access_token"]


def with_passkey(ctx: Ctx) -> tuple[Holder, str, str]:
    """Alice, signed in, with one passkey registered: its id."""
    alice, token = holder(ctx)
    return alice, token, alice.registered(token)["id"]


def one_passkey_too_many(ctx: Ctx) -> Any:
    alice, token = holder(ctx.with_settings(OTP_MAX_PASSKEYS="1"))
    alice.registered(token)
    return alice.post("/passkeys/register/options", token=token)


def renamed(ctx: Ctx) -> Any:
    alice, token, passkey = with_passkey(ctx)
    return alice.post(f"/me/passkeys/{passkey}", {"name": "Phone"}, token, method="PATCH")


def removed_passkey(ctx: Ctx) -> Any:
    alice, token, passkey = with_passkey(ctx)
    return alice.delete(f"/me/passkeys/{passkey}", token)


def passkey_removed_by_an_admin(ctx: Ctx) -> Any:
    alice, token, passkey = with_passkey(ctx)
    target = alice.me(token).json_body["user_id"]
    return as_admin(ctx, "delete", f"/admin/users/{target}/passkeys/{passkey}", REASON)


def two_factors_asked_of_a_passkey_holder(ctx: Ctx) -> Any:
    """An app asks for two factors (acr_values AAL2) of a session signed in by code, on an account whose only
    second factor is a passkey."""
    alice, token, _ = with_passkey(ctx)
    return accept(alice, token, RelyingParty(ctx.client).challenge_of(acr_values=AAL2))


def two_passkey_ceremonies(ctx: Ctx) -> Any:
    ctx.with_settings(OTP_PASSKEY_CEREMONIES_PER_IP="1")
    assert ctx.post("/passkeys/signin/options", "").status_code == 200
    return ctx.post("/passkeys/signin/options", "")


PASSKEY_SCENARIOS: dict[str, Callable[[Ctx], Any]] = {
    "PASSKEY_REGISTRATION_OPTIONS": lambda ctx: ctx.post("/passkeys/register/options", "", holder(ctx)[1]),
    "PASSKEY_SIGN_IN_OPTIONS": lambda ctx: ctx.post("/passkeys/signin/options", ""),
    "PASSKEY_REAUTHENTICATION_OPTIONS": lambda ctx: ctx.post(
        "/passkeys/reauthenticate/options", "", with_passkey(ctx)[1]
    ),
    "PASSKEY_SECOND_FACTOR_OPTIONS": lambda ctx: (lambda two_step: two_step.verify_options(two_step.mfa_token()))(
        TwoStep(ctx.client, ctx.clock)
    ),
    "PASSKEY_REGISTERED": lambda ctx: Holder.register(*holder(ctx)),
    "PASSKEY_LIST": lambda ctx: bearer_get(ctx, "/me/passkeys", holder(ctx)[1]),
    "PASSKEY_RENAMED": renamed,
    "PASSKEY_REMOVED": removed_passkey,
    "PASSKEY_BODY": lambda ctx: ctx.post("/passkeys/signin", {"ceremony": "x"}),
    "PASSKEY_NAME": lambda ctx: ctx.post(
        "/passkeys/register", {"ceremony": "x", "credential": {}, "name": ""}, holder(ctx)[1]
    ),
    "INVALID_PASSKEY": lambda ctx: ctx.post("/passkeys/signin", {"ceremony": "x", "credential": {}}),
    "PASSKEY_LIMIT": one_passkey_too_many,
    "PASSKEY_NOT_FOUND": lambda ctx: ctx.client.http.delete(
        "/me/passkeys/" + "0" * 32, headers={"Authorization": f"Bearer {holder(ctx)[1]}"}
    ),
    "PASSKEYS_DISABLED_HERE": lambda ctx: ctx.with_settings(OTP_WEBAUTHN_RP_ID="", OTP_WEBAUTHN_ORIGINS="").post(
        "/passkeys/signin/options", ""
    ),
    "PASSKEY_QUOTA_EXCEEDED": two_passkey_ceremonies,
    "USER_PASSKEY_REMOVED": passkey_removed_by_an_admin,
    "REAUTHENTICATION_BY_PASSKEY_REQUIRED": two_factors_asked_of_a_passkey_holder,
}
SCENARIOS.update(PASSKEY_SCENARIOS)


@pytest.fixture
def ctx(client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, no_wait_retries: None) -> Iterator[Ctx]:
    faults = Faults()
    yield Ctx(client, monkeypatch, faults, clock)
    faults.clear()


def test_every_scenario_is_of_an_entry() -> None:
    assert set(SCENARIOS) - set(errors.CATALOGUE) == set()


@pytest.mark.parametrize("name", list(errors.CATALOGUE))
def test_every_entry_is_the_answer_to_a_request(ctx: Ctx, name: str) -> None:
    entry = errors.CATALOGUE[name]
    assert name in SCENARIOS, f"no request in SCENARIOS gets errors.{name}: add one"
    answer = SCENARIOS[name](ctx)
    body = json.loads(answer.body)
    assert (answer.status_code, body["code"]) == (entry.status, entry.code), body
    assert entry.matches(body["message"]), body
    if not entry.fields():
        assert body["message"] == entry.message
    assert answer.headers["Content-Type"] == "application/json"
    if isinstance(entry, ErrorKind):
        assert set(body) == {"message", "code"} | ({"retry_after"} if entry.retries else set()), body
        assert ("Retry-After" in answer.headers) == entry.retries
        if entry.retries:
            assert int(answer.headers["Retry-After"]) == body["retry_after"] > 0
        for header, value in entry.headers:
            assert answer.headers[header] == value


def test_a_message_is_filled_in_where_its_answer_is_made(ctx: Ctx) -> None:
    with pytest.raises(InvalidAddress) as invalid:
        normalize_address("not-an-address")
    assert ctx.send("not-an-address").json_body["message"] == f"Enter a valid email address. {invalid.value}"
    assert ctx.verify("12345").json_body["message"] == "Enter the 6 digits of the code."
    assert ctx.client.http.delete("/me").json_body["message"] == "DELETE is not supported here."
    assert ctx.send().json_body["message"] == f"We sent a sign-in code to {ALICE}. It is valid for 10 minutes."


# -- throttles: the store's reasons ----------------------------------------------------------------------------


def throttle_reasons() -> list[ast.expr | None]:
    """The first argument of every ``Throttled(...)`` in chalicelib, wherever it is raised, and of every
    ``Quota(...)``, whose reason a ``Throttled(quota.reason, ...)`` raises."""
    found = []
    for path in sorted((REPO_ROOT / "chalicelib").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            name = getattr(node, "func", None) and getattr(node.func, "id", getattr(node.func, "attr", None))
            if isinstance(node, ast.Call) and name in ("Throttled", "Quota"):
                reason = node.args[0] if node.args else None
                if not (name == "Throttled" and ast.unparse(reason or ast.Constant(None)) == "quota.reason"):
                    found.append(reason)
    return found


def test_every_throttle_reason_has_an_answer() -> None:
    reasons = throttle_reasons()
    assert reasons, "no Throttled(...) found in chalicelib: how does the store refuse now? Update this test."
    unreadable = [
        ast.unparse(reason) if reason else "(none)"
        for reason in reasons
        if not (isinstance(reason, ast.Constant) and isinstance(reason.value, str))
    ]
    assert not unreadable, f"Throttled(...) reasons this test cannot check for an answer: {unreadable}"
    given = {reason.value for reason in reasons if isinstance(reason, ast.Constant)}
    throttles = {reason for reason, kind in errors.REFUSALS.items() if kind.retries}
    assert given - throttles == set(), "a throttle reason without an answer: declare it in errors.REFUSALS"
    assert throttles - given == set(), "an answer for a throttle reason nothing gives any more"


def test_a_throttle_reason_without_an_answer_is_a_logged_500(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="chalicelib.http.exchange"):
        failure = exchange._as_api_error(Throttled("brand_new_reason", 30))
    assert (failure.status, failure.code, failure.retry_after) == (500, "internal_error", None)
    assert "Throttled (brand_new_reason)" in caplog.text


# -- dependencies: every service, not only those a request can easily reach ------------------------------------


@pytest.mark.parametrize(
    ("service", "transient", "name"),
    [
        ("ses", True, "MAIL_UNAVAILABLE"),
        ("ses", False, "MAIL_REJECTED"),
        ("sns", True, "SMS_UNAVAILABLE"),
        ("sns", False, "SMS_REJECTED"),
        ("dynamodb", True, "STORAGE_UNAVAILABLE"),
        ("dynamodb", False, "STORAGE_ERROR"),
        ("kms", True, "KEYS_UNAVAILABLE"),
        ("kms", False, "KEYS_ERROR"),
        ("secretsmanager", True, "KEYS_UNAVAILABLE"),
        ("secretsmanager", False, "KEYS_ERROR"),
        ("ssm", True, "KEYS_UNAVAILABLE"),
        ("ssm", False, "KEYS_ERROR"),
        ("cloudwatch", True, "METRICS_UNAVAILABLE"),
        ("cloudwatch", False, "METRICS_ERROR"),
    ],
)
def test_a_failing_service_gets_its_answer(service: str, transient: bool, name: str) -> None:
    failure = exchange._as_api_error(DependencyError(service, transient, "SomeError"))
    assert failure.kind is errors.CATALOGUE[name]
    assert failure.retry_after == (exchange.TRANSIENT_RETRY_AFTER if transient else None)


# -- one place for codes ---------------------------------------------------------------------------------------


SPEAKERS = [path for path in sorted(HTTP_PACKAGE.glob("*.py")) if path.name != "errors.py"] + [REPO_ROOT / "app.py"]


@pytest.mark.parametrize("path", SPEAKERS, ids=lambda path: path.name)
def test_only_the_catalogue_spells_a_code(path: Path) -> None:
    tree = ast.parse(path.read_text())
    codes = {entry.code for entry in errors.CATALOGUE.values()}
    strings = {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}
    assert strings & codes == set(), f"{path.name} spells a code: raise or answer from chalicelib/http/errors.py"
    calls = {
        getattr(node.func, "id", getattr(node.func, "attr", None))
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    }
    assert calls & {"ApiError", "ErrorKind", "Success"} == set(), f"{path.name} makes an answer of its own"
