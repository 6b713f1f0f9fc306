"""DynamoDB expression building: placeholders for every name and value, so rules read like rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chalicelib.config import Window

Item = Mapping[str, Mapping[str, Any]]


def number(value: int) -> dict[str, str]:
    return {"N": str(value)}


def read_number(item: Item, name: str) -> int:
    attribute = item.get(name)
    return int(attribute["N"]) if attribute else 0


class Counter:
    """A fixed-window counter stored as the attribute ``<prefix>@<window index>`` of an item.

    Naming the attribute after its window lets a new window start from zero in the same write that counts,
    with no read of the old count first.
    """

    def __init__(self, prefix: str, window: Window, now: int) -> None:
        self.window = window
        self.index = now // window.seconds
        self.current = f"{prefix}@{self.index}"
        self.previous = f"{prefix}@{self.index - 1}"
        self.seconds_left = (self.index + 1) * window.seconds - now

    def count(self, item: Item) -> int:
        return read_number(item, self.current)

    def exhausted(self, item: Item) -> bool:
        return self.window.enabled and self.count(item) >= self.window.limit


class Expression:
    """Collects the placeholders of one request's expressions."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, dict[str, Any]] = {}

    def name(self, *path: str) -> str:
        """A document path (``name("sessions", sid, "cur")``) with every element behind a placeholder."""
        placeholders = []
        for element in path:
            placeholder = f"#n{len(self.names)}"
            self.names[placeholder] = element
            placeholders.append(placeholder)
        return ".".join(placeholders)

    def value(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = to_attribute(value)
        return placeholder

    def below_limit(self, counter: Counter) -> str:
        name = self.name(counter.current)
        return f"(attribute_not_exists({name}) OR {name} < {self.value(counter.window.limit)})"

    def increment(self, attribute: str, by: int = 1) -> str:
        name = self.name(attribute)
        return f"{name} = if_not_exists({name}, {self.value(0)}) + {self.value(by)}"

    def params(self, **rest: Any) -> dict[str, Any]:
        params = dict(rest)
        if self.names:
            params["ExpressionAttributeNames"] = self.names
        if self.values:
            params["ExpressionAttributeValues"] = self.values
        return params


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
