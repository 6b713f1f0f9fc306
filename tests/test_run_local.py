"""`python -m tools.run_local` (what `make run` runs) end to end, on free non-default ports.

The stack is started once for the module; the last test stops it with SIGINT, as Ctrl-C would,
and checks that no process it started survives. Process bookkeeping reads /proc, so Linux only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
import requests

from tests.local_stack import (  # noqa: F401
    REPO_ROOT,
    STOP_TIMEOUT_SECONDS,
    Stack,
    free_ports,
    running_stack,
    stack_fixture,
)
from tools.embedded_aws import DEV_INBOX_PATH
from tools.local_state import STATE_VARIABLE
from tools.run_local import oauth_clients, setting_overrides

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table in /proc")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    session: int
    state: str
    start_time: int


def process_table() -> dict[int, ProcInfo]:
    """Every process now, from /proc/<pid>/stat (fields per proc(5))."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited while we looked
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # comm may hold spaces and parentheses
        table[int(entry.name)] = ProcInfo(
            pid=int(entry.name),
            ppid=int(fields[1]),
            session=int(fields[3]),
            state=fields[0],
            start_time=int(fields[19]),
        )
    return table


def descendants(root: int) -> list[ProcInfo]:
    table = process_table()
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [info for info in table.values() if info.ppid == parent]
        found += children
        frontier += [child.pid for child in children]
    return found


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)


def cmdline_of(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")


def child_running(stack: Stack, needle: str) -> int:
    """Pid of the stack's descendant whose command line contains `needle`."""
    matches = [p.pid for p in descendants(stack.process.pid) if needle in cmdline_of(p.pid)]
    assert matches, f"no process running {needle!r} under the stack"
    return matches[0]


def test_banner_lists_the_urls(stack: Stack) -> None:
    output = stack.output()

    for url in (stack.ui_url, stack.api_url, stack.example_url, f"{stack.aws_url}{DEV_INBOX_PATH}"):
        assert url in output


def test_embedded_aws_is_provisioned(stack: Stack) -> None:
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1")
    dynamodb = session.client("dynamodb", endpoint_url=stack.aws_url)

    table = dynamodb.describe_table(TableName="otp_users")["Table"]

    assert table["TableStatus"] == "ACTIVE"
    assert dynamodb.describe_time_to_live(TableName="otp_users")["TimeToLiveDescription"]["AttributeName"] == (
        "expires_at"
    )


def test_services_get_the_local_environment(stack: Stack) -> None:
    api_env = environ_of(child_running(stack, "tools.chalice_local"))
    ui_env = environ_of(child_running(stack, "frontend/server.py"))
    example_env = environ_of(child_running(stack, "examples/streamlit_login/server.py"))

    assert api_env["AWS_ENDPOINT_URL"] == stack.aws_url
    assert (api_env["AWS_ACCESS_KEY_ID"], api_env["AWS_SECRET_ACCESS_KEY"]) == ("testing", "testing")
    assert "AWS_PROFILE" not in api_env
    assert ui_env["OTP_API_URL"] == stack.api_url
    assert ui_env["DEV_INBOX_URL"] == f"{stack.aws_url}{DEV_INBOX_PATH}"
    # The example signs in with the API as its issuer, and names its own port in its redirect URI.
    assert (example_env["OIDC_ISSUER"], example_env["EXAMPLE_PORT"]) == (stack.api_url, str(stack.example_port))


def test_api_answers_json_4xx_to_an_invalid_body(stack: Stack) -> None:
    response = requests.post(f"{stack.api_url}/otp", data=b"not json", timeout=10)

    assert 400 <= response.status_code < 500
    assert response.headers["Content-Type"].startswith("application/json")
    assert isinstance(response.json(), dict)


def test_sign_in_end_to_end_through_the_dev_inbox(stack: Stack) -> None:
    address = "newcomer@example.com"

    sent = requests.post(f"{stack.api_url}/otp", json={"action": "send_otp", "email": address}, timeout=30)

    assert sent.status_code == 200, sent.text
    inbox = requests.get(f"{stack.aws_url}{DEV_INBOX_PATH}", timeout=10).json()
    mails = [m for m in inbox["mails"] if address in m["destinations"]["ToAddresses"]]
    assert len(mails) == 1
    assert mails[0]["source"] == "OTP Sign-in <no-reply@signin.localhost.dev>"  # OTP_SERVICE_NAME <OTP_SENDER>
    code = re.search(r"\b\d{6}\b", mails[0]["subject"])
    assert code, mails[0]

    verified = requests.post(
        f"{stack.api_url}/otp", json={"action": "verify_otp", "email": address, "otp": code[0]}, timeout=30
    )

    assert verified.status_code == 200, verified.text
    token = verified.json()["access_token"]
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["iss"] == stack.api_url  # the issuer follows API_PORT, not the config's default port
    me = requests.get(f"{stack.api_url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert me.status_code == 200, me.text


def test_cors_follows_the_ui_port(stack: Stack) -> None:
    origin = f"http://127.0.0.1:{stack.ui_port}"

    response = requests.options(f"{stack.api_url}/otp", headers={"Origin": origin}, timeout=10)

    assert response.headers.get("Access-Control-Allow-Origin") == origin


def test_the_example_app_is_sent_to_the_ui_in_use_to_sign_in(stack: Stack) -> None:
    """The authorization endpoint takes the example client's redirect URI on the example's port (the local stage
    lists 8502), and sends the person to the UI's port (the stage says 8501)."""
    query = {
        "client_id": "local-example",
        "redirect_uri": f"{stack.example_url}/oauth2callback",
        "response_type": "code",
        "scope": "openid email",
        "state": "state-1",
        "code_challenge": base64.urlsafe_b64encode(hashlib.sha256(b"verifier" * 8).digest()).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }

    answer = requests.get(f"{stack.api_url}/oauth2/authorize", params=query, allow_redirects=False, timeout=30)

    assert answer.status_code == 302, answer.text
    assert answer.headers["Location"].startswith(f"{stack.ui_url}/?login_challenge=")


def test_the_example_client_is_sent_back_to_the_example_port_in_use() -> None:
    example = {
        "client_id": "local-example",
        "redirect_uris": ["http://127.0.0.1:8502/oauth2callback", "http://localhost:8502/oauth2callback"],
        "post_logout_redirect_uris": ["http://127.0.0.1:8502/oauth2callback", "https://app.example.com/bye"],
        "client_secret_sha256": "00ff",
    }
    demo = {"client_id": "local-demo", "redirect_uris": ["http://127.0.0.1/callback"]}

    rewritten = json.loads(oauth_clients(json.dumps([demo, example]), 9123))

    assert rewritten == [
        demo,  # another client: as configured (a native client's loopback URIs match any port anyway)
        {
            **example,
            "redirect_uris": ["http://127.0.0.1:9123/oauth2callback", "http://localhost:9123/oauth2callback"],
            "post_logout_redirect_uris": ["http://127.0.0.1:9123/oauth2callback", "https://app.example.com/bye"],
        },
    ]
    for odd in ("not json", '{"client_id": "local-example"}', ""):
        assert oauth_clients(odd, 9123) == odd  # the API's own check of the setting says what is wrong


def test_ui_and_example_are_healthy(stack: Stack) -> None:
    for url in (stack.ui_url, stack.example_url):
        response = requests.get(f"{url}/_stcore/health", timeout=10)

        assert (response.status_code, response.text) == (200, "ok")


def test_sigint_stops_every_process(stack: Stack) -> None:
    started = {(p.pid, p.start_time) for p in descendants(stack.process.pid)}
    sessions = {p.session for p in descendants(stack.process.pid)}
    assert len(started) >= 4, "expected moto, chalice and two streamlit servers"

    os.killpg(stack.process.pid, signal.SIGINT)
    status = stack.process.wait(STOP_TIMEOUT_SECONDS)

    assert status == 0, stack.output()
    assert "Traceback" not in stack.output()
    table = process_table()
    survivors = [
        info
        for info in table.values()
        if info.state != "Z" and ((info.pid, info.start_time) in started or info.session in sessions)
    ]
    assert survivors == [], [cmdline_of(info.pid) for info in survivors]


def test_port_in_use_is_a_one_line_error() -> None:
    aws_port, ui_port, example_port = free_ports(3)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        api_port = busy.getsockname()[1]
        ports = {
            "AWS_PORT": str(aws_port),
            "API_PORT": str(api_port),
            "UI_PORT": str(ui_port),
            "EXAMPLE_PORT": str(example_port),
        }
        result = subprocess.run(
            [sys.executable, "-m", "tools.run_local"],
            cwd=REPO_ROOT,
            env={**os.environ, **ports},
            capture_output=True,
            text=True,
            timeout=STOP_TIMEOUT_SECONDS,
        )

    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr == f"error: port {api_port} is already in use (set API_PORT=... to use another)\n"


def test_only_the_service_settings_of_the_environment_override_the_stage() -> None:
    environ = {
        "OTP_MFA": "required",
        "OTP_RESEND_COOLDOWN_SECONDS": "5",
        "PATH": "/bin",
        "OTP_NO_SUCH": "1",
        "API_PORT": "8010",
        "OTP_API_URL": "http://x",
    }  # the last: the UI's variable, not the API's setting
    assert setting_overrides(environ) == {"OTP_MFA": "required", "OTP_RESEND_COOLDOWN_SECONDS": "5"}


def _sign_in(api_url: str, aws_url: str, address: str) -> str:
    """The account id of ``address`` after a sign-in by the code the dev inbox captured."""
    assert requests.post(f"{api_url}/otp", json={"action": "send_otp", "email": address}, timeout=30).ok
    mails = requests.get(f"{aws_url}{DEV_INBOX_PATH}", timeout=10).json()["mails"]
    (subject, *_) = [m["subject"] for m in mails if address in m["destinations"]["ToAddresses"]]
    code = re.search(r"\b\d{6}\b", subject)
    assert code, subject
    verified = requests.post(
        f"{api_url}/otp", json={"action": "verify_otp", "email": address, "otp": code[0]}, timeout=30
    )
    assert verified.status_code == 200, verified.text
    return str(verified.json()["user_id"])


def test_accounts_survive_a_restart_and_fresh_starts_empty(tmp_path: Path) -> None:
    # The restored state holds the first send's cooldown too: no wait between the sign-ins here.
    state = {STATE_VARIABLE: str(tmp_path / "state.json"), "OTP_RESEND_COOLDOWN_SECONDS": "0"}
    with running_stack(state) as first:
        account = _sign_in(first.api_url, first.aws_url, "keeper@example.com")
        os.killpg(first.process.pid, signal.SIGINT)  # Ctrl-C: the stop saves the data
        assert first.process.wait(STOP_TIMEOUT_SECONDS) == 0, first.output()
    assert "saved" in first.output() and (tmp_path / "state.json").stat().st_mode & 0o077 == 0
    assert "keeper@example.com" not in (tmp_path / "state.json").read_text()  # digests and seals only
    with running_stack(state) as second:
        assert "restored" in second.output()
        assert _sign_in(second.api_url, second.aws_url, "keeper@example.com") == account  # the same account
        os.killpg(second.process.pid, signal.SIGINT)
        assert second.process.wait(STOP_TIMEOUT_SECONDS) == 0, second.output()
    with running_stack(state, args=["--fresh"]) as fresh:
        assert "forgot the data" in fresh.output()
        assert _sign_in(fresh.api_url, fresh.aws_url, "keeper@example.com") != account  # a new account
