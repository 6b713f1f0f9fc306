"""After the whole test run: no log line may hold a code, a token, a full address or number (docs/api.md, "Logs").

A pytest plugin (``pytest_plugins`` in ``conftest.py``). While the suite runs it gathers two things:

- **log lines**: every captured stdout, stderr and logging section of every test report (each phase once), and
  the output of processes that tests start and hand over with :func:`add_log_lines` (``chalice local``);
- **secrets** the service handled in this process, taken where they cannot be missed: everything secret passes
  through :class:`~chalicelib.otp.codes.KeyedHasher` before it is stored, so its ``digest`` (address and code, right
  or wrong), ``subject_key("email" | "phone", ...)`` (every address and number) and ``tag("refresh", ...)``
  (refresh token secrets) are wrapped; every access token :class:`~chalicelib.accounts.tokens.AccessTokens`
  issues, and every token in an answer of ``chalice.test``'s HTTP client. Two-step sign-in adds its own:
  ``tag("mfa", ...)`` (mfa_tokens: their secret and tag), ``tag("recovery", ...)`` (every recovery code, as
  digested and as shown), every TOTP secret ``chalicelib.mfa.totp.new_secret`` draws and every TOTP code
  ``matching_step`` compares, and the mfa_tokens, secrets, otpauth URIs and recovery codes of HTTP answers and
  requests. Tests that talk to another process register theirs with :func:`remember`.

At the end of the session each line is cut into whole tokens and looked up in the sets: codes (digit strings of
the configured lengths) in log records and in JSON access-log lines only, since any printed 6-digit number would
otherwise risk a false alarm; tokens, token secrets and addresses (lower-cased) in every captured line. A masked
address (``a***@example.com``) is not a leak. Any hit fails the run: the exit status becomes 1 and the terminal
summary names the test, the section and the line. Assertion messages are not scanned: they are not logs.

Under pytest-xdist (``make test-fast``) each worker gathers the secrets its tests handled and the output of the
processes they ran, and hands them to the controller when it finishes; the controller, which receives every test
report, scans every line against the secrets of all workers.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from chalice.test import TestHTTPClient

from chalicelib.accounts.addresses import mask_address, normalize_address
from chalicelib.accounts.tokens import AccessTokens
from chalicelib.core.refusals import InvalidAddress
from chalicelib.crypto import KeyedHasher
from chalicelib.mfa import recovery, totp

CODE = re.compile(r"[0-9]{6,10}")
WORDS = re.compile(r"[A-Za-z0-9]+")
TOKEN_RUNS = re.compile(r"[A-Za-z0-9_\-.]{16,}")
ADDRESSES = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9.\-]+")
MIN_SECRET_PART = 16  # shorter pieces of a token are not secret on their own (e.g. the "rt2" version tag)
SHOWN_CHARACTERS = 400


@dataclass
class Secrets:
    codes: set[str] = field(default_factory=set)
    tokens: set[str] = field(default_factory=set)  # whole tokens and their secret parts
    addresses: set[str] = field(default_factory=set)  # lower-cased
    phones: set[str] = field(default_factory=set)  # E.164, without the "+" and as libphonenumber writes it out
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_code(self, value: object) -> None:
        if isinstance(value, str) and CODE.fullmatch(value.strip()):
            with self._lock:
                self.codes.add(value.strip())

    def add_token(self, value: object) -> None:
        if not isinstance(value, str) or len(value) < MIN_SECRET_PART:
            return
        with self._lock:
            self.tokens.add(value)
            # The secret of a refresh token (rt2.<session id>.<secret>.<tag>) and its tag, and the signature of a
            # JWT, are each unique to their token: any of them alone in a log is a token in a log.
            if value.startswith(("rt2.", "mt1.")):  # a refresh token, an mfa_token: the same shape
                self.tokens.update(value.split(".")[2:])
            elif value.count(".") == 2:
                self.tokens.add(value.rsplit(".", 1)[-1])

    def add_secret_part(self, value: object) -> None:
        if isinstance(value, str) and len(value) >= MIN_SECRET_PART:
            with self._lock:
                self.tokens.add(value)

    def add_address(self, value: object) -> None:
        """Remember an address the service could have delivered to: as given and as normalised."""
        if not isinstance(value, str) or "@" not in value:
            return
        try:
            normalised = normalize_address(value)
        except InvalidAddress:
            return
        with self._lock:
            self.addresses.update({value.strip().lower(), normalised})

    def add_phone(self, value: object) -> None:
        """Remember a number the service could have texted (E.164), in the forms a log could spell it."""
        if not isinstance(value, str) or not re.fullmatch(r"\+[0-9]{7,15}", value):
            return
        import phonenumbers

        from chalicelib.accounts.phones import display_phone

        spellings = {value, value[1:]}
        # Digits no number has (the test of the largest item) have no written-out form: only their digits.
        with contextlib.suppress(phonenumbers.NumberParseException):
            spellings.add(display_phone(value))
        with self._lock:
            self.phones.update(spellings)

    def merge(
        self, codes: Iterable[str], tokens: Iterable[str], addresses: Iterable[str], phones: Iterable[str]
    ) -> None:
        """Take in secrets gathered elsewhere (a pytest-xdist worker's), already in the forms the scan looks for."""
        with self._lock:
            self.codes.update(codes)
            self.tokens.update(tokens)
            self.addresses.update(addresses)
            self.phones.update(phones)


@dataclass(frozen=True)
class LogText:
    """Captured output: ``where`` names the test (or process), ``section`` pytest's title, e.g. "Captured log call"."""

    where: str
    section: str
    text: str

    @property
    def is_log_records(self) -> bool:
        return self.section.startswith("Captured log") or self.section.startswith(PROCESS_OUTPUT)


@dataclass(frozen=True)
class Leak:
    kind: str
    where: str
    section: str
    line: str


PROCESS_OUTPUT = "process output"
WORKER_OUTPUT = "logscan"  # the key of what a pytest-xdist worker hands over (config.workeroutput)
SECRETS = Secrets()
LOGS: list[LogText] = []
ERRORS: list[str] = []
_state: dict[str, Any] = {}


def remember(
    codes: Iterable[str] = (), tokens: Iterable[str] = (), addresses: Iterable[str] = (), phones: Iterable[str] = ()
) -> None:
    """Secrets a test saw outside this process (e.g. read from the embedded AWS or an HTTP answer)."""
    for phone in phones:
        SECRETS.add_phone(phone)
    for code in codes:
        SECRETS.add_code(code)
    for token in tokens:
        SECRETS.add_token(token)
    for address in addresses:
        SECRETS.add_address(address)


def add_log_lines(where: str, lines: Iterable[str]) -> None:
    """Output of a process a test ran (every line a log line, as in CloudWatch)."""
    LOGS.append(LogText(where, PROCESS_OUTPUT, "\n".join(lines)))


def find_leaks(logs: Iterable[LogText], secrets: Secrets) -> list[Leak]:
    leaks = []
    for log in logs:
        for line in log.text.splitlines():
            for kind in _leaks_in(line, log.is_log_records or _is_json_log(line), secrets):
                leaks.append(Leak(kind, log.where, log.section, line))
    return leaks


def _is_json_log(line: str) -> bool:
    start = line.find("{")
    if start < 0 or not line.rstrip().endswith("}"):
        return False
    try:
        return isinstance(json.loads(line[start:]), dict)
    except ValueError:
        return False


def _leaks_in(line: str, is_log_line: bool, secrets: Secrets) -> Iterator[str]:
    if is_log_line and secrets.codes and any(word in secrets.codes for word in WORDS.findall(line)):
        yield "code"
    if secrets.tokens:
        for run in TOKEN_RUNS.findall(line):
            if run in secrets.tokens or any(part in secrets.tokens for part in run.split(".")):
                yield "token"
                break
    if secrets.addresses:
        for found in ADDRESSES.findall(line):
            address = found.rstrip(".").lower()
            if address in secrets.addresses and mask_address(address) != address:
                yield "address"
                break
    if secrets.phones and any(phone in line for phone in secrets.phones):
        yield "phone number"


# -- collecting ----------------------------------------------------------------------------------------------


def _wrap(owner: Any, name: str, record: Callable[..., None]) -> None:
    original = getattr(owner, name)
    if getattr(original, "_logscan", False):
        return

    @functools.wraps(original)
    def recording(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        try:
            record(result, *args, **kwargs)
        except Exception as error:  # never break the test; fail the scan at the end instead
            ERRORS.append(f"recording {owner.__name__}.{name}: {error!r}")
        return result

    recording._logscan = True  # type: ignore[attr-defined]
    setattr(owner, name, recording)


def _digest(_: str, __: KeyedHasher, email: str, code: str) -> None:
    SECRETS.add_address(email)
    SECRETS.add_code(code)


def _subject_key(_: str, __: KeyedHasher, kind: str, value: str) -> None:
    if kind == "email":
        SECRETS.add_address(value)
    elif kind == "phone":
        SECRETS.add_phone(value)


def _tag(tag: str, __: KeyedHasher, purpose: str, *parts: str) -> None:
    if purpose == "refresh":
        SECRETS.add_secret_part(parts[-1])  # the token's secret
        SECRETS.add_secret_part(tag)
    _mfa_tag(tag, purpose, parts)


def _mfa_tag(tag: str, purpose: str, parts: tuple[str, ...]) -> None:
    if purpose == "mfa":  # an mfa_token: the pending session's refresh secret, and its own tag
        SECRETS.add_secret_part(parts[-1])
        SECRETS.add_secret_part(tag)
    elif purpose == "recovery":  # a recovery code, normalised; logs would more likely show it as it was shown
        SECRETS.add_secret_part(parts[-1])
        SECRETS.add_secret_part("-".join(parts[-1][i : i + 4] for i in range(0, len(parts[-1]), 4)))


def _totp_secret(secret: str, *_: Any) -> None:
    SECRETS.add_secret_part(secret)


def _totp_compared(_: int | None, secret: str, code: str, *__: Any) -> None:
    SECRETS.add_secret_part(secret)
    SECRETS.add_code(code)


def _issued(result: tuple[str, int], *_: Any, **__: Any) -> None:
    SECRETS.add_token(result[0])


def _http_exchange(
    response: Any, _: TestHTTPClient, method: str, path: str, headers: Any = None, body: Any = b""
) -> None:
    answer, request = _json(response.body), _json(body)
    if isinstance(answer, dict):
        for name in ("access_token", "refresh_token", "mfa_token", "secret", "otpauth_uri"):
            SECRETS.add_token(answer.get(name))
        for code in answer.get("recovery_codes") or ():
            SECRETS.add_secret_part(code)
        SECRETS.add_address(answer.get("email"))
        SECRETS.add_phone(answer.get("phone"))
    if isinstance(request, dict):
        SECRETS.add_address(request.get("email"))
        SECRETS.add_phone(request.get("phone"))
        SECRETS.add_code(request.get("otp"))
        if str(request.get("mfa_token")).startswith("mt1."):  # one this service made, not any fuzzed string
            SECRETS.add_token(request.get("mfa_token"))
        # Only what could be a recovery code is one: the fuzz sends any string, even the answer codes it found.
        if recovery.normalised(request.get("recovery_code")):
            SECRETS.add_secret_part(request.get("recovery_code"))


def _json(raw: Any) -> Any:
    try:
        return json.loads(raw or b"null")
    except (ValueError, TypeError, RecursionError):
        return None


def install() -> None:
    """Wrap the places secrets pass through (idempotent)."""
    _wrap(KeyedHasher, "digest", _digest)
    _wrap(KeyedHasher, "subject_key", _subject_key)
    _wrap(KeyedHasher, "tag", _tag)
    _wrap(AccessTokens, "issue", _issued)
    _wrap(totp, "new_secret", _totp_secret)  # type: ignore[arg-type]
    _wrap(totp, "matching_step", _totp_compared)  # type: ignore[arg-type]
    _wrap(TestHTTPClient, "request", _http_exchange)


install()


# -- pytest hooks ----------------------------------------------------------------------------------------------


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # A report carries the sections of the earlier phases too: take only its own phase's.
    for title, content in report.sections:
        if title.endswith(f" {report.when}") and content:
            LOGS.append(LogText(report.nodeid, title, content))


def _handover() -> dict[str, Any]:
    """What a pytest-xdist worker hands the controller: its secrets, its tests' process output and its errors (the
    controller has the captured output already, from the reports)."""
    return {
        "codes": sorted(SECRETS.codes),
        "tokens": sorted(SECRETS.tokens),
        "addresses": sorted(SECRETS.addresses),
        "phones": sorted(SECRETS.phones),
        "processes": [(log.where, log.text) for log in LOGS if log.section == PROCESS_OUTPUT],
        "errors": list(ERRORS),
    }


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: the controller, as each worker finishes
def pytest_testnodedown(node: Any, error: object) -> None:
    handed = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT)
    if handed is None:  # a worker that crashed: its secrets are lost, so the scan cannot be trusted
        ERRORS.append(f"worker {node.gateway.id} ended without handing over its secrets ({error})")
        return
    SECRETS.merge(handed["codes"], handed["tokens"], handed["addresses"], handed["phones"])
    LOGS.extend(LogText(where, PROCESS_OUTPUT, text) for where, text in handed["processes"])
    ERRORS.extend(handed["errors"])


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller scans
        workeroutput[WORKER_OUTPUT] = _handover()
        return
    leaks = find_leaks(LOGS, SECRETS)
    lines = sum(log.text.count("\n") + 1 for log in LOGS)
    _state["summary"] = (
        f"{lines} captured lines checked against {len(SECRETS.codes)} codes, {len(SECRETS.tokens)} tokens and "
        f"token secrets, {len(SECRETS.addresses)} addresses, {len(SECRETS.phones)} phone number spellings"
    )
    _state["leaks"] = leaks
    if (leaks or ERRORS) and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if "leaks" not in _state:
        return
    leaks: list[Leak] = _state["leaks"]
    for error in ERRORS:
        terminalreporter.write_line(f"log scan: could not collect secrets: {error}; the run fails", red=True)
    if not leaks:
        terminalreporter.write_line(f"log scan: clean ({_state['summary']})")
        return
    terminalreporter.section("log scan: secrets in logs", sep="=", red=True, bold=True)
    for leak in leaks:
        terminalreporter.write_line(f"{leak.kind} in {leak.where} [{leak.section}]:", red=True)
        terminalreporter.write_line(f"    {leak.line[:SHOWN_CHARACTERS]}")
    terminalreporter.write_line(f"log scan: {len(leaks)} leaking line(s) ({_state['summary']}); the run fails")
