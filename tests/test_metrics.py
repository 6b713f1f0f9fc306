"""Metrics: EMF in the access line (chalicelib/http/metrics.py), read back hourly by GET /admin/stats, and fed
into the local stack's CloudWatch (tools/emf_feed.py) so that the dashboard works under `make run`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest
import requests

from chalicelib.http import errors, metrics
from tests import test_admin
from tests.conftest import code_in, code_in_text, sent_mails
from tests.test_admin import ADMIN, ALICE, PHONE, Api, aal2
from tests.test_adversarial_faults import Faults, aws_error
from tools.emf_feed import MetricsFeed, metric_data
from tools.run_local import headless_stack

NAMESPACE = "OtpSignin/local"
api = test_admin.api  # the admin tests' fixture: the API through Chalice's test client, with a clock


def price(country: str) -> Decimal:
    return {"US": Decimal("0.00883"), "GB": Decimal("0.04630")}[country]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ({"route": "/otp", "code": "code_sent", "channel": "email"}, {"CodesSent": 1}),
        (
            {"route": "/otp", "code": "code_sent", "channel": "sms", "country": "GB"},
            {"CodesSent": 1, "SmsSent": 1, "SmsCost": 0.0463},
        ),
        (
            {"route": "/me/phone", "code": "code_sent", "channel": "sms", "country": "US"},
            {"CodesSent": 1, "SmsSent": 1, "SmsCost": 0.00883},
        ),
        ({"route": "/otp", "code": "verified", "channel": "email"}, {"SignIns": 1}),
        ({"route": "/otp", "code": "verified", "channel": "sms", "country": "US"}, {"SignIns": 1, "SmsVerified": 1}),
        ({"route": "/me/phone/verify", "code": "phone_linked", "channel": "sms", "country": "US"}, {"SmsVerified": 1}),
        (
            {"route": "/reauthenticate", "code": "code_sent", "channel": "sms", "country": "US"},
            {"CodesSent": 1, "SmsSent": 1, "SmsCost": 0.00883},
        ),  # a confirmation text costs as a sign-in's
        (
            {"route": "/reauthenticate", "code": "reauthenticated", "channel": "sms", "country": "US"},
            {"SmsVerified": 1},
        ),
        ({"route": "/reauthenticate", "code": "reauthenticated", "channel": "email"}, {}),
        ({"route": "/reauthenticate", "code": "invalid_code", "channel": "email"}, {"WrongCodes": 1}),
        ({"route": "/otp", "code": "invalid_code", "channel": "email"}, {"WrongCodes": 1}),
        ({"route": "/otp", "code": "invalid_code", "channel": "email", "reason": "replayed"}, {}),  # a double submit
        ({"route": "/otp", "code": "mfa_required", "channel": "email"}, {"SecondFactorChallenges": 1}),
        (
            {"route": "/otp", "code": "mfa_required", "channel": "sms", "country": "US"},
            {"SecondFactorChallenges": 1, "SmsVerified": 1},
        ),  # the text's code was typed back: no pumping
        ({"route": "/mfa/verify", "code": "verified"}, {"SecondFactorSignIns": 1}),
        ({"route": "/mfa/verify", "code": "invalid_code"}, {"SecondFactorFailures": 1}),
        ({"route": "/mfa/verify", "code": "invalid_mfa_token"}, {"SecondFactorFailures": 1}),
        ({"route": "/mfa/verify", "code": "too_many_failures"}, {"SecondFactorFailures": 1}),
        ({"route": "/otp", "code": "prefix_quota_exceeded", "channel": "sms", "country": "US"}, {"Refused": 1}),
        ({"route": "/admin/users/{id}/lock", "code": "user_locked"}, {"AccountsLocked": 1}),
        ({"route": "/token/refresh", "code": "invalid_token", "reason": "reused"}, {"RefreshReuse": 1}),
        ({"route": "/token/refresh", "code": "invalid_token", "reason": "expired"}, {}),
        ({"route": "/me", "code": "signed_in"}, {}),
        ({"route": "/otp", "code": "invalid_email"}, {}),
    ],
)
def test_a_line_records_what_it_says(line: dict[str, Any], expected: dict[str, float]) -> None:
    assert metrics.observed(line, errors.THROTTLE_CODES, price) == expected


def test_the_emf_block_names_only_bounded_fields_of_the_line() -> None:
    line = {
        "route": "/otp",
        "code": "country_quota_exceeded",
        "channel": "sms",
        "country": "US",
        "user": "0123456789abcdef",
        "user_hint": "+*********23",
    }
    line.update(metrics.embedded(line, {"Refused": 1, "SmsSent": 1}, NAMESPACE, 1_800_000_000_000))
    (block,) = [value for key, value in line.items() if key == "_aws"]
    assert block["Timestamp"] == 1_800_000_000_000
    used = set()
    for directive in block["CloudWatchMetrics"]:
        assert directive["Namespace"] == NAMESPACE
        for dimensions in directive["Dimensions"]:
            assert set(dimensions) <= {"route", "outcome", "channel", "country"}
            used |= set(dimensions)
            assert all(name in line for name in dimensions)
        for metric in directive["Metrics"]:
            assert isinstance(line[metric["Name"]], int | float)
    assert line["outcome"] == "country_quota_exceeded" and used == {"channel", "outcome", "country"}
    by_name = {
        (m["Name"], tuple(map(tuple, d["Dimensions"]))) for d in block["CloudWatchMetrics"] for m in d["Metrics"]
    }
    assert by_name == {("Refused", (("channel", "outcome"),)), ("SmsSent", (("channel",), ("channel", "country")))}


def test_an_email_line_has_no_country_dimension() -> None:
    line = {"route": "/otp", "code": "code_sent", "channel": "email"}
    fields = metrics.embedded(line, {"CodesSent": 1}, NAMESPACE, 0)
    assert fields["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["channel"]]


def test_emf_lines_become_metric_data_and_other_lines_none() -> None:
    line = {"route": "/otp", "code": "code_sent", "channel": "sms", "country": "US"}
    line.update(metrics.embedded(line, {"SmsSent": 1, "SmsCost": 0.00883}, NAMESPACE, 1_800_000_000_000))
    data = metric_data(json.dumps(line))
    assert {(d["MetricName"], tuple(x["Value"] for x in d["Dimensions"]), d["Value"]) for _, d in data} == {
        ("SmsSent", ("sms",), 1.0),
        ("SmsSent", ("sms", "US"), 1.0),
        ("SmsCost", ("sms",), 0.00883),
        ("SmsCost", ("sms", "US"), 0.00883),
    }
    assert {namespace for namespace, _ in data} == {NAMESPACE}
    assert metric_data('{"route": "/me", "code": "signed_in"}') == metric_data("[api] starting") == []


def _feed_printed(text: str) -> None:
    cloudwatch = boto3.client("cloudwatch")
    for line in text.splitlines():
        for namespace, datum in metric_data(line):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=[datum])


def test_stats_reads_back_what_the_access_lines_recorded(api: Api, capsys: pytest.CaptureFixture[str]) -> None:
    api.sign_in(ALICE)
    api.clock.advance(31)
    assert api.call("POST", "/otp", body={"action": "send_otp", "email": ALICE}).status_code == 200
    code = code_in([mail for mail in sent_mails() if mail["to"] == [ALICE]][-1])
    assert api.verify(ALICE, "000000" if code != "000000" else "111111").status_code == 401
    assert api.call("POST", "/otp", body={"action": "send_otp", "email": ALICE}).status_code == 429  # cooldown
    assert api.call("POST", "/otp", body={"action": "send_otp", "phone": PHONE}).status_code == 200
    assert api.call("POST", "/otp", body={"action": "send_otp", "phone": "+14155550124"}).status_code == 200
    answer = api.call("POST", "/otp", body={"action": "verify_otp", "phone": PHONE, "otp": code_in_text(PHONE)})
    assert answer.status_code == 200
    aal2(api, ADMIN)  # the admin enrolls an authenticator
    api.clock.advance(31)
    pending = api.sign_in(ADMIN)  # mfa_required: a second-factor challenge
    right = api.code_from_app(ADMIN)
    wrong = api.call(
        "POST",
        "/mfa/verify",
        None,
        {"mfa_token": pending["mfa_token"], "otp": "000000" if right != "000000" else "111111"},
    )
    assert wrong.json_body["code"] == "invalid_code"
    api.clock.advance(31)
    token = aal2(api, ADMIN)["access_token"]  # a second-factor sign-in
    _feed_printed(capsys.readouterr().out)
    stats = api.call("GET", "/admin/stats?hours=48", token).json_body
    assert sum(stats["channels"]["email"]["metrics"]["SecondFactorChallenges"]) == 2
    assert [sum(stats["second_factor"][name]) for name in ("sign_ins", "failures")] == [1, 1]
    assert stats["code"] == "admin_stats" and len(stats["timestamps"]) == 48 and stats["period"] == 3600
    email, sms = stats["channels"]["email"], stats["channels"]["sms"]
    # The admin's three sign-ins sent codes too; the first one signed in at once, the others owed a second factor.
    assert sum(email["metrics"]["CodesSent"]) == 5 and sum(email["metrics"]["SignIns"]) == 2
    assert sum(email["metrics"]["WrongCodes"]) == 1 and sum(email["refused"]["resend_cooldown"]) == 1
    assert "SmsSent" not in email["metrics"]
    assert (sum(sms["metrics"]["SmsSent"]), sum(sms["metrics"]["SmsVerified"])) == (2, 1)
    assert sum(sms["metrics"]["SmsCost"]) == pytest.approx(2 * 0.00883)
    us = stats["countries"]["US"]
    assert (sum(us["SmsSent"]), sum(us["SmsVerified"])) == (2, 1) and sum(stats["countries"]["GB"]["SmsSent"]) == 0
    assert stats["sms_budget"]["texts"] == 1000 and stats["sms_budget"]["prices_usd"]["US"] == 0.00883
    assert stats["channels"]["sms"]["metrics"]["SmsSent"][-1] == 2  # the current hour is the last
    assert stats["timestamps"][-1] <= api.clock.now < stats["timestamps"][-1] + 3600


@pytest.mark.parametrize(
    ("query", "status"), [("hours=0", 400), ("hours=337", 400), ("hours=x", 400), ("hours=336", 200), ("", 200)]
)
def test_stats_hours_are_bounded(api: Api, query: str, status: int) -> None:
    token = aal2(api, ADMIN)["access_token"]
    assert api.call("GET", f"/admin/stats?{query}", token).status_code == status


@pytest.mark.parametrize(
    ("code", "http", "status", "answer"),
    [("Throttling", 400, 503, "metrics_unavailable"), ("AccessDenied", 403, 502, "metrics_error")],
)
def test_a_failing_cloudwatch_is_its_own_answer(api: Api, code: str, http: int, status: int, answer: str) -> None:
    token = aal2(api, ADMIN)["access_token"]
    faults = Faults()
    faults.inject("cloudwatch", "GetMetricData", aws_error(code, http))
    try:
        got = api.call("GET", "/admin/stats", token)
    finally:
        faults.clear()
    assert (got.status_code, got.json_body["code"]) == (status, answer)


def test_the_feed_puts_lines_in_order_and_survives_a_failing_put(aws: None) -> None:
    said: list[str] = []

    class Flaky:
        def __init__(self) -> None:
            self.calls = 0
            self.real = boto3.client("cloudwatch")

        def put_metric_data(self, **request: Any) -> Any:
            self.calls += 1
            if self.calls == 1:
                raise self.real.exceptions.InvalidParameterValueException(
                    {"Error": {"Code": "InvalidParameterValue", "Message": "no"}}, "PutMetricData"
                )
            return self.real.put_metric_data(**request)

    cloudwatch = Flaky()
    feed = MetricsFeed(cloudwatch, said.append)
    line = {"route": "/otp", "code": "code_sent", "channel": "email"}
    line.update(metrics.embedded(line, {"CodesSent": 1}, NAMESPACE, 1_800_000_000_000))
    for _ in range(3):
        feed.offer(json.dumps(line))
    feed.offer("[api] a line that is not JSON")
    feed.drain()
    assert len(said) == 1 and "not put" in said[0]
    listed = boto3.client("cloudwatch").list_metrics(Namespace=NAMESPACE)["Metrics"]
    assert [m["MetricName"] for m in listed] == ["CodesSent"]
    calls = cloudwatch.calls
    feed.close()  # as the stack stops: later lines are dropped, not put into an AWS that is going away
    feed.offer(json.dumps(line))
    feed.drain()
    assert (cloudwatch.calls, len(said)) == (calls, 1)


@pytest.fixture(scope="module")
def stack() -> Iterator[Any]:
    with headless_stack(echo=lambda line: None) as running:
        yield running


def test_the_local_stack_puts_the_api_metrics_into_its_cloudwatch(stack: Any) -> None:
    """What `make run` does: a sign-in through chalice local shows in the embedded AWS's CloudWatch."""
    answer = requests.post(
        f"{stack.api_url}/otp", json={"action": "send_otp", "email": "metrics@example.com"}, timeout=10
    )
    assert answer.status_code == 200
    cloudwatch = boto3.client(
        "cloudwatch",
        endpoint_url=stack.aws_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    # The access line reaches the feed through the API's output, read on a thread of its own: it may arrive after
    # the answer does. Wait for it (draining what the feed holds each time), not for a fixed time.
    deadline = time.monotonic() + 30
    while True:
        stack.metrics.drain()
        listed = cloudwatch.list_metrics(Namespace=NAMESPACE, MetricName="CodesSent")["Metrics"]
        if listed or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert [{d["Name"]: d["Value"] for d in m["Dimensions"]} for m in listed] == [{"channel": "email"}]
