"""The `make run` stack (`python -m tools.run_local`) as tests start it: on free ports, in its own session."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tools.local_state import STATE_VARIABLE

REPO_ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_SECONDS = 120
STOP_TIMEOUT_SECONDS = 30
UP_MARKER = "local stack is up"


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now; all bound at once so they differ."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    aws_port: int
    api_port: int
    ui_port: int
    example_port: int
    lines: list[str] = field(default_factory=list)

    @property
    def aws_url(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def ui_url(self) -> str:
        return f"http://localhost:{self.ui_port}"  # as tools/run_local.py says: passkeys work at localhost only

    @property
    def example_url(self) -> str:
        return f"http://127.0.0.1:{self.example_port}"

    def output(self) -> str:
        return "\n".join(self.lines)


def _collect(process: subprocess.Popen[bytes], lines: list[str]) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        lines.append(raw.decode(errors="replace").rstrip())


@contextmanager
def running_stack(extra_env: Mapping[str, str] | None = None, args: Sequence[str] = ()) -> Iterator[Stack]:
    """The stack (``python -m tools.run_local *args``), up and answering; stopped afterwards unless the caller
    already stopped it. Its data is kept in a state file of its own, unless ``extra_env`` names one
    (``LOCAL_STATE_FILE``), never in the checkout's.

    Raises RuntimeError with the stack's output if it does not come up in time.
    """
    aws_port, api_port, ui_port, example_port = free_ports(4)
    ports = {
        "AWS_PORT": str(aws_port),
        "API_PORT": str(api_port),
        "UI_PORT": str(ui_port),
        "EXAMPLE_PORT": str(example_port),
    }
    state = {STATE_VARIABLE: str(Path(tempfile.mkdtemp(prefix="stack-state-")) / "state.json")}
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.run_local", *args],
        cwd=REPO_ROOT,
        env={**os.environ, **ports, **state, **(extra_env or {})},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # like a terminal's foreground job: Ctrl-C goes to this group
    )
    stack = Stack(process, aws_port, api_port, ui_port, example_port)
    threading.Thread(target=_collect, args=(process, stack.lines), daemon=True).start()
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not any(UP_MARKER in line for line in stack.lines):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not come up (status {process.poll()}):\n{stack.output()}")
            time.sleep(0.2)
        yield stack
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(STOP_TIMEOUT_SECONDS)


@pytest.fixture(scope="module", name="stack")
def stack_fixture() -> Iterator[Stack]:
    """The stack for one test module; import this name into a module to use the ``stack`` fixture there."""
    try:
        with running_stack() as running:
            yield running
    except RuntimeError as error:
        pytest.fail(str(error))
