"""Where the local stack must behave as a deployed stage for people and tests to rely on it, over real HTTP.

- ``chalice local`` reports each caller's socket address as ``sourceIp``, as API Gateway does (``tools.chalice_local``),
  so per-source rules can be tried locally: every address of 127.0.0.0/8 reaches a server on 127.0.0.1 (Linux).

One stack (``tools.run_local.headless_stack``) for the module, with a per-source quota of ``SENDS_PER_SOURCE``.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator

import pytest

from tests import logscan
from tools.run_local import HOST, Stack, StackError, headless_stack

SENDS_PER_SOURCE = 2
SENT = (200, "code_sent")
REFUSED = (429, "ip_quota_exceeded")


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    lines: list[str] = []
    try:
        with headless_stack({"OTP_SENDS_PER_IP": str(SENDS_PER_SOURCE)}, echo=lines.append) as running:
            yield running
    except StackError as error:
        pytest.fail(f"the local stack did not start: {error}\n" + "\n".join(error.tail))
    finally:
        logscan.add_log_lines("chalice local and the embedded AWS (tests/test_local_stack_fidelity.py)", lines)


def send_from(stack: Stack, source: str, email: str) -> tuple[int, str]:
    """``send_otp`` for ``email`` on a connection from the loopback address ``source``."""
    logscan.remember(addresses=[email])
    connection = http.client.HTTPConnection(HOST, stack.ports.api, timeout=30, source_address=(source, 0))
    try:
        connection.request("POST", "/otp", json.dumps({"action": "send_otp", "email": email}),
                           {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())["code"]
    finally:
        connection.close()


def test_the_per_source_quota_counts_each_loopback_address_on_its_own(stack: Stack) -> None:
    first = [send_from(stack, "127.0.0.2", f"from-two-{n}@example.com") for n in range(SENDS_PER_SOURCE + 1)]
    second = [send_from(stack, "127.0.0.3", f"from-three-{n}@example.com") for n in range(SENDS_PER_SOURCE + 1)]

    assert first == [SENT] * SENDS_PER_SOURCE + [REFUSED]  # sends from one address are counted together
    assert second == first  # and those from another apart: behind a fixed sourceIp it would be refused at once
