"""Compiled bytecode in the deployment zip, so that a Lambda cold start does not compile the package's modules.

Lambda unpacks the zip read-only into /var/task: Python cannot write a bytecode cache there, so without one every
cold start compiles each module it imports from the zip (app.py, chalicelib, chalice's runtime, PyJWT,
email-validator, cryptography's Python half, phonenumbers...; the runtime's boto3 comes compiled). This adds, for
every ``.py`` in the zip, the ``__pycache__`` file that the interpreter running it reads, in ``unchecked-hash``
form: the zip never changes once built, and the unpacked files' times are not the build's. Chalice picks the
function's runtime from this same interpreter (``python3.11`` from Python 3.11), so the bytecode is the runtime's.

    python -m tools.precompile out/prod/deployment.zip   (make package runs it)
"""

from __future__ import annotations

import argparse
import importlib.util
import py_compile
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

LAMBDA_TASK_ROOT = "/var/task"  # where the zip is unpacked: the file names tracebacks show
READABLE = 0o644 << 16  # the zip's Unix permissions: the function's user reads everything


def precompile(archive: Path) -> int:
    """Rewrite ``archive`` with the bytecode of every module in it; how many modules have theirs.

    Bytecode already in the zip is dropped: Chalice copies ``chalicelib/__pycache__`` from the project as it finds
    it, in the timestamp form, which no longer matches the sources once Lambda has unpacked them.
    """
    compiled = 0
    with tempfile.TemporaryDirectory() as scratch:
        rewritten = Path(scratch, archive.name)
        with zipfile.ZipFile(archive) as source, zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
            for entry in source.infolist():
                if entry.filename.endswith(".pyc"):
                    continue
                data = source.read(entry)
                target.writestr(entry, data)
                if entry.filename.endswith(".py") and (code := _compiled(entry.filename, data, Path(scratch))):
                    cached = zipfile.ZipInfo(importlib.util.cache_from_source(entry.filename), entry.date_time)
                    cached.external_attr = READABLE
                    cached.compress_type = zipfile.ZIP_DEFLATED
                    target.writestr(cached, code)
                    compiled += 1
        shutil.move(rewritten, archive)
    return compiled


def _compiled(name: str, source: bytes, scratch: Path) -> bytes | None:
    """The ``unchecked-hash`` bytecode of the module ``name``; None for a file this Python cannot compile (a
    template or a Python 2 leftover, which no import loads)."""
    path, cached = scratch / "module.py", scratch / "module.pyc"
    path.write_bytes(source)
    try:
        py_compile.compile(
            str(path),
            cfile=str(cached),
            dfile=f"{LAMBDA_TASK_ROOT}/{name}",
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
    except py_compile.PyCompileError:
        return None
    return cached.read_bytes()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.precompile", description=__doc__.splitlines()[0])
    parser.add_argument("archive", type=Path, help="the deployment zip, changed in place")
    args = parser.parse_args(argv)
    print(f"{args.archive}: bytecode of {precompile(args.archive)} modules")


if __name__ == "__main__":
    main()
