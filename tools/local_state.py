"""What `make run` keeps across restarts: the table's items and the code-hashing key, in one file.

moto's server keeps everything in memory, so a restart of the stack used to lose every account, linked phone and
two-step enrollment. The stack saves the local stage's table and its hashing key when it stops and puts them back
when it starts, after bootstrap and before the API reads the key: the digests that find an account and the seals
of its identifiers and factors are made with that key, so both come back together or not at all.

Not kept: the KMS signing key (moto cannot import one; bootstrap makes a new one, so access tokens signed before
the restart are refused and the UI asks to sign in again), the captured mail and texts, the metrics.

The file is ``.local/stack-state.json`` in the checkout, or the one ``LOCAL_STATE_FILE`` names. It holds what a
dumped table holds (digests and seals, no code or address in the clear) and the local
stage's hashing key, which is a development key of the embedded AWS; it is written owner-only. `make run FRESH=1`
starts from an empty state and replaces the file at the
next stop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

STATE_PATH = Path(__file__).resolve().parent.parent / ".local" / "stack-state.json"
STATE_VARIABLE = "LOCAL_STATE_FILE"  # another file instead (the tests give each stack its own)
VERSION = 1
BATCH = 25  # BatchWriteItem takes at most 25 puts


def state_path(environ: Mapping[str, str]) -> Path:
    """The state file of a stack started with ``environ``."""
    return Path(environ.get(STATE_VARIABLE) or STATE_PATH)


def save(dynamodb: Any, secretsmanager: Any, table: str, secret_id: str, path: Path = STATE_PATH) -> int:
    """Write the table's items and the hashing key to ``path`` (owner-only, replaced atomically); the item count."""
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items += page["Items"]
    key = secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)  # O_CREAT's mode applies only to a new file: a leftover keeps its own
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"version": VERSION, "table": table, "secret": key, "items": items}, out)
    partial.replace(path)
    return len(items)


def restore(dynamodb: Any, secretsmanager: Any, table: str, secret_id: str, path: Path = STATE_PATH) -> int | None:
    """Put the saved key and items back into a freshly provisioned stack; the item count, or None without a
    state (no file, or one of another layout or table, which is left alone)."""
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    if state.get("version") != VERSION or state.get("table") != table:
        return None
    secretsmanager.put_secret_value(SecretId=secret_id, SecretString=state["secret"])
    items = state["items"]
    for start in range(0, len(items), BATCH):
        pending = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH]]}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(items)


def forget(path: Path = STATE_PATH) -> bool:
    """Remove the saved state (``make run FRESH=1``); whether there was one."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
