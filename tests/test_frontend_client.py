"""The UI's pieces without a page: the API client (never raises), the dev inbox's parser, phone numbers and
what the answers of /me and verify become.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests

from frontend import api, inbox, phone, session
from tests import frontend_app
from tests.frontend_app import (
    ACCESS_1,
    ACCESS_2,
    ALL_TOKENS,
    INBOX_URL,
    INVALID_TOKEN,
    REFRESH_1,
    REFRESH_2,
    REFRESHED,
    SENT,
    SIGNED_IN_AT,
    SIGNED_OUT,
    USER_ID,
    FakeApi,
    response,
)

# The fixtures this module uses (tests/frontend_app.py).
fake_api = frontend_app.fake_api


def test_client_never_raises_and_types_results(fake_api: FakeApi) -> None:
    client = api.OtpClient("http://x/")
    fake_api.answers.extend(
        [
            SENT,
            response(500, ["not", "an", "object"]),
            response(418, {}),
            requests.ReadTimeout("slow"),
        ]
    )
    ok = client.send_otp("a@b.com")
    assert (ok.ok, ok.status, ok.code, ok.data["resend_after"]) == (True, 200, "code_sent", 30)
    assert fake_api.calls[0].url == "http://x/otp"

    odd = client.send_otp("a@b.com")
    assert (odd.ok, odd.status, odd.code) == (False, 500, api.BAD_RESPONSE)

    empty = client.verify_otp("a@b.com", "1")
    assert (empty.status, empty.code, empty.message) == (418, "http_error", "The request failed (HTTP 418).")

    down = client.send_otp("a@b.com")
    assert down.unreachable and down.code == api.UNREACHABLE and down.status is None


def test_resolve_base_url_precedence() -> None:
    assert api.resolve_base_url({"OTP_API_URL": "http://env/"}, {"api_url": "http://secret"}) == "http://env"
    assert api.resolve_base_url({"OTP_API_URL": " "}, {"api_url": "http://secret"}) == "http://secret"
    assert api.resolve_base_url({}, None) == api.DEFAULT_BASE_URL


def test_parse_inbox_handles_raw_messages_and_junk() -> None:
    data = {
        "mails": [
            {"kind": "Message", "unexpected": True},
            "junk",
            {"kind": ["Message"], "destinations": {}},
            {"kind": "TemplateMessage", "id": "t-1", "source": "no-reply@x.dev", "template": "t", "destinations": {}},
            {
                "kind": "RawMessage",
                "destinations": ["g@h.com", "g@h.com"],
                "id": "raw-1",
                "raw_data": "From: no-reply@x.dev\r\nTo: g@h.com\r\nSubject: Raw subj\r\n\r\nraw body 333333\r\n",
                "source": "no-reply@x.dev",
            },
        ],
        "sms": [{"id": "s-1", "phone_number": "+15550100", "message": "444444"}],
    }
    mails = inbox.parse_inbox(data)
    assert mails == [inbox.Mail("raw-1", "no-reply@x.dev", ("g@h.com",), "Raw subj", "raw body 333333")]
    assert mails[0].is_for("G@H.com ")
    assert inbox.parse_inbox({"ses": {}}) == []


def test_fetch_mails_wraps_non_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(requests, "get", lambda url, timeout=None: response(200, text="<html>not the inbox</html>"))
    with pytest.raises(inbox.InboxError, match="did not answer JSON"):
        inbox.fetch_mails(INBOX_URL)


def test_client_session_calls(fake_api: FakeApi) -> None:
    client = api.OtpClient("http://x/")
    fake_api.answers.extend(
        [REFRESHED, response(200, {"code": "revoked"}), SIGNED_OUT, INVALID_TOKEN, requests.ConnectionError("x")]
    )

    renewed = client.refresh(REFRESH_1)
    assert (renewed.ok, renewed.code, renewed.data["refresh_token"]) == (True, "refreshed", REFRESH_2)
    revoked = client.revoke(REFRESH_2)
    assert (revoked.ok, revoked.code, revoked.message) == (True, "revoked", "Done.")
    assert client.sign_out(ACCESS_1, everywhere=True).code == "signed_out"
    refused = client.me(ACCESS_2)
    assert (refused.status, refused.code) == (401, "invalid_token")
    assert client.me(ACCESS_2).unreachable

    assert [(call.method, call.url, call.json, call.bearer) for call in fake_api.calls] == [
        ("POST", "http://x/token/refresh", {"refresh_token": REFRESH_1}, None),
        ("POST", "http://x/token/revoke", {"refresh_token": REFRESH_2}, None),
        ("POST", "http://x/signout", {"everywhere": True}, ACCESS_1),
        ("GET", "http://x/me", None, ACCESS_2),
        ("GET", "http://x/me", None, ACCESS_2),
    ]
    # Results and sessions can be printed by mistake without showing a token.
    assert REFRESH_2 not in repr(renewed)
    held = session.Session.from_answer(renewed.data, 0.0)
    assert held is not None and held.refresh_token == REFRESH_2
    assert not any(token in repr(held) for token in ALL_TOKENS)


def test_session_and_account_from_odd_answers() -> None:
    assert session.Session.from_answer({"access_token": "a", "refresh_token": ""}, 0.0) is None
    assert session.Account.from_answer({"email": "a@b.com", "session": {"signed_in_at": True}}) == session.Account(
        "a@b.com", None, None, None
    )
    # The identifiers that make sense are kept, in the API's order; the rest is dropped.
    odd = session.Account.from_answer(
        {
            "email": "a@b.com",
            "identifiers": [
                {"type": "email", "value": "a@b.com"},
                {"value": "x"},
                None,
                {"type": "phone", "value": "+1"},
            ],
            "created_at": float("nan"),
        }
    )
    assert odd is not None
    assert odd.identifiers == (session.Identifier("email", "a@b.com"), session.Identifier("phone", "+1"))
    assert (odd.user_id, odd.created_at, odd.last_sign_in_at) == (None, None, None)
    assert session.Account.from_answer({"user_id": USER_ID, "identifiers": []}) is None  # no address: not usable


def test_client_phone_reauthentication_and_two_step_calls(fake_api: FakeApi) -> None:
    """Each new route: its method, path, body and bearer, and its answer passed through as an ApiResult."""
    client = api.OtpClient("http://x/")
    calls: list[Callable[[], api.ApiResult]] = [
        lambda: client.send_otp("+14155550123", "phone"),
        lambda: client.verify_otp("+14155550123", "123456", "phone"),
        lambda: client.verify_mfa("mfa-token-1", "654321"),
        lambda: client.verify_mfa("mfa-token-1", "rc-one", "recovery_code"),
        lambda: client.add_phone(ACCESS_1, "+14155550123"),
        lambda: client.link_phone(ACCESS_1, "+14155550123", "123456"),
        lambda: client.remove_phone(ACCESS_1),
        lambda: client.start_totp(ACCESS_1),
        lambda: client.confirm_totp(ACCESS_1, "111111"),
        lambda: client.reauthenticate(ACCESS_1, "222222"),
        lambda: client.reauthenticate(ACCESS_1, "rc-two", "recovery_code"),
        lambda: client.remove_totp(ACCESS_1),
        lambda: client.new_recovery_codes(ACCESS_1),
        lambda: client.send_reauthentication_code(ACCESS_1),
        lambda: client.send_reauthentication_code(ACCESS_1, "phone"),
        lambda: client.reauthenticate_by_code(ACCESS_1, "333333"),
        lambda: client.reauthenticate_by_code(ACCESS_1, "444444", "email"),
    ]
    fake_api.answers.extend(response(200, {"code": f"answer_{n}", "message": f"Answer {n}."}) for n in range(17))

    results = [call() for call in calls]

    assert [(result.status, result.code, result.message) for result in results] == [
        (200, f"answer_{n}", f"Answer {n}.") for n in range(17)
    ]
    phone_number, signed_in = "+14155550123", ACCESS_1
    assert [(call.method, call.url, call.json, call.bearer) for call in fake_api.calls] == [
        ("POST", "http://x/otp", {"action": "send_otp", "phone": phone_number}, None),
        ("POST", "http://x/otp", {"action": "verify_otp", "phone": phone_number, "otp": "123456"}, None),
        ("POST", "http://x/mfa/verify", {"mfa_token": "mfa-token-1", "otp": "654321"}, None),
        ("POST", "http://x/mfa/verify", {"mfa_token": "mfa-token-1", "recovery_code": "rc-one"}, None),
        ("POST", "http://x/me/phone", {"phone": phone_number}, signed_in),
        ("POST", "http://x/me/phone/verify", {"phone": phone_number, "otp": "123456"}, signed_in),
        ("DELETE", "http://x/me/phone", None, signed_in),
        ("POST", "http://x/mfa/totp", {}, signed_in),
        ("POST", "http://x/mfa/totp/confirm", {"otp": "111111"}, signed_in),
        ("POST", "http://x/mfa/reauthenticate", {"otp": "222222"}, signed_in),
        ("POST", "http://x/mfa/reauthenticate", {"recovery_code": "rc-two"}, signed_in),
        ("DELETE", "http://x/mfa/totp", None, signed_in),
        ("POST", "http://x/mfa/recovery-codes", {}, signed_in),
        ("POST", "http://x/reauthenticate", {}, signed_in),  # the API's default: the address, else the number
        ("POST", "http://x/reauthenticate", {"via": "phone"}, signed_in),
        ("POST", "http://x/reauthenticate", {"otp": "333333"}, signed_in),
        ("POST", "http://x/reauthenticate", {"otp": "444444", "via": "email"}, signed_in),
    ]
    assert all(call.timeout == api.DEFAULT_TIMEOUT_SECONDS for call in fake_api.calls)


def test_client_login_request_and_consent_calls(fake_api: FakeApi) -> None:
    """The OpenID Connect routes the UI calls: method, path (the challenge and the client id encoded into the
    URL), body and bearer; the login request is read and turned down without a token."""
    client = api.OtpClient("http://x/")
    calls: list[Callable[[], api.ApiResult]] = [
        lambda: client.login_request("ch+1/=&x"),
        lambda: client.accept_login(ACCESS_1, "ch-2"),
        lambda: client.accept_login(ACCESS_1, "ch-2", consent=True),
        lambda: client.reject_login("ch-3"),
        lambda: client.reject_login("ch-4", "login_required"),
        lambda: client.consents(ACCESS_1),
        lambda: client.revoke_consent(ACCESS_1, "my app/1?"),
    ]
    fake_api.answers.extend(response(200, {"code": f"answer_{n}", "message": f"Answer {n}."}) for n in range(7))

    results = [call() for call in calls]

    assert [(result.status, result.code) for result in results] == [(200, f"answer_{n}") for n in range(7)]
    assert [(call.method, call.url, call.json, call.bearer) for call in fake_api.calls] == [
        ("GET", "http://x/oauth2/login?login_challenge=ch%2B1%2F%3D%26x", None, None),
        ("POST", "http://x/oauth2/login", {"login_challenge": "ch-2"}, ACCESS_1),
        ("POST", "http://x/oauth2/login", {"login_challenge": "ch-2", "consent": True}, ACCESS_1),
        ("POST", "http://x/oauth2/login/reject", {"login_challenge": "ch-3", "error": "access_denied"}, None),
        ("POST", "http://x/oauth2/login/reject", {"login_challenge": "ch-4", "error": "login_required"}, None),
        ("GET", "http://x/me/consents", None, ACCESS_1),
        ("DELETE", "http://x/me/consents/my%20app%2F1%3F", None, ACCESS_1),
    ]


def test_client_delete_never_raises(fake_api: FakeApi) -> None:
    client = api.OtpClient("http://x")
    fake_api.answers.extend(
        [
            requests.ConnectionError("refused"),
            requests.ReadTimeout("slow"),
            response(502, text="<html>Bad Gateway</html>"),
            response(429, {"code": "too_many_failures", "message": "Later."}, headers={"Retry-After": "9"}),
        ]
    )

    refused, slow, html, limited = (client.remove_totp(ACCESS_1) for _ in range(4))

    assert refused.unreachable and "cannot be reached" in refused.message
    assert slow.unreachable and "did not answer in time" in slow.message
    assert (html.status, html.code) == (502, api.BAD_RESPONSE)
    assert (limited.status, limited.code, limited.retry_after) == (429, "too_many_failures", 9)


def test_phone_countries_from_the_stage_setting() -> None:
    default = phone.countries({})
    assert [(country.code, country.dialling_code) for country in default] == [
        ("US", 1),
        ("CA", 1),
        ("GB", 44),
        ("DE", 49),
        ("FR", 33),
        ("AU", 61),
    ]
    assert default[2].label == "GB +44"
    # The configured order (the first is preselected); unknown regions and repeats dropped; never empty.
    configured = phone.countries({"OTP_SMS_COUNTRIES": " gb,XX,de,GB,001"})
    assert [country.code for country in configured] == ["GB", "DE"]
    assert phone.countries({"OTP_SMS_COUNTRIES": "XX, ,"}) == default


@pytest.mark.parametrize(
    ("typed", "country", "sent"),
    [
        ("(415) 555-0123", "US", "+14155550123"),
        ("07700 900123", "GB", "+447700900123"),  # the trunk 0 goes
        ("+49 1512 3456789", "US", "+4915123456789"),  # a full number wins over the picker
        ("not a number", "US", "+1 not a number"),  # left to the API, whose message is shown
        ("415-555-CALL", "US", "+1 415-555-CALL"),  # letters are not turned into digits behind the person's back
        ("415 555 0123 ext 2", "US", "+1 415 555 0123 ext 2"),  # nor is an extension dropped
        ("+44 7700 900123 x2", "US", "+44 7700 900123 x2"),
    ],
)
def test_phone_number_as_typed_becomes_e164(typed: str, country: str, sent: str) -> None:
    assert phone.to_e164(typed, country) == sent


def test_phone_shown_in_international_format() -> None:
    assert phone.international("+14155550123") == "+1 415-555-0123"
    assert phone.international("+447700900123") == "+44 7700 900123"
    assert phone.international("garbled") == "garbled"


def test_parse_sms_keeps_well_formed_entries_in_order() -> None:
    data = {
        "sms": [
            {"id": "s-2", "phone_number": "+14155550123", "message": "Your code is 222222."},
            {"id": "s-x", "phone_number": 14155550123, "message": "no"},
            {"id": "s-y", "phone_number": "+14155550123"},
            "junk",
            {"id": "s-1", "phone_number": "+447700900123", "message": "Your code is 111111."},
        ]
    }
    sms = inbox.parse_sms(data)
    assert sms == [
        inbox.Sms("s-2", "+14155550123", "Your code is 222222."),
        inbox.Sms("s-1", "+447700900123", "Your code is 111111."),
    ]
    assert sms[0].is_for(" +14155550123") and not sms[0].is_for("+447700900123") and not sms[0].is_for("")
    assert inbox.parse_sms({"sms": {}}) == [] and inbox.parse_sms({}) == []


def test_account_with_a_phone_and_two_step() -> None:
    account = session.Account.from_answer(
        {
            "phone": "+14155550123",
            "identifiers": [{"type": "phone", "value": "+14155550123"}],
            "mfa": {"totp": True, "recovery_codes_left": 3, "recovery_codes_low": True},
            "session": {"aal": 2, "auth_time": SIGNED_IN_AT},
        }
    )
    assert account is not None
    assert (account.email, account.phone, account.name, account.aal) == (None, "+14155550123", "+14155550123", 2)
    assert account.two_step == session.TwoStep(totp=True, recovery_codes_left=3, recovery_codes_low=True)

    both = session.Account.from_answer({"email": "a@b.com", "phone": "+14155550123", "session": {"aal": True}})
    assert both is not None and both.name == "a@b.com" and both.aal is None and both.two_step is None
    # An mfa object the UI cannot read means no two-step section rather than a wrong one.
    for mfa in ({"totp": "yes"}, [], {"recovery_codes_left": 4}):
        odd = session.Account.from_answer({"email": "a@b.com", "mfa": mfa})
        assert odd is not None and odd.two_step is None
    partial = session.Account.from_answer({"email": "a@b.com", "mfa": {"totp": False, "recovery_codes_left": -1}})
    assert partial is not None and partial.two_step == session.TwoStep(False, None, False)


# ---------------------------------------------------------------------------------------- sign in by phone
