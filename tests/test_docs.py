"""The Markdown documents hold to the repository: every relative link resolves, and the security model's "where it
is enforced" column names code that exists.

docs/api.md's answer tables are held to the catalogue by tests/test_errors.py, and docs/configuration.md to the
settings' declarations by tests/test_config.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

DOCUMENTS = sorted([*REPO_ROOT.glob("*.md"), *(REPO_ROOT / "docs").glob("*.md")])
# [text](target) outside code spans; an image's ![alt](target) is a link too.
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`[^`]*`")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
SECURITY_MODEL = REPO_ROOT / "docs" / "security-model.md"
CHALICELIB = REPO_ROOT / "chalicelib"


def relative_links(document: Path) -> list[str]:
    text = CODE_SPAN.sub("", FENCE.sub("", document.read_text()))
    return [target for target in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", target)]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(document: Path) -> set[str]:
    text = FENCE.sub("", document.read_text())
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def test_there_are_documents() -> None:
    names = {document.relative_to(REPO_ROOT).as_posix() for document in DOCUMENTS}
    assert {
        "README.md",
        "CONTRIBUTING.md",
        "CHANGELOG.md",
        "docs/api.md",
        "docs/configuration.md",
        "docs/security-model.md",
        "docs/testing.md",
    } <= names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda document: document.relative_to(REPO_ROOT).as_posix())
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for target in relative_links(document):
        path, _, anchor = target.partition("#")
        resolved = (document.parent / path).resolve() if path else document
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no such heading in {resolved.relative_to(REPO_ROOT)}")
    assert not broken, f"{document.relative_to(REPO_ROOT)}: {broken}"


def test_the_readme_stays_short() -> None:
    assert len((REPO_ROOT / "README.md").read_text().splitlines()) <= 200


def enforced_at() -> list[tuple[str, list[str]]]:
    """Each file of the security table's "where it is enforced" column, with the names written after it."""
    table = [line for line in SECURITY_MODEL.read_text().splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    column = header.index("where it is enforced")
    references: list[tuple[str, list[str]]] = []
    for row in table[2:]:
        cell = row.strip().strip("|").split("|")[column]
        for span in re.findall(r"`([^`]+)`", cell):
            if span.endswith(".py"):
                references.append((span, []))
            else:
                assert references, f"a name before any file: {row}"
                references[-1][1].append(span)
    return references


def test_the_security_model_names_code_that_exists() -> None:
    references = enforced_at()
    assert len(references) > 30
    missing = []
    for path, names in references:
        source = REPO_ROOT / path if path == "app.py" else CHALICELIB / path
        if not source.is_file():
            missing.append(path)
            continue
        text = source.read_text()
        missing += [
            f"{path} {name}"
            for name in names
            for part in name.split(".")
            if not re.search(rf"\b{re.escape(part)}\b", text)
        ]
    assert not missing, f"docs/security-model.md names code that is not there: {missing}"
