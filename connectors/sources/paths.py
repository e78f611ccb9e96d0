"""Dotted paths into a parsed JSON document (``data.items``, ``links.next``, ``results.0``)."""

from __future__ import annotations

from typing import Any


def dotted(document: Any, path: str) -> Any:
    """The value at ``path`` (keys of objects, indexes of arrays, joined by dots), or None
    when any step is missing."""
    value = document
    for step in path.split("."):
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


__all__ = ["dotted"]
