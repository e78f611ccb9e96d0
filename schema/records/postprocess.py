"""After a compiled statement: turn ``__deny`` markers into GraphQL errors at their paths and
decrypt wrapped encrypted values. Only run for plans that need it; the common case sends
PostgreSQL's JSON text to the client untouched."""

from __future__ import annotations

from typing import Any

from catalog.crypto import FieldKeys

MAX_ERRORS = 100


def postprocess(data: Any, keys: FieldKeys) -> tuple[Any, list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []
    cleaned = _walk(data, [], keys, errors)
    if len(errors) > MAX_ERRORS:
        more = len(errors) - MAX_ERRORS
        errors = errors[:MAX_ERRORS]
        errors.append(
            {
                "message": f"{more} more fields were withheld in the same way",
                "extensions": {"code": errors[-1]["extensions"]["code"]},
            }
        )
    return cleaned, errors


def _walk(node: Any, path: list[str | int], keys: FieldKeys, errors: list[dict[str, Any]]) -> Any:
    if isinstance(node, list):
        return [_walk(item, [*path, i], keys, errors) for i, item in enumerate(node)]
    if not isinstance(node, dict):
        return node
    if "$dec" in node:
        value = node.get("v")
        return None if value is None else keys.decrypt(value, str(node["$dec"]))
    denied = node.pop("__deny", None) or ()
    for marker in denied:
        kind, key, place = marker.split("|", 2)
        errors.append(_error(kind, [*path, key], place))
    return {k: _walk(v, [*path, k], keys, errors) for k, v in node.items()}


def _error(kind: str, path: list[str | int], place: str) -> dict[str, Any]:
    dataset, _, field = place.partition(".")
    if kind == "P":
        return {
            "message": f"reading RESTRICTED field '{field}' of dataset '{dataset}' needs a "
            "purpose: send the X-Purpose header or give the root field a purpose argument",
            "path": path,
            "extensions": {"code": "BAD_USER_INPUT"},
        }
    what = f"field '{field}' of dataset '{dataset}'" if field else f"dataset '{dataset}'"
    return {
        "message": f"not allowed to read {what} here",
        "path": path,
        "extensions": {"code": "FORBIDDEN"},
    }


__all__ = ["postprocess"]
