"""The UI's part of the OpenID Connect provider (issue 22): an app's login request as the UI carries it, and the
apps a person let in. No widgets here; notices are left for the views to place, as in :mod:`frontend.flow`.

An app sends the person to this UI with ``?login_challenge=C`` (the API's authorization endpoint does, after
checking the app's request). :func:`arrive` keeps the challenge in the browser's server-side state (a reload, a
new tab and the sign-in itself keep it) and reads what the app asks for (``GET /oauth2/login``). Once someone is
signed in here with every factor their account needs, :mod:`frontend.views.continue_to_app` lets the app in
(``POST /oauth2/login``) and follows the ``redirect_to`` of the answer, which takes the person back to the app with
its authorization code. The API decides everything else and says so in its answers: the person's consent, a
fresh proof, two-step verification; :func:`answered` turns each into the step the page shows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import streamlit as st

from frontend import api, flow, ui
from frontend.session import epoch
from frontend.state import ConnectedApp, LoginRequest, UiState
from frontend.state import ui as state

PARAM = "login_challenge"
# Where the login request's notices show: at the top of the sign-in card, of the continue page and of the account.
PLACE = "login"
APPS = "apps"  # where the connected apps' notices show
INVALID = "login_challenge_invalid"
CONSENT_REQUIRED = "consent_required"
ENROLLMENT_REQUIRED = "mfa_enrollment_required"
EXPIRED = "This sign-in request has expired. Go back to the app and start again."
AAL2 = "http://idmanagement.gov/ns/assurance/aal/2"  # what acr_values names for two factors (NIST SP 800-63B)
# What each scope lets the app do, as the consent card and the connected apps say it ("<app> wants to: ...").
SCOPE_WORDS = {
    "openid": "know it is you",
    "email": "see your email address",
    "phone": "see your phone number",
    "offline_access": "keep you signed in",
}


def app_name(login: LoginRequest | None) -> str:
    """The app as the page names it: as the API named it, else generically (the API could not be read)."""
    return login.client_name if login is not None and login.client_name else "the app"


def scope_words(scopes: tuple[str, ...]) -> list[str]:
    """What ``scopes`` let an app do, in words, in the API's order; a scope these words do not know is named."""
    return [SCOPE_WORDS.get(scope, f"use “{scope}”") for scope in scopes]


def in_words(scopes: tuple[str, ...]) -> str:
    """What ``scopes`` let an app do, as one phrase: "know it is you, see your email address and keep you signed
    in"."""
    words = scope_words(scopes)
    if len(words) < 2:
        return "".join(words) or "sign you in"
    return f"{', '.join(words[:-1])} and {words[-1]}"


def arrive() -> None:
    """Take a login challenge from the page's address into this browser's state, and read what the app asks for.

    A newer request replaces an older one: it is the one the person came with. The challenge leaves the address at
    once, so that a reload or the browser's history never offers a used one again; the state keeps it. A challenge
    the API no longer knows is said to have expired, and forgotten.
    """
    challenge = st.query_params.get(PARAM)
    if challenge is None:
        return
    del st.query_params[PARAM]
    if not challenge:
        return
    current = state()
    _drop_confirmation()  # a confirmation of the previous request would let the wrong app in
    current.login = login = LoginRequest(challenge)
    result = ui.client().login_request(challenge)
    if current.login is not login:  # another tab brought a newer one meanwhile
        return
    if result.status == 400 and result.code == INVALID:
        expire()
    elif not result.ok:
        # Not fatal: letting the app in may still work, and its answers name the app and the scopes again.
        ui.fail(result, PLACE)
    else:
        _describe(login, result.data)
        hint = result.data.get("login_hint")
        if isinstance(hint, str) and "@" in hint and current.sign_in.step == "start" and current.box.current is None:
            ui.set_field(flow.CHANNEL_INPUT, "email")
            ui.set_field(flow.EMAIL_INPUT, hint.strip())  # the app knows whom it expects; the person may change it


def _describe(login: LoginRequest, data: Mapping[str, Any]) -> None:
    """The app's name, the scopes, the prompt and whether two factors are asked, of a ``login_request`` or
    ``consent_required`` answer."""
    client = data.get("client")
    if isinstance(client, dict):
        name, client_id = client.get("client_name"), client.get("client_id")
        login.client_name = name if isinstance(name, str) and name else client_id if isinstance(client_id, str) else ""
    login.scopes = _strings(data.get("scopes")) or login.scopes
    if "prompt" in data:
        login.prompt = _strings(data.get("prompt"))
    if "acr_values" in data:  # only GET /oauth2/login says it
        login.two_factors = AAL2 in _strings(data.get("acr_values"))


def _strings(value: object) -> tuple[str, ...]:
    return tuple(item for item in value if isinstance(item, str) and item) if isinstance(value, list) else ()


def waiting(current: UiState) -> LoginRequest | None:
    """The login request the page is about now: one to answer while signed in, one to go back to the app with,
    or one that asks not to show anything (prompt=none) while nobody is signed in here."""
    login = current.login
    if login is None:
        return None
    if current.box.current is not None or login.redirect_to is not None or "none" in login.prompt:
        return login
    return None


def answered(result: api.ApiResult) -> None:
    """What ``POST /oauth2/login`` came to (after any proof the API asked for): go back to the app, ask for
    consent, lead to two-step verification, say the request expired, or say what failed and wait."""
    current = state()
    login = current.login
    if login is None:  # another tab finished or forgot it meanwhile
        return
    if result.ok:
        _leave(login, result, accepted=True)
        current.account.apps = None  # a consent given just now is listed when the account is shown next
    elif result.status == 400 and result.code == INVALID:
        expire()
    elif result.status == 403 and result.code == CONSENT_REQUIRED:
        _describe(login, result.data)
        login.stage = "consent"
        ui.clear_notice()  # the card says what is asked
    elif result.status == 403 and result.code == ENROLLMENT_REQUIRED:
        login.stage = "enroll"
        ui.clear_notice()
    else:
        login.stage = "paused"
        ui.fail(result, PLACE)


def reject(error: api.LoginError) -> None:
    """The work of turning the request down (the person said no; or prompt=none and nobody is signed in here): the
    API answers where to send the person back to the app, with ``error``."""
    login = state().login
    if login is None:
        return
    result = ui.client().reject_login(login.challenge, error)
    if state().login is not login:
        return
    if result.ok:
        _leave(login, result, accepted=False)
    elif result.status == 400 and result.code == INVALID:
        expire()
    else:
        login.stage = "paused"
        ui.fail(result, PLACE)


def _leave(login: LoginRequest, result: api.ApiResult, accepted: bool) -> None:
    target = result.data.get("redirect_to")
    if not isinstance(target, str) or not navigable(target):
        login.stage = "paused"
        ui.notify("error", api.UNEXPECTED_ANSWER, PLACE)
        return
    login.redirect_to, login.accepted = target, accepted
    ui.clear_notice()


def navigable(url: str) -> bool:
    """True for an address the page may send the browser to: a web address, or an app's own private-use scheme
    (RFC 8252 7.1: a reversed domain name, ``com.example.app:/callback``). Never ``javascript:`` or ``data:``,
    whatever an answer says."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if parts.scheme in ("http", "https"):
        return bool(parts.netloc)
    return "." in parts.scheme


def pause() -> None:
    """The person cancelled what the request was waiting for: they choose again (try again, or go back)."""
    login = state().login
    if login is not None:
        login.stage = "paused"


def resume() -> None:
    """Try letting the app in again (after a failure, a cancelled confirmation, two-step verification set up)."""
    login = state().login
    if login is not None:
        login.stage = "continue"
        ui.clear_notice()


def followed() -> None:
    """The page is going back to the app: the request is done here."""
    _drop_confirmation()
    state().login = None


def expire() -> None:
    """The API no longer knows the request (unknown, used, or its time ran out): say so, and forget it."""
    followed()
    ui.notify("error", EXPIRED, PLACE)


def _drop_confirmation() -> None:
    """A confirmation opened to let an app in belongs to its request: it goes with it."""
    account = state().account
    if account.step_up is not None and account.step_up.action == "accept_login":
        account.step_up = None


# -------------------------------------------------------------------------------------------- connected apps


def load_apps() -> None:
    """Read the apps the person let in (``GET /me/consents``) into the account view; a failure is kept to show."""
    view = state().account
    client = ui.client()
    result = flow.account_call(client.consents)
    if result is None:  # the session ended: the start page says why
        return
    listed = result.data.get("consents") if result.ok else None
    if not isinstance(listed, list):
        view.apps_problem = result.message if not result.ok else api.UNEXPECTED_ANSWER
        view.apps = ()
        return
    view.apps = tuple(_apps(listed))
    view.apps_problem = None


def _apps(entries: list[object]) -> Iterator[ConnectedApp]:
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        client_id, name = entry.get("client_id"), entry.get("client_name")
        if isinstance(client_id, str) and client_id:
            shown = name if isinstance(name, str) and name else client_id
            yield ConnectedApp(client_id, shown, _strings(entry.get("scopes")), epoch(entry.get("granted_at")))


def remove_app(app: ConnectedApp) -> None:
    """The work of "Remove access": the API forgets the consent and ends the app's sessions of this account."""
    client = ui.client()
    result = flow.account_call(lambda token: client.revoke_consent(token, app.client_id))
    if result is None:
        return
    if not result.ok:
        ui.fail(result, APPS)
        return
    ui.notify("success", result.message, APPS)
    load_apps()
