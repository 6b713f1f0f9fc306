"""What the suite builds once per process instead of once per test.

Each test still starts from the same state as before; only work whose result cannot differ between tests is
shared:

- **botocore's data.** Every botocore session (boto3's default one, which moto drops at each test's start, those
  the tests and ``tools.bootstrap`` make, and the one ``chalicelib.wiring`` rebuilds after each ``wiring.reset``)
  would otherwise read and parse its service models and ``endpoints.json`` again: 0.12 s for a test's first
  ``boto3.client("dynamodb")``. The files do not change during a run, so every session shares one loader (and
  the runtime's sessions one :class:`~chalicelib.aws.models.TrimmedDataLoader`), whose cache keeps them parsed.
- **The provisioned account.** ``tools.bootstrap`` provisions the stage's table, indexes, sender, secret and key
  in moto for the first test of a process that asks for them; the backends it leaves are copied, and every later
  test gets a deep copy of that copy, in its own fresh ``mock_aws`` (about 1 ms against 40).
- **Streamlit's compiled script.** ``AppTest`` compiles the app (an AST rewrite and ``compile``) at every run and
  scans every installed distribution for components at every new ``AppTest``; neither can change during a run.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.loaders import Loader, create_loader
from moto.core.base_backend import BackendDict, BaseBackend

from chalicelib import wiring
from chalicelib.aws.models import TrimmedDataLoader
from tools.bootstrap import Clients, bootstrap
from tools.bootstrap import Settings as ResourceNames


class _SearchPath(list[str]):
    """A loader's search path that holds each directory once: every ``boto3.Session`` appends boto3's data
    directory to its loader's, and with one loader for all of them the path would grow by one a session."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


@functools.cache
def _loader(search_path: str | None) -> Loader:
    """One loader per ``AWS_DATA_PATH`` value (normally None: botocore's own data), shared by every session."""
    loader = create_loader(search_path)
    loader._search_paths = _SearchPath(loader.search_paths)  # the list boto3 appends to
    return loader


@functools.cache
def _trimmed_loader() -> TrimmedDataLoader:
    return TrimmedDataLoader()


def share_botocore_data() -> None:
    """Make every botocore session created from now on read its data through a loader shared by the process
    (idempotent: pytest imports conftest.py twice, as ``conftest`` and as ``tests.conftest``)."""
    if botocore.session.create_loader is _loader:
        return
    # Replaced by name, so a rename on either side would leave each session its own loader, silently: fail instead.
    assert botocore.session.create_loader is create_loader, "botocore.session no longer calls create_loader"
    assert wiring.TrimmedDataLoader is TrimmedDataLoader, "chalicelib.wiring no longer builds a TrimmedDataLoader"
    botocore.session.create_loader = _loader  # type: ignore[attr-defined]  # what Session's data_loader calls
    wiring.TrimmedDataLoader = _trimmed_loader  # type: ignore[attr-defined]  # what get_aws_session registers


# -- the provisioned account --------------------------------------------------------------------------------

# Where moto keeps each backend (its service's dict, account, region), and the backends bootstrap left, by the
# region and resource names it was given.
_Place = tuple[BackendDict[Any], str, str]
_PROVISIONED: dict[tuple[str, ResourceNames], tuple[list[_Place], list[BaseBackend]]] = {}


def provision(region: str, names: ResourceNames) -> None:
    """In a fresh ``mock_aws``: the account ``tools.bootstrap`` provisions for ``names`` in ``region``.

    The first time, bootstrap provisions it and the backends it created are kept; after that the test gets a deep
    copy of them (its own objects: nothing a test changes reaches the next). The backends are copied together, so
    that one holding another (SES v2 sends through SES v1's) holds the copy that moto serves."""
    kept = _PROVISIONED.get((region, names))
    if kept is None:
        assert not BackendDict._instances, "provision() runs first in a fresh mock_aws"
        bootstrap(Clients.create(boto3.Session(region_name=region)), names)
        places = [
            (backends, account, backend_region)
            for backends in BackendDict._instances
            for account, backend_region, _ in backends.iter_backends()
        ]
        _PROVISIONED[region, names] = places, copy.deepcopy([backends[a][r] for backends, a, r in places])
        return
    places, backends = kept
    for (service, account, backend_region), backend in zip(places, copy.deepcopy(backends), strict=True):
        # Set, not looked up: a lookup would build an empty backend first.
        dict.__setitem__(service[account], backend_region, backend)


# -- Streamlit's AppTest ------------------------------------------------------------------------------------


@contextmanager
def shared_app_compilation() -> Iterator[None]:
    """While open: every ``AppTest`` run reads its scripts' bytecode from one cache, and the installed
    distributions are scanned for components once (the first ``AppTest`` scans, the others reuse its answer)."""
    from streamlit.components.v2 import manifest_scanner
    from streamlit.runtime.scriptrunner.script_cache import ScriptCache
    from streamlit.testing.v1 import app_test, local_script_runner

    scripts = ScriptCache()
    with pytest.MonkeyPatch.context() as patch:
        # The app's pages are read through AppTest's cache, the main script through its runner's.
        for module in (app_test, local_script_runner):
            patch.setattr(module, "ScriptCache", lambda: scripts)
        patch.setattr(
            manifest_scanner,
            "scan_component_manifests",
            functools.cache(manifest_scanner.scan_component_manifests),
        )
        yield
