"""The suite's tiers: which tests start other programs, found from their code rather than marked by hand.

``make test-fast`` runs the unit tier, ``pytest -m "not subprocess and not slow"``: in-process only (moto,
Chalice's test client, Streamlit's AppTest, loopback servers on threads), no child process, no browser, and not
the few volume tests marked ``slow`` by hand. ``make test`` runs everything.

A test is outside the unit tier when its code, the code of its fixtures, or the code of the project functions
those name (followed transitively through their globals) reaches:

- ``subprocess``: any child process (``chalice package``, cfn-lint, dynalite under node, a Python child, and the
  two below);
- ``stack``: the ``make run`` stack (``tests.local_stack.running_stack``, ``tools.run_local.headless_stack``),
  real servers answering on loopback ports;
- ``browser``: Playwright driving Chromium.

Following names over-approximates (a helper that could start a process counts even on a path that does not), which
errs towards the whole suite; a name reached through an attribute (``module.function``) is not followed, and the
tripwire in ``conftest.py`` fails any unmarked test that starts a process, so a miss is found, not hidden.
"""

from __future__ import annotations

import functools
import inspect
import subprocess
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_DIRS = tuple(str(REPO_ROOT / name) + "/" for name in ("tests", "tools", "bench", "chalicelib", "frontend"))
TRIPWIRE = "_processes_only_where_marked"  # conftest.py's autouse fixture: it names subprocess to refuse it
MARKERS = ("subprocess", "stack", "browser")  # registered, with what each means, in pyproject.toml


def _stack_starters() -> tuple[Callable[..., Any], ...]:
    from tests.local_stack import running_stack
    from tools.run_local import headless_stack

    return (running_stack, headless_stack)


def _project_code(value: Any) -> Iterator[tuple[types.CodeType, dict[str, Any]]]:
    """The code objects of ``value`` defined in this project, each with the globals its names resolve in."""
    if isinstance(value, type):
        for member in vars(value).values():
            yield from _project_code(getattr(member, "__func__", member))
        return
    function = getattr(value, "_get_wrapped_function", None)  # a @pytest.fixture function, as pytest wraps it
    if function is not None:
        value = function()
    value = inspect.unwrap(value)  # a @contextmanager's generator function (tests/dynalite.py), a functools.wraps
    code = getattr(value, "__code__", None)
    if isinstance(code, types.CodeType) and code.co_filename.startswith(PROJECT_DIRS):
        yield code, value.__globals__


def kinds_reached(roots: list[Any]) -> set[str]:
    """The markers (of :data:`MARKERS`) that the code of ``roots`` reaches, following project functions' names."""
    starters = _stack_starters()
    kinds: set[str] = set()
    seen: set[types.CodeType] = set()
    todo = [pair for root in roots for pair in _project_code(root)]
    while todo:
        code, scope = todo.pop()
        if code in seen:
            continue
        seen.add(code)
        todo.extend((const, scope) for const in code.co_consts if isinstance(const, types.CodeType))
        for name in code.co_names:
            if name.startswith("playwright"):  # imported inside the function that needs it (tests/browser.py)
                kinds.add("browser")
            value = scope.get(name)
            if value is subprocess:
                kinds.add("subprocess")
            elif any(value is starter for starter in starters):
                kinds.update(("stack", "subprocess"))
            if value is not None and not isinstance(value, types.ModuleType):
                todo.extend(_project_code(value))
    if "browser" in kinds:
        kinds.add("subprocess")  # Chromium is a child process too
    return kinds


def classify(item: pytest.Item) -> set[str]:
    """The markers ``item`` gets: what its test function and every fixture it uses reach."""
    roots: list[Any] = [getattr(item, "function", None)]
    fixture_info = getattr(item, "_fixtureinfo", None)
    if fixture_info is not None:
        roots.extend(
            definition.func
            for name, definitions in fixture_info.name2fixturedefs.items()
            if name != TRIPWIRE
            for definition in definitions
        )
    return set().union(*(_kinds_of(root) for root in roots if root is not None))


@functools.cache
def _kinds_of(root: Any) -> frozenset[str]:
    """:func:`kinds_reached` of one root, worked out once a run: the tests of a file share most of their fixtures
    (walking each test's anew took 0.35 s of every run's collection, 0.08 s so). What several roots reach is what each
    reaches, put together."""
    return frozenset(kinds_reached([root]))
