"""The package graph of ``chalicelib``: which of its packages import which, read from the source (every import,
also those inside functions, which the lazily loaded routes and the phone library use).

The layers are import-linter's contract in pyproject.toml, which ``make lint`` checks (``lint-imports``). These
tests hold the contract itself: every package and top-level module of chalicelib is in a layer, so a new one
cannot sit outside the check, and no two packages import each other whatever the contract says.
"""

from __future__ import annotations

import ast
import tomllib
from collections import defaultdict
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "chalicelib"
CONTRACT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


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


def test_no_two_packages_import_each_other() -> None:
    found = imports()
    both_ways = {pair: sorted(found[pair] | found[pair[::-1]]) for pair in mutual(set(found))}
    assert not both_ways, f"packages that import each other: {both_ways}"


def test_every_package_of_chalicelib_is_in_a_layer() -> None:
    (layers,) = [contract["layers"] for contract in CONTRACT["contracts"] if contract["type"] == "layers"]
    layered = {name.strip().removeprefix("chalicelib.") for layer in layers for name in layer.split("|")}
    units = {_unit(path) for path in PACKAGE.rglob("*.py")} - {"__init__"}
    assert units - layered == set(), "a package or module outside every layer: add it to pyproject.toml's layers"
    assert layered - units == set(), "a layer names a package that is gone"


def test_the_check_reads_imports_inside_functions_and_finds_pairs() -> None:
    assert mutual({("a", "b"), ("b", "a"), ("b", "c")}) == {("a", "b")}
    # wiring imports the admin code only inside the functions that build it (and for its type hints)
    assert imports()[("wiring", "admin")] == {"chalicelib/wiring.py"}


def test_the_passkey_code_is_imported_only_where_it_loads_lazily() -> None:
    """wiring builds the passkey service inside get_passkeys (and names it for its type hints); the HTTP face
    imports it only in passkey_routes.py, which app.py loads at a passkey route's first request."""
    found = imports()
    assert {importer for importer, imported in found if imported == "passkeys"} == {"wiring", "http"}
    assert found[("wiring", "passkeys")] == {"chalicelib/wiring.py"}
    assert found[("http", "passkeys")] == {"chalicelib/http/passkey_routes.py"}
