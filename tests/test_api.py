"""``POST /otp`` over Chalice's test client: the prototype's contract, every status and every error code."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from chalice.local import LambdaEventConverter
from chalice.test import Client

from app import app
from chalicelib import wiring
from chalicelib.http.oauth_routes import CLIENT_ENDPOINTS
from tests.conftest import FakeClock, code_in, json_lines, override_settings, sent_mails
from tools import openapi

ALICE = "alice@example.com"
INVALID_CODE = {"message": "The code is invalid or has expired.", "code": "invalid_code"}


def post(client: Client, body: Any, **headers: str) -> Any:
    raw = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return client.http.post("/otp", headers={"Content-Type": "application/json", **headers}, body=raw)


def send(client: Client, email: str = ALICE) -> Any:
    return post(client, {"action": "send_otp", "email": email})


def verify(client: Client, otp: Any, email: str = ALICE) -> Any:
    return post(client, {"action": "verify_otp", "email": email, "otp": otp})


def last_code(to: str = ALICE) -> str:
    return code_in([mail for mail in sent_mails() if mail["to"] == [to]][-1])


def wrong_code() -> str:
    return "000000" if last_code() != "000000" else "111111"


def test_the_prototype_flow_signs_a_person_in(client: Client) -> None:
    sent = send(client)
    assert sent.status_code == 200
    assert sent.json_body == {
        "message": f"We sent a sign-in code to {ALICE}. It is valid for 10 minutes.",
        "code": "code_sent",
        "to": ALICE,
        "expires_in": 600,
        "resend_after": 30,
    }
    mail = sent_mails()[-1]
    assert mail["to"] == [ALICE]
    assert mail["from"] == "OTP Sign-in <no-reply@signin.localhost.dev>"  # OTP_SERVICE_NAME <OTP_SENDER>
    assert mail["subject"] == f"Your OTP Sign-in sign-in code: {last_code()}"
    assert "10 minutes" in mail["body"]
    verified = verify(client, last_code())
    assert verified.status_code == 200
    body = verified.json_body
    assert (body["message"], body["code"], body["email"], body["token_type"]) == (
        "You are signed in.",
        "verified",
        ALICE,
        "Bearer",
    )
    assert (body["expires_in"], body["refresh_expires_in"]) == (3600, 432_000)
    assert body["access_token"].count(".") == 2 and body["refresh_token"].startswith("rt2.")


def test_the_address_is_normalised(client: Client) -> None:
    assert send(client, "  Alice@EXAMPLE.com ").status_code == 200
    assert sent_mails()[-1]["to"] == [ALICE]
    assert verify(client, last_code(), email="ALICE@example.COM").status_code == 200


def test_every_kind_of_invalid_code_gets_one_identical_answer(client: Client, clock: FakeClock) -> None:
    never_requested = verify(client, "123456", email="nobody@example.com")
    send(client)
    wrong = verify(client, wrong_code())
    right = last_code()
    assert verify(client, right).status_code == 200
    replayed = verify(client, right)
    clock.advance(30)
    send(client)
    replaced_code = last_code()
    clock.advance(30)
    send(client)
    replaced = verify(client, replaced_code) if replaced_code != last_code() else wrong
    clock.advance(600)
    expired = verify(client, last_code())
    for answer in (never_requested, wrong, replayed, replaced, expired):
        assert (answer.status_code, answer.json_body) == (401, INVALID_CODE)


def test_a_double_submit_of_the_right_code_is_no_wrong_guess(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    send(client)
    right = last_code()
    assert verify(client, right).status_code == 200
    capsys.readouterr()
    again = verify(client, right)
    assert (again.status_code, again.json_body) == (401, INVALID_CODE)  # the answer of any invalid code
    (line,) = [line for line in json_lines(capsys.readouterr().out) if line.get("route") == "/otp"]
    assert line["reason"] == "replayed" and "WrongCodes" not in line  # the dashboard counts no wrong code
    budget = boto3.client("dynamodb").get_item(
        TableName=wiring.get_settings().table_name,
        Key={"pk": {"S": wiring.get_hasher().subject_key("email", ALICE)}},
        ConsistentRead=True,
    )["Item"]
    assert "fails" not in budget  # and the address's failure ceiling counts none


def test_unknown_and_known_addresses_are_indistinguishable(client: Client) -> None:
    send(client)
    answers = {}
    for email in (ALICE, "stranger@example.com"):
        answers[email] = [
            (r.status_code, r.json_body, r.headers.get("Retry-After"))
            for r in (verify(client, "999999" if last_code() != "999999" else "999998", email) for _ in range(22))
        ]
    assert answers[ALICE] == answers["stranger@example.com"]
    assert answers[ALICE][-1][0] == 429


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{not json", "invalid_json"),
        (b"\xff\xfe", "invalid_json"),
        ('{"action": "send_otp", "email": "' + "a" * 5000 + '@example.com"}', "body_too_large"),
        ("[" * 2000 + "]" * 2000, "invalid_json"),  # valid JSON, but deep enough to exhaust the parser
        ("[" * 1500, "invalid_json"),
        ('["send_otp"]', "invalid_body"),
        ("null", "invalid_body"),
        ("", "invalid_body"),
        ({"email": ALICE}, "missing_action"),
        ({"action": "delete_everything", "email": ALICE}, "unknown_action"),
        ({"action": ["send_otp"], "email": ALICE}, "unknown_action"),
        ({"action": "send_otp"}, "invalid_body"),
        ({"action": "send_otp", "email": ALICE, "phone": "+14155550123"}, "invalid_body"),
        ({"action": "send_otp", "phone": "4155550123"}, "invalid_phone"),
        ({"action": "send_otp", "phone": "+1 415 555 0123 ext. 7"}, "invalid_phone"),
        ({"action": "send_otp", "phone": "+1 555"}, "invalid_phone"),
        ({"action": "send_otp", "phone": 14155550123}, "invalid_phone"),
        ({"action": "send_otp", "phone": "+19002345678"}, "phone_not_supported"),
        ({"action": "send_otp", "phone": "+5511987654321"}, "phone_not_supported"),
        ({"action": "send_otp", "email": 42}, "invalid_email"),
        ({"action": "send_otp", "email": "not-an-address"}, "invalid_email"),
        ({"action": "send_otp", "email": "a@b"}, "invalid_email"),
        ({"action": "send_otp", "email": "x@example.com\r\nBcc: victim@example.com"}, "invalid_email"),
        ({"action": "send_otp", "email": "x@example.com\n"}, "invalid_email"),
        ({"action": "send_otp", "email": "\u2028x@example.com"}, "invalid_email"),
        ({"action": "send_otp", "email": "a" * 250 + "@example.com"}, "invalid_email"),
        ({"action": "send_otp", "email": '"quoted local"@example.com'}, "invalid_email"),
        ({"action": "verify_otp", "email": ALICE}, "invalid_otp"),
        ({"action": "verify_otp", "email": ALICE, "otp": "12345"}, "invalid_otp"),
        ({"action": "verify_otp", "email": ALICE, "otp": "1234567"}, "invalid_otp"),
        ({"action": "verify_otp", "email": ALICE, "otp": "12a456"}, "invalid_otp"),
        ({"action": "verify_otp", "email": ALICE, "otp": "١٢٣٤٥٦"}, "invalid_otp"),
        ({"action": "verify_otp", "email": ALICE, "otp": 123456}, "invalid_otp"),
        ({"action": "verify_otp", "email": ALICE, "otp": None}, "invalid_otp"),
        ({"action": "verify_otp", "email": "bad", "otp": "123456"}, "invalid_email"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 30 else None,
)
def test_bad_input_gets_a_clear_400(client: Client, body: Any, code: str) -> None:
    answer = post(client, body)
    assert answer.status_code == 400
    assert answer.json_body["code"] == code
    assert isinstance(answer.json_body["message"], str) and answer.json_body["message"]
    assert not sent_mails()


def test_a_body_of_any_content_type_is_read_as_json(client: Client) -> None:
    answer = post(client, {"action": "send_otp", "email": ALICE}, **{"Content-Type": "text/plain"})
    assert answer.status_code == 200


def test_a_code_with_surrounding_spaces_is_accepted(client: Client) -> None:
    send(client)
    assert verify(client, f" {last_code()} ").status_code == 200


@pytest.mark.parametrize("between", [" ", "-", "\u00a0"])
def test_a_code_typed_in_two_groups_signs_in(client: Client, between: str) -> None:
    send(client)
    code = last_code()
    answer = verify(client, f"{code[:3]}{between}{code[3:]}")
    assert (answer.status_code, answer.json_body["code"]) == (200, "verified")


def test_a_malformed_code_is_refused_in_words_a_person_reads(client: Client) -> None:
    send(client)
    answer = verify(client, "123 45")
    assert (answer.status_code, answer.json_body) == (
        400,
        {"message": "Enter the 6 digits of the code.", "code": "invalid_otp"},
    )


def assert_throttled(answer: Any, code: str, retry_after: int) -> None:
    assert answer.status_code == 429
    assert answer.json_body["code"] == code
    assert answer.json_body["retry_after"] == retry_after
    assert answer.headers["Retry-After"] == str(retry_after)


def test_resend_cooldown_is_a_429_with_retry_after(client: Client, clock: FakeClock) -> None:
    send(client)
    clock.advance(12)
    assert_throttled(send(client), "resend_cooldown", 18)
    assert len(sent_mails()) == 1
    clock.advance(18)
    assert send(client).status_code == 200


def test_a_burst_of_sends_mails_once(client: Client) -> None:
    answers = [send(client).status_code for _ in range(50)]
    assert answers.count(200) == 1 and answers.count(429) == 49
    assert len(sent_mails()) == 1


def test_the_hourly_quota_per_address(client: Client, clock: FakeClock) -> None:
    clock.now -= clock.now % 3600
    for _ in range(5):
        assert send(client).status_code == 200
        clock.advance(30)
    assert_throttled(send(client), "send_quota_exceeded", 3600 - 150)


def test_the_failure_ceiling_is_a_429_that_a_resend_does_not_lift(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, OTP_FAILURE_BUDGET="20", OTP_FAILURES_PER_IP_AND_ADDRESS="1000")
    clock.now -= clock.now % 86_400
    statuses = []
    for _ in range(4):
        send(client)
        statuses += [verify(client, wrong_code()).status_code for _ in range(6)]
        clock.advance(30)
    assert statuses[:20] == [401] * 20 and set(statuses[20:]) == {429}
    assert_throttled(send(client), "too_many_failures", 86_400 - 120)
    assert_throttled(verify(client, last_code()), "too_many_failures", 86_400 - 120)


def verify_from(client: Client, monkeypatch: pytest.MonkeyPatch, source_ip: str, code: str, email: str = ALICE) -> Any:
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", source_ip)
    return verify(client, code, email)


def test_a_stranger_exhausts_only_their_own_budget_for_an_address(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lockout by strangers: 20 wrong codes from one network do not stop the owner signing in from another."""
    statuses = []
    for _ in range(4):
        monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.7")  # the owner asks for codes
        send(client)
        statuses += [verify_from(client, monkeypatch, "203.0.113.9", wrong_code()).status_code for _ in range(6)]
        clock.advance(30)
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}  # the stranger's 10 an hour
    refused = verify_from(client, monkeypatch, "203.0.113.9", last_code())
    assert_throttled(refused, "too_many_failures", 3_600 - int(clock.now) % 3_600)  # even the right code
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.7")
    send(client)
    assert verify_from(client, monkeypatch, "198.51.100.7", last_code()).status_code == 200  # the owner


def test_a_network_hammering_many_addresses_is_refused_at_its_budget_with_one_answer_for_all(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, OTP_FAILURES_PER_IP="15")
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.7")
    send(client)  # Alice has a live code; the others never asked
    answers = [verify_from(client, monkeypatch, "203.0.113.9", "000000", f"user{n}@example.com") for n in range(15)]
    assert {answer.status_code for answer in answers} == {401}
    # Spent: every address gets the same 429, known or not, with a live code or not, right code or not.
    bodies = [
        verify_from(client, monkeypatch, "203.0.113.9", code, email).json_body
        for email, code in (
            (ALICE, last_code()),
            (ALICE, wrong_code()),
            ("user1@example.com", "000000"),
            ("never@example.com", "123456"),
        )
    ]
    assert {body["code"] for body in bodies} == {"ip_failure_quota_exceeded"}
    assert len({json.dumps(body, sort_keys=True) for body in bodies}) == 1
    # The right code was withdrawn, not spent: from the owner's network it still signs in.
    assert verify_from(client, monkeypatch, "198.51.100.7", last_code()).status_code == 200


def test_a_network_whose_send_quota_is_spent_learns_nothing_about_an_address(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, OTP_SENDS_PER_IP="1", OTP_FAILURE_BUDGET="1")
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.7")
    send(client)  # Alice: cooling down, and (after one wrong code) out of failures
    verify(client, wrong_code())
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "203.0.113.9")
    assert send(client, "first@example.com").status_code == 200  # the stranger's one send
    bodies = {
        json.dumps(send(client, email).json_body, sort_keys=True)
        for email in (ALICE, "first@example.com", "never@example.com")
    }
    assert len(bodies) == 1 and json.loads(bodies.pop())["code"] == "ip_quota_exceeded"


def test_the_per_ip_quota(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    override_settings(monkeypatch, OTP_SENDS_PER_IP="2")
    assert send(client, "a@example.com").status_code == 200
    assert send(client, "b@example.com").status_code == 200
    answer = send(client, "c@example.com")
    assert answer.status_code == 429 and answer.json_body["code"] == "ip_quota_exceeded"
    assert int(answer.headers["Retry-After"]) > 0


def send_from(client: Client, monkeypatch: pytest.MonkeyPatch, source_ip: str, email: str) -> tuple[int, str]:
    """Send as API Gateway reports a caller at ``source_ip`` (Chalice's test client reports one fixed address)."""
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", source_ip)
    answer = send(client, email)
    return answer.status_code, answer.json_body["code"]


def test_the_per_ip_quota_counts_an_ipv6_64_as_one_source(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    override_settings(monkeypatch, OTP_SENDS_PER_IP="3")
    one_64 = [f"2001:db8:1:2:{n:x}::1" for n in range(1, 11)]
    answers = [send_from(client, monkeypatch, ip, f"user{n}@example.com") for n, ip in enumerate(one_64)]
    assert answers == [(200, "code_sent")] * 3 + [(429, "ip_quota_exceeded")] * 7
    assert send_from(client, monkeypatch, "2001:db8:1:3::1", "next-64@example.com") == (200, "code_sent")


def test_the_per_ip_quota_counts_every_spelling_of_an_address_as_one(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, OTP_SENDS_PER_IP="3")
    spellings = ["192.0.2.1", "::ffff:192.0.2.1", "::FFFF:c000:0201", "0:0:0:0:0:ffff:192.0.2.1"]
    answers = [send_from(client, monkeypatch, ip, f"v4-{n}@example.com") for n, ip in enumerate(spellings)]
    assert answers == [(200, "code_sent")] * 3 + [(429, "ip_quota_exceeded")]
    spellings = ["2001:db8::7", "2001:DB8:0:0:0:0:0:7", "2001:0db8::0.0.0.7", "2001:db8:0:0::7"]
    answers = [send_from(client, monkeypatch, ip, f"v6-{n}@example.com") for n, ip in enumerate(spellings)]
    assert answers == [(200, "code_sent")] * 3 + [(429, "ip_quota_exceeded")]


def client_error(code: str, status: int, operation: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": "refused for x@example.com"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


def fail(monkeypatch: pytest.MonkeyPatch, service: str, method: str, error: Exception) -> None:
    def refuse(*_: Any, **__: Any) -> None:
        raise error

    monkeypatch.setattr(wiring.get_client(service), method, refuse)


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (client_error("MessageRejected", 400, "SendEmail"), 502, "mail_rejected"),
        (client_error("MailFromDomainNotVerifiedException", 400, "SendEmail"), 502, "mail_rejected"),
        (client_error("TooManyRequestsException", 429, "SendEmail"), 503, "mail_unavailable"),
        (client_error("InternalFailure", 500, "SendEmail"), 503, "mail_unavailable"),
        (ReadTimeoutError(endpoint_url="https://email.us-east-1.amazonaws.com"), 503, "mail_unavailable"),
    ],
)
def test_mail_failures_are_502_or_503_and_leave_nothing_behind(
    client: Client, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, code: str
) -> None:
    fail(monkeypatch, "sesv2", "send_email", error)
    answer = send(client)
    assert (answer.status_code, answer.json_body["code"]) == (status, code)
    assert "x@example.com" not in json.dumps(answer.json_body)
    monkeypatch.undo()
    monkeypatch.setattr(wiring, "CLOCK", lambda: 1_800_000_000.0)
    assert send(client).status_code == 200  # at once: no cooldown was consumed
    assert verify(client, last_code()).status_code == 200


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (client_error("ProvisionedThroughputExceededException", 400, "UpdateItem"), 503, "storage_unavailable"),
        (client_error("ThrottlingException", 400, "UpdateItem"), 503, "storage_unavailable"),
        (ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com"), 503, "storage_unavailable"),
        (client_error("AccessDeniedException", 400, "UpdateItem"), 502, "storage_error"),
        (client_error("ResourceNotFoundException", 400, "UpdateItem"), 502, "storage_error"),
    ],
)
def test_storage_failures_are_502_or_503(
    client: Client, monkeypatch: pytest.MonkeyPatch, error: Exception, status: int, code: str
) -> None:
    send(client)
    fail(monkeypatch, "dynamodb", "update_item", error)
    fail(monkeypatch, "dynamodb", "transact_write_items", error)
    for answer in (verify(client, last_code()), send(client, "bob@example.com")):
        assert (answer.status_code, answer.json_body["code"]) == (status, code)
        if status == 503:
            assert answer.headers["Retry-After"] == str(answer.json_body["retry_after"]) == "2"
    assert len(sent_mails()) == 1  # nothing was mailed for a send that could not be stored
    monkeypatch.undo()
    monkeypatch.setattr(wiring, "CLOCK", lambda: 1_800_000_000.0)
    assert verify(client, last_code()).status_code == 200  # the failed verify spent nothing


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/otp", "POST"),
        ("/token/refresh", "POST"),
        ("/token/revoke", "POST"),
        ("/signout", "POST"),
        ("/me", "GET"),
        ("/.well-known/jwks.json", "GET"),
    ],
)
def test_other_methods_get_a_json_405(client: Client, path: str, allowed: str) -> None:
    for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - {allowed}:
        answer = client.http.request(method, path)
        assert answer.status_code == 405
        assert json.loads(answer.body)["code"] == "method_not_allowed"


UI_ORIGIN = "http://127.0.0.1:8501"  # in the local stage's OTP_CORS_ORIGINS
EXPOSED = "Retry-After, WWW-Authenticate"
PUBLIC_PATHS = ["/.well-known/jwks.json", "/.well-known/openid-configuration"]


def test_cors_allows_only_the_stage_origins(client: Client) -> None:
    allowed = send(client, "a@example.com") and post(
        client, {"action": "send_otp", "email": "b@example.com"}, Origin=UI_ORIGIN
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert allowed.headers["Access-Control-Expose-Headers"] == EXPOSED
    assert "Access-Control-Allow-Credentials" not in allowed.headers  # the bearer token is a header, not a cookie
    other = post(client, {"action": "send_otp", "email": "c@example.com"}, Origin="https://evil.example")
    assert "Access-Control-Allow-Origin" not in other.headers and "Access-Control-Expose-Headers" not in other.headers
    preflight = client.http.request("OPTIONS", "/otp", headers={"Origin": "http://localhost:8501"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "http://localhost:8501"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert {"Content-Type", "Authorization"} <= set(preflight.headers["Access-Control-Allow-Headers"].split(", "))
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    refused = client.http.request("OPTIONS", "/otp", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_an_allowed_origin_can_read_retry_after_and_www_authenticate(client: Client) -> None:
    send(client)
    cooling = post(client, {"action": "send_otp", "email": ALICE}, Origin=UI_ORIGIN)
    assert (cooling.status_code, cooling.headers["Retry-After"]) == (429, "30")
    signed_out = client.http.get("/me", headers={"Origin": UI_ORIGIN, "Authorization": "Bearer nonsense"})
    assert signed_out.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    for answer in (cooling, signed_out):
        # Neither header is CORS-safelisted: without the list a page's fetch() reads them as null.
        assert answer.headers["Access-Control-Expose-Headers"] == EXPOSED
        assert answer.headers["Access-Control-Allow-Origin"] == UI_ORIGIN and answer.headers["Vary"] == "Origin"


@pytest.mark.parametrize("origin", [UI_ORIGIN, "https://evil.example", "null", None])
@pytest.mark.parametrize("path", PUBLIC_PATHS)
def test_the_public_documents_are_readable_from_any_origin(client: Client, path: str, origin: str | None) -> None:
    headers = {"Origin": origin} if origin else {}
    read = client.http.get(path, headers=headers)
    refused = client.http.post(path, headers=headers, body="{}")  # a 405, readable too: it holds nothing private
    preflight = client.http.request(
        "OPTIONS",
        path,
        headers={
            **headers,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "x-requested-with",
        },
    )
    assert (read.status_code, refused.status_code, preflight.status_code) == (200, 405, 204)
    assert read.headers["Cache-Control"] == "public, max-age=300"
    for answer in (read, refused, preflight):
        # The same answer for every origin: "*" (never with credentials), and nothing for a cache to vary on.
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        assert "Vary" not in answer.headers and "Access-Control-Allow-Credentials" not in answer.headers
    assert read.headers["Access-Control-Expose-Headers"] == EXPOSED
    assert (preflight.headers["Access-Control-Allow-Methods"], preflight.headers["Access-Control-Allow-Headers"]) == (
        "GET",
        "*",
    )


def test_the_public_documents_stay_public_without_stage_origins(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, OTP_CORS_ORIGINS="")
    for path in PUBLIC_PATHS:
        for answer in (
            client.http.get(path, headers={"Origin": "https://evil.example"}),
            client.http.request("OPTIONS", path, headers={"Origin": "https://evil.example"}),
        ):
            assert answer.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("origin", [UI_ORIGIN, "https://evil.example", None])
def test_every_private_answer_varies_by_origin_when_the_stage_has_origins(
    client: Client, monkeypatch: pytest.MonkeyPatch, origin: str | None
) -> None:
    headers = {"Origin": origin} if origin else {}
    answers = [
        client.http.post("/otp", headers=headers, body=json.dumps({"action": "send_otp", "email": "v@example.com"})),
        client.http.get("/me", headers=headers),
        client.http.request("OPTIONS", "/otp", headers=headers),
    ]
    for answer in answers:
        assert answer.headers["Vary"] == "Origin"
        assert ("Access-Control-Allow-Origin" in answer.headers) == (origin == UI_ORIGIN)

    override_settings(monkeypatch, OTP_CORS_ORIGINS="")  # no origins: no answer depends on the header
    for answer in (client.http.get("/me", headers=headers), client.http.request("OPTIONS", "/otp", headers=headers)):
        assert "Vary" not in answer.headers and "Access-Control-Allow-Origin" not in answer.headers


def test_answers_are_never_cached(client: Client) -> None:
    answer = send(client)
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["Content-Type"] == "application/json"


def test_one_log_line_per_request_without_code_or_address(client: Client, capsys: pytest.CaptureFixture) -> None:
    send(client)
    code = last_code()
    verify(client, wrong_code())
    verify(client, code)
    post(client, "{oops")
    output = capsys.readouterr()
    lines = json_lines(output.out)
    assert [(line.get("action"), line["status"], line["code"]) for line in lines] == [
        ("send_otp", 200, "code_sent"),
        ("verify_otp", 401, "invalid_code"),
        ("verify_otp", 200, "verified"),
        (None, 400, "invalid_json"),
    ]
    assert all(line["latency_ms"] >= 0 and line["route"] == "/otp" for line in lines)
    assert lines[0]["user"] == lines[2]["user"] and lines[0]["user_hint"] == "a***@example.com"
    everything = output.out + output.err
    assert ALICE not in everything and code not in everything


def test_a_misconfigured_stage_answers_json(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    override_settings(monkeypatch, OTP_SENDER="")
    answer = send(client)
    assert (answer.status_code, answer.json_body["code"]) == (500, "misconfigured")


class CallCounter:
    """Counts the DynamoDB operations the service makes, the way a bill would."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        wiring.get_client("dynamodb").meta.events.register("before-call.dynamodb.*", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append(model.name)

    def during(self, action: Any) -> list[str]:
        """The operations ``action`` made, sorted: a verify reads the network's budgets alongside its write."""
        self.calls.clear()
        action()
        return sorted(self.calls)


def test_dynamodb_round_trips_per_operation(client: Client, clock: FakeClock) -> None:
    send(client, "warmup@example.com")  # builds the clients, so that the counter can listen to them
    counter = CallCounter()
    assert counter.during(lambda: send(client)) == ["TransactWriteItems"]
    # Every verify reads the source network's two budgets (one BatchGetItem) in parallel with the guess's write:
    # in sequence, a right code for an existing account is one write (and the signature).
    # The first sign-in of an address: the guess's write, then the write that creates the account.
    assert counter.during(lambda: verify(client, last_code())) == ["BatchGetItem", "UpdateItem", "UpdateItem"]
    clock.advance(30)
    send(client)
    assert counter.during(lambda: verify(client, last_code())) == ["BatchGetItem", "UpdateItem"]  # an account's
    clock.advance(30)
    send(client)
    # A wrong code at a live code: the address's ceiling (an UpdateItem that also takes the guess's session out)
    # and, alongside it, the network's two counters (one transaction of their own items).
    assert counter.during(lambda: verify(client, wrong_code())) == [
        "BatchGetItem",
        "TransactWriteItems",
        "UpdateItem",
        "UpdateItem",
    ]
    # right after a failure: the second write clears the failure budget
    assert counter.during(lambda: verify(client, last_code())) == ["BatchGetItem", "UpdateItem", "UpdateItem"]
    # An address that never asked: the same calls (the ceiling's write is made, and refused), nothing written to it.
    assert counter.during(lambda: verify(client, "123456", "nobody@example.com")) == [
        "BatchGetItem",
        "TransactWriteItems",
        "UpdateItem",
        "UpdateItem",
    ]


def test_a_verify_for_an_address_that_never_asked_writes_nothing_to_it(
    client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "203.0.113.9")
    for _ in range(3):
        assert verify(client, "123456", "never-asked@example.com").status_code == 401
    # The service's own client has only the operations it calls (chalicelib/aws/models.py): no Scan.
    keys = {item["pk"]["S"] for item in boto3.client("dynamodb").scan(TableName="otp_users")["Items"]}
    address = wiring.get_hasher().subject_key("email", "never-asked@example.com")
    network = wiring.get_hasher().subject_key("ip", "203.0.113.9")
    assert address not in keys  # no item for the address: only the network's counters, which expire in the hour
    assert keys and all(key.startswith(network + "/") for key in keys), keys


def test_every_route_a_page_may_call_answers_a_preflight() -> None:
    """app.py lists the preflight's paths apart from the routes: a route left out of it would answer a browser's
    preflight with Chalice's own bodiless OPTIONS, and every cross-origin call to it would fail.

    The OpenID Connect provider's own endpoints are called by a page only where oauth_routes.CLIENT_ENDPOINTS says
    (a public client's token, userinfo and revocation calls), and those answer the clients' web origins too. The
    others no page fetches: a browser navigates to the authorization and logout endpoints, and a server calls
    introspection; they answer no preflight."""
    kinds = {path: kind for path, (kind, _) in openapi.answering(app).items()}
    missing = {path for path, methods in app.routes.items() if "OPTIONS" not in methods}
    assert missing == {path for path, kind in kinds.items() if kind != openapi.JSON_ANSWERS} - set(CLIENT_ENDPOINTS)
    preflights = {path: methods["OPTIONS"].view_name for path, methods in app.routes.items() if "OPTIONS" in methods}
    assert {path for path, view in preflights.items() if view == "client_preflight"} == set(CLIENT_ENDPOINTS)
