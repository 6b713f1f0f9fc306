"""tools/precompile.py: the deployment zip carries bytecode that Python uses as it is, without its sources' times."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tools.precompile import precompile


def test_the_zip_s_bytecode_is_what_runs_whatever_the_unpacked_sources_say(tmp_path: Path) -> None:
    archive = tmp_path / "deployment.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("pkg/__init__.py", "")
        zipped.writestr("pkg/mod.py", "VALUE = 'compiled at packaging'\n")
        zipped.writestr("pkg/__pycache__/mod.cpython-311.pyc", b"stale bytecode the project directory held")
        zipped.writestr("pkg/legacy.py", "print 'Python 2'\n")  # shipped, never imported
    assert precompile(archive) == 2
    task = tmp_path / "task"
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(task)
        assert {info.filename for info in zipped.infolist() if info.filename.endswith(".pyc")} == {
            f"pkg/__pycache__/{name}.{sys.implementation.cache_tag}.pyc" for name in ("__init__", "mod")
        }
    # Unpacked, the sources get new times (and here, new text): an unchecked-hash pyc is used all the same, so
    # the cold start compiles nothing; a timestamp pyc would be stale and compiled again, in memory, every time.
    (task / "pkg" / "mod.py").write_text("VALUE = 'compiled at the cold start'\n")
    ran = subprocess.run(
        [sys.executable, "-c", "import pkg.mod; print(pkg.mod.VALUE, pkg.mod.__cached__)"],
        cwd=task,
        env={"PYTHONDONTWRITEBYTECODE": "1", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert ran.stdout.split()[:3] == ["compiled", "at", "packaging"]
