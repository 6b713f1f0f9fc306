"""The package graph of ``chalicelib``: which of its packages import which, read from the source (every import,
also those inside functions, which the lazily loaded routes and the phone library use).

Issue 20 asks for layers (http → services → stores → aws/core) with no package cycle. Until they are built, this
test is a ratchet on the cycles it counts, pairs of packages that import each other: :data:`MUTUAL` lists those
of today. A new pair fails the test, and so does a listed one that is gone (take it out, so the list only
shrinks); the failure names the modules that make each import.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "chalicelib"
MUTUAL = frozenset(
    {
        ("accounts", "aws"),  # accounts' stores write through aws.expressions; aws' senders take an Identifier
        ("accounts", "config"),  # config reads the identifier kinds
        ("admin", "http"),  # admin.stats reads the metric names of http.metrics
        ("aws", "otp"),  # the senders render otp.sms_text; the code store writes through aws.expressions
        ("config", "http"),  # config reads http.network's default prefix length
        ("config", "otp"),  # config checks the SMS texts with otp.sms_text
    }
)


def _unit(path: Path) -> str:
    """The package (or top-level module) of chalicelib that ``path`` belongs to: ``accounts``, ``config``, ..."""
    return path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def imports() -> dict[tuple[str, str], set[str]]:
    """(importer, imported) → the modules of the importer that make that import."""
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for path in PACKAGE.rglob("*.py"):
        importer = _unit(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = (
                    [f"{node.module}.{alias.name}" for alias in node.names]
                    if node.module == "chalicelib"
                    else [node.module]
                )
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                parts = name.split(".")
                if parts[0] == "chalicelib" and len(parts) > 1 and parts[1] != importer:
                    found[(importer, parts[1])].add(str(path.relative_to(REPO_ROOT)))
    return found


def mutual(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The pairs of packages (in name order) that import each other."""
    return {(a, b) for a, b in edges if a < b and (b, a) in edges}


def test_no_new_pair_of_packages_imports_each_other_and_the_known_pairs_only_shrink() -> None:
    found = imports()
    now = mutual(set(found))
    new = {pair: sorted(found[pair] | found[pair[::-1]]) for pair in now - MUTUAL}
    assert not new, f"packages that now import each other: {new}"
    gone = MUTUAL - now
    assert not gone, f"no longer a cycle, take them out of MUTUAL: {sorted(gone)}"


def test_the_check_reads_imports_inside_functions_and_finds_pairs() -> None:
    assert mutual({("a", "b"), ("b", "a"), ("b", "c")}) == {("a", "b")}
    # wiring imports the admin code only inside the functions that build it (and for its type hints)
    assert imports()[("wiring", "admin")] == {"chalicelib/wiring.py"}
