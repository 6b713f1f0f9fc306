"""DynamoDB expressions: placeholders for every name and value, so rules read like rules.

An :class:`Update` collects the clauses of one write from every module that owns part of an item (the code
state, the account, its sessions), so that one round trip can carry all of them. Building one needs no AWS:
:mod:`chalicelib.aws.writes` sends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Item = Mapping[str, Mapping[str, Any]]

TTL = "expires_at"  # the table's TTL attribute
# An item that must outlive every window (an account's home) holds the string "never" here; DynamoDB's TTL
# ignores items whose TTL attribute is not a number, so writes that keep an item alive write
# ``expires_at = if_not_exists(pinned, <until>)`` and leave a pinned item pinned without reading it first.
PINNED = "pinned"
NEVER = "never"


def number(value: int) -> dict[str, str]:
    return {"N": str(value)}


def read_number(item: Item, name: str) -> int:
    attribute = item.get(name)
    return int(attribute["N"]) if attribute and "N" in attribute else 0


def read_string(item: Item, name: str) -> str:
    attribute = item.get(name)
    return str(attribute["S"]) if attribute and "S" in attribute else ""


def read_map(item: Item, name: str) -> dict[str, Any]:
    attribute = item.get(name)
    return dict(attribute["M"]) if attribute and "M" in attribute else {}


class Expression:
    """Collects the placeholders of one request's expressions."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, dict[str, Any]] = {}
        self._placeholders: dict[str, str] = {}

    def name(self, *path: str) -> str:
        """A document path (``name("sessions", sid, "h")``) with every element behind a placeholder.

        No attribute name is ever written into an expression as it is, so none can clash with DynamoDB's
        reserved words; an element named twice shares its placeholder.
        """
        placeholders = []
        for element in path:
            placeholder = self._placeholders.get(element)
            if placeholder is None:
                placeholder = self._placeholders[element] = f"#n{len(self.names)}"
                self.names[placeholder] = element
            placeholders.append(placeholder)
        return ".".join(placeholders)

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = to_attribute(value)
        return placeholder

    def params(self, **rest: Any) -> dict[str, Any]:
        params = dict(rest)
        if self.names:
            params["ExpressionAttributeNames"] = self.names
        if self.values:
            params["ExpressionAttributeValues"] = self.values
        return params


class Update(Expression):
    """One ``UpdateItem`` (or one update of a transaction): SET and REMOVE clauses and ANDed conditions."""

    def __init__(self) -> None:
        super().__init__()
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.conditions: list[str] = []

    def set(self, clause: str) -> Update:
        self.sets.append(clause)
        return self

    def remove(self, *path: str) -> Update:
        self.removes.append(self.name(*path))
        return self

    def require(self, condition: str) -> Update:
        self.conditions.append(f"({condition})")
        return self

    def keep_until(self, until: int) -> Update:
        """Let TTL remove the item after ``until``, unless it is pinned (see :data:`PINNED`)."""
        return self.set(f"{self.name(TTL)} = if_not_exists({self.name(PINNED)}, {self.value(until)})")

    def expression(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(self.removes))
        return " ".join(parts)

    def request(self, table: str, key: str, **rest: Any) -> dict[str, Any]:
        """The parameters of this write to item ``key``; a refused condition returns the item as it stood."""
        extra: dict[str, Any] = {}
        if self.conditions:
            extra = {
                "ConditionExpression": " AND ".join(self.conditions),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        return self.params(TableName=table, Key={"pk": {"S": key}}, UpdateExpression=self.expression(), **extra, **rest)


def to_attribute(value: Any) -> dict[str, Any]:
    """The DynamoDB attribute value of an int, str, list or dict (the only shapes this service stores)."""
    if isinstance(value, bool):
        raise TypeError("booleans are not stored")
    if isinstance(value, int):
        return number(value)
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, list):
        return {"L": [to_attribute(element) for element in value]}
    if isinstance(value, dict):
        return {"M": {key: to_attribute(element) for key, element in value.items()}}
    raise TypeError(f"cannot store {type(value).__name__}")
