"""The log scan (tests/logscan.py) finds what it must, ignores what it must, and a leak really fails a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from chalicelib.crypto import KeyedHasher
from chalicelib.mfa import recovery, totp
from tests.conftest import REPO_ROOT
from tests.logscan import SECRETS, LogText, Secrets, find_leaks

CODE = "004217"
ADDRESS = "Leaky.Person@Example.com"
REFRESH = "rt2.e0123456789abcdef0123456789abcdefAb3dEf5hIj7.Wx3zAb5dEf7hIj9lMn1pQr.c0ffee0123456789abcdef0123456789"
PHONE = "+14155550123"
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlLW9mLXRoZS1hY2Nlc3MtdG9rZW4tdGhhdC1pcy1sb25n"


def secrets() -> Secrets:
    found = Secrets()
    found.add_code(CODE)
    found.add_address(ADDRESS)
    found.add_token(REFRESH)
    found.add_token(JWT)
    found.add_phone(PHONE)
    return found


def kinds(text: str, section: str = "Captured log call") -> list[str]:
    return [leak.kind for leak in find_leaks([LogText("test_x", section, text)], secrets())]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("WARNING  chalicelib.http.exchange:api.py:209 ses failed: code 004217 rejected", ["code"]),
        ("INFO     x:x.py:1 mail to leaky.person@example.com", ["address"]),  # the normalised form
        ("INFO     x:x.py:1 mail to Leaky.Person@Example.com.", ["address"]),  # as typed, end of sentence
        (f"DEBUG    x:x.py:1 refresh {REFRESH}", ["token"]),
        (f"DEBUG    x:x.py:1 secret {REFRESH.split('.')[2]}", ["token"]),  # the secret part alone
        (f"DEBUG    x:x.py:1 tag {REFRESH.rsplit('.', 1)[1]}", ["token"]),  # the tag alone
        (f"DEBUG    x:x.py:1 Authorization: Bearer {JWT}", ["token"]),
        (f"DEBUG    x:x.py:1 sig={JWT.rsplit('.', 1)[1]}", ["token"]),
        ("INFO     x:x.py:1 l***@example.com signed in", []),  # the masked hint is what logs should hold
        ("INFO     x:x.py:1 other.leaky.person@example.com", []),  # another address that contains it
        ("INFO     x:x.py:1 took 1004217 us, id 004217ab", []),  # the digits inside longer tokens
        ("INFO     x:x.py:1 rt2 refresh attempt", []),
        ("INFO     x:x.py:1 sms to +14155550123 failed", ["phone number"]),
        ("INFO     x:x.py:1 sms to 14155550123 failed", ["phone number"]),  # without its "+"
        ("INFO     x:x.py:1 sms to +1 415-555-0123 failed", ["phone number"]),  # as it is shown back
        ("INFO     x:x.py:1 sms to +*********23 sent", []),  # the masked hint
    ],
)
def test_log_records_are_scanned_for_every_kind_of_secret(line: str, expected: list[str]) -> None:
    assert kinds(line) == expected


def test_printed_lines_are_scanned_for_codes_only_when_they_are_json_log_lines() -> None:
    access_log = json.dumps({"route": "/otp", "status": 401, "otp": CODE})
    assert kinds(access_log, "Captured stdout call") == ["code"]
    assert kinds(f"[api] {access_log}", "Captured stdout call") == ["code"]  # echoed from chalice local
    assert kinds(f"ran {CODE} iterations", "Captured stdout call") == []  # a number in a print is no log line
    assert kinds(f"ran {CODE} iterations", "process output") == ["code"]  # a server's output is all logs
    assert kinds(f"answer for {ADDRESS}", "Captured stderr call") == ["address"]  # unambiguous: everywhere


def test_two_step_secrets_are_found_in_logs() -> None:
    """An mfa_token (and its secret or tag alone), a TOTP secret, a recovery code as shown or as typed."""
    hasher = KeyedHasher(b"k" * 32)
    session_id = REFRESH.split(".")[1]
    secret = REFRESH.split(".")[2]
    mfa_token = ".".join(("mt1", session_id, secret, hasher.tag("mfa", session_id, secret)))
    totp_secret = totp.new_secret()
    shown = recovery.new_codes()[0]
    recovery.digest(hasher, "email#x", recovery.normalised(shown) or "")
    code = "918273"
    totp.matching_step(totp_secret, code, 1_800_000_000)
    for line in (
        f"mfa {mfa_token}",
        f"tag {mfa_token.rsplit('.', 1)[1]}",
        f"key={totp_secret}",
        f"uri otpauth://totp/x?secret={totp_secret}&issuer=y",
        f"rescued by {shown}",
        f"typed {recovery.normalised(shown)}",
    ):
        assert [leak.kind for leak in find_leaks([LogText("t", "Captured log call", line)], SECRETS)] == ["token"]
    assert [leak.kind for leak in find_leaks([LogText("t", "Captured log call", f"totp {code}")], SECRETS)] == ["code"]


def test_only_deliverable_addresses_and_real_codes_are_secrets() -> None:
    found = Secrets()
    for value in ("x", "@", "a@b", "not an address", 42, None):
        found.add_address(value)
    for value in ("12345", "12a456", 123456, "٠١٢٣٤٥"):
        found.add_code(value)
    assert found.addresses == set() and found.codes == set()


def run_pytest(tmp_path: Path, test_source: str) -> subprocess.CompletedProcess[str]:
    """A separate pytest run of one test file with only the log-scan plugin (not this suite's conftest)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(test_source))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.logscan", "-p", "no:cacheprovider", "-q", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


INNER_SIGN_IN = """
    import json
    import logging

    from chalicelib.crypto import KeyedHasher

    def test_a_sign_in(capsys):
        hasher = KeyedHasher(b"k" * 32)
        hasher.digest("leaky.person@example.com", "004217")  # the service compares a code: now a known secret
        print(json.dumps({"route": "/otp", "status": 200, "user_hint": "l***@example.com"}))
        logging.getLogger("chalicelib.otp.service").warning("%s", MESSAGE)
        assert True
"""


def test_a_leak_fails_the_whole_run_and_names_the_line(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, INNER_SIGN_IN.replace("MESSAGE", '"could not send code 004217"'))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed" in result.stdout  # the test itself passed: only the scan failed the run
    assert "code in test_inner.py::test_a_sign_in [Captured log call]:" in result.stdout
    assert "could not send code 004217" in result.stdout


def test_a_clean_run_passes_and_says_what_it_checked(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, INNER_SIGN_IN.replace("MESSAGE", '"ses failed: MessageRejected"'))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "log scan: clean (" in result.stdout and "1 codes" in result.stdout and "1 addresses" in result.stdout
