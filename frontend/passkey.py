"""Passkeys in the page: a button that runs a WebAuthn ceremony in the browser (a Streamlit custom component,
``frontend/passkey_component/index.html``), and what the UI keeps of a ceremony and of the account's passkeys.

The component is given the WebAuthn Level 3 JSON options the API answered and hands back ``credential.toJSON()``; it
never sees a token, and the API calls are made here, on the UI server, with the session's tokens. It runs in an
iframe the UI server serves (same origin as the page, so WebAuthn is allowed in it without a permissions policy of
its own). The sign-in card's passkey autofill (:mod:`frontend.passkey_autofill`) runs in the page itself instead;
the button pauses that pending request for the length of its own ceremony.

A press goes in two steps, so that the options are fresh and spent at most once: the button says it was pressed
(:class:`Start`), the view asks the API for options and keeps them in a :class:`Ceremony`, the next run hands them to
the button, which runs the ceremony at once (the press gave its frame the focus a browser asks for) and answers
:class:`Credential` or :class:`Failure`, tagged with the ceremony's ``request`` so an answer is used once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import streamlit as st
from streamlit.components.v1 import declare_component

Kind = Literal["create", "get"]  # navigator.credentials.create (register) or .get (sign in)
DISABLED_HERE = "passkeys_disabled_here"  # every passkey route's answer (403) on a stage without a relying party

_COMPONENT = declare_component("passkey", path=str(Path(__file__).parent / "passkey_component"))
_REQUESTS = itertools.count(1)  # a ceremony's number, unique in this process


@dataclass(frozen=True)
class Ceremony:
    """Options the API issued, waiting for the browser's credential. ``ceremony`` is the API's handle (its
    challenge): spent once, so it is kept out of ``repr`` like a token."""

    kind: Kind
    options: Mapping[str, Any] = field(repr=False)
    ceremony: str = field(repr=False)
    request: int = field(default_factory=lambda: next(_REQUESTS))
    name: str = ""  # what a registered passkey is to be called


@dataclass(frozen=True)
class Start:
    """The button was pressed with no ceremony open."""


@dataclass(frozen=True)
class Credential:
    """The browser's credential for ceremony ``request``, as ``credential.toJSON()`` gave it."""

    request: int
    credential: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Failure:
    """The browser gave no credential for ceremony ``request``: ``name`` is the DOMException's
    (``NotAllowedError``: cancelled, timed out, or no passkey of this site; ``InvalidStateError``: this
    authenticator already holds a passkey of the account)."""

    request: int
    name: str


Event = Start | Credential | Failure


def from_component(value: object) -> Event | None:
    """The event of a value the component sent; ``None`` for anything else (a page's script is not trusted)."""
    if not isinstance(value, Mapping):
        return None
    event, request = value.get("event"), value.get("request")
    if event == "start":
        return Start()
    if not isinstance(request, int) or isinstance(request, bool):
        return None
    credential, name = value.get("credential"), value.get("name")
    if event == "credential" and isinstance(credential, Mapping):
        return Credential(request, credential)
    if event == "error" and isinstance(name, str):
        return Failure(request, name)
    return None


def failure_message(failure: Failure, kind: Kind) -> str:
    """What a failed ceremony means to the person."""
    if failure.name == "InvalidStateError" and kind == "create":
        return "This device already holds a passkey for your account."
    if failure.name == "NotAllowedError":
        return "No passkey was used. It was cancelled or timed out, or this device has none for this site."
    if failure.name == "SecurityError":
        return "This browser refused passkeys on this address. Open the page at its usual address."
    return "Your browser could not use a passkey here."


def button(
    label: str,
    key: str,
    ceremony: Ceremony | None,
    on_event: Callable[[Event], None],
    disabled: bool = False,
) -> None:
    """The passkey button: reports presses and the outcome of ``ceremony`` (of its kind) to ``on_event``, once
    each."""

    def changed() -> None:
        event = from_component(st.session_state.get(key))
        if event is not None:
            on_event(event)

    _COMPONENT(
        label=label,
        waiting="Waiting for your passkey...",
        resume="Continue with your passkey",
        kind=ceremony.kind if ceremony is not None else "get",
        options=dict(ceremony.options) if ceremony is not None else None,
        request=ceremony.request if ceremony is not None else 0,
        disabled=disabled,
        key=key,
        default=None,
        on_change=changed,
    )


def ceremony_from_answer(data: Mapping[str, Any], kind: Kind, name: str = "") -> Ceremony | None:
    """The ceremony of a ``passkey_options`` answer; ``None`` when it lacks its options or handle."""
    options, handle = data.get("options"), data.get("ceremony")
    if not isinstance(options, Mapping) or not isinstance(handle, str) or not handle:
        return None
    return Ceremony(kind, options, handle, name=name)


@dataclass(frozen=True)
class Passkey:
    """One passkey of the account, as ``GET /me/passkeys`` lists it; times in epoch seconds."""

    id: str
    name: str
    created_at: float | None
    last_used_at: float | None
    synced: bool

    @classmethod
    def from_answer(cls, item: object) -> Passkey | None:
        if not isinstance(item, Mapping):
            return None
        passkey_id, name = item.get("id"), item.get("name")
        if not isinstance(passkey_id, str) or not passkey_id or not isinstance(name, str):
            return None
        # The API answers last_used_at null for a passkey that never signed in.
        created, used = _epoch(item.get("created_at")), _epoch(item.get("last_used_at")) or None
        return cls(passkey_id, name, created, used, synced=item.get("synced") is True)


def passkeys_from_answer(data: Mapping[str, Any]) -> tuple[Passkey, ...] | None:
    """The passkeys of a ``passkey_list`` answer, oldest first; ``None`` when it is not one."""
    items = data.get("passkeys")
    if not isinstance(items, list):
        return None
    parsed = [Passkey.from_answer(item) for item in items]
    return tuple(each for each in parsed if each is not None)


def _epoch(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
