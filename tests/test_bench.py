"""The parts of `make bench` that a change of the service could break silently (CI does not run the benchmark)."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from chalice.test import Client

from bench.events import LambdaContext, answer, proxy_event
from bench.oidc import JSON, through
from bench.passkeys import SIGN_IN
from bench.report import APPLICATION_SIGN_IN, render
from bench.run import CODE_EXCHANGES, Row, oidc_steps, overhead, passkey_rows
from tests.conftest import REPO_ROOT, code_in, sent_mails
from tests.webauthn_authenticator import Authenticator


def run_module(*args: str, env: dict[str, str] | None = None) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_handler_overhead_bench_answers_every_aws_call_the_service_makes() -> None:
    # bench/overhead.py queues one answer per AWS call it expects; a call added, dropped or reordered stops it.
    # Started as `make bench` starts it (bench.run.overhead: the local stage's settings, no AWS to reach).
    figures = overhead(20)
    assert {
        "send_otp",
        "verify_otp, right code",
        "verify_otp, wrong code",
        "verify_otp, no code requested",
        "POST /token/refresh",
        "GET /me",
        "POST /signout",
        "GET /.well-known/jwks.json",
        "minimal one-route Chalice app",
        "verify_otp, right code, second factor on",
        "POST /mfa/verify, right code",
    } == set(figures)
    assert all(0 < row["p50_us"] <= row["p99_us"] for row in figures.values())


def test_a_cold_start_is_measured_in_a_fresh_process() -> None:
    figures = run_module(
        "bench.cold_start",
        "bench.minimal_app",
        json.dumps(proxy_event("POST", "/otp", {"action": "send_otp", "email": "cold@example.com"})),
        env={**os.environ, "BENCH_SPAWNED_AT": "0"},
    )
    assert figures["status"] == 200 and figures["aws_calls"] == []
    assert figures["import_ms"] > 0 and figures["first_request_ms"] > 0
    assert figures["spawn_to_first_answer_ms"] > figures["import_ms"] and figures["cpu_to_first_answer_ms"] > 0


def test_the_prototype_reference_answers_send_otp_with_one_put_item_and_one_send_email(
    aws: None, stage_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What the issue describes the earlier prototype's handler doing: the cold starts are held to it.
    for name in ("OTP_TABLE", "OTP_SENDER"):
        monkeypatch.setenv(name, stage_env[name])
    sys.modules.pop("bench.prototype", None)  # its clients are built at import, here inside the moto account
    prototype = importlib.import_module("bench.prototype")
    calls: list[str] = []

    def record(model: Any, **_: Any) -> None:
        calls.append(f"{model.service_model.service_name}.{model.name}")

    for client in (prototype.table.meta.client, prototype.ses):
        client.meta.events.register("before-call.*.*", record)
    status, _ = answer(
        prototype.app(proxy_event("POST", "/otp", {"action": "send_otp", "email": "p@example.com"}), LambdaContext())
    )
    assert (status, calls) == (200, ["dynamodb.PutItem", "ses.SendEmail"])
    sys.modules.pop("bench.prototype")


def signing_in(client: Client) -> Callable[[str], dict[str, Any]]:
    """A sign-in by a code, in process, as bench.run.aws_calls's ``sign_in`` makes it against the local stack."""
    call = through(client)

    def sign_in(email: str) -> dict[str, Any]:
        assert call("POST", "/otp", json.dumps({"action": "send_otp", "email": email}), JSON).status_code == 200
        code = code_in([mail for mail in sent_mails() if mail["to"] == [email]][-1])
        verified = call("POST", "/otp", json.dumps({"action": "verify_otp", "email": email, "otp": code}), JSON)
        assert verified.status_code == 200, verified.json_body
        return dict(verified.json_body)

    return sign_in


def counted(name: str, action: Any, status: int) -> Row:
    """A step run and its status checked, as bench.run.aws_calls's ``counted`` does (no AWS calls recorded here)."""
    answered = action()
    assert answered.status_code == status, (name, answered.status_code, answered.body)
    return name, [], status


def test_the_openid_connect_steps_the_bench_counts_get_the_answers_it_expects(client: Client) -> None:
    # bench.run.oidc_calls runs these steps against the local stack, each expecting its status: a change of the
    # flow's answers stops `make bench`. The same steps here, in process; the report names some rows.
    steps = [name for name, _, _ in oidc_steps(through(client), signing_in(client), counted, "test")]
    assert len(steps) == len(set(steps)) == 14
    assert set(CODE_EXCHANGES) | set(APPLICATION_SIGN_IN) <= set(steps)


def test_the_passkey_requests_the_bench_counts_get_the_answers_it_expects(client: Client) -> None:
    # bench.run.passkey_calls runs these requests against the local stack (a passkey registered, a usernameless
    # sign-in, a step-up, with the suite's software authenticator), each expecting its status. The same here.
    authenticator = Authenticator()  # at the local stage's UI
    steps = [name for name, _, _ in passkey_rows(through(client), signing_in(client), counted, "test", authenticator)]
    assert len(steps) == len(set(steps)) == 6
    assert SIGN_IN in steps


def test_docs_benchmarks_md_is_rendered_from_docs_benchmarks_json() -> None:
    results = json.loads((REPO_ROOT / "docs" / "benchmarks.json").read_text())
    assert render(results) == (REPO_ROOT / "docs" / "benchmarks.md").read_text(), "run `make bench` again"
