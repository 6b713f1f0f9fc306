"""The dev inbox in the sidebar (frontend/views/dev_inbox.py) through Streamlit's AppTest: shown only when
DEV_INBOX_URL is set, newest first, what is for the address or number in use marked, a failure small.
"""

from __future__ import annotations

import pytest
import requests
from streamlit.testing.v1 import AppTest

from tests import frontend_app
from tests.frontend_app import (
    APP_PATH,
    INBOX_DATA,
    INBOX_URL,
    NUMBER,
    NUMBER_SHOWN,
    SENT,
    SMS_SENT,
    FakeApi,
    FakeClock,
    on_email_step,
    response,
    send,
    send_by_phone,
    sign_in,
    texts,
)

# The fixtures this module uses (tests/frontend_app.py), with those they build on.
app, env, fake_api, fake_clock = frontend_app.app, frontend_app.env, frontend_app.fake_api, frontend_app.fake_clock


def test_dev_inbox_absent_without_env_var(app: AppTest, fake_api: FakeApi) -> None:
    sign_in(app, fake_api)

    assert fake_api.inbox_gets == []  # the inbox is never even fetched
    assert len(app.sidebar) == 0
    assert not any("Dev inbox" in header.value for header in app.subheader)


def test_dev_inbox_lists_mails_newest_first(env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock) -> None:
    env.setenv("DEV_INBOX_URL", INBOX_URL)
    gets = fake_api.inbox_gets
    fake_api.inbox = lambda url: response(200, INBOX_DATA)
    at = AppTest.from_file(str(APP_PATH), default_timeout=10).run()
    send(at, fake_api, SENT)

    assert gets and set(gets) == {INBOX_URL}
    sidebar = at.sidebar
    assert [header.value for header in sidebar.subheader] == ["Dev inbox"]
    subjects = [text for text in texts(sidebar.markdown) if text.startswith("**")]
    assert subjects[0].startswith("**Newest code**")
    assert subjects[1].startswith("**Your sign-in code**")
    # The mail to the address being signed in is marked, the other one is not.
    assert subjects[0].endswith(":green-badge[for you] :blue-badge[newest]")
    assert "for you" not in subjects[1]
    bodies = texts(sidebar.code)
    assert bodies == ["Your sign-in code is 222222.", "Your sign-in code is 111111."]
    assert "To: a@b.com, cc@example.com" in texts(sidebar.caption)

    refreshed = len(gets)
    sidebar.button(key="inbox_refresh").click().run()
    assert len(gets) > refreshed


def test_dev_inbox_unreachable_shows_small_warning(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    env.setenv("DEV_INBOX_URL", INBOX_URL)

    def refused(url: str) -> requests.Response:
        raise requests.ConnectionError("refused")

    fake_api.inbox = refused
    at = AppTest.from_file(str(APP_PATH), default_timeout=10).run()

    assert not at.exception
    assert not at.error
    assert len(at.sidebar.warning) == 1
    assert "Dev inbox unavailable" in at.sidebar.warning[0].value
    assert on_email_step(at)  # the sign-in itself is unaffected


def test_dev_inbox_shows_the_newest_sms_for_the_number_first(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    env.setenv("DEV_INBOX_URL", INBOX_URL)
    data = {
        **INBOX_DATA,
        "sms": [
            {"id": "s-3", "phone_number": "+14155550123", "message": "Your code is 333333."},
            {"id": "s-2", "phone_number": NUMBER, "message": "Your code is 222222."},
            {"id": "s-1", "phone_number": NUMBER, "message": "Your code is 111111."},
        ],
    }
    fake_api.inbox = lambda url: response(200, data)
    at = AppTest.from_file(str(APP_PATH), default_timeout=10).run()
    send_by_phone(at, fake_api, SMS_SENT)

    sidebar = at.sidebar
    headings = [text for text in texts(sidebar.markdown) if text.startswith("**SMS to")]
    assert headings == [
        f"**SMS to {NUMBER_SHOWN}** :green-badge[for you] :blue-badge[newest]",
        f"**SMS to {NUMBER_SHOWN}** :green-badge[for you]",
        "**SMS to +1 415-555-0123**",
    ]
    bodies = texts(sidebar.code)
    assert bodies[:3] == ["Your code is 222222.", "Your code is 111111.", "Your code is 333333."]
    assert bodies[3:] == ["Your sign-in code is 222222.", "Your sign-in code is 111111."]  # the mails too
    assert not any("for you" in text for text in texts(sidebar.markdown) if not text.startswith("**SMS"))
