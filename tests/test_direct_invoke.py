"""The earlier prototype's Lambda test events, invoked on the handler itself with no API Gateway in front
(``chalicelib/http/direct.py``): answered as ``POST /otp`` answers, in the prototype's shape."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from chalice.test import Client

from app import app
from bench.events import LambdaContext
from chalicelib import wiring
from chalicelib.http import direct
from tests.conftest import code_in, json_lines, override_settings, sent_mails

ALICE = "alice@example.com"
Invoke = Callable[[Any], dict[str, Any]]


@pytest.fixture
def invoke(client: Client, stage_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Lambda's call of the handler with ``event`` as it arrives (the stage's environment, as Lambda has it)."""
    for name, value in stage_env.items():
        monkeypatch.setenv(name, value)

    def call(event: Any) -> dict[str, Any]:
        answer = app(event, LambdaContext())
        assert set(answer) == {"statusCode", "headers", "body"}, answer  # the prototype's shape
        return answer

    return call


def parsed(answer: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return answer["statusCode"], json.loads(answer["body"])


def test_the_request_object_itself_mails_a_code(invoke: Invoke) -> None:
    answer = invoke({"action": "send_otp", "email": ALICE})
    assert parsed(answer) == (
        200,
        {
            "message": f"We sent a sign-in code to {ALICE}. It is valid for 10 minutes.",
            "code": "code_sent",
            "to": ALICE,
            "expires_in": 600,
            "resend_after": 30,
        },
    )
    assert sent_mails()[-1]["to"] == [ALICE]
    headers = answer["headers"]
    assert (headers["Content-Type"], headers["Cache-Control"]) == ("application/json", "no-store")
    assert not [name for name in headers if name.startswith("Access-Control-")]  # no origin, so no CORS


@pytest.mark.parametrize("encoded", [False, True])
def test_a_body_string_signs_in_with_the_mailed_code(invoke: Invoke, encoded: bool) -> None:
    def event(request: dict[str, str]) -> dict[str, Any]:
        text = json.dumps(request)
        if encoded:
            return {"body": base64.b64encode(text.encode()).decode(), "isBase64Encoded": True}
        return {"body": text}

    assert parsed(invoke(event({"action": "send_otp", "email": ALICE})))[1]["code"] == "code_sent"
    code = code_in(sent_mails()[-1])
    status, body = parsed(invoke(event({"action": "verify_otp", "email": ALICE, "otp": code})))
    assert (status, body["code"], body["email"], body["token_type"]) == (200, "verified", ALICE, "Bearer")
    assert body["refresh_token"].startswith("rt2.")


@pytest.mark.parametrize(
    ("event", "raw", "code"),
    [
        ([], "[]", "invalid_body"),
        ("not json", "not json", "invalid_json"),
        (42, "42", "invalid_body"),
        (None, "null", "invalid_body"),
        ({"Records": [{"eventSource": "aws:s3", "s3": {}}]}, None, "missing_action"),
        ({"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}, None, "missing_action"),
        ({"body": "{oops"}, "{oops", "invalid_json"),
        ({"body": '["send_otp"]'}, '["send_otp"]', "invalid_body"),
        ({"body": None}, "", "invalid_body"),  # API Gateway's body of a request without one
        ({"body": "not base64!", "isBase64Encoded": True}, "\xff", "invalid_json"),
        ({"action": "resend"}, None, "unknown_action"),
        ({"action": "send_otp"}, None, "invalid_body"),
        ({"action": "send_otp", "email": "not an address"}, None, "invalid_email"),
    ],
)
def test_any_other_event_gets_the_answer_post_otp_gives(
    client: Client, invoke: Invoke, event: Any, raw: str | None, code: str
) -> None:
    answer = invoke(event)
    over_http = client.http.post(
        "/otp", headers={"Content-Type": "application/json"}, body=json.dumps(event) if raw is None else raw
    )
    assert (over_http.status_code, over_http.json_body["code"]) == (400, code)
    assert parsed(answer) == (400, over_http.json_body)  # never Chalice's {"Code", "Message"}
    assert answer["headers"] == {
        name: value
        for name, value in over_http.headers.items()
        if name.lower() not in {"content-length", "date", "server"}
    }


def test_direct_callers_share_one_send_budget_of_their_own(
    client: Client, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    override_settings(monkeypatch, OTP_SENDS_PER_IP="2")
    sends = [parsed(invoke({"action": "send_otp", "email": f"direct{n}@example.com"})) for n in range(3)]
    assert [(status, body["code"]) for status, body in sends] == [(200, "code_sent")] * 2 + [(429, "ip_quota_exceeded")]
    assert sends[2][1]["retry_after"] > 0
    # Counted under the pseudo-network's keyed digest, as an address's sends are under its own.
    keys = {item["pk"]["S"] for item in boto3.client("dynamodb").scan(TableName="otp_users")["Items"]}
    assert any(key.startswith(wiring.get_hasher().subject_key("ip", direct.NETWORK) + "/") for key in keys), keys
    # A caller through the gateway is counted at its own address: the direct callers' budget is not theirs.
    over_http = client.http.post("/otp", body=json.dumps({"action": "send_otp", "email": "gateway@example.com"}))
    assert (over_http.status_code, over_http.json_body["code"]) == (200, "code_sent")


def test_a_direct_call_writes_the_route_s_access_line(invoke: Invoke, capsys: pytest.CaptureFixture) -> None:
    invoke({"action": "send_otp", "email": ALICE})
    invoke({"body": "{oops"})
    lines = json_lines(capsys.readouterr().out)
    assert [(line["route"], line["method"], line.get("action"), line["status"], line["code"]) for line in lines] == [
        ("/otp", "POST", "send_otp", 200, "code_sent"),
        ("/otp", "POST", None, 400, "invalid_json"),
    ]
    assert lines[0]["user_hint"] == "a***@example.com" and "_aws" in lines[0]  # with its metrics (EMF)
