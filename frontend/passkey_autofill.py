"""The passkey in the email field's autofill (WebAuthn conditional mediation): the sign-in card keeps a usernameless
sign-in ceremony open in the page, and the browser lists the site's passkeys among its suggestions for the email
field; picking one signs in exactly as the "Sign in with a passkey" button does.

**Why a components v2 script.** A browser offers passkeys only in the autofill of an input marked
``autocomplete="username webauthn"`` in the *same document* as the pending
``navigator.credentials.get({mediation: "conditional"})``. The button (:mod:`frontend.passkey`) is a components v1
frame, a document of its own, so a request started there could only fill a field drawn in that frame, which would
duplicate the card's email field outside its form. Streamlit's components v2 run their module in the page's own
document (no frame): the email field stays the card's ``st.text_input`` (``autocomplete="username webauthn"``) and
the few lines of :data:`_JS` start the conditional request beside it. The script is given only the WebAuthn options
and hands back only ``credential.toJSON()``; the API calls are made here, on the UI server, as for the button.

**What it costs.** A conditional request is open on every view of the card, so its options must not cost a
ceremony of the per-network budget (``OTP_PASSKEY_CEREMONIES_PER_IP``) on each view, reload or rerun: a browser keeps
one open ceremony (:class:`Offer`, in its :class:`frontend.state.UiState`, shared by its tabs and kept across
reloads) and the card hands it out again until it is spent or :data:`RENEW_BEFORE` seconds before it expires. Only
then is another asked for, and only by a card on screen: the script asks for the rerun that renews it when the time
comes and the tab is visible (a hidden tab waits until it is shown). So a browser showing the card costs at most
one ceremony per ``OTP_PASSKEY_CEREMONY_SECONDS`` (less the margin), however often it is viewed. A refused request
for options (429, the API down) is not repeated before :data:`RETRY_AFTER` seconds, or the 429's own retry time.

**When the browser answers by itself.** Chromium's virtual authenticator (the DevTools WebAuthn panel, the suite's
browser tests) answers a conditional request at once with its first passkey, without showing any autofill, and
refuses it at once when it holds none. So an answer the API refused, or a sign-out, turns the offer off in that tab
(:attr:`frontend.state.Tab.autofill`) until it is reloaded; otherwise such a browser would sign straight back in,
or try a removed passkey over and over. The script does not retry a request the browser refused at once, and the
button stops the pending request before its own ceremony (browsers run one WebAuthn request at a time), then starts
it again if the button's ceremony failed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from frontend import api, passkey

KEY = "passkey_autofill"  # the component's widget key
RENEW_BEFORE = 20  # seconds before the API's expiry at which an offer is replaced: a pick then still reaches the API
RETRY_AFTER = 60  # seconds before a failed request for options is made again (a 429 says its own time)
# Seconds an offer is kept at least, whatever the API answered, so that it is never renewed in a loop: the shortest
# ceremony a stage may set (OTP_PASSKEY_CEREMONY_SECONDS, 30 s) less RENEW_BEFORE.
MINIMUM_LIFE = 10


@dataclass(frozen=True)
class Offer:
    """The open sign-in ceremony the card's conditional request runs, until ``renew_at`` (a clock.now() value)."""

    ceremony: passkey.Ceremony
    renew_at: float


@dataclass(frozen=True)
class Refused:
    """The API gave no options: none is asked for again before ``until`` (a clock.now() value)."""

    until: float


@dataclass(frozen=True)
class Disabled:
    """The API said this stage has no passkeys."""


def current(held: Offer | Refused | None, now: float, ask: Callable[[], api.ApiResult]) -> Offer | Refused | Disabled:
    """The offer for this view of the card: ``held`` while it lasts, else a new one for which ``ask`` (the API's
    ``POST /passkeys/signin/options``) is called once. A ``Refused`` that is still running is kept as it is."""
    if held is not None and now < (held.renew_at if isinstance(held, Offer) else held.until):
        return held
    result = ask()
    if result.code == passkey.DISABLED_HERE:
        return Disabled()
    ceremony = passkey.ceremony_from_answer(result.data, "get") if result.ok else None
    if ceremony is None:
        wait = result.retry_after if result.status == 429 and result.retry_after else RETRY_AFTER
        return Refused(now + wait)
    life = api.parse_seconds(result.data.get("expires_in")) or 0
    return Offer(ceremony, now + max(life - RENEW_BEFORE, MINIMUM_LIFE))


def spend(held: Offer | Refused | None, event: passkey.Event) -> tuple[passkey.Ceremony, Mapping[str, Any]] | None:
    """The offered ceremony and the credential that answers it; ``None`` when ``event`` is not a credential for
    ``held`` (a renewal's rerun, an answer to an offer replaced meanwhile). The caller drops the offer: the API
    spends a ceremony whatever comes of the sign-in."""
    if not isinstance(held, Offer) or not isinstance(event, passkey.Credential):
        return None
    return (held.ceremony, event.credential) if event.request == held.ceremony.request else None


def mount(offer: Offer | None, now: float, on_event: Callable[[passkey.Event], None]) -> None:
    """The script, in the page's document: runs the conditional request of ``offer`` (``None`` stops any), asks for
    a rerun when it is to be renewed, and reports a credential to ``on_event`` once."""

    def changed() -> None:
        value = st.session_state.get(KEY)
        answer = value.get("answer") if isinstance(value, Mapping) else None
        event = passkey.from_component(answer)
        if event is not None:
            on_event(event)

    data: dict[str, Any] | None = None
    if offer is not None:
        data = {
            "request": offer.ceremony.request,
            "options": dict(offer.ceremony.options),
            "renew_in": max(0.0, offer.renew_at - now),
        }
    _COMPONENT(key=KEY, data=data, on_answer_change=changed, height=0)


# Module scope survives reruns (Streamlit imports the module once per page): the request running, and those the
# browser answered, so that a rerun with the same options neither restarts nor repeats one. A request stopped here
# (new options, the button's turn, the card gone) ends in an AbortError and is not restarted by its own ending.
_JS = """
let running = null;  // {request, controller}
let data = null;  // the options to run, as last handed over
let answer = null;  // the page's setTriggerValue
let timer = null;  // until the renewal is due
let waiting = null;  // the renewal, due while the tab was hidden, waiting for it to be shown
let paused = false;  // the passkey button's ceremony runs
const finished = new Set();

function stop() {
  if (running !== null) { running.controller.abort(); running = null; }
}

function start() {
  if (data === null || paused || running !== null || finished.has(data.request)) return;
  const request = data.request;
  const controller = new AbortController();
  const started = performance.now();
  running = {request, controller};
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(data.options);
  navigator.credentials.get({mediation: "conditional", publicKey, signal: controller.signal}).then(
    (credential) => {
      finished.add(request);
      answer("answer", {event: "credential", request, credential: credential.toJSON()});
    },
    (error) => {
      const name = String(error && error.name);
      console.info("passkey autofill:", name);
      // Refused at once: no passkey of this site here (a person is never that quick). Not tried again, or a
      // browser that answers without asking would loop; a later refusal (the person cancelled) is.
      if (name !== "AbortError" && performance.now() - started < 2000) finished.add(request);
    },
  ).finally(() => {
    if (running !== null && running.controller === controller) {  // not stopped here meanwhile
      running = null;
      start();
    }
  });
}

function unschedule() {
  clearTimeout(timer);
  if (waiting !== null) { document.removeEventListener("visibilitychange", waiting); waiting = null; }
}

// The rerun that renews the offer (the UI server replaces it then): asked for by a visible tab only, so that a tab
// left in the background costs no ceremonies.
function schedule(seconds) {
  unschedule();
  const renew = () => {
    if (document.visibilityState === "visible") { waiting = null; answer("answer", {event: "renew"}); return; }
    waiting = renew;
    document.addEventListener("visibilitychange", renew, {once: true});
  };
  timer = setTimeout(renew, seconds * 1000);
}

// The passkey button's frame (same origin) stops the request before its own ceremony and resumes it after a
// failed one: browsers run one WebAuthn request at a time.
window.otpPasskeyAutofill = {
  pause() { paused = true; stop(); },
  resume() { paused = false; start(); },
};

export default function (component) {
  answer = component.setTriggerValue;
  const next = component.data;
  if (next === null || next === undefined || !window.PublicKeyCredential
      || !PublicKeyCredential.isConditionalMediationAvailable) {
    data = null; stop(); unschedule();
    return () => {};
  }
  if (data === null || data.request !== next.request) { stop(); paused = false; }
  data = next;
  schedule(next.renew_in);
  PublicKeyCredential.isConditionalMediationAvailable().then((available) => { if (available) start(); });
  return () => { data = null; stop(); unschedule(); };
}
"""

_COMPONENT = st.components.v2.component("passkey_autofill", js=_JS)
