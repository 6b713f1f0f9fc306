"""The whole system on this machine with one command: `make run` (or `python -m tools.run_local`).

Starts, in order, each in its own session so that stopping kills whatever it spawned:
  aws  moto's server (tools.embedded_aws: DynamoDB, SES v2, Secrets Manager, KMS) on
       http://127.0.0.1:$AWS_PORT (4566),
       then provisions it with tools.bootstrap for the `local` stage;
  api  `chalice local --stage local` on http://127.0.0.1:$API_PORT (8000), its boto3 clients pointed
       at the embedded AWS through AWS_ENDPOINT_URL; the metrics of its access lines are put into the
       embedded AWS's CloudWatch (tools.emf_feed), as CloudWatch Logs extracts them in AWS;
  ui   the Streamlit UI, opened at http://localhost:$UI_PORT (8501; served on 127.0.0.1, and at localhost
       because that is the local stage's WebAuthn relying party: passkeys work there only), with OTP_API_URL
       and DEV_INBOX_URL;
  app  the example app on http://127.0.0.1:$EXAMPLE_PORT (8502, examples/streamlit_login), which signs people
       in with the API's OpenID Connect provider through Streamlit's own st.login().
Ctrl-C, SIGTERM or SIGHUP stop everything. Nothing here touches a real AWS account: every AWS_*
variable of the calling environment is replaced by fake credentials and the local endpoint.

`headless_stack()` starts the first two only, on free ports, for tests and benchmarks.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from tools import bootstrap, local_state
from tools.emf_feed import MetricsFeed
from tools.offline_aws import offline_aws_env

REPO_ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
STAGE = "local"
DEFAULT_PORTS = {"AWS_PORT": 4566, "API_PORT": 8000, "UI_PORT": 8501, "EXAMPLE_PORT": 8502}
# The local stage's client that examples/streamlit_login signs in as: its redirect URIs name the example's port.
EXAMPLE_CLIENT_ID = "local-example"
STARTUP_TIMEOUT_SECONDS = 90.0
STOP_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.25
TAIL_LINES = 25
PR_SET_CHILD_SUBREAPER = 36  # from <linux/prctl.h>


class StackError(Exception):
    """The stack cannot start or keep running; str() is one line for the user, `tail` the culprit's output."""

    def __init__(self, message: str, tail: list[str] | None = None) -> None:
        super().__init__(message)
        self.tail = tail or []


class StopRequested(Exception):
    """A signal asked the stack to stop while it was still starting."""


@dataclass(frozen=True)
class Ports:
    aws: int
    api: int
    ui: int
    example: int

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Ports:
        """Read AWS_PORT, API_PORT, UI_PORT, EXAMPLE_PORT (defaults 4566, 8000, 8501, 8502); StackError if invalid
        or equal."""
        ports: dict[str, int] = {}
        for var, default in DEFAULT_PORTS.items():
            raw = env.get(var, "").strip() or str(default)
            if not raw.isdigit() or not 0 < int(raw) < 65536:
                raise StackError(f"{var} must be a port number (1-65535), not {raw!r}")
            ports[var] = int(raw)
        if len(set(ports.values())) < len(ports):
            raise StackError(f"the ports must differ: {', '.join(f'{k}={v}' for k, v in ports.items())}")
        return cls(aws=ports["AWS_PORT"], api=ports["API_PORT"], ui=ports["UI_PORT"], example=ports["EXAMPLE_PORT"])

    def by_variable(self) -> dict[str, int]:
        return {"AWS_PORT": self.aws, "API_PORT": self.api, "UI_PORT": self.ui, "EXAMPLE_PORT": self.example}


def ensure_port_free(port: int, variable: str) -> None:
    """Raise StackError (naming `variable`, the knob to change it) unless HOST:port can be listened on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # Servers set SO_REUSEADDR too, so a port left in TIME_WAIT by a previous run counts as free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as error:
            reason = "is already in use" if error.errno == errno.EADDRINUSE else f"cannot be used ({error.strerror})"
            raise StackError(f"port {port} {reason} (set {variable}=... to use another)") from None
    # On BSD/macOS the bind above succeeds even when another program listens on 0.0.0.0:port.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((HOST, port)) == 0:
            raise StackError(f"port {port} is already in use (set {variable}=... to use another)")


def cors_origins(stage_env: Mapping[str, str], ui_port: int) -> str:
    """The stage's OTP_CORS_ORIGINS plus the UI's own origins, without duplicates, in order."""
    configured = [o.strip() for o in stage_env.get("OTP_CORS_ORIGINS", "").split(",") if o.strip()]
    ui = [f"http://{HOST}:{ui_port}", f"http://localhost:{ui_port}"]
    return ",".join(dict.fromkeys(configured + ui))


def oauth_clients(configured: str, example_port: int) -> str:
    """The stage's OTP_OAUTH_CLIENTS with the example client's loopback URIs moved to ``example_port``.

    The local stage lists them on the default port; ``make run EXAMPLE_PORT=...`` (and every test stack, on free
    ports) serves the example elsewhere, and the provider only sends people back to a redirect URI it lists. A value
    that is not the expected JSON array is passed on unchanged: the API's own check of the setting says what is
    wrong with it.
    """
    try:
        clients = json.loads(configured)
    except ValueError:
        return configured
    if not isinstance(clients, list):
        return configured
    for client in clients:
        if not isinstance(client, dict) or client.get("client_id") != EXAMPLE_CLIENT_ID:
            continue
        for key in ("redirect_uris", "post_logout_redirect_uris"):
            uris = client.get(key)
            if isinstance(uris, list):
                client[key] = [_on_port(uri, example_port) if isinstance(uri, str) else uri for uri in uris]
    return json.dumps(clients)


def _on_port(uri: str, port: int) -> str:
    """``uri`` on ``port`` if it is on this machine (127.0.0.1 or localhost), else as it is."""
    parts = urllib.parse.urlsplit(uri)
    if parts.hostname not in (HOST, "localhost"):
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def become_subreaper() -> None:
    """Adopt orphaned descendants (Linux) so they can be reaped at shutdown.

    chalice local's worker outlives its parent by a moment when both get SIGTERM; without this it
    is re-parented to PID 1, which in some containers never reaps it.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


class Output:
    """Serialises lines from several threads onto stdout/stderr."""

    _lock = threading.Lock()

    @classmethod
    def line(cls, text: str, *, error: bool = False) -> None:
        stream = sys.stderr if error else sys.stdout
        with cls._lock:
            stream.write(text + "\n")
            stream.flush()


def say(text: str) -> None:
    Output.line(f"[stack] {text}")


Echo = Callable[[str], None]


class Child:
    """A service process in its own session, its output echoed with a prefix and its tail kept."""

    def __init__(
        self,
        label: str,
        title: str,
        argv: list[str],
        env: Mapping[str, str],
        echo: Echo = Output.line,
        tap: Echo | None = None,
    ) -> None:
        self.label = label
        self.title = title
        self._echo_line = echo
        self._tap = tap  # sees every line as the process printed it
        self._tail: deque[str] = deque(maxlen=TAIL_LINES)
        self.process = subprocess.Popen(
            argv,
            cwd=REPO_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: signals reach its descendants too
        )
        self._pump = threading.Thread(target=self._echo, name=f"echo-{label}", daemon=True)
        self._pump.start()

    def _echo(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            line = raw.decode(errors="replace").rstrip()
            self._tail.append(line)
            if self._tap is not None:
                self._tap(line)
            self._echo_line(f"[{self.label}] {line}")

    def tail(self) -> list[str]:
        """The last lines of output, after giving the echo thread a moment to catch up with an exit."""
        if self.process.poll() is not None:
            self._pump.join(timeout=1)
        return list(self._tail)

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signum)

    def group_alive(self) -> bool:
        """True while any process of the child's process group exists (zombies included)."""
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def http_get(url: str) -> tuple[int, bytes] | None:
    """Status and body of GET url (4xx/5xx included), or None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
    except (urllib.error.URLError, OSError):
        return None


def wait_until_ready(child: Child, url: str, accepts: Callable[[int, bytes], bool], stop: threading.Event) -> None:
    """Poll url until `accepts` its answer; StackError if the child exits or STARTUP_TIMEOUT passes."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        if stop.is_set():
            raise StopRequested
        code = child.process.poll()
        if code is not None:
            raise StackError(f"{child.title} exited with status {code} while starting", child.tail())
        answer = http_get(url)
        if answer is not None and accepts(*answer):
            return
        if time.monotonic() > deadline:
            raise StackError(f"{child.title} did not answer {url} within {STARTUP_TIMEOUT_SECONDS:.0f} s", child.tail())
        time.sleep(POLL_SECONDS)


class Stack:
    """The running services; `stop()` ends every process they started.

    `echo` receives each line the services print, prefixed with their label. `reap_orphans` lets `stop()` reap
    every finished child of this process, as `main()` must once it has become a subreaper; leave it off where
    the process has children of its own (a test run). With `state`, the table and the hashing key are put back
    from that file after bootstrap and saved to it at the stop (tools.local_state); without, every start is empty.
    """

    def __init__(
        self,
        ports: Ports,
        env: Mapping[str, str],
        stop: threading.Event,
        *,
        echo: Echo = Output.line,
        reap_orphans: bool = False,
        state: Path | None = None,
    ) -> None:
        self.ports = ports
        self.state = state
        self.provisioned = False  # bootstrap done: from then on the stop saves the state
        self.env = env
        self.stop_requested = stop
        self.echo = echo
        self.reap_orphans = reap_orphans
        self.children: list[Child] = []
        self.metrics: MetricsFeed | None = None  # started with the API
        self.aws_url = f"http://{HOST}:{ports.aws}"
        self.api_url = f"http://{HOST}:{ports.api}"
        # Opened at localhost, not HOST: the local stage's passkeys belong to the relying party `localhost`, and a
        # browser offers them on that name only (the same listener answers both).
        self.ui_url = f"http://localhost:{ports.ui}"
        self.example_url = f"http://{HOST}:{ports.example}"
        # tools.embedded_aws.DEV_INBOX_PATH, spelled out: importing that module would load moto into this process.
        # A mismatch cannot pass unseen: start_aws waits for this URL to answer 200.
        self.inbox_url = f"{self.aws_url}/_dev/inbox"

    def _start(
        self,
        label: str,
        title: str,
        argv: list[str],
        extra_env: Mapping[str, str] | None = None,
        tap: Echo | None = None,
    ) -> Child:
        child = Child(label, title, [sys.executable, *argv], {**self.env, **(extra_env or {})}, self.echo, tap)
        self.children.append(child)
        return child

    def start(self) -> None:
        """Start and provision the embedded AWS, then the API, the UI and the example app; return once all four
        answer."""
        self.start_aws()
        api = self.launch_api()
        ui = self.launch_ui()
        example = self.launch_example()
        self.await_api(api)
        for child, url in ((ui, self.ui_url), (example, self.example_url)):
            health = f"{url}/_stcore/health"
            wait_until_ready(child, health, lambda status, body: status == 200 and body == b"ok", self.stop_requested)

    def start_aws(self, module: str = "tools.embedded_aws") -> None:
        """Start the embedded AWS and provision it for the local stage; return once it is ready.

        ``module`` is run with --host and --port: tools.embedded_aws or a wrapper of it.
        """
        moto_args = ["-m", module, "--host", HOST, "--port", str(self.ports.aws)]
        aws = self._start("aws", "AWS (moto server)", moto_args)
        wait_until_ready(aws, self.inbox_url, lambda status, _: status == 200, self.stop_requested)
        self._bootstrap(self.stage_env())
        if self.state is not None:
            names = bootstrap.Settings.from_env(self.stage_env())
            kept = local_state.restore(*self._state_clients(), names.table, names.secret_id, self.state)
            say("no saved data: the stack starts empty" if kept is None else f"restored {kept} items from {self.state}")
        self.provisioned = True

    def stage_env(self) -> dict[str, str]:
        """The local stage's environment variables from the Chalice config."""
        try:
            return bootstrap.load_stage_env(STAGE)
        except (bootstrap.BootstrapError, OSError, ValueError) as error:
            raise StackError(f"cannot read the {STAGE!r} stage of {bootstrap.CHALICE_CONFIG}: {error}") from error

    def launch_api(self, settings: Mapping[str, str] | None = None) -> Child:
        """Start `chalice local` for the local stage, `settings` over the stage's own and over those given in the
        stack's environment (:func:`setting_overrides`); do not wait for it."""
        overrides = {
            **self._port_dependent_settings(self.stage_env()),
            **setting_overrides(self.env),
            **(settings or {}),
        }
        # No autoreload: chalice's watcher walks the whole tree (.venv included) and overflows inotify;
        # the stack restarts in seconds.
        chalice_args = ["--stage", STAGE, "--host", HOST, "--port", str(self.ports.api), "--no-autoreload"]
        set_args = [arg for name, value in overrides.items() for arg in ("--set", f"{name}={value}")]
        # Its access lines carry EMF metrics, which CloudWatch Logs would extract in AWS: the feed puts them.
        self.metrics = MetricsFeed(self._session().client("cloudwatch", endpoint_url=self.aws_url), say)
        return self._start(
            "api",
            "API (chalice local)",
            ["-m", "tools.chalice_local", *set_args, "--", *chalice_args],
            tap=self.metrics.offer,
        )

    def await_api(self, api: Child) -> None:
        """Return once `chalice local` answers HTTP."""
        # Any HTTP answer means chalice listens: / is not a route, so it answers 403 or 404.
        wait_until_ready(api, f"{self.api_url}/", lambda status, _: status > 0, self.stop_requested)

    def launch_ui(self) -> Child:
        """Start the Streamlit UI against the API and the dev inbox; do not wait for it."""
        ui_env = {"OTP_API_URL": self.api_url, "DEV_INBOX_URL": self.inbox_url}
        # The API does not list the countries it texts: the phone picker offers the stage's own.
        countries = {**self.stage_env(), **setting_overrides(self.env)}.get("OTP_SMS_COUNTRIES")
        if countries is not None:
            ui_env["OTP_SMS_COUNTRIES"] = countries
        return self._start("ui", "UI (streamlit)", streamlit_args("frontend/server.py", self.ports.ui), ui_env)

    def launch_example(self) -> Child:
        """Start the example app, a relying party of the API's OpenID Connect provider; do not wait for it."""
        example_env = {"OIDC_ISSUER": self.api_url, "EXAMPLE_PORT": str(self.ports.example)}
        argv = streamlit_args("examples/streamlit_login/server.py", self.ports.example)
        return self._start("app", "example app (streamlit)", argv, example_env)

    def _port_dependent_settings(self, stage_env: Mapping[str, str]) -> dict[str, str]:
        """Stage settings that name the local ports, recomputed for the ports in use.

        The local stage's config assumes the default ports; chalice local would apply it verbatim.
        """
        settings = {
            "OTP_CORS_ORIGINS": cors_origins(stage_env, self.ports.ui),
            # Where the authorization endpoint sends people to sign in: the UI's page, which takes the challenge.
            "OTP_OAUTH_LOGIN_URL": f"{self.ui_url}/",
            # The one page that runs passkey ceremonies: the UI, at the port it took.
            "OTP_WEBAUTHN_ORIGINS": self.ui_url,
        }
        if "OTP_TOKEN_ISSUER" in stage_env:  # the API itself issues the tokens
            settings["OTP_TOKEN_ISSUER"] = self.api_url
        if "OTP_OAUTH_CLIENTS" in stage_env:
            settings["OTP_OAUTH_CLIENTS"] = oauth_clients(stage_env["OTP_OAUTH_CLIENTS"], self.ports.example)
        return settings

    def _session(self) -> boto3.Session:
        """A session with the stack's fake credentials: its clients reach the embedded AWS only."""
        return boto3.Session(
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            region_name=self.env["AWS_DEFAULT_REGION"],
        )

    def _bootstrap(self, stage_env: Mapping[str, str]) -> None:
        clients = bootstrap.Clients.create(self._session(), self.aws_url)
        try:
            steps = bootstrap.bootstrap(clients, bootstrap.Settings.from_env(stage_env))
        except (bootstrap.BootstrapError, BotoCoreError, ClientError) as error:
            raise StackError(f"bootstrap of the embedded AWS failed: {error}") from error
        for step in steps:
            say(f"bootstrap: {step}")

    def _state_clients(self) -> tuple[Any, Any]:
        session = self._session()
        return (
            session.client("dynamodb", endpoint_url=self.aws_url),
            session.client("secretsmanager", endpoint_url=self.aws_url),
        )

    def save_state(self) -> None:
        """Save the table and the hashing key to the state file, if the stack has one and was provisioned."""
        if self.state is None or not self.provisioned:
            return
        names = bootstrap.Settings.from_env(self.stage_env())
        try:
            saved = local_state.save(*self._state_clients(), names.table, names.secret_id, self.state)
        except (BotoCoreError, ClientError, OSError) as error:
            say(f"could not save the data to {self.state}: {error}")
            return
        say(f"saved {saved} items to {self.state} (make run FRESH=1 starts empty)")

    def watch(self) -> None:
        """Block until a stop is requested; StackError if a service exits on its own meanwhile."""
        while not self.stop_requested.wait(POLL_SECONDS):
            for child in self.children:
                code = child.process.poll()
                if code is not None:
                    raise StackError(f"{child.title} exited with status {code}", child.tail())

    def stop(self) -> None:
        """SIGTERM every child's process group, SIGKILL what is left after STOP_TIMEOUT, reap them all."""
        if self.metrics is not None:
            self.metrics.close()  # the API's last lines would only find the embedded AWS gone
        self.save_state()  # while the embedded AWS still answers
        for child in reversed(self.children):
            child.signal_group(signal.SIGTERM)
        if not self._wait_gone(time.monotonic() + STOP_TIMEOUT_SECONDS):
            for child in self.children:
                if child.group_alive():
                    say(f"{child.title} ignored SIGTERM; killing it")
                    child.signal_group(signal.SIGKILL)
            self._wait_gone(time.monotonic() + STOP_TIMEOUT_SECONDS)

    def _wait_gone(self, deadline: float) -> bool:
        """Reap children and adopted orphans until no child's group has a process left, or deadline."""
        while True:
            for child in self.children:
                child.process.poll()
            if self.reap_orphans:
                reap_adopted()
            if not any(child.group_alive() for child in self.children):
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)


def reap_adopted() -> None:
    """Collect every finished child, adopted orphans included.

    Only for shutdown: it may also reap a Popen child before Popen does, whose returncode then reads 0.
    """
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def install_stop_signals(stop: threading.Event) -> None:
    """Turn SIGINT/SIGTERM/SIGHUP into a stop request instead of an exception or sudden death."""

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        if not stop.is_set():
            say(f"{signal.Signals(signum).name} received, stopping")
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)


def streamlit_args(script: str, port: int) -> list[str]:
    """``python`` arguments that serve ``script`` (from the repository root) with Streamlit on ``HOST:port``."""
    options = {
        "server.address": HOST,
        "server.port": str(port),
        "server.headless": "true",
        "browser.gatherUsageStats": "false",
        # The stack's banner names the URLs: Streamlit's own welcome and start-up notes are noise here.
        "logger.hideWelcomeMessage": "true",
        "logger.level": "warning",
    }
    return ["-m", "streamlit", "run", script, *(arg for name, value in options.items() for arg in (f"--{name}", value))]


def setting_overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """The service's settings (chalicelib/config.py) that ``environ`` gives, e.g. ``OTP_MFA=required make run``:
    they win over the local stage's own in .chalice/config.json."""
    from chalicelib.config import SETTINGS

    names = {declaration.name for declaration in SETTINGS}
    return {name: value for name, value in environ.items() if name in names}


def print_banner(stack: Stack, started: float) -> None:
    say(f"local stack is up after {time.monotonic() - started:.1f} s (Ctrl-C stops it):")
    say(f"  UI   {stack.ui_url}")
    say(f"  API  {stack.api_url}")
    say(f"  App  {stack.example_url}  (an example app that signs in with the UI, through OpenID Connect)")
    say(f"  AWS  {stack.aws_url}  (captured mail: {stack.inbox_url})")
    if stack.state is not None:
        say(f"  data kept across restarts in {stack.state}; make run FRESH=1 starts empty")
    overrides = setting_overrides(stack.env)
    if overrides:
        say("  settings from the environment: " + ", ".join(f"{name}={value}" for name, value in overrides.items()))


def report(error: StackError) -> None:
    Output.line(f"error: {error}", error=True)
    if error.tail:
        Output.line("last output:", error=True)
        for line in error.tail:
            Output.line(f"    {line}", error=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the stack until a signal; 0 after a requested stop, 1 if something failed (one-line error)."""
    parser = argparse.ArgumentParser(prog="python -m tools.run_local", description="make run: the local stack")
    parser.add_argument("--fresh", action="store_true", help="start empty: forget the data kept from the last run")
    args = parser.parse_args(argv)
    state = local_state.state_path(os.environ)
    if args.fresh and local_state.forget(state):
        say(f"forgot the data kept in {state}")
    started = time.monotonic()
    stop = threading.Event()
    install_stop_signals(stop)
    try:
        ports = Ports.from_env(os.environ)
        for variable, port in ports.by_variable().items():
            ensure_port_free(port, variable)
    except StackError as error:
        report(error)
        return 1

    become_subreaper()
    env = offline_aws_env(os.environ, f"http://{HOST}:{ports.aws}")
    env["PYTHONUNBUFFERED"] = "1"  # children's logs appear as they happen, and their tails are complete
    stack = Stack(ports, env, stop, reap_orphans=True, state=state)
    try:
        stack.start()
        print_banner(stack, started)
        stack.watch()
    except StopRequested:
        pass
    except StackError as error:
        report(error)
        return 1
    finally:
        stack.stop()
        say("stopped")
    return 0


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now; all bound at once so they differ."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def headless_stack(
    api_settings: Mapping[str, str] | None = None,
    echo: Echo = Output.line,
    aws_module: str = "tools.embedded_aws",
) -> Iterator[Stack]:
    """The embedded AWS and the API, provisioned and answering on free ports; both stopped on exit.

    Everything as `make run` sets it up but the UI, with `api_settings` over the local stage's settings and
    `aws_module` (a wrapper of tools.embedded_aws) as the embedded AWS. Raises StackError if a service does not
    come up.
    """
    # The UI's and the example's ports only shape the settings that name them (CORS origins, the login page, the
    # example client's redirect URIs).
    aws_port, api_port, ui_port, example_port = free_ports(4)
    env = offline_aws_env(os.environ, f"http://{HOST}:{aws_port}")
    env["PYTHONUNBUFFERED"] = "1"
    stack = Stack(Ports(aws_port, api_port, ui_port, example_port), env, threading.Event(), echo=echo)
    try:
        stack.start_aws(aws_module)
        stack.await_api(stack.launch_api(api_settings))
        yield stack
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
