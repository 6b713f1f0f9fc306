"""Write chalicelib/aws/botocore_data/ from the installed botocore: its data trimmed to what the function calls.

    python -m tools.slim_models   (after any change of chalicelib.aws.models.OPERATIONS or of botocore's version)

For each service of :data:`~chalicelib.aws.models.OPERATIONS`, the latest ``service-2`` model botocore has,
with the declared operations only, the shapes they reach (input, output and errors, transitively) and no
documentation; the metadata is kept whole but for one key (see :func:`trimmed_model`). And ``endpoints.json``
with every partition whole but its ``services``, which keep the declared services' endpoint prefixes only
(botocore looks a service's endpoints up by its ``endpointPrefix``: ``email`` for sesv2, ``monitoring`` for
cloudwatch). The output is compact JSON in botocore's own order, the same bytes for the same botocore.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.loaders import Loader
from botocore.model import ServiceModel

from chalicelib.aws.models import DATA_DIR, OPERATIONS

MODEL = "service-2"
DOCUMENTATION_KEYS = frozenset({"documentation", "documentationUrl"})
# Keys whose values are maps from a name (an operation, a shape, a member) to its definition: a member may be
# named like a documentation key, and is kept.
NAME_MAPS = frozenset({"operations", "shapes", "members"})


def _botocore_loader() -> Loader:
    """botocore's own data only: not ~/.aws/models, which would make the output depend on the machine."""
    return Loader(extra_search_paths=[Loader.BUILTIN_DATA_PATH], include_default_search_paths=False)


def _undocumented(node: Any, names: bool = False) -> Any:
    if isinstance(node, Mapping):
        return {
            key: _undocumented(value, key in NAME_MAPS and not names)
            for key, value in node.items()
            if names or key not in DOCUMENTATION_KEYS
        }
    if isinstance(node, list):
        return [_undocumented(value) for value in node]
    return node


def _references(node: Any) -> Iterator[str]:
    """The shapes ``node`` refers to: the ``{"shape": name}`` of inputs, outputs, errors, members, keys..."""
    if isinstance(node, Mapping):
        if isinstance(node.get("shape"), str):
            yield node["shape"]
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def trimmed_model(service: str, model: Mapping[str, Any], operations: tuple[str, ...]) -> dict[str, Any]:
    """``model`` with ``operations`` only and the shapes they reach, in the model's order, undocumented.

    ``metadata.protocol`` becomes the protocol this botocore resolves from ``metadata.protocols``, the same on
    every botocore that reads ``protocols`` (CloudWatch lists CBOR first, and botocore prefers JSON). A botocore
    from before ``protocols`` (early 2025) reads ``protocol`` alone, and would otherwise be handed a protocol it
    cannot speak where its own model had one it can.
    """
    missing = set(operations) - set(model["operations"])
    assert not missing, f"{service}: botocore's model has no {sorted(missing)}"
    shapes = model["shapes"]
    reached: set[str] = set()
    todo = [name for operation in operations for name in _references(model["operations"][operation])]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(_references(shapes[name]))
    metadata = dict(model["metadata"])
    if metadata.get("protocols"):
        metadata["protocol"] = ServiceModel(model, service_name=service).resolved_protocol
    trimmed = {key: value for key, value in model.items() if key not in ("metadata", "operations", "shapes")}
    trimmed.update(
        metadata=metadata,
        operations={name: body for name, body in model["operations"].items() if name in operations},
        shapes={name: body for name, body in shapes.items() if name in reached},
    )
    return _undocumented(trimmed)


def trimmed_endpoints(endpoints: Mapping[str, Any], prefixes: set[str]) -> dict[str, Any]:
    """``endpoints`` with each partition's ``services`` reduced to ``prefixes``; everything else as it is."""
    partitions = [
        {**partition, "services": {name: body for name, body in partition["services"].items() if name in prefixes}}
        for partition in endpoints["partitions"]
    ]
    return {**endpoints, "partitions": partitions}


def _encoded(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def generate() -> dict[str, bytes]:
    """Every file of the data directory, by its path relative to :data:`DATA_DIR`, from the installed botocore."""
    loader = _botocore_loader()
    files: dict[str, bytes] = {}
    prefixes = set()
    for service, operations in sorted(OPERATIONS.items()):
        version = loader.determine_latest_version(service, MODEL)
        # The model file itself: load_service_model would merge its sdk-extras in, which the runtime's loader
        # still merges from botocore's own directory.
        model = loader.load_data(f"{service}/{version}/{MODEL}")
        prefixes.add(model["metadata"]["endpointPrefix"])
        files[f"{service}/{version}/{MODEL}.json"] = _encoded(trimmed_model(service, model, operations))
    files["endpoints.json"] = _encoded(trimmed_endpoints(loader.load_data("endpoints"), prefixes))
    return files


def main() -> None:
    files = generate()
    shutil.rmtree(DATA_DIR, ignore_errors=True)
    for name, data in files.items():
        path = DATA_DIR / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    total = sum(len(data) for data in files.values())
    print(f"wrote {len(files)} files, {total / 1024:.0f} KiB, to {DATA_DIR}")


if __name__ == "__main__":
    main()
