"""Connected apps on the "Account" page through Streamlit's AppTest: the apps the person let in (``GET
/me/consents``), what each may see and since when, and "Remove access" (``DELETE /me/consents/{client_id}``).
"""

from __future__ import annotations

import requests
from streamlit.testing.v1 import AppTest

from tests import frontend_app
from tests.frontend_app import (
    ACCESS_1,
    ACCESS_2,
    INVALID_TOKEN,
    ME,
    REFRESHED,
    SENT,
    SESSION_ENDED,
    VERIFIED,
    FakeApi,
    click,
    on_email_step,
    response,
    section,
    send,
    sign_in,
    texts,
    verify,
)

# The fixtures this module uses (tests/frontend_app.py), with those they build on.
app, env, fake_api, fake_clock = frontend_app.app, frontend_app.env, frontend_app.fake_api, frontend_app.fake_clock

GRANTED_AT = 1_767_312_000  # 2026-01-02 00:00:00 UTC


def consents(*apps: object) -> requests.Response:
    return response(200, {"code": "consents", "message": "Your connected apps.", "consents": list(apps)})


EXAMPLE = {
    "client_id": "local-example",
    "client_name": "Local example",
    "scopes": ["openid", "email", "offline_access"],
    "granted_at": GRANTED_AT,
}
REPORTS = {"client_id": "reports/2", "client_name": "", "scopes": ["openid"], "granted_at": None}


def test_the_account_lists_the_apps_the_person_let_in(app: AppTest, fake_api: FakeApi) -> None:
    fake_api.apps.append(consents(EXAMPLE, REPORTS, "junk", {"client_name": "no id"}))
    sign_in(app, fake_api)

    (read,) = fake_api.apps_calls
    assert (read.method, read.path, read.bearer) == ("GET", "/me/consents", ACCESS_1)
    assert section(app, "Connected apps", "markdown") == ["**Local example**", "**reports/2**"]  # the id, unnamed
    assert section(app, "Connected apps", "caption") == [
        "May know it is you, see your email address and keep you signed in. Allowed on 2026-01-02 00:00 UTC.",
        "May know it is you.",
    ]
    assert [button.label for button in app.button if button.key.startswith("remove_app_")] == ["Remove access"] * 2

    app.run()
    assert len(fake_api.apps_calls) == 1  # read once for the account view, not at every run


def test_remove_access_tells_the_api_and_reads_the_list_again(app: AppTest, fake_api: FakeApi) -> None:
    fake_api.apps.extend([consents(EXAMPLE, REPORTS), consents(EXAMPLE)])
    sign_in(app, fake_api)
    revoked = response(200, {"code": "consent_revoked", "message": "The app no longer has access."})
    fake_api.apps.insert(0, revoked)

    click(app, fake_api, "remove_app_reports/2")

    removal, reread = fake_api.apps_calls[1:]
    assert (removal.method, removal.path, removal.bearer) == ("DELETE", "/me/consents/reports%2F2", ACCESS_1)
    assert (reread.method, reread.path) == ("GET", "/me/consents")
    assert section(app, "Connected apps", "success") == ["The app no longer has access."]
    assert section(app, "Connected apps", "markdown") == ["**Local example**"]


def test_a_refused_removal_says_why_beside_the_list(app: AppTest, fake_api: FakeApi) -> None:
    fake_api.apps.append(consents(EXAMPLE))
    sign_in(app, fake_api)
    fake_api.apps.append(response(503, {"code": "service_unavailable", "message": "Try again in a moment."}))

    click(app, fake_api, "remove_app_local-example")

    assert section(app, "Connected apps", "error") == ["Try again in a moment."]
    assert section(app, "Connected apps", "markdown") == ["**Local example**"]  # still listed: nothing changed
    assert len(fake_api.apps_calls) == 2


def test_no_apps_and_an_unreadable_list_are_said_so(app: AppTest, fake_api: FakeApi) -> None:
    sign_in(app, fake_api)  # the fake's default: no apps
    assert section(app, "Connected apps", "caption") == [
        "No apps signed you in with this account yet. Apps you allow are listed here."
    ]

    fake_api.apps.append(response(502, {"code": "dependency_failed", "message": "The service is unavailable."}))
    app.session_state["ui_state"].account.apps = None  # read again, as after a consent given elsewhere
    app.run()
    assert section(app, "Connected apps", "warning") == ["The service is unavailable."]


def test_an_app_list_refused_for_a_dead_session_ends_it(app: AppTest, fake_api: FakeApi) -> None:
    """The list is read with the session's tokens like every account call: renewed once on a 401, and a session the
    API no longer knows ends, back at the sign-in page."""
    fake_api.apps.extend([INVALID_TOKEN, INVALID_TOKEN])
    send(app, fake_api, SENT)
    verify(app, fake_api, VERIFIED, ME, REFRESHED)  # the renewal the first refusal leads to

    assert fake_api.answers == []
    assert [call.bearer for call in fake_api.apps_calls] == [ACCESS_1, ACCESS_2]  # the renewed token refused too
    assert on_email_step(app)
    assert texts(app.warning) == [SESSION_ENDED]
