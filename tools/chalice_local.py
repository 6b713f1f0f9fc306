"""`chalice local` with two fixes the local stack needs, for the pinned chalice 1.34.

1. Chosen environment variables win over the stage's configuration. `chalice local` copies the
   stage's `environment_variables` from .chalice/config.json into os.environ when it loads the app
   (CLIFactory.load_chalice_app), silently replacing a value from the process environment; the
   local stack must override some, e.g. the CORS origins when the UI runs on another port.
2. Autoreload restarts only on changes to project files. Chalice's watchdog handler reacts to every
   event, and watchdog >= 4 reports file *reads* on Linux (opened / closed_no_write), so the server
   restarts in an endless loop (its own imports read files) and rarely answers.

    python -m tools.chalice_local --set OTP_CORS_ORIGINS=http://127.0.0.1:8600 -- --stage local --port 8000

Arguments after `--` are those of `chalice local`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from chalice.cli import cli, reloader
from chalice.cli.factory import CLIFactory

# Events that mean a file's content or existence changed; not opened / closed_no_write / attrib.
CHANGE_EVENTS = frozenset({"created", "modified", "deleted", "moved", "closed"})


def parse_assignment(text: str) -> tuple[str, str]:
    """Split `NAME=VALUE`; raise argparse.ArgumentTypeError without a name."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def override_stage_environment(overrides: Mapping[str, str]) -> None:
    """Make `overrides` win over the stage's environment_variables whenever Chalice loads the app."""
    load_chalice_app = CLIFactory.load_chalice_app

    def load_with_overrides(
        self: CLIFactory, environment_variables: MutableMapping | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        return load_chalice_app(self, {**(environment_variables or {}), **overrides}, *args, **kwargs)

    CLIFactory.load_chalice_app = load_with_overrides  # type: ignore[method-assign]


def is_project_file(path: str, project_dir: str) -> bool:
    """True for a file of the project proper: not in .venv, .git, caches or other hidden places.

    `.chalice/` counts as project (its config.json defines the stage).
    """
    try:
        parts = Path(path).resolve().relative_to(Path(project_dir).resolve()).parts
    except ValueError:
        return False
    return not any(part == "__pycache__" or (part.startswith(".") and part != ".chalice") for part in parts)


def restart_only_on_project_changes() -> None:
    """Replace chalice's watchdog worker with one that ignores reads and files outside the project.

    Without watchdog chalice polls mtimes instead, which reads never trigger: nothing to fix then.
    """
    try:
        from chalice.cli.filewatch import eventbased
    except ImportError:
        return

    class ProjectChangeRestarter(eventbased.WatchdogRestarter):
        def __init__(self, restart_event: Any, project_dir: str) -> None:
            super().__init__(restart_event)
            self.project_dir = project_dir

        def on_any_event(self, event: Any) -> None:
            paths = [event.src_path, getattr(event, "dest_path", "")]
            if (
                not event.is_directory
                and event.event_type in CHANGE_EVENTS
                and any(p and is_project_file(p, self.project_dir) for p in paths)
            ):
                self()

    class ProjectWatchingWorkerProcess(eventbased.WatchdogWorkerProcess):
        def _start_file_watcher(self, project_dir: str) -> None:
            restarter = ProjectChangeRestarter(self._restart_event, project_dir)
            eventbased.WatchdogFileWatcher().watch_for_file_changes(project_dir, restarter)

    reloader.get_best_worker_process = lambda: ProjectWatchingWorkerProcess


def main(argv: Sequence[str] | None = None) -> None:
    """Run `chalice local` with the overrides; does not return (click exits the process)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m tools.chalice_local")
    parser.add_argument(
        "--set", dest="overrides", metavar="NAME=VALUE", type=parse_assignment, action="append", default=[]
    )
    parser.add_argument("chalice_args", nargs=argparse.REMAINDER, help="arguments of `chalice local`")
    args = parser.parse_args(argv)
    chalice_args = args.chalice_args[1:] if args.chalice_args[:1] == ["--"] else args.chalice_args

    override_stage_environment(dict(args.overrides))
    restart_only_on_project_changes()
    # The autoreloader starts its worker by re-running sys.argv: make that this same command.
    sys.argv = [sys.executable, "-m", "tools.chalice_local", *argv]
    cli.main(args=["local", *chalice_args], prog_name="chalice", obj={})


if __name__ == "__main__":
    main()
