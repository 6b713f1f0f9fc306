"""DynamoDB's documented item size formula, for tests that prove an item's bound (moto enforces none).

From "DynamoDB item sizes and formats": a string is its UTF-8 bytes, a number 1 byte per two significant
digits plus 1, binary its raw bytes, a boolean or null 1 byte; a list or map 3 bytes plus its elements, each
element 1 byte more (a map's element also its name); an item is the sum of its attribute names and values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

ITEM_LIMIT_BYTES = 400 * 1024


def number_size(text: str) -> int:
    digits = text.lstrip("+-").replace(".", "").split("e")[0].split("E")[0].strip("0")
    return math.ceil(max(1, len(digits)) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return number_size(content)
    if kind == "B":
        return len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(element) for name, element in content.items())
    if kind in ("SS", "NS", "BS"):
        sizes = {"SS": lambda v: len(v.encode()), "NS": number_size, "BS": len}[kind]
        return sum(sizes(element) for element in content)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: Mapping[str, Mapping[str, Any]]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())
