"""Conditional writes and transactions: the two ways the stores write, with refusals told from failures.

A refused write condition is an answer (the item as it stood comes back); throttling, conflicts and outages
raise :class:`~chalicelib.aws.dependencies.DependencyError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.dependencies import CONDITION_FAILED, DependencyError, guarded
from chalicelib.core.expressions import Item, Update

TRANSACTION_ATTEMPTS = 3
TRANSACTION_CANCELLED = frozenset({"TransactionCanceledException"})


def conditional_update(client: Any, table: str, key: str, update: Update, returns: str = "NONE") -> tuple[bool, Item]:
    """Run ``update`` on item ``key``: whether it was done, and the item, as ``returns`` asks if it was, as it
    stood if its condition refused it (a refusal is an answer, not a failure; failures raise DependencyError)."""
    try:
        with guarded("dynamodb", expected=CONDITION_FAILED):
            answer = client.update_item(**update.request(table, key, ReturnValues=returns))
    except ClientError as refused:
        return False, refused.response.get("Item", {})
    return True, answer.get("Attributes", {})


def transact(
    client: Any,
    table: str,
    writes: list[tuple[str, Update]],
    sleep: Callable[[float], None] = time.sleep,
    puts: tuple[dict[str, Any], ...] = (),
    token: str | None = None,
    deletes: tuple[dict[str, Any], ...] = (),
) -> list[Item] | None:
    """Run the updates (and ``puts`` and ``deletes``, whole ``Put`` and ``Delete`` requests) atomically; ``None``
    when done, else the old items (``{}`` where absent) of a refusal, in the order of the writes, the puts and the
    deletes.

    Transactions touching a busy item are cancelled with ``TransactionConflict``; those are retried. With
    ``token`` (DynamoDB's ``ClientRequestToken``), a retry of a transaction that landed is not applied twice.
    """
    updates = [{"Update": update.request(table, key)} for key, update in writes] + [{"Put": put} for put in puts]
    updates += [{"Delete": delete} for delete in deletes]
    idempotent = {"ClientRequestToken": token} if token else {}
    for attempt in range(1, TRANSACTION_ATTEMPTS + 1):
        try:
            with guarded("dynamodb", expected=TRANSACTION_CANCELLED):
                client.transact_write_items(TransactItems=updates, **idempotent)
            return None
        except ClientError as cancelled:
            reasons = cancelled.response.get("CancellationReasons", [])
            codes = {str(reason.get("Code")) for reason in reasons}
            if "ConditionalCheckFailed" in codes:
                return [reason.get("Item", {}) for reason in reasons]
            if not codes <= {"TransactionConflict", "None"} or attempt == TRANSACTION_ATTEMPTS:
                detail = f"transaction cancelled: {', '.join(sorted(codes))}"
                raise DependencyError("dynamodb", "ValidationError" not in codes, detail) from cancelled
            sleep(0.05 * attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")
