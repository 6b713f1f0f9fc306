"""Sessions in DynamoDB: one map entry per session on the address's item (``sessions.<sid>``).

Keeping an address's sessions on its own item makes "sign out everywhere" one atomic write and the
revocation check one consistent key lookup. An entry holds only digests of refresh tokens:

- ``cur``: the refresh tokens that may be used now (one, or a few after concurrent use in the grace window);
- ``rotated_from`` / ``rotated_at``: the token the last rotation retired, usable again for the grace window;
- ``retired``: shortened digests of every token rotated out, so that presenting one is recognised as reuse of
  a stolen token and ends the whole session.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.aws.dependencies import CONDITION_FAILED, guarded
from chalicelib.aws.expressions import Expression, Item, read_number

SESSIONS = "sessions"
RETIRED_DIGEST_CHARS = 32  # 128 bits: enough to recognise a token, keeps long sessions' entries small


class Refresh(enum.Enum):
    ROTATED = "rotated"
    GRACE = "grace"  # a just-rotated token presented again within the grace window
    REUSED = "reused"  # a retired token presented after it: the session is revoked
    INVALID = "invalid"


@dataclass(frozen=True)
class NewSession:
    session_id: str
    refresh_digest: str
    created_at: int
    expires_at: int

    def attribute(self) -> dict[str, Any]:
        return {
            "cur": [self.refresh_digest],
            "retired": [],
            "rotated_from": "",
            "rotated_at": 0,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
        }


@dataclass(frozen=True)
class SessionView:
    created_at: int
    expires_at: int


def _entries(item: Item) -> Iterator[tuple[str, dict[str, Any]]]:
    for sid, entry in item.get(SESSIONS, {}).get("M", {}).items():
        yield sid, entry.get("M", {})


def _strings(entry: dict[str, Any], name: str) -> list[str]:
    return [element.get("S", "") for element in entry.get(name, {}).get("L", [])]


def expired_sessions(item: Item, now: int) -> list[str]:
    return [sid for sid, entry in _entries(item) if read_number(entry, "expires_at") <= now]


def _view(item: Item, sid: str, now: int) -> SessionView | None:
    entry = dict(_entries(item)).get(sid)
    if entry is None or read_number(entry, "expires_at") <= now:
        return None
    return SessionView(read_number(entry, "created_at"), read_number(entry, "expires_at"))


class SessionStore:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def find(self, address_key: str, session_id: str, now: int) -> SessionView | None:
        """The live session, read consistently so that a revocation counts from the moment it is written."""
        expr = Expression()
        with guarded("dynamodb"):
            item = self._client.get_item(
                TableName=self._table,
                Key={"pk": {"S": address_key}},
                ProjectionExpression=", ".join(
                    expr.name(SESSIONS, session_id, field) for field in ("created_at", "expires_at")
                ),
                ExpressionAttributeNames=expr.names,
                ConsistentRead=True,
            ).get("Item", {})
        return _view(item, session_id, now)

    def rotate(
        self, address_key: str, session_id: str, presented: str, replacement: str, now: int, grace: int
    ) -> tuple[Refresh, SessionView | None]:
        """Replace the presented refresh token's digest by ``replacement``.

        A token retired less than ``grace`` seconds ago is honoured once more (``replacement`` joins the current
        ones); an older retired token revokes the session.
        """
        expr = Expression()
        entry = (SESSIONS, session_id)
        update = (
            f"SET {expr.name(*entry, 'cur')} = {expr.value([replacement])}, "
            f"{expr.name(*entry, 'rotated_from')} = {expr.value(presented)}, "
            f"{expr.name(*entry, 'rotated_at')} = {expr.value(now)}, "
            f"{expr.name(*entry, 'retired')} = list_append({expr.name(*entry, 'retired')}, "
            f"{expr.value([presented[:RETIRED_DIGEST_CHARS]])})"
        )
        condition = (
            f"contains({expr.name(*entry, 'cur')}, {expr.value(presented)}) "
            f"AND {expr.name(*entry, 'expires_at')} > {expr.value(now)}"
        )
        done, item = self._conditional(address_key, expr, update, condition, "ALL_NEW")
        if done:
            return Refresh.ROTATED, _view(item, session_id, now)
        return self._refused_rotation(address_key, item, session_id, presented, replacement, now, grace)

    def revoke(self, address_key: str, session_id: str, presented: str | None = None) -> None:
        """End one session; with ``presented``, only if that refresh token is one of its current ones."""
        expr = Expression()
        if presented is None:
            condition = f"attribute_exists({expr.name(SESSIONS, session_id)})"
        else:
            condition = f"contains({expr.name(SESSIONS, session_id, 'cur')}, {expr.value(presented)})"
        self._conditional(address_key, expr, f"REMOVE {expr.name(SESSIONS, session_id)}", condition, "NONE")

    def revoke_all(self, address_key: str) -> None:
        """End every session of the address at once."""
        expr = Expression()
        name = expr.name(SESSIONS)
        self._conditional(address_key, expr, f"SET {name} = {expr.value({})}", f"attribute_exists({name})", "NONE")

    def _refused_rotation(
        self, address_key: str, before: Item, session_id: str, presented: str, replacement: str, now: int, grace: int
    ) -> tuple[Refresh, SessionView | None]:
        entry = dict(_entries(before)).get(session_id)
        if entry is None or read_number(entry, "expires_at") <= now:
            return Refresh.INVALID, None
        rotated_from = entry.get("rotated_from", {}).get("S", "")
        if rotated_from == presented and now - read_number(entry, "rotated_at") <= grace:
            expr = Expression()
            cur = expr.name(SESSIONS, session_id, "cur")
            condition = (
                f"{expr.name(SESSIONS, session_id, 'rotated_from')} = {expr.value(presented)} AND "
                f"{expr.name(SESSIONS, session_id, 'rotated_at')} >= {expr.value(now - grace)}"
            )
            update = f"SET {cur} = list_append({cur}, {expr.value([replacement])})"
            done, after = self._conditional(address_key, expr, update, condition, "ALL_NEW")
            return (Refresh.GRACE, _view(after, session_id, now)) if done else (Refresh.INVALID, None)
        if presented[:RETIRED_DIGEST_CHARS] in _strings(entry, "retired"):
            self.revoke(address_key, session_id)
            return Refresh.REUSED, None
        return Refresh.INVALID, None

    def _conditional(
        self, address_key: str, expr: Expression, update: str, condition: str, returns: str
    ) -> tuple[bool, Item]:
        """Whether the write was done, and the item: as ``returns`` asks if done, as it stood if refused."""
        try:
            with guarded("dynamodb", expected=CONDITION_FAILED):
                answer = self._client.update_item(
                    **expr.params(
                        TableName=self._table,
                        Key={"pk": {"S": address_key}},
                        UpdateExpression=update,
                        ConditionExpression=condition,
                        ReturnValues=returns,
                        ReturnValuesOnConditionCheckFailure="ALL_OLD",
                    )
                )
        except ClientError as refused:
            return False, refused.response.get("Item", {})
        return True, answer.get("Attributes", {})
