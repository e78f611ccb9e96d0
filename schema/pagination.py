"""Opaque cursors and bounded page sizes, shared by every connection."""

from __future__ import annotations

import base64
import binascii

import orjson

from catalog.errors import InvalidInput, QueryTooComplex


def encode_cursor(value: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode("ascii").rstrip("=")


def decode_cursor(cursor: str, argument: str = "after") -> object:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return orjson.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise InvalidInput(f"argument '{argument}': not a cursor this hub issued") from None


def page_size(first: int | None, maximum: int, default: int = 20, argument: str = "first") -> int:
    if first is None:
        return min(default, maximum)
    if first < 0:
        raise InvalidInput(f"argument '{argument}': must be 0 or more, got {first}")
    if first > maximum:
        raise QueryTooComplex(
            f"argument '{argument}': at most {maximum} items per page, got {first}; "
            "use the cursor to fetch further pages"
        )
    return first


__all__ = ["decode_cursor", "encode_cursor", "page_size"]
