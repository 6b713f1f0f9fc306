"""tools/precompile.py: the deployment zip carries bytecode that Python uses as it is, without its sources' times,
and none of the files the function never reads (tests/test_packaging.py runs the function from the real zip
without them)."""

from __future__ import annotations

import random
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

from tools.precompile import COMPRESSLEVEL, precompile


def test_the_zip_s_bytecode_is_what_runs_whatever_the_unpacked_sources_say(tmp_path: Path) -> None:
    archive = tmp_path / "deployment.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("pkg/__init__.py", "")
        zipped.writestr("pkg/mod.py", "VALUE = 'compiled at packaging'\n")
        zipped.writestr("pkg/__pycache__/mod.cpython-311.pyc", b"stale bytecode the project directory held")
        zipped.writestr("pkg/legacy.py", "print 'Python 2'\n")  # shipped, never imported
    assert precompile(archive).compiled == 2
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


def _deflated_size(data: bytes, level: int) -> int:
    deflate = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate, as a zip entry holds it
    return len(deflate.compress(data) + deflate.flush())


def test_what_no_route_reads_is_left_out_and_the_rest_deflated_at_level_9(tmp_path: Path) -> None:
    archive = tmp_path / "deployment.zip"
    chosen = random.Random(0)
    words = ["".join(chosen.choices("abcdefgh", k=chosen.randint(2, 6))) for _ in range(40)]
    text = " ".join(chosen.choices(words, k=20_000))  # 100 KB that level 9 deflates smaller than level 6 does
    kept = {
        "segno/words.txt": text,
        "email_validator/deliverability.py": "import dns.resolver\n",  # shipped: the function never calls it
        "_cffi_backend.cpython-311-x86_64-linux-gnu.so": "what compiled cffi modules import",
        "cffi-2.1.1.dist-info/licenses/LICENSE": "the _cffi_backend extension's license",
        "segno/__init__.py": "",
        "segno/data.data": "a package's own file that happens to end in .data",
        "dns.py": "a module named like a package left out",
    }
    dropped = {
        "dns/__init__.py": "",
        "dns/resolver.py": "",
        "dnspython-2.9.2.dist-info/RECORD": "",
        "cffi/__init__.py": "",
        "cffi/parse_c_type.h": "",
        "pycparser/_c_ast.cfg": "",
        "pycparser-3.12.dist-info/METADATA": "",
        "segno-1.6.6.data/data/share/man/man1/segno.1": "",
        "segno/__init__.pyi": "",
        "segno/py.typed": "",
    }
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zipped:
        for name, content in {**kept, **dropped}.items():
            zipped.writestr(name, content)
    assert precompile(archive).left_out == len(dropped)
    with zipfile.ZipFile(archive) as zipped:
        assert {n for n in zipped.namelist() if not n.endswith(".pyc")} == set(kept)
        # Deflated at zlib's level 9 whatever the zip that came in had (here stored): as zlib deflates the bytes.
        for info in zipped.infolist():
            assert info.compress_type == zipfile.ZIP_DEFLATED
            assert info.compress_size == _deflated_size(zipped.read(info), COMPRESSLEVEL), info.filename
        assert zipped.getinfo("segno/words.txt").compress_size < _deflated_size(text.encode(), 6)
