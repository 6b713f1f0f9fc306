"""The deployment zip with its modules' bytecode (no cold start compiles them) and none of the files no route reads.

Lambda unpacks the zip read-only into /var/task: Python cannot write a bytecode cache there, so without one every
cold start compiles each module it imports from the zip (app.py, chalicelib, chalice's runtime, PyJWT,
email-validator, cryptography's Python half, phonenumbers...; the runtime's boto3 comes compiled). This adds, for
every ``.py`` in the zip, the ``__pycache__`` file that the interpreter running it reads, in ``unchecked-hash``
form: the zip never changes once built, and the unpacked files' times are not the build's. Chalice picks the
function's runtime from this same interpreter (``python3.11`` from Python 3.11), so the bytecode is the runtime's.

So that the zip stays under 10 MB, what ``chalice package`` copies from the requirements' wheels but no route
reads is left out (:func:`left_out`), and every file is deflated at level 9 (57 KB less than Chalice's level 6).
tests/test_packaging.py runs every module of the function and a passkey registration and sign-in from the
unpacked zip alone, with only the runtime's boto3 beside it, so a cut that a route needs fails there.

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
from typing import NamedTuple

LAMBDA_TASK_ROOT = "/var/task"  # where the zip is unpacked: the file names tracebacks show
READABLE = 0o644 << 16  # the zip's Unix permissions: the function's user reads everything
COMPRESSLEVEL = 9  # zlib's smallest: the zip is built once and unpacked once per container, never recompressed

# Packages of the requirements that the function never imports, left out with their modules' bytecode.
LEFT_OUT_PACKAGES = frozenset(
    {
        # dnspython: email-validator imports it only to check deliverability (DNS lookups), which the service
        # never asks for (chalicelib/accounts/addresses.py: check_deliverability=False). 1 MB zipped.
        "dns",
        # cffi's Python half and pycparser parse C declarations and build extensions: what runs is compiled ones
        # (cryptography's, which pyOpenSSL uses), and those need only the _cffi_backend extension, which stays.
        # pyOpenSSL imports cffi in OpenSSL.debug alone, a command-line report of versions.
        "cffi",
        "pycparser",
    }
)
# The distributions of which nothing ships: their metadata (license included) goes too. cffi's stays, with its
# license, for the _cffi_backend extension.
LEFT_OUT_DISTRIBUTIONS = frozenset({"dnspython", "pycparser"})
FOR_TYPE_CHECKERS = (".pyi", "/py.typed")  # stubs and PEP 561's marker: no import reads them


class Rewritten(NamedTuple):
    """What :func:`precompile` did to a zip."""

    compiled: int  # modules given their bytecode
    left_out: int  # files dropped (see left_out)


def left_out(name: str) -> bool:
    """Whether the zip's file ``name`` is one the function never reads: in a package of :data:`LEFT_OUT_PACKAGES`,
    the metadata of a distribution of :data:`LEFT_OUT_DISTRIBUTIONS` (``<name>-<version>.dist-info/``), under a
    wheel's ``<name>-<version>.data/`` (files pip installs outside site-packages, such as segno's man page: never
    on the import path), or for type checkers only."""
    top, _, rest = name.partition("/")
    distribution, _, kind = top.rpartition(".")
    return (
        (bool(rest) and top in LEFT_OUT_PACKAGES)
        or (kind == "dist-info" and distribution.split("-")[0] in LEFT_OUT_DISTRIBUTIONS)
        or (bool(rest) and kind == "data" and "-" in distribution)
        or name.endswith(FOR_TYPE_CHECKERS)
    )


def precompile(archive: Path) -> Rewritten:
    """Rewrite ``archive`` without the files :func:`left_out` names and with the bytecode of every module left in
    it, every file deflated at :data:`COMPRESSLEVEL`.

    Bytecode already in the zip is dropped: Chalice copies ``chalicelib/__pycache__`` from the project as it finds
    it, in the timestamp form, which no longer matches the sources once Lambda has unpacked them.
    """
    compiled = dropped = 0
    with tempfile.TemporaryDirectory() as scratch:
        rewritten = Path(scratch, archive.name)
        with zipfile.ZipFile(archive) as source, zipfile.ZipFile(rewritten, "w", zipfile.ZIP_DEFLATED) as target:
            for entry in source.infolist():
                if entry.filename.endswith(".pyc"):
                    continue
                if left_out(entry.filename):
                    dropped += 1
                    continue
                data = source.read(entry)
                entry.compress_type = zipfile.ZIP_DEFLATED
                target.writestr(entry, data, compresslevel=COMPRESSLEVEL)
                if entry.filename.endswith(".py") and (code := _compiled(entry.filename, data, Path(scratch))):
                    cached = zipfile.ZipInfo(importlib.util.cache_from_source(entry.filename), entry.date_time)
                    cached.external_attr = READABLE
                    cached.compress_type = zipfile.ZIP_DEFLATED
                    target.writestr(cached, code, compresslevel=COMPRESSLEVEL)
                    compiled += 1
        shutil.move(rewritten, archive)
    return Rewritten(compiled, dropped)


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
    done = precompile(args.archive)
    print(f"{args.archive}: bytecode of {done.compiled} modules, {done.left_out} files left out")


if __name__ == "__main__":
    main()
