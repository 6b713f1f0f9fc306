"""Sign-in by SMS over Chalice's test client and moto's SNS: every rule of issue 11, and every pumping defence.

Texts are read the way a person reads them, from what moto's SNS captured (``tests.conftest.sent_texts``).
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import hypothesis
import jwt
import pytest
from botocore.awsrequest import AWSResponse
from chalice.test import Client
from hypothesis import given
from hypothesis import strategies as st
from moto.core.botocore_stubber import MockRawResponse

from chalicelib import wiring
from chalicelib.accounts.identifiers import PHONE, Identifier
from chalicelib.accounts.store import AccountStore
from chalicelib.accounts.tokens import ALGORITHM
from chalicelib.aws.texter import SnsTexter
from chalicelib.config import ConfigError, Settings
from chalicelib.core.refusals import InvalidCode, Throttled
from chalicelib.crypto import KeyedHasher
from chalicelib.otp.codes import Purpose
from chalicelib.otp.messages import CodeTexts
from chalicelib.otp.service import OtpService
from chalicelib.otp.sms_text import GSM7_BASIC, GSM7_EXTENSION, SEGMENT_SEPTETS, septets
from chalicelib.wiring import read_settings
from tests.conftest import (
    FakeClock,
    code_in,
    code_in_text,
    override_settings,
    sent_mails,
    sent_texts,
)
from tests.test_adversarial_faults import Faults, aws_error
from tests.test_service import KEY, RecordingSender, make_service
from tools.bootstrap import load_stage_env

NUMBER = "+14155550123"
ALICE = "alice@example.com"
TABLE = "otp_users"


class Api:
    def __init__(self, client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client, self.clock, self.monkeypatch = client, clock, monkeypatch

    def post(self, path: str, body: Any, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.http.post(path, headers=headers, body=json.dumps(body))

    def send(self, phone: str = NUMBER) -> Any:
        return self.post("/otp", {"action": "send_otp", "phone": phone})

    def verify(self, otp: str, phone: str = NUMBER) -> Any:
        return self.post("/otp", {"action": "verify_otp", "phone": phone, "otp": otp})

    def sign_in(self, phone: str = NUMBER) -> dict[str, Any]:
        assert self.send(phone).status_code == 200
        answer = self.verify(code_in_text(phone), phone)
        assert answer.status_code == 200, answer.json_body
        return answer.json_body

    def sign_in_by_email(self, email: str = ALICE) -> dict[str, Any]:
        assert self.post("/otp", {"action": "send_otp", "email": email}).status_code == 200
        code = code_in([mail for mail in sent_mails() if mail["to"] == [email]][-1])
        answer = self.post("/otp", {"action": "verify_otp", "email": email, "otp": code})
        assert answer.status_code == 200, answer.json_body
        return answer.json_body

    def me(self, token: str) -> Any:
        return self.client.http.get("/me", headers={"Authorization": f"Bearer {token}"})

    def settings(self, **overrides: str) -> Api:
        override_settings(self.monkeypatch, **overrides)
        return self


@pytest.fixture
def api(client: Client, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, no_wait_retries: None) -> Api:
    return Api(client, clock, monkeypatch)


def claims(access_token: str) -> dict[str, Any]:
    return jwt.decode(access_token, options={"verify_signature": False})


def table() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=TABLE, ConsistentRead=True)["Items"]


def sns_error(code: str, status: int) -> Callable[[Any], AWSResponse]:
    """An SNS error answer (the query protocol's XML); its message quotes the number, as SNS's can."""

    def answer(request: Any) -> AWSResponse:
        body = (
            f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected for {NUMBER}"
            "</Message></Error><RequestId>r</RequestId></ErrorResponse>"
        )
        return AWSResponse(request.url, status, {"Content-Type": "text/xml"}, MockRawResponse(body.encode()))

    return answer


def wrong(right: str) -> str:
    return "000000" if right != "000000" else "111111"


# -- signing in by phone ---------------------------------------------------------------------------------------


def test_a_number_signs_in_with_the_texted_code(api: Api) -> None:
    sent = api.send("+1 (415) 555-0123")  # written any way, in international format
    assert sent.status_code == 200
    assert sent.json_body == {
        "message": "We sent a sign-in code to +1 415-555-0123. It is valid for 5 minutes.",
        "code": "code_sent",
        "to": "+1 415-555-0123",
        "expires_in": 300,
        "resend_after": 60,
    }
    ((to, text),) = sent_texts()
    assert to == NUMBER  # E.164
    code = code_in_text(NUMBER)
    # No origin-bound line: the local stage's token issuer is an IP address (tests/test_config.py).
    assert text == f"{code} is your OTP Sign-in code. It is valid for 5 minutes."
    answer = api.verify(code)
    assert answer.status_code == 200 and answer.json_body["code"] == "verified"
    assert answer.json_body["phone"] == NUMBER and "email" not in answer.json_body
    token = claims(answer.json_body["access_token"])
    assert (token["phone_number"], token["phone_number_verified"]) == (NUMBER, True)
    assert token["amr"] == ["otp", "sms"] and "email" not in token
    me = api.me(answer.json_body["access_token"]).json_body
    assert me["identifiers"] == [{"type": "phone", "value": NUMBER}]
    assert me["user_id"] == token["sub"] == answer.json_body["user_id"]
    assert api.verify(code).status_code == 401  # single use


def test_a_later_sign_in_by_the_number_lands_in_the_same_account(api: Api) -> None:
    first = api.sign_in()
    api.clock.advance(61)
    assert api.sign_in()["user_id"] == first["user_id"]


def test_an_sms_code_is_valid_five_minutes_by_default(api: Api) -> None:
    api.send()
    code = code_in_text(NUMBER)
    api.clock.advance(300)
    assert api.verify(code).json_body["code"] == "invalid_code"  # expired at 300 s: enforced by the write


def test_a_resend_replaces_the_code_and_waits_out_the_cooldown(api: Api) -> None:
    api.send()
    first = code_in_text(NUMBER)
    refused = api.send()
    assert (refused.status_code, refused.json_body["code"]) == (429, "resend_cooldown")
    assert refused.headers["Retry-After"] == "60"
    api.clock.advance(60)
    assert api.send().status_code == 200
    second = code_in_text(NUMBER)
    if first != second:
        assert api.verify(first).status_code == 401
    assert api.verify(second).status_code == 200


def test_the_number_and_the_address_are_separate_identities(api: Api) -> None:
    by_phone, by_email = api.sign_in(), api.sign_in_by_email()
    assert by_phone["user_id"] != by_email["user_id"]  # until the phone is linked (below)


def test_the_message_and_its_sns_attributes(settings: Settings) -> None:
    published: list[dict[str, Any]] = []

    class Sns:
        def publish(self, **request: Any) -> None:
            published.append(request)

    configured = Settings.from_environ(
        {
            **load_stage_env("local"),
            "OTP_SMS_WEBOTP_DOMAIN": "signin.example.com",
            "OTP_SMS_SENDER_ID": "SIGNIN",
            "OTP_SMS_ORIGINATION_NUMBER": "+18005550100",
        }
    )
    CodeTexts(SnsTexter(Sns(), configured), configured).send_code(Identifier(PHONE, "+447400123456", "GB"), "123456", 5)
    (request,) = published
    assert request["PhoneNumber"] == "+447400123456" and "TopicArn" not in request
    assert request["Message"] == (
        "123456 is your OTP Sign-in code. It is valid for 5 minutes.\n\n@signin.example.com #123456"
    )
    assert request["MessageAttributes"] == {
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"},
        "AWS.SNS.SMS.MaxPrice": {"DataType": "Number", "StringValue": "0.04630"},  # GB's configured price
        "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "SIGNIN"},
        "AWS.MM.SMS.OriginationNumber": {"DataType": "String", "StringValue": "+18005550100"},
    }


def texts(settings: Settings, code: str = "123456", minutes: int = 5) -> dict[Purpose, str]:
    """The text ``CodeTexts`` sends ``code`` in, for each purpose."""
    published: list[str] = []

    class Sns:
        def publish(self, **request: Any) -> None:
            published.append(request["Message"])

    texter = CodeTexts(SnsTexter(Sns(), settings), settings)
    for purpose in Purpose:
        texter.send_code(Identifier(PHONE, NUMBER, "US"), code, minutes, purpose)
    return dict(zip(Purpose, published, strict=True))


PROD = {**load_stage_env("prod"), "OTP_HASH_SECRET": "k" * 32}  # its token issuer: https://signin.example.com


def test_each_purpose_s_text_says_what_its_code_does_and_ends_with_the_origin_bound_line() -> None:
    sent = texts(Settings.from_environ(PROD))
    line = "\n\n@signin.example.com #123456"  # by default the token issuer's host: autofill offers it on that site
    assert sent == {
        Purpose.SIGN_IN: "123456 is your OTP Sign-in code. It is valid for 5 minutes." + line,
        Purpose.LINK: "Code to add this number to an account at OTP Sign-in: 123456. If you did not ask, ignore it."
        + line,
        Purpose.REAUTHENTICATE: "123456 confirms it is you before a change to your OTP Sign-in account. If you did "
        "not ask, ignore it." + line,
    }
    named = texts(Settings.from_environ({**PROD, "OTP_SERVICE_NAME": "Northwind", "OTP_SMS_WEBOTP_DOMAIN": "nw.test"}))
    assert all("Northwind" in text and text.endswith("\n\n@nw.test #123456") for text in named.values())


def test_the_code_that_links_a_number_says_so(api: Api) -> None:
    token = api.sign_in_by_email()["access_token"]
    assert api.post("/me/phone", {"phone": NUMBER}, token).status_code == 200
    ((_, text),) = sent_texts()
    code = code_in_text(NUMBER)
    assert text == f"Code to add this number to an account at OTP Sign-in: {code}. If you did not ask, ignore it."


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
@pytest.mark.parametrize("digits", range(6, 11))
def test_every_stage_s_texts_are_one_gsm7_segment_for_every_code_length(stage: str, digits: int) -> None:
    """The settings refuse texts that do not fit; this holds the stages' own to it, every purpose, every length."""
    env = {**load_stage_env(stage), "OTP_CODE_DIGITS": str(digits), "OTP_HASH_SECRET": "k" * 32}
    for webotp in (None, "a-long-subdomain.signin.example.com"):
        settings = Settings.from_environ({**env, **({"OTP_SMS_WEBOTP_DOMAIN": webotp} if webotp else {})})
        sent = texts(settings, "9" * digits, settings.limits.sms_code_ttl_seconds // 60)
        for purpose, text in sent.items():
            assert septets(text) <= SEGMENT_SEPTETS and "9" * digits in text, purpose
        assert "minutes" in sent[Purpose.SIGN_IN] and len(set(sent.values())) == len(Purpose)


@hypothesis.settings(max_examples=300, deadline=None)
@given(
    name=st.text(st.sampled_from([*sorted(GSM7_BASIC | GSM7_EXTENSION), "✓", "ł"]), max_size=70),
    digits=st.integers(6, 10),
    host=st.sampled_from([None, "nw.test", "signin.example.com", "a-long-subdomain.signin.example.com"]),
)
def test_any_service_name_fits_every_text_or_stops_the_service(name: str, digits: int, host: str | None) -> None:
    """Never a text refused per message: a name the settings accept fits every purpose's text, with any code."""
    env = {**PROD, "OTP_SERVICE_NAME": name, "OTP_CODE_DIGITS": str(digits)}
    try:
        settings = read_settings({**env, **({"OTP_SMS_WEBOTP_DOMAIN": host} if host else {})})
    except ConfigError as refused:
        assert str(refused).startswith("OTP_SERVICE_NAME")
        return
    for text in texts(settings, "9" * digits).values():
        assert septets(text) <= SEGMENT_SEPTETS


# -- what a code may be texted to ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("+19002345678", "premium-rate"),
        ("+449012345678", "premium-rate"),
        ("+18002345678", "toll-free"),
        ("+448001234567", "toll-free"),
        ("+4918012345", "shared-cost"),
        ("+611300123456", "shared-cost"),
        ("+445512345678", "universal access"),
        ("+49177991234567", "voicemail"),
        ("+447640123456", "pagers"),
        ("+447012345678", "personal"),
        ("+15002345678", "personal"),
        ("+445612345678", "VoIP"),
        ("+441212345678", "landlines"),
        ("+5511987654321", "numbers of BR (+55)"),  # a valid Brazilian mobile: not a served country
        ("+8613812345678", "numbers of CN (+86)"),
    ],
)
def test_numbers_a_code_must_never_go_to_are_refused_before_anything_happens(api: Api, number: str, why: str) -> None:
    for action in ("send_otp", "verify_otp"):
        answer = api.post("/otp", {"action": action, "phone": number, "otp": "123456"})
        assert (answer.status_code, answer.json_body["code"]) == (400, "phone_not_supported")
        assert why in answer.json_body["message"]
    assert sent_texts() == [] and table() == []  # nothing stored, nothing sent


def test_voip_numbers_are_a_per_stage_choice(api: Api) -> None:
    api.settings(OTP_SMS_VOIP="ALLOW")
    assert api.send("+445612345678").status_code == 200


def test_a_country_outside_the_stage_s_list_is_refused_and_one_inside_it_is_not(api: Api) -> None:
    api.settings(OTP_SMS_COUNTRIES="GB")
    assert api.send(NUMBER).json_body["code"] == "phone_not_supported"
    assert api.send("+447400123456").status_code == 200


@pytest.mark.parametrize(
    "written",
    ["4155550123", "+1 415 555 0123 ext. 7", "+1-800-FLOWERS", "+1 555", "", "+14155550123\n", "+" + "1" * 40],
)
def test_malformed_numbers_are_invalid(api: Api, written: str) -> None:
    assert api.send(written).json_body["code"] == "invalid_phone"
    assert sent_texts() == []


@pytest.mark.parametrize(
    ("written", "message"),
    [
        (
            "+1 415 555 0123 ext. 7",
            "Enter a valid phone number: leave out the extension: the code goes to the number itself.",
        ),
        (
            "+1 415 555 0123 x7",
            "Enter a valid phone number: leave out the extension: the code goes to the number itself.",
        ),
        ("415-555-CALL", "Enter a valid phone number: write the number in digits, without letters."),
        ("4155550123", "Enter a valid phone number: start with + and the country code, as in +1 415 555 0123."),
    ],
)
def test_a_refused_number_says_what_to_change(api: Api, written: str, message: str) -> None:
    assert api.send(written).json_body == {"message": message, "code": "invalid_phone"}


def test_a_number_of_an_unserved_region_names_it_and_the_served_ones(api: Api) -> None:
    api.settings(OTP_SMS_COUNTRIES="GB,US")
    answer = api.send("+44 7911 123456")  # +44, but Guernsey's (GG) to libphonenumber, not the United Kingdom's
    assert answer.json_body == {
        "message": "We cannot text a code to this number: we do not send text messages to numbers of GG (+44); "
        "we text numbers of GB, US.",
        "code": "phone_not_supported",
    }


# -- pumping defences ------------------------------------------------------------------------------------------


def test_five_texts_an_hour_and_ten_a_day_per_number(api: Api) -> None:
    codes = []
    for day_send in range(10):
        if day_send == 5:
            refused = api.send()
            assert refused.json_body["code"] == "send_quota_exceeded"
            api.clock.advance(int(refused.headers["Retry-After"]))  # the next hour
        assert api.send().status_code == 200, day_send
        codes.append(code_in_text(NUMBER))
        api.clock.advance(60)
    refused = api.send()
    assert (refused.status_code, refused.json_body["code"]) == (429, "send_quota_exceeded")
    api.clock.advance(3_600)
    assert api.send().json_body["code"] == "send_quota_exceeded"  # a new hour, but the day's 10 are spent
    assert len(sent_texts()) == 10


def test_a_block_of_numbers_gets_twenty_texts_an_hour(api: Api) -> None:
    block = [f"+1415555{n:04d}" for n in range(21)]
    for number in block[:20]:
        assert api.send(number).status_code == 200
    refused = api.send(block[20])
    assert (refused.status_code, refused.json_body["code"]) == (429, "prefix_quota_exceeded")
    assert api.send("+12125550123").status_code == 200  # another block
    assert not [item for item in table() if "4155550" in json.dumps(item)]  # the block is stored as a digest


def test_a_country_gets_its_daily_cap_and_others_do_not_notice(api: Api) -> None:
    api.settings(OTP_SMS_SENDS_PER_COUNTRY="3")
    for area in ("212", "305", "415"):
        assert api.send(f"+1{area}5550123").status_code == 200
    refused = api.send("+16175550123")
    assert (refused.status_code, refused.json_body["code"]) == (429, "country_quota_exceeded")
    assert int(refused.headers["Retry-After"]) <= 86_400
    assert api.send("+15062345678").status_code == 200  # Canada


def test_the_stage_s_budget_stops_texts_but_not_mail(api: Api) -> None:
    api.settings(OTP_SMS_DAILY_BUDGET="2")
    assert api.send("+12125550123").status_code == 200
    assert api.send("+447400123456").status_code == 200
    refused = api.send("+61412345678")
    assert (refused.status_code, refused.json_body["code"]) == (429, "sms_budget_exceeded")
    assert "email" in refused.json_body["message"]
    api.sign_in_by_email()  # email sign-in keeps working


def test_texts_per_source_network(api: Api) -> None:
    api.settings(OTP_SMS_SENDS_PER_IP="2")
    assert api.send("+12125550123").status_code == 200
    assert api.send("+447400123456").status_code == 200
    refused = api.send("+61412345678")
    assert (refused.status_code, refused.json_body["code"]) == (429, "ip_quota_exceeded")
    assert api.post("/otp", {"action": "send_otp", "email": ALICE}).status_code == 200  # mail counts apart


def test_the_limits_are_answered_in_order_those_about_the_number_last(api: Api) -> None:
    api.settings(OTP_SMS_DAILY_BUDGET="1", OTP_SMS_SENDS_PER_IP="1")
    assert api.send().status_code == 200
    # The number is in its cooldown and the network's quota is spent, but the stage's budget is named first.
    assert api.send().json_body["code"] == "sms_budget_exceeded"


def test_a_failed_text_is_taken_back_entirely(api: Api) -> None:
    faults = Faults()
    try:
        faults.inject("sns", "Publish", sns_error("InternalError", 500))
        refused = api.send()
        assert (refused.status_code, refused.json_body["code"]) == (503, "sms_unavailable")
        faults.clear()
        faults.inject("sns", "Publish", sns_error("InvalidParameter", 400))
        assert (api.send().status_code, api.send().json_body["code"]) == (502, "sms_rejected")
    finally:
        faults.clear()
    counters = [item for item in table() if "/" in item["pk"]["S"]]
    assert counters and all(item["n"]["N"] == "0" for item in counters)  # no quota, budget or cap spent
    assert api.send().status_code == 200  # no cooldown, no live code left behind
    assert api.verify(code_in_text(NUMBER)).status_code == 200


def test_the_failure_budget_is_not_reset_by_a_resend(api: Api) -> None:
    api.settings(OTP_FAILURE_BUDGET="3", OTP_FAILURES_PER_IP_AND_ADDRESS="1000")
    for _ in range(3):
        api.send()
        assert api.verify(wrong(code_in_text(NUMBER))).status_code == 401
        api.clock.advance(60)
    refused = api.send()
    assert (refused.status_code, refused.json_body["code"]) == (429, "too_many_failures")


def test_a_number_that_never_asked_is_answered_as_one_that_did(api: Api) -> None:
    api.send()
    right = code_in_text(NUMBER)
    answers = {}
    for number in (NUMBER, "+12125550199"):
        answers[number] = [
            (r.status_code, r.json_body, r.headers.get("Retry-After"))
            for r in (api.verify(wrong(right), number) for _ in range(12))
        ]
    assert answers[NUMBER] == answers["+12125550199"]
    assert answers[NUMBER][-1][0] == 429


# -- concurrency (at the service, whose store is serialised as DynamoDB serialises writes to an item) -----------

US_NUMBER = Identifier(PHONE, NUMBER, "US")


@pytest.fixture
def service(settings: Settings, clock: FakeClock) -> tuple[OtpService, RecordingSender]:
    sender = RecordingSender()
    return make_service(settings, sender, clock), sender


def test_50_simultaneous_sends_to_one_number_text_once(service: tuple[OtpService, RecordingSender]) -> None:
    otp, sender = service
    start = threading.Barrier(50)

    def send(_: int) -> str:
        start.wait()
        try:
            otp.send_code(US_NUMBER, "198.51.100.7")
        except Throttled as refused:
            return refused.reason
        return "sent"

    with ThreadPoolExecutor(max_workers=50) as pool:
        outcomes = Counter(pool.map(send, range(50)))
    assert outcomes == Counter({"sent": 1, "resend_cooldown": 49})
    assert len(sender.sent) == 1


def test_200_simultaneous_wrong_guesses_compare_at_most_the_limit(
    service: tuple[OtpService, RecordingSender], settings: Settings
) -> None:
    otp, sender = service
    otp.send_code(US_NUMBER, None)
    right = sender.last_code(US_NUMBER)
    guesses = [f"{n:06d}" for n in range(201) if f"{n:06d}" != right][:200]
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        with ThreadPoolExecutor(max_workers=32) as pool:
            outcomes = Counter(pool.map(lambda guess: _try(otp, guess), guesses))
    finally:
        sys.setswitchinterval(switch_interval)
    assert outcomes == Counter({"invalid": 200})
    key = KeyedHasher(KEY).subject_key(PHONE, NUMBER)
    item = boto3.client("dynamodb").get_item(TableName=TABLE, Key={"pk": {"S": key}}, ConsistentRead=True)["Item"]
    assert item["guesses"]["N"] == "6"  # compared: exactly the per-code limit, never more
    assert item["sessions"]["M"] == {}  # every speculative session taken out again
    assert _try(otp, right) == "invalid"  # out of guesses


def _try(otp: OtpService, code: str) -> str:
    try:
        otp.verify_code(US_NUMBER, code)
    except InvalidCode:
        return "invalid"
    except Throttled as refused:
        return refused.reason
    return "verified"


# -- a phone added to an account -------------------------------------------------------------------------------


def link(api: Api, token: str, phone: str = NUMBER) -> Any:
    sent = api.post("/me/phone", {"phone": phone}, token)
    assert sent.status_code == 200, sent.json_body
    return api.post("/me/phone/verify", {"phone": phone, "otp": code_in_text(phone)}, token)


def test_a_linked_phone_signs_in_to_the_email_account(api: Api) -> None:
    by_email = api.sign_in_by_email()
    linked = link(api, by_email["access_token"])
    assert linked.status_code == 200, linked.json_body
    assert linked.json_body["code"] == "phone_linked" and linked.json_body["phone"] == NUMBER
    assert linked.json_body["message"] == "+1 415-555-0123 is now a way to sign in to your account."
    api.clock.advance(61)
    by_phone = api.sign_in()
    assert by_phone["user_id"] == by_email["user_id"]
    token = claims(by_phone["access_token"])
    assert (token["email"], token["phone_number"], token["amr"]) == (ALICE, NUMBER, ["otp", "sms"])
    me = api.me(by_email["access_token"]).json_body
    assert me["identifiers"] == [{"type": "email", "value": ALICE}, {"type": "phone", "value": NUMBER}]
    # The session opened by phone lives with the account: signing out everywhere ends both.
    assert api.post("/signout", {"everywhere": True}, by_phone["access_token"]).status_code == 200
    assert api.me(by_email["access_token"]).status_code == 401


def test_a_number_of_another_account_cannot_be_linked_and_the_answer_says_not_whose(api: Api) -> None:
    api.sign_in()  # the number has an account of its own
    api.clock.advance(61)
    mine = api.sign_in_by_email()
    refused = link(api, mine["access_token"])
    assert (refused.status_code, refused.json_body["code"]) == (409, "phone_already_linked")
    assert set(refused.json_body) == {"message", "code"}
    # Linked to a third account: the same answer.
    other = api.sign_in_by_email("carol@example.com")
    api.clock.advance(61)
    assert link(api, other["access_token"], "+447400123456").status_code == 200
    api.clock.advance(61)
    assert link(api, mine["access_token"], "+447400123456").json_body == refused.json_body


def test_one_phone_per_account_and_removing_it_ends_its_sign_in(api: Api) -> None:
    mine = api.sign_in_by_email()
    assert link(api, mine["access_token"]).status_code == 200
    again = api.post("/me/phone", {"phone": "+447400123456"}, mine["access_token"])
    assert (again.status_code, again.json_body["code"]) == (409, "account_has_phone")
    removed = api.client.http.delete("/me/phone", headers={"Authorization": f"Bearer {mine['access_token']}"})
    assert (removed.status_code, removed.json_body["code"]) == (200, "phone_removed")
    assert api.me(mine["access_token"]).json_body["identifiers"] == [{"type": "email", "value": ALICE}]
    gone = api.client.http.delete("/me/phone", headers={"Authorization": f"Bearer {mine['access_token']}"})
    assert (gone.status_code, gone.json_body["code"]) == (404, "phone_not_linked")
    api.clock.advance(61)
    assert api.sign_in()["user_id"] != mine["user_id"]  # the number now signs in on its own


def test_the_number_an_account_was_created_with_cannot_be_removed(api: Api) -> None:
    mine = api.sign_in()
    refused = api.client.http.delete("/me/phone", headers={"Authorization": f"Bearer {mine['access_token']}"})
    assert (refused.status_code, refused.json_body["code"]) == (409, "phone_is_primary")


def test_a_wrong_code_does_not_link_and_counts_as_a_failure(api: Api) -> None:
    mine = api.sign_in_by_email()
    api.post("/me/phone", {"phone": NUMBER}, mine["access_token"])
    refused = api.post("/me/phone/verify", {"phone": NUMBER, "otp": wrong(code_in_text(NUMBER))}, mine["access_token"])
    assert (refused.status_code, refused.json_body["code"]) == (401, "invalid_code")
    assert api.me(mine["access_token"]).json_body["identifiers"] == [{"type": "email", "value": ALICE}]


def test_linking_needs_a_session(api: Api) -> None:
    for path, body in (("/me/phone", {"phone": NUMBER}), ("/me/phone/verify", {"phone": NUMBER, "otp": "123456"})):
        assert api.post(path, body).json_body["code"] == "invalid_token"
    assert sent_texts() == []


def test_a_dumped_table_holds_no_number(api: Api) -> None:
    mine = api.sign_in_by_email()
    link(api, mine["access_token"])
    api.clock.advance(61)
    api.sign_in()
    dump = json.dumps(table())
    assert NUMBER not in dump and NUMBER[1:] not in dump and "4155550" not in dump and ALICE not in dump


def linked_phone_s_code(api: Api) -> tuple[dict[str, Any], str]:
    """An email account with the phone linked to it, and a fresh sign-in code texted to the phone."""
    mine = api.sign_in_by_email()
    assert link(api, mine["access_token"]).status_code == 200
    api.clock.advance(61)
    api.send()
    return mine, code_in_text(NUMBER)


def test_a_linked_phone_s_sign_in_that_cannot_be_signed_leaves_no_session_and_keeps_the_code(api: Api) -> None:
    mine, code = linked_phone_s_code(api)
    faults = Faults()
    try:
        wiring.get_keys()[ALGORITHM].signing_kid  # noqa: B018 - the public keys are fetched once; only signing fails below
        faults.inject("kms", "Sign", aws_error("KMSInternalException", 500))
        refused = api.verify(code)
        assert (refused.status_code, refused.json_body["code"]) == (503, "keys_unavailable")
    finally:
        faults.clear()
    sessions = [item["sessions"]["M"] for item in table() if "sessions" in item]
    assert sum(len(found) for found in sessions) == 1  # only the email sign-in's: nothing half-opened anywhere
    assert api.verify(code).json_body["user_id"] == mine["user_id"]  # the code was put back


def test_a_linked_phone_s_sign_in_whose_home_write_fails_keeps_the_code(api: Api) -> None:
    mine, code = linked_phone_s_code(api)
    faults = Faults()
    try:
        # The guess's own write passes; the one that opens the session at the home fails.
        faults.inject(
            "dynamodb", "UpdateItem", aws_error("ProvisionedThroughputExceededException", 400), skip=1, times=2
        )
        refused = api.verify(code)
        assert (refused.status_code, refused.json_body["code"]) == (503, "storage_unavailable")
    finally:
        faults.clear()
    assert api.verify(code).json_body["user_id"] == mine["user_id"]


def test_a_number_linked_between_a_first_sign_in_s_two_writes_ends_in_one_account(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outside review's race: a first sign-in by the number passes its code check; before the write that
    would create its account lands, the number is linked to another account. The creating write refuses an
    identifier linked meanwhile, and the sign-in lands in the account the number now belongs to."""
    bob = api.sign_in_by_email("bob@example.com")
    assert api.send().status_code == 200
    sign_in_code = code_in_text(NUMBER)
    settle = AccountStore.settle

    def paused(store: AccountStore, *args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(AccountStore, "settle", settle)  # once: the link's own requests settle as usual
        api.clock.advance(61)  # past the resend cooldown
        assert link(api, bob["access_token"]).json_body["code"] == "phone_linked"
        return settle(store, *args, **kwargs)

    monkeypatch.setattr(AccountStore, "settle", paused)
    verified = api.verify(sign_in_code)
    assert (verified.status_code, verified.json_body["user_id"]) == (200, bob["user_id"])
    accounts = [item for item in table() if "account" in item]
    assert len(accounts) == 1  # bob's: the number created none
    number_item = next(item for item in table() if "home" in item)
    assert "account" not in number_item and number_item["sessions"]["M"] == {}  # its guess's session tidied
    api.clock.advance(61)
    assert api.sign_in()["user_id"] == bob["user_id"]


# -- account changes need a recent proof (the outside review, finding 4) ----------------------------------------


def mailed_code(email: str = ALICE) -> str:
    return code_in([mail for mail in sent_mails() if mail["to"] == [email]][-1])


def test_a_stale_session_must_prove_it_is_its_person_again_before_adding_or_removing_a_number(api: Api) -> None:
    mine = api.sign_in_by_email()
    old = mine["access_token"]
    api.clock.advance(301)  # past OTP_STEP_UP_SECONDS: the sign-in is no longer a recent proof
    for refused in (
        api.post("/me/phone", {"phone": NUMBER}, old),
        api.post("/me/phone/verify", {"phone": NUMBER, "otp": "123456"}, old),
        api.client.http.delete("/me/phone", headers={"Authorization": f"Bearer {old}"}),
    ):
        assert (refused.status_code, refused.json_body["code"]) == (401, "reauthentication_required")
        assert refused.json_body["message"] == "Please confirm it is you with a new code first."
        assert refused.headers["WWW-Authenticate"] == 'Bearer error="insufficient_user_authentication"'
    assert sent_texts() == []
    sent = api.post("/reauthenticate", {}, old)
    assert (sent.status_code, sent.json_body["code"], sent.json_body["to"]) == (200, "code_sent", ALICE)
    renewed = api.post("/reauthenticate", {"otp": mailed_code()}, old)
    assert (renewed.status_code, renewed.json_body["code"]) == (200, "reauthenticated"), renewed.json_body
    new = renewed.json_body["access_token"]
    assert claims(new)["auth_time"] == int(api.clock()) and claims(new)["gen"] == claims(old)["gen"] + 1
    assert api.me(old).status_code == 401  # the earlier tokens end with the re-authentication
    assert link(api, new).json_body["code"] == "phone_linked"
    api.clock.advance(301)
    stale = api.client.http.delete("/me/phone", headers={"Authorization": f"Bearer {new}"})
    assert stale.json_body["code"] == "reauthentication_required"


def test_a_code_works_only_for_what_it_was_sent_for(api: Api) -> None:
    """A sign-in code read out to a stranger cannot link the number to the stranger's account, a linking code
    cannot sign in, and neither re-authenticates (each is a wrong guess, counted as one)."""
    stranger = api.sign_in_by_email("mallory@example.com")["access_token"]
    assert api.send().status_code == 200  # the number's owner asks for a sign-in code, and reads it out
    read_out = api.post("/me/phone/verify", {"phone": NUMBER, "otp": code_in_text(NUMBER)}, stranger)
    assert (read_out.status_code, read_out.json_body["code"]) == (401, "invalid_code")
    api.clock.advance(61)
    assert api.post("/me/phone", {"phone": NUMBER}, stranger).status_code == 200
    assert api.verify(code_in_text(NUMBER)).json_body["code"] == "invalid_code"
    api.clock.advance(61)
    mine = api.sign_in_by_email()["access_token"]
    api.clock.advance(30)
    assert api.post("/reauthenticate", {}, mine).status_code == 200
    assert api.post("/otp", {"action": "verify_otp", "email": ALICE, "otp": mailed_code()}).status_code == 401
    api.clock.advance(30)
    assert api.post("/otp", {"action": "send_otp", "email": ALICE}).status_code == 200
    refused = api.post("/reauthenticate", {"otp": mailed_code()}, mine)
    assert (refused.status_code, refused.json_body["code"]) == (401, "invalid_code")


def test_a_linked_number_re_authenticates_and_its_item_keeps_no_session(api: Api) -> None:
    mine = api.sign_in_by_email()
    assert link(api, mine["access_token"]).status_code == 200
    api.clock.advance(301)
    assert api.post("/reauthenticate", {"via": "phone"}, mine["access_token"]).json_body["to"] == "+1 415-555-0123"
    renewed = api.post("/reauthenticate", {"via": "phone", "otp": code_in_text(NUMBER)}, mine["access_token"])
    assert renewed.json_body["code"] == "reauthenticated", renewed.json_body
    token = renewed.json_body["access_token"]
    removed = api.client.http.delete("/me/phone", headers={"Authorization": f"Bearer {token}"})
    assert removed.json_body["code"] == "phone_removed"
    assert all(item.get("sessions", {}).get("M", {}) == {} for item in table() if "account" not in item)


def test_an_account_with_a_second_factor_re_proves_with_it(api: Api) -> None:
    import pyotp

    mine = api.sign_in_by_email()
    secret = api.post("/mfa/totp", None, mine["access_token"]).json_body["secret"]
    confirmed = api.post(
        "/mfa/totp/confirm", {"otp": pyotp.TOTP(secret).at(int(api.clock()))}, mine["access_token"]
    ).json_body
    api.clock.advance(301)
    token = confirmed["access_token"]
    by_code = api.post("/reauthenticate", {}, token)
    assert (by_code.status_code, by_code.json_body["code"]) == (403, "use_second_factor")
    stale = api.post("/me/phone", {"phone": NUMBER}, token)
    assert stale.json_body["message"] == "Please confirm it is you with your authenticator app first."
    renewed = api.post("/mfa/reauthenticate", {"otp": pyotp.TOTP(secret).at(int(api.clock()))}, token).json_body
    assert link(api, renewed["access_token"]).json_body["code"] == "phone_linked"


@pytest.mark.parametrize("change", ["link", "unlink"])
def test_a_sign_out_between_the_check_and_the_change_refuses_the_change(
    api: Api, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """The recency the bearer check read holds in the change's own write: the session must still be live and of
    its token's generation there, so a sign-out (or an upgrade) landing in between refuses the change."""
    mine = api.sign_in_by_email()
    token = mine["access_token"]
    if change == "unlink":
        assert link(api, token).status_code == 200
    original = getattr(AccountStore, change)

    def signed_out_first(store: AccountStore, *args: Any, **kwargs: Any) -> Any:
        assert api.post("/signout", {"everywhere": True}, token).status_code == 200
        return original(store, *args, **kwargs)

    monkeypatch.setattr(AccountStore, change, signed_out_first)
    if change == "link":
        assert api.post("/me/phone", {"phone": NUMBER}, token).status_code == 200
        refused = api.post("/me/phone/verify", {"phone": NUMBER, "otp": code_in_text(NUMBER)}, token)
    else:
        refused = api.client.http.delete("/me/phone", headers={"Authorization": f"Bearer {token}"})
    assert (refused.status_code, refused.json_body["code"]) == (401, "invalid_token")
    monkeypatch.setattr(AccountStore, change, original)
    api.clock.advance(61)
    again = api.sign_in_by_email()
    assert api.me(again["access_token"]).json_body["identifiers"] == (
        [{"type": "email", "value": ALICE}]
        if change == "link"
        else [{"type": "email", "value": ALICE}, {"type": "phone", "value": NUMBER}]
    )
