"""The "Admin" page (frontend/views/admin.py) through Streamlit's AppTest, with the API faked at
``requests.request``, and its client's contract: calls never raise."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import pytest
import requests
from streamlit.testing.v1 import AppTest

from frontend import admin_api, clock, passkey, state
from frontend.session import Session, SessionBox
from frontend.views import admin
from tests.test_frontend_passkeys import CEREMONY, CREDENTIAL, LAPTOP, REQUEST_OPTIONS, Drawn, FakeBrowser, options

USER_ID = "0b6e3c5a-8f0e-4a51-9d43-6f1f2d7c9e10"
HOURS = 48


def response(status: int, body: Any) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = json.dumps(body).encode()
    answer.headers["Content-Type"] = "application/json"
    return answer


def stats(hours: int) -> dict[str, Any]:
    ones = [1.0] * hours
    return {
        "code": "admin_stats",
        "message": "m",
        "timestamps": list(range(hours)),
        "period": 3600,
        "channels": {
            "email": {
                "metrics": {"CodesSent": ones, "SignIns": ones, "WrongCodes": [0.0] * hours},
                "refused": {"resend_cooldown": ones},
            },
            "sms": {
                "metrics": {
                    "CodesSent": ones,
                    "SignIns": ones,
                    "WrongCodes": ones,
                    "SmsSent": ones,
                    "SmsCost": [0.01] * hours,
                    "SmsVerified": ones,
                },
                "refused": {},
            },
        },
        "countries": {"US": {"SmsSent": ones, "SmsVerified": [0.0] * hours, "SmsCost": [0.01] * hours}},
        "accounts_locked": [0.0] * hours,
        "refresh_reuse": [0.0] * hours,
        "sms_budget": {"texts": 1000, "window_seconds": 86400, "prices_usd": {"US": 0.00883}},
    }


CARD = {
    "id": USER_ID,
    "status": "active",
    "created_at": 1_800_000_000,
    "last_sign_in_at": 1_800_000_100,
    "identifiers": [
        {"type": "email", "value": "alice@example.com", "failures": {"count": 2, "limit": 50, "resets_in": 600}}
    ],
    "factors": ["totp"],
    "recovery_codes_left": 8,
    "live_sessions": 3,
}
ENTRY = {
    "at": 1_800_000_200.5,
    "actor": {"user_id": "x", "email": "a***@example.com"},
    "action": "lock",
    "user_id": USER_ID,
    "identifiers": [{"type": "email", "value": "alice@example.com"}, {"type": "phone", "value": "+14155550123"}],
    "reason": "stolen, phone",
    "request_id": "r-1",
    "cursor": "c",
}


REAUTHENTICATED_BY_PASSKEY = response(
    200,
    {
        "code": "reauthenticated",
        "message": "m",
        "access_token": "new-access",
        "refresh_token": "new-refresh",
        "expires_in": 3600,
        "refresh_expires_in": 400000,
    },
)


class FakeApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, Any, Any, str]] = []
        self.act_answers: list[requests.Response] = []
        self.next_before: str | None = None  # of the audit's answer
        self.passkeys: list[dict[str, Any]] = []  # the admin's own, as GET /me/passkeys lists them

    def get(self, url: str, headers: Any = None, timeout: float = 0, **_: Any) -> requests.Response:
        return self._account("GET", url, None, headers)

    def post(self, url: str, json: Any = None, headers: Any = None, timeout: float = 0, **_: Any) -> requests.Response:
        return self._account("POST", url, json, headers)

    def _account(self, method: str, url: str, body: Any, headers: Any) -> requests.Response:
        """The UI's own client (frontend.api: requests.get and requests.post): the admin's passkeys and a step-up
        with one, recorded with the admin client's calls."""
        path = urlparse(url).path
        self.calls.append((method, path, body, None, headers["Authorization"]))
        answers = {
            "/me/passkeys": lambda: response(
                200, {"code": "passkey_list", "message": "m", "passkeys": self.passkeys, "most": 10}
            ),
            "/passkeys/reauthenticate/options": lambda: options(REQUEST_OPTIONS),
            "/passkeys/reauthenticate": lambda: REAUTHENTICATED_BY_PASSKEY,
        }
        return answers[path]()

    def request(
        self, method: str, url: str, json: Any = None, params: Any = None, headers: Any = None, timeout: float = 0
    ) -> requests.Response:
        path = urlparse(url).path
        self.calls.append((method, path, json, params, headers["Authorization"]))
        routes: dict[str, Callable[[], requests.Response]] = {
            "/admin/stats": lambda: response(200, stats(int(params["hours"]))),
            "/admin/audit": lambda: response(
                200, {"code": "audit_entries", "message": "m", "entries": [ENTRY], "next_before": self.next_before}
            ),
            "/admin/users": lambda: response(200, {"code": "user_found", "message": "m", "user": CARD}),
            "/mfa/reauthenticate": lambda: response(
                200,
                {
                    "code": "reauthenticated",
                    "message": "m",
                    "access_token": "new-access",
                    "refresh_token": "new-refresh",
                    "expires_in": 3600,
                    "refresh_expires_in": 400000,
                },
            ),
        }
        if path in routes:
            return routes[path]()
        return self.act_answers.pop(0)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeApi:
    api = FakeApi()
    monkeypatch.setattr(requests, "request", api.request)
    monkeypatch.setattr(requests, "get", api.get)
    monkeypatch.setattr(requests, "post", api.post)
    monkeypatch.setenv("OTP_API_URL", "http://api.test")
    monkeypatch.setattr(clock, "now", lambda: 10.0)  # the session below is 10 s old: nothing to renew
    return api


def admin_page() -> None:
    """The page alone, as the navigation runs it for an admin."""
    from frontend.views import admin

    admin.render()


def page(signed_in: bool = True) -> AppTest:
    at = AppTest.from_function(admin_page, default_timeout=10)
    box = SessionBox()
    if signed_in:
        box.current = Session("admin-access", "admin-refresh", 0.0, 3600, 400000)
    at.session_state[state.STATE_KEY] = state.UiState(box=box)
    at.run()
    assert not at.exception, at.exception
    return at


def text(at: AppTest) -> str:
    return "\n".join(
        e.value for kind in ("markdown", "caption", "info", "success", "warning", "error") for e in getattr(at, kind)
    )


def test_without_a_session_the_page_says_where_to_sign_in(fake: FakeApi) -> None:
    at = page(signed_in=False)
    assert "Sign in with an admin's address" in at.info[0].value and fake.calls == []


def test_the_charts_compare_two_periods_and_show_the_sms_budget(fake: FakeApi) -> None:
    at = page()
    assert ("GET", "/admin/stats", None, {"hours": HOURS}, "Bearer admin-access") in fake.calls
    metrics = {m.label: (m.value, m.delta) for m in at.metric}
    assert metrics["Codes sent"] == ("24", "no change vs previous period")
    assert "24 of 1000 texts of the daily budget, about $0.24 of at most $8.83." in text(at)
    assert "resend_cooldown 24" in text(at)
    assert len(at.get("vega_lite_chart")) == 6  # three charts per channel, each this period and the previous
    at.radio(key="admin_period").set_value("7 days").run()
    assert ("GET", "/admin/stats", None, {"hours": 336}, "Bearer admin-access") in fake.calls


def test_periods_are_split_oldest_first() -> None:
    assert admin.split_periods([1, 2, 3, 4], 2) == ([3, 4], [1, 2])
    assert admin.split_periods([5], 2) == ([0.0, 5], [0.0, 0.0])


def test_the_audit_table_downloads_as_csv(fake: FakeApi) -> None:
    at = page()
    frame = admin.audit_frame([ENTRY])
    assert list(frame.iloc[0]) == [
        "2027-01-15 08:03:20 UTC",  # to the second: the order of an admin's actions
        "a***@example.com",
        "lock",
        "alice@example.com, +1 415-555-0123",
        USER_ID,
        "stolen, phone",
        "r-1",
    ]
    csv = frame.to_csv(index=False)
    assert '"stolen, phone"' in csv and csv.startswith("when,admin,action,identifiers,account,reason,request id")
    assert not at.get("download_button")  # one view at a time: the charts first
    at.radio(key="admin_view").set_value("Audit trail").run()
    assert at.get("download_button")


def test_the_audit_says_when_older_entries_remain(fake: FakeApi) -> None:
    at = page()
    at.radio(key="admin_view").set_value("Audit trail").run()
    assert "Older entries" not in text(at)
    fake.next_before = "1800000000000#"  # a page cut short by the months one request reads: one entry, not 100
    at.radio(key="admin_view").set_value("Charts").run()
    at.radio(key="admin_view").set_value("Audit trail").run()
    assert "Older entries than these through GET /admin/audit?before=" in text(at) and "100" not in text(at)


def _look_up(at: AppTest) -> AppTest:
    at.radio(key="admin_view").set_value("Accounts").run()
    at.selectbox(key="admin_lookup_by").set_value("email")
    at.text_input(key="admin_lookup_value").set_value("alice@example.com")
    (submit,) = [button for button in at.button if button.label == "Look up"]
    return submit.click().run()


def test_an_action_needs_a_confirmation_with_a_reason(fake: FakeApi) -> None:
    at = _look_up(page())
    assert ("GET", "/admin/users", None, {"email": "alice@example.com"}, "Bearer admin-access") in fake.calls
    assert f"Account {USER_ID}" in [h.value for h in at.subheader]
    at.button(key="admin_action_lock").click().run()
    assert at.button(key="admin_confirm").disabled  # no reason yet
    at.text_input(key="admin_reason").set_value("stolen phone").run()
    fake.act_answers.append(response(200, {"code": "user_locked", "message": "The account is locked."}))
    at.button(key="admin_confirm").click().run()
    assert (
        "POST",
        f"/admin/users/{USER_ID}/lock",
        {"reason": "stolen phone"},
        None,
        "Bearer admin-access",
    ) in fake.calls
    assert "The account is locked." in text(at)


def test_a_stale_proof_may_be_renewed_with_the_admins_passkey(fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    """An admin with a passkey is offered it beside the authenticator's code: one touch renews the session's proof
    (POST /passkeys/reauthenticate) and the action goes through with the new tokens."""
    browser = FakeBrowser()
    monkeypatch.setattr(passkey, "button", browser.button)
    fake.passkeys = [LAPTOP]
    at = _look_up(page())
    at.button(key="admin_action_lock").click().run()
    at.text_input(key="admin_reason").set_value("stolen phone").run()
    fake.act_answers.append(response(401, {"code": "reauthentication_required", "message": "Confirm it is you."}))
    at.button(key="admin_confirm").click().run()
    assert browser.drawn[admin.REAUTH_PASSKEY] == Drawn("Confirm with your passkey", None, False)
    assert "admin_reauth_input" in {field.key for field in at.text_input}  # the code stays an option

    browser.press(admin.REAUTH_PASSKEY)
    at.run()
    browser.give(admin.REAUTH_PASSKEY)
    at.run()
    assert not at.exception, at.exception
    proof = [call for call in fake.calls if call[1] == "/passkeys/reauthenticate"]
    assert proof == [
        (
            "POST",
            "/passkeys/reauthenticate",
            {"ceremony": CEREMONY, "credential": CREDENTIAL},
            None,
            "Bearer admin-access",
        )
    ]
    assert at.session_state[state.STATE_KEY].box.current.access_token == "new-access"
    assert "Confirmed. Now confirm the action again." in text(at)
    fake.act_answers.append(response(200, {"code": "user_locked", "message": "The account is locked."}))
    at.button(key="admin_confirm").click().run()
    assert fake.calls[-2][1:] == (f"/admin/users/{USER_ID}/lock", {"reason": "stolen phone"}, None, "Bearer new-access")


def test_a_stale_proof_asks_for_the_authenticator_and_renews_the_session(fake: FakeApi) -> None:
    at = _look_up(page())
    at.button(key="admin_action_mfa").click().run()
    at.text_input(key="admin_reason").set_value("lost authenticator").run()
    fake.act_answers.append(response(401, {"code": "reauthentication_required", "message": "Confirm it is you."}))
    at.button(key="admin_confirm").click().run()
    assert "Confirm it is you." in text(at)
    at.text_input(key="admin_reauth_input").set_value("123456").run()
    at.button(key="admin_reauth").click().run()
    assert ("POST", "/mfa/reauthenticate", {"otp": "123456"}, None, "Bearer admin-access") in fake.calls
    assert at.session_state[state.STATE_KEY].box.current.access_token == "new-access"
    fake.act_answers.append(response(200, {"code": "user_mfa_removed", "message": "Removed."}))
    at.button(key="admin_confirm").click().run()
    assert (
        "DELETE",
        f"/admin/users/{USER_ID}/mfa",
        {"reason": "lost authenticator"},
        None,
        "Bearer new-access",
    ) in fake.calls


def test_a_refusal_is_shown_as_the_api_wrote_it(fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        requests,
        "request",
        lambda *a, **k: response(403, {"code": "admin_required", "message": "This is for the service's admins only."}),
    )
    at = page()
    assert "This is for the service's admins only." in [e.value for e in at.error]


@pytest.mark.parametrize("failure", [requests.ConnectionError("refused"), requests.Timeout("slow")])
def test_the_admin_client_never_raises(monkeypatch: pytest.MonkeyPatch, failure: Exception) -> None:
    def fail(*_: Any, **__: Any) -> requests.Response:
        raise failure

    monkeypatch.setattr(requests, "request", fail)
    client = admin_api.AdminClient("http://api.test")
    for result in (
        client.user("t", "id", USER_ID),
        client.act("t", USER_ID, "lock", "r"),
        client.remove_passkey("t", USER_ID, "a" * 32, "r"),
        client.audit("t"),
        client.stats("t", 24),
        client.reauthenticate("t", "123456"),
    ):
        assert (result.status, result.code) == (None, "api_unreachable")
    html = requests.Response()
    html.status_code, html._content = 502, b"<html>bad gateway</html>"
    monkeypatch.setattr(requests, "request", lambda *a, **k: html)
    assert client.stats("t", 24).code == "bad_response"


def test_a_path_id_is_quoted(fake: FakeApi) -> None:
    fake.act_answers.append(response(404, {"code": "user_not_found", "message": "No account matches."}))
    admin_api.AdminClient("http://api.test").act("t", "../../otp", "lock", "r")
    assert fake.calls[-1][1] == "/admin/users/..%2F..%2Fotp/lock"


def test_only_the_actions_that_apply_are_offered() -> None:
    active = {"status": "active", "live_sessions": 0, "factors": [], "identifiers": [{"failures": {"count": 0}}]}
    assert admin.applicable(active) == ["lock"]
    busy = {**active, "live_sessions": 1, "factors": ["totp"], "identifiers": [{"failures": {"count": 3}}]}
    assert admin.applicable(busy) == ["lock", "signout", "mfa", "clear-failures"]
    assert admin.applicable({**active, "status": "locked"}) == ["unlock"]


def test_the_card_counts_in_words_and_marks_what_is_unknown(fake: FakeApi, monkeypatch: pytest.MonkeyPatch) -> None:
    card = {**CARD, "live_sessions": 1, "last_sign_in_at": None, "recovery_codes_left": 1}
    monkeypatch.setitem(CARD, "live_sessions", 1)
    at = _look_up(page())
    assert "1 live session ·" in text(at) and "1 live sessions" not in text(at)
    monkeypatch.setattr(
        requests, "request", lambda *a, **k: response(200, {"code": "user_found", "message": "m", "user": card})
    )
    (submit,) = [button for button in at.button if button.label == "Look up"]
    submit.click().run()
    assert "last sign-in —" in text(at) and "1 recovery code left" in text(at)
    assert [row["verified per sent"] for row in admin.country_rows({"US": {"SmsSent": [0.0]}})] == ["—"]


def test_wrong_codes_rising_are_bad_news_and_a_zero_series_is_drawn_at_zero(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    from streamlit.proto.Metric_pb2 import Metric

    answer = stats(HOURS)
    rising = [0.0] * HOURS
    rising[-1] = 4.0
    answer["channels"]["email"]["metrics"].update(WrongCodes=rising, SignIns=rising, CodesSent=[0.0] * HOURS)
    monkeypatch.setattr(requests, "request", lambda *a, **k: response(200, answer))
    at = page()
    email = {metric.label: metric.proto for metric in at.metric[:3]}
    assert (email["Wrong codes"].delta, email["Wrong codes"].color) == ("+4 vs previous period", Metric.RED)
    assert (email["Sign-ins"].delta, email["Sign-ins"].color) == ("+4 vs previous period", Metric.GREEN)
    assert (email["Codes sent"].delta, email["Codes sent"].color) == ("no change vs previous period", Metric.GRAY)
    specs = [json.loads(chart.proto.spec) for chart in at.get("vega_lite_chart")]
    assert len(specs) == 6
    (codes_sent, *_) = specs  # all zero: an axis from 0 to 1 with whole numbers, titled, not a collapsed one
    y = codes_sent["encoding"]["y"]
    assert y["scale"]["domain"] == [0, 1.0] and y["axis"]["format"] == "d" and y["axis"]["title"] == "per hour"
    assert codes_sent["encoding"]["x"]["axis"]["title"] == "hours ago"


PASSKEYS = [
    {"id": "a" * 32, "name": "Laptop *bold*", "created_at": 1_800_000_000, "last_used_at": None, "synced": False},
    {"id": "b" * 32, "name": "Phone", "created_at": 1_800_000_060, "last_used_at": 1_800_000_120, "synced": True},
]


def test_the_card_lists_the_passkeys_and_one_is_removed_with_a_reason(
    fake: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(CARD, "passkeys", PASSKEYS)
    at = _look_up(page())
    shown = text(at)
    assert "Passkeys: 2" in shown
    assert "**Laptop \\*bold\\*** · device-bound · created 2027-01-15 08:00 UTC · last used never" in shown
    assert "**Phone** · synced · created 2027-01-15 08:01 UTC · last used 2027-01-15 08:02 UTC" in shown
    at.button(key=f"admin_action_passkey:{'b' * 32}").click().run()
    assert "Remove passkey “Phone”: It no longer signs in; ends every session of the account." in text(at)
    assert at.button(key="admin_confirm").disabled  # no reason yet
    at.text_input(key="admin_reason").set_value("lost phone").run()
    fake.act_answers.append(response(200, {"code": "user_passkey_removed", "message": "The passkey is removed."}))
    at.button(key="admin_confirm").click().run()
    assert (
        "DELETE",
        f"/admin/users/{USER_ID}/passkeys/{'b' * 32}",
        {"reason": "lost phone"},
        None,
        "Bearer admin-access",
    ) in fake.calls
    assert "The passkey is removed." in text(at)


def test_a_card_without_passkeys_says_so_and_offers_no_removal(fake: FakeApi) -> None:
    at = _look_up(page())
    assert "Passkeys: none" in text(at)
    assert not [button for button in at.button if button.key and button.key.startswith("admin_action_passkey:")]


def test_a_passkey_id_is_quoted(fake: FakeApi) -> None:
    fake.act_answers.append(response(404, {"code": "passkey_not_found", "message": "m"}))
    admin_api.AdminClient("http://api.test").remove_passkey("t", USER_ID, "../x", "r")
    assert fake.calls[-1][1] == f"/admin/users/{USER_ID}/passkeys/..%2Fx"
