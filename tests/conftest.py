"""Shared fixtures: an in-process AWS (moto), the stage's settings, a controllable clock."""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from _pytest import runner
from botocore.retries.standard import ExponentialBackoff
from chalice.test import Client
from moto import mock_aws
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from moto.sns.models import sns_backends

from chalicelib import wiring
from chalicelib.accounts.sessions import SessionService
from chalicelib.accounts.store import AccountStore
from chalicelib.accounts.tokens import ALGORITHM, AccessTokens, KmsKeys
from chalicelib.config import Limits, Settings
from chalicelib.crypto import KeyedHasher
from tests import reuse, tiers
from tests.aws_calls import RECORDER
from tests.interpreter import call_with_room, settle_heap
from tools.bootstrap import Settings as ResourceNames
from tools.bootstrap import load_stage_env
from tools.embedded_aws import transactions_by_item

pytest_plugins = ["tests.logscan"]  # fails the run if a code, a token or an address reaches a log

REGION = "us-east-1"
REPO_ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SerializedClient:
    """Runs each call of a boto3 client alone, as DynamoDB serialises writes to one item.

    moto evaluates a condition and applies the update in separate Python steps, so threads could interleave
    inside one request; real DynamoDB never does, and the concurrency tests must test our logic, not moto's.
    """

    _lock = threading.Lock()

    def __init__(self, client: Any) -> None:
        self._client = client
        self.exceptions = client.exceptions

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)

        def serialized(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return method(*args, **kwargs)

        return serialized


def serialize_dynamodb(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the service's DynamoDB client runs one call at a time (:class:`SerializedClient`), for tests that
    call the service on several threads; the stores built over the earlier client are built again."""
    dynamodb = SerializedClient(wiring.get_client("dynamodb"))
    built = wiring.get_client

    @functools.cache  # as wiring's own, which wiring.reset() clears
    def serialized(service: str) -> Any:
        return dynamodb if service == "dynamodb" else built(service)

    monkeypatch.setattr(wiring, "get_client", serialized)
    for cached in (wiring.get_accounts, wiring.get_sessions, wiring.get_service, wiring.get_oauth, wiring.get_passkeys):
        cached.cache_clear()


@pytest.fixture
def stage_env() -> dict[str, str]:
    """The ``local`` stage's environment variables, as Chalice would set them."""
    return load_stage_env("local")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, stage_env: dict[str, str]) -> Iterator[None]:
    """An empty in-process AWS account, provisioned the way ``make run`` and deployments provision it (by
    ``tools.bootstrap``, once a process: later tests get copies of what it made, tests/reuse.py)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        reuse.provision(REGION, ResourceNames.from_env(stage_env))
        wiring.reset()
        yield
        wiring.reset()


@pytest.fixture
def settings(aws: None, stage_env: dict[str, str]) -> Settings:
    return Settings.from_environ(stage_env)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(aws: None, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """Chalice's test client for app.py as the ``local`` stage, over the in-process AWS, on the test's clock."""
    from app import app  # at first use, as the test modules did: after RECORDER is installed below

    monkeypatch.setattr(wiring, "CLOCK", clock)
    with Client(app, stage_name="local", project_dir=str(REPO_ROOT)) as test_client:
        yield test_client


@pytest.fixture
def no_wait_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore retries at once: fault tests fail many calls, and a retry's back-off tests nothing of ours."""
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)


def override_settings(monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
    """The stage's settings with ``overrides`` on top, read at request time as Chalice sets the stage's."""

    @functools.cache
    def settings() -> Settings:
        return wiring.read_settings({**os.environ, **overrides})

    monkeypatch.setattr(wiring, "get_settings", settings)


def account_store(settings: Settings, limits: Limits, hasher: KeyedHasher, dynamodb: Any) -> AccountStore:
    return AccountStore(dynamodb, settings.table_name, hasher.sealer(), limits)


def session_service(settings: Settings, accounts: AccountStore, hasher: KeyedHasher, limits: Limits) -> SessionService:
    """Sessions as the stage has them, signed by the stage's KMS key, over the given account store."""
    keys = KmsKeys(boto3.client, (settings.signing_key_id, *settings.previous_signing_key_ids))
    tokens = AccessTokens(
        {ALGORITHM: keys}, settings.token_issuer, settings.token_audience, limits.access_token_seconds
    )
    return SessionService(accounts, tokens, hasher, limits)


def sent_mails() -> list[dict[str, Any]]:
    """Every mail moto's SES captured, oldest first, as ``{"from", "to", "subject", "body"}`` (moto keeps the
    HTML)."""
    backend = ses_backends[DEFAULT_ACCOUNT_ID][REGION]
    return [
        {"from": m.source, "to": list(m.destinations.get("ToAddresses", [])), "subject": m.subject, "body": m.body}
        for m in backend.sent_messages
    ]


def sent_texts() -> list[tuple[str, str]]:
    """Every text message moto's SNS captured, oldest first, as ``(number, message)``."""
    return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())


def code_in_text(number: str) -> str:
    """The code of the last text to ``number``, read as a person reads it (the first run of digits)."""
    message = [text for to, text in sent_texts() if to == number][-1]
    match = re.search(r"\b(\d{6,10})\b", message)
    assert match, f"no code in {message!r}"
    return match.group(1)


def code_in(mail: dict[str, Any]) -> str:
    """The code a mail carries, read the way a person reads it: from the mail's text."""
    match = re.search(r"\b(\d{6})\b", mail["subject"])
    assert match, f"no code in {mail['subject']!r}"
    assert match.group(1) in mail["body"]
    return match.group(1)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


os.environ.setdefault("AWS_DEFAULT_REGION", REGION)


# Record the runtime's AWS calls for the whole session (tests/test_zz_iam_policy.py checks the IAM policies
# against them). Installed at import, before any test builds a boto3 session, so that no client escapes it.
RECORDER.install()
# In-process moto as the local stack's: a transaction costs what its items cost (tools/embedded_aws.py).
transactions_by_item()
# botocore's data parsed once per process, not once per test (tests/reuse.py).
reuse.share_botocore_data()


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(RunScope(config), RunScope.__name__)


@pytest.hookimpl(tryfirst=True)  # before -m reads the markers to deselect
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with the tiers its code reaches (tests/tiers.py); move ``after_all`` tests to the end,
    whatever order the files were collected in."""
    for item in items:
        for kind in sorted(tiers.classify(item)):
            item.add_marker(kind)
    items.sort(key=lambda item: item.get_closest_marker("after_all") is not None)


def pytest_collection_finish() -> None:
    """What imports and collection built lives until the end: out of the garbage collector's way
    (tests/interpreter.py)."""
    settle_heap()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    """pytest's own protocol for the test, run from a frame that keeps the test's calls in one chunk of CPython's
    frame stack (tests/interpreter.py)."""
    return call_with_room(runner.pytest_runtest_protocol, item, nextitem)


@pytest.fixture(autouse=True, scope="session")
def _app_test_compiles_once() -> Iterator[None]:
    """Streamlit's AppTest compiles the app once per process, not at every run (tests/reuse.py). Only where the
    collected tests use AppTest: importing Streamlit would cost a run without them 0.15 s."""
    if "streamlit.testing.v1.app_test" not in sys.modules:
        yield
        return
    with reuse.shared_app_compilation():
        yield


@pytest.fixture(autouse=True)
def _processes_only_where_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unit tier's promise, kept: a test not marked ``subprocess`` that starts a process fails, saying so.

    tests/tiers.py finds the tests that start processes from their code; this catches what it cannot see (a
    process started behind an attribute, or by a library), in every run, so ``make test`` proves the marking.
    """
    if request.node.get_closest_marker("subprocess") is not None:
        return

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(
            f"{request.node.nodeid} starts a process ({args[:1]!r}) but is not marked `subprocess`, so "
            "`make test-fast` would run it: mark it @pytest.mark.subprocess, or teach tests/tiers.py to see it"
        )

    monkeypatch.setattr(subprocess, "Popen", refuse)


# -- whether this run is the whole suite (tests/test_zz_iam_policy.py checks what the whole suite called) ------


class RunScope:
    """What this session collected and left out, to tell the whole suite from a part of it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.collected_files: set[str] = set()
        self.deselected = 0

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        # A file skipped whole (an importorskip) counts too: it was part of the run asked for.
        file, _, inner = report.nodeid.partition("::")
        if not inner and file.endswith(".py"):
            self.collected_files.add(Path(file).name)

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        self.deselected += len(items)  # by -k, -m, --deselect, --lf and the like

    def partial(self) -> str | None:
        """Why this session is not the whole suite (every tests/test_*.py, nothing deselected, in this one process),
        or None."""
        workers = getattr(self.config, "workerinput", {}).get("workercount")
        if workers:  # each pytest-xdist worker runs a share of the tests and sees only their AWS calls
            return f"the tests are shared among {workers} pytest-xdist workers"
        missing = sorted({path.name for path in (REPO_ROOT / "tests").glob("test_*.py")} - self.collected_files)
        if missing:
            shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
            return f"not every test file was collected: not {shown}"
        if self.deselected:
            option = self.config.option
            filters = " ".join(
                f"{flag} {value!r}" for flag, value in (("-m", option.markexpr), ("-k", option.keyword)) if value
            )
            return f"{self.deselected} tests were deselected" + (f" ({filters})" if filters else "")
        if any("::" in arg for arg in self.config.args):
            return "only some tests of a file were asked for"
        return None


def partial_run(config: pytest.Config) -> str | None:
    """Why this session ran only part of the suite, or None when it runs the whole of it."""
    # By name, not class: pytest imports this file as ``conftest`` and the tests as ``tests.conftest``, so the
    # registered RunScope is of the other module's class.
    scope = config.pluginmanager.get_plugin(RunScope.__name__)
    assert scope is not None, "tests/conftest.py's pytest_configure registers it"
    return cast(RunScope, scope).partial()
