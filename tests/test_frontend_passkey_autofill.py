"""The passkey in the email field's autofill (frontend/passkey_autofill.py) through Streamlit's AppTest: which
ceremony the sign-in card hands its script, how often it asks the API for one (once per browser until it is spent
or due for renewal, never on a plain view, rerun or reload), its renewal, a refused request for options, and a
passkey picked from the autofill, which signs in as the button does.

AppTest runs no JavaScript, so the script (``passkey_autofill.mount``) is replaced by :class:`FakeAutofill`, which
records the offer each run hands it and delivers what a browser would answer through the view's own handler. What
the script does in a browser is proven in Chromium (tests/test_e2e_browser_passkeys.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import streamlit as st
from streamlit.testing.v1 import AppTest

from chalicelib.config import Limits
from frontend import api, passkey, passkey_autofill
from tests import frontend_app
from tests.frontend_app import (
    ACCESS_1,
    ACCOUNT,
    APP_PATH,
    SENT,
    FakeApi,
    FakeClock,
    browser_with_handle,
    click,
    me_answer,
    on_account_view,
    on_code_step,
    on_email_step,
    response,
    send,
    sign_in_options,
    tokens_answer,
)
from tests.test_frontend_passkeys import CREDENTIAL, FakeBrowser, begin, options

# The fixtures this module uses (tests/frontend_app.py), with those they build on.
app, env, fake_api, fake_clock = frontend_app.app, frontend_app.env, frontend_app.fake_api, frontend_app.fake_clock

PASSKEY_SESSION = tokens_answer("verified", ACCESS_1, frontend_app.REFRESH_1)
RENEWAL_DUE = 300 - passkey_autofill.RENEW_BEFORE  # seconds after an offer's options at which it is replaced
INVALID_PASSKEY = response(401, {"code": "invalid_passkey", "message": "That passkey cannot sign you in."})


@dataclass
class FakeAutofill:
    """Stands in for :func:`frontend.passkey_autofill.mount`: ``handed`` is the offer each run handed the script
    (``None``: it runs nothing), ``queued`` the browser's next answers, each made from the offer handed then."""

    handed: list[passkey_autofill.Offer | None] = field(default_factory=list)
    queued: list[Callable[[passkey_autofill.Offer | None], passkey.Event]] = field(default_factory=list)

    def mount(
        self, offer: passkey_autofill.Offer | None, now: float, on_event: Callable[[passkey.Event], None]
    ) -> None:
        self.handed.append(offer)
        if self.queued:
            on_event(self.queued.pop(0)(offer))
            st.rerun()  # a component's value arrives with a run of its own (its callback first)

    @property
    def last(self) -> passkey_autofill.Offer | None:
        return self.handed[-1]

    def pick(self, credential: dict[str, Any] = CREDENTIAL) -> None:
        """The person picks the passkey from the email field's suggestions."""

        def answer(offer: passkey_autofill.Offer | None) -> passkey.Event:
            assert offer is not None, "the browser answers only a request it was given"
            return passkey.Credential(offer.ceremony.request, credential)

        self.queued.append(answer)


@pytest.fixture
def autofill(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAutofill]:
    fake = FakeAutofill()
    monkeypatch.setattr(passkey_autofill, "mount", fake.mount)
    yield fake


@pytest.fixture
def button(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBrowser]:
    fake = FakeBrowser()
    monkeypatch.setattr(passkey, "button", fake.button)
    yield fake


def handle_of(offer: passkey_autofill.Offer | None) -> str | None:
    return offer.ceremony.ceremony if offer is not None else None


def run(at: AppTest, fake_api: FakeApi, *answers: requests.Response) -> None:
    fake_api.answers.extend(answers)
    at.run()
    assert not at.exception
    assert fake_api.answers == []


def tab_of(at: AppTest) -> AppTest:
    """Another tab of the same browser (or ``at`` reloaded): a new AppTest session."""
    other = AppTest.from_file(str(APP_PATH), default_timeout=10)
    other.run()
    assert not other.exception
    return other


# -------------------------------------------------------------------------------------------- the offer


def test_the_card_offers_one_ceremony_that_every_view_and_reload_reuses(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock, autofill: FakeAutofill
) -> None:
    browser_with_handle(env)
    at = tab_of(AppTest.from_file(str(APP_PATH)))
    (asked,) = fake_api.sign_in_options_calls
    assert (asked.method, asked.path, asked.json, asked.bearer) == ("POST", "/passkeys/signin/options", {}, None)
    offer = autofill.last
    assert offer is not None and offer.ceremony.kind == "get"
    assert handle_of(offer) == "autofill-ceremony-1"
    assert dict(offer.ceremony.options)["challenge"] == "autofill-ceremony-1"  # the API's options, as given
    assert offer.renew_at == fake_clock.t + RENEWAL_DUE

    # Reruns (typing, the country picker...), a reload and a second tab: the same ceremony, no call.
    at.text_input(key="email_input").input("a@b.com").run()
    fake_clock.advance(RENEWAL_DUE - 1)
    run(at, fake_api)
    reloaded = tab_of(at)
    assert not reloaded.exception
    assert len(fake_api.sign_in_options_calls) == 1
    assert {handle_of(each) for each in autofill.handed} == {"autofill-ceremony-1"}
    assert fake_api.calls == []  # nothing else was asked either


def test_an_offer_due_for_renewal_is_replaced_on_the_next_view(
    autofill: FakeAutofill, app: AppTest, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    first = autofill.last
    fake_clock.advance(RENEWAL_DUE)  # the script asks for this rerun when the time comes (and the tab is visible)
    run(app, fake_api)
    assert len(fake_api.sign_in_options_calls) == 2
    assert handle_of(autofill.last) == "autofill-ceremony-2"
    assert first is not None and autofill.last is not None
    assert autofill.last.ceremony.request != first.ceremony.request  # the script runs the new one
    run(app, fake_api)
    assert len(fake_api.sign_in_options_calls) == 2


def test_an_answer_without_its_lifetime_is_still_kept_a_while() -> None:
    """An API that said no ``expires_in`` does not make the page renew on every view."""
    answer = sign_in_options(1).json()
    del answer["expires_in"]
    outcome = passkey_autofill.current(None, 1000.0, lambda: api.ApiResult(200, "passkey_options", "", None, answer))
    assert isinstance(outcome, passkey_autofill.Offer)
    assert outcome.renew_at == 1000.0 + passkey_autofill.MINIMUM_LIFE


def test_the_shortest_ceremony_a_stage_allows_is_renewed_before_it_expires() -> None:
    shortest = Limits.__dataclass_fields__["passkey_ceremony_seconds"].metadata["declaration"].minimum
    answer = {**sign_in_options(1).json(), "expires_in": shortest}
    outcome = passkey_autofill.current(None, 0.0, lambda: api.ApiResult(200, "passkey_options", "", None, answer))
    assert isinstance(outcome, passkey_autofill.Offer)
    assert outcome.renew_at == shortest - passkey_autofill.RENEW_BEFORE >= passkey_autofill.MINIMUM_LIFE


def test_a_throttled_request_for_options_waits_for_the_time_given(
    autofill: FakeAutofill, app: AppTest, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    """The autofill's options come from the button's per-network budget: once it is spent, the card asks no more
    until the 429's time has passed (and says nothing: the autofill is not something the person asked for)."""
    fake_clock.advance(RENEWAL_DUE)
    fake_api.sign_in_options.append(
        response(429, {"code": "passkey_quota_exceeded", "message": "Too many tries."}, headers={"Retry-After": "90"})
    )
    run(app, fake_api)
    assert autofill.last is None  # nothing to run
    assert not app.warning and not app.error
    fake_clock.advance(89)
    run(app, fake_api)
    assert len(fake_api.sign_in_options_calls) == 2
    fake_clock.advance(1)
    run(app, fake_api)
    assert len(fake_api.sign_in_options_calls) == 3
    assert handle_of(autofill.last) == "autofill-ceremony-3"


def test_an_api_that_is_down_is_asked_again_a_minute_later(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock, autofill: FakeAutofill
) -> None:
    fake_api.sign_in_options.append(requests.ConnectionError("refused"))
    at = tab_of(AppTest.from_file(str(APP_PATH)))
    assert autofill.last is None and not at.error and not at.warning
    fake_clock.advance(passkey_autofill.RETRY_AFTER - 1)
    run(at, fake_api)
    assert len(fake_api.sign_in_options_calls) == 1
    fake_clock.advance(1)
    run(at, fake_api)
    assert handle_of(autofill.last) == "autofill-ceremony-2"


def test_a_stage_without_passkeys_offers_no_autofill_and_no_button(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock, autofill: FakeAutofill, button: FakeBrowser
) -> None:
    fake_api.sign_in_options.append(
        response(403, {"code": "passkeys_disabled_here", "message": "Passkeys are not offered here."})
    )
    at = tab_of(AppTest.from_file(str(APP_PATH)))
    assert autofill.last is None
    button.drawn.clear()  # the first run drew the button before the autofill learnt it
    run(at, fake_api)
    assert autofill.last is None and "passkey_sign_in" not in button.drawn
    assert len(fake_api.sign_in_options_calls) == 1  # learnt once


def test_a_phone_number_has_no_passkey_autofill(autofill: FakeAutofill, app: AppTest, fake_api: FakeApi) -> None:
    app.radio(key="channel_input").set_value("phone").run()
    assert autofill.last is None  # the script stops the request: the email field is gone
    app.radio(key="channel_input").set_value("email").run()
    assert handle_of(autofill.last) == "autofill-ceremony-1"  # the same offer again
    assert len(fake_api.sign_in_options_calls) == 1


def test_asking_for_a_code_leaves_the_offer_alone(autofill: FakeAutofill, app: AppTest, fake_api: FakeApi) -> None:
    handed = len(autofill.handed)
    send(app, fake_api, SENT)
    assert on_code_step(app)
    assert fake_api.paths == ["/otp"]
    assert len(autofill.handed) == handed  # not drawn past the first step
    click(app, fake_api, "change_address")
    assert on_email_step(app)
    assert handle_of(autofill.last) == "autofill-ceremony-1"  # still open, not asked for again
    assert len(fake_api.sign_in_options_calls) == 1


# -------------------------------------------------------------------------------------------- a passkey picked


def test_a_passkey_picked_from_the_autofill_signs_in_as_the_button_does(
    app: AppTest, fake_api: FakeApi, autofill: FakeAutofill
) -> None:
    autofill.pick()
    passkey_me = me_answer(aal=2, **ACCOUNT).json()
    passkey_me["session"]["amr"] = ["hwk", "user", "mfa"]
    run(app, fake_api, PASSKEY_SESSION, response(200, passkey_me))
    finish, me = fake_api.calls
    assert (finish.path, finish.json, finish.bearer) == (
        "/passkeys/signin",
        {"ceremony": "autofill-ceremony-1", "credential": CREDENTIAL},
        None,
    )
    assert me.bearer == ACCESS_1
    assert on_account_view(app)
    assert "**Second factor:** proven in this session, with a passkey (both factors in one touch) · aal 2" in [
        each.value for each in app.markdown
    ]
    assert len(fake_api.sign_in_options_calls) == 1


def test_a_locked_account_is_told_so_under_the_button(
    app: AppTest, fake_api: FakeApi, autofill: FakeAutofill, button: FakeBrowser
) -> None:
    locked = response(403, {"code": "account_locked", "message": "This account is locked."})
    autofill.pick()
    run(app, fake_api, locked)
    assert [each.value for each in app.error] == ["This account is locked."]
    assert on_email_step(app)


def test_a_refused_pick_turns_the_autofill_off_in_this_tab_and_the_button_still_works(
    app: AppTest, fake_api: FakeApi, fake_clock: FakeClock, autofill: FakeAutofill, button: FakeBrowser
) -> None:
    """A passkey the service no longer knows: said under the button; the spent offer is not replaced in this tab,
    since a browser that answers by itself would try it again and again."""
    autofill.pick()
    run(app, fake_api, INVALID_PASSKEY)
    assert [each.value for each in app.error] == ["That passkey cannot sign you in."]
    fake_clock.advance(RENEWAL_DUE)
    run(app, fake_api)
    assert autofill.last is None
    assert len(fake_api.sign_in_options_calls) == 1

    button.press("passkey_sign_in")
    begin(app, fake_api, options({"challenge": "b" * 43, "rpId": "localhost"}))
    button.give("passkey_sign_in")
    run(app, fake_api, PASSKEY_SESSION, me_answer(aal=2, **ACCOUNT))
    assert on_account_view(app)


def test_an_answer_to_an_earlier_offer_is_ignored(
    autofill: FakeAutofill, app: AppTest, fake_api: FakeApi, fake_clock: FakeClock
) -> None:
    earlier = autofill.last
    assert earlier is not None
    fake_clock.advance(RENEWAL_DUE)
    run(app, fake_api)  # renewed
    autofill.queued.append(lambda _: passkey.Credential(earlier.ceremony.request, CREDENTIAL))
    run(app, fake_api)
    assert fake_api.calls == []  # its ceremony was replaced: the API would refuse it
    assert handle_of(autofill.last) == "autofill-ceremony-2"


def test_a_tab_that_signed_out_offers_no_autofill_until_reloaded(
    env: pytest.MonkeyPatch, fake_api: FakeApi, fake_clock: FakeClock, autofill: FakeAutofill
) -> None:
    """A browser that answers a conditional request by itself (Chromium's virtual authenticator) would sign
    straight back in."""
    browser_with_handle(env)
    at = tab_of(AppTest.from_file(str(APP_PATH)))
    autofill.pick()
    run(at, fake_api, PASSKEY_SESSION, me_answer(aal=2, **ACCOUNT))
    assert on_account_view(at)
    click(at, fake_api, "sign_out", frontend_app.SIGNED_OUT)
    assert on_email_step(at)
    assert autofill.last is None
    assert len(fake_api.sign_in_options_calls) == 1

    reloaded = tab_of(at)
    assert on_email_step(reloaded)
    assert handle_of(autofill.last) == "autofill-ceremony-2"  # the first was spent by the sign-in
