"""Attacks from an outside run, over real HTTP from several loopback addresses (``chalice local`` reports each
caller's socket address as ``sourceIp``, as API Gateway does): each failed on the old main and passes now.

- lockout by strangers: wrong codes from one network do not stop the owner signing in from another;
- one network hammering many addresses is refused at its own budget, with one answer for every address;
- a refresh token replayed inside the grace window no longer forks the session: it ends it.
"""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from frontend import inbox
from tests import logscan
from tools.run_local import HOST, Stack, StackError, headless_stack

NETWORK_BUDGET = 30  # OTP_FAILURES_PER_IP for this stack; per (network, address) stays the default 10
OWNER, STRANGER, HAMMER, THIEF = "127.0.0.3", "127.0.0.2", "127.0.0.4", "127.0.0.5"


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    lines: list[str] = []
    try:
        # No resend cooldown: the stranger's guesses use up the live code's 6, and the owner asks for another.
        settings = {
            "OTP_FAILURES_PER_IP": str(NETWORK_BUDGET),
            "OTP_RESEND_COOLDOWN_SECONDS": "0",
            "LOG_LEVEL": "DEBUG",  # the log scan reads every diagnostic
        }
        with headless_stack(settings, echo=lines.append) as running:
            yield running
    except StackError as error:
        pytest.fail(f"the local stack did not start: {error}\n" + "\n".join(error.tail))
    finally:
        logscan.add_log_lines("chalice local and the embedded AWS (tests/test_lockout_http.py)", lines)


def post(stack: Stack, source: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    connection = http.client.HTTPConnection(HOST, stack.ports.api, timeout=30, source_address=(source, 0))
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        response = connection.getresponse()
        answer = json.loads(response.read())
    finally:
        connection.close()
    for name in ("access_token", "refresh_token"):
        if isinstance(answer.get(name), str):
            logscan.remember(tokens=[answer[name]])
    return response.status, answer


def send(stack: Stack, source: str, email: str) -> None:
    logscan.remember(addresses=[email])
    assert post(stack, source, "/otp", {"action": "send_otp", "email": email})[0] == 200


def verify(stack: Stack, source: str, email: str, code: str) -> tuple[int, dict[str, Any]]:
    return post(stack, source, "/otp", {"action": "verify_otp", "email": email, "otp": code})


def code_for(stack: Stack, email: str) -> str:
    mail = next(mail for mail in inbox.fetch_mails(stack.inbox_url) if mail.to == (email,))
    code = re.search(r"\b(\d{6})\b", mail.subject).group(1)  # type: ignore[union-attr]
    logscan.remember(codes=[code])
    return code


def wrong(code: str) -> str:
    return "000000" if code != "000000" else "111111"


def test_wrong_codes_from_a_stranger_do_not_stop_the_owner(stack: Stack) -> None:
    email = "owner@example.com"
    send(stack, OWNER, email)
    code = code_for(stack, email)
    answers = [verify(stack, STRANGER, email, wrong(code)) for _ in range(25)]
    assert [status for status, _ in answers[:10]] == [401] * 10
    assert {(status, body["code"]) for status, body in answers[10:]} == {(429, "too_many_failures")}
    # The stranger's guesses used up the live code's 6 (the per-code limit); the owner asks again and is in.
    send(stack, OWNER, email)
    status, body = verify(stack, OWNER, email, code_for(stack, email))
    assert (status, body["code"]) == (200, "verified")


def test_a_network_hammering_many_addresses_stops_at_its_budget(stack: Stack) -> None:
    victim = "mid-sign-in@example.com"
    send(stack, OWNER, victim)
    answers = [verify(stack, HAMMER, f"target-{n}@example.com", "123456") for n in range(NETWORK_BUDGET)]
    assert {status for status, _ in answers} == {401}
    refused = [
        verify(stack, HAMMER, email, code)
        for email, code in (
            (victim, code_for(stack, victim)),
            ("target-0@example.com", "123456"),
            ("nobody@example.com", "1" * 6),
        )
    ]
    assert {(status, body["code"]) for status, body in refused} == {(429, "ip_failure_quota_exceeded")}
    # Nothing told apart: the same answer for all three, but for the window's seconds left, which the wall clock
    # may tick down between them.
    assert len({json.dumps({**body, "retry_after": None}, sort_keys=True) for _, body in refused}) == 1
    waits = [body["retry_after"] for _, body in refused]
    assert max(waits) - min(waits) <= 1 and waits == sorted(waits, reverse=True)
    status, _ = verify(stack, OWNER, victim, code_for(stack, victim))
    assert status == 200  # the right code the hammer presented was withdrawn, not spent


def test_a_refresh_token_replayed_in_the_grace_window_ends_the_session(stack: Stack) -> None:
    email = "victim@example.com"
    send(stack, OWNER, email)
    status, session = verify(stack, OWNER, email, code_for(stack, email))
    assert status == 200
    first = session["refresh_token"]
    status, victim = post(stack, OWNER, "/token/refresh", {"refresh_token": first})  # T1 -> T2
    assert status == 200
    status, thief = post(stack, THIEF, "/token/refresh", {"refresh_token": first})  # T1 replayed: T3, once
    assert status == 200
    status, thief = post(stack, THIEF, "/token/refresh", {"refresh_token": thief["refresh_token"]})  # T3 -> T4
    assert status == 200
    status, refused = post(stack, OWNER, "/token/refresh", {"refresh_token": victim["refresh_token"]})  # T2
    assert (status, refused["code"]) == (401, "invalid_token")
    for token in (thief["refresh_token"], first):  # the thief's newest token died with the session
        assert post(stack, THIEF, "/token/refresh", {"refresh_token": token})[0] == 401
    connection = http.client.HTTPConnection(HOST, stack.ports.api, timeout=30)
    connection.request("GET", "/me", headers={"Authorization": f"Bearer {thief['access_token']}"})
    assert connection.getresponse().status == 401
