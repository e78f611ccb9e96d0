"""The compact form of an audit event's key list (``audit_log.lists``).

A read event lists every key it served (62 on average in the benchmark's mix); as ``text[]``
that was half of each stored event. Here the list travels and is stored as one ``bytea``: a
format byte, then raw DEFLATE of a count and the items front-coded (bytes shared with the
item before, then the rest), every number a varint. Keys served by a list query come in key
order, so consecutive keys share most of their bytes. PostgreSQL only compresses values in
rows over 2 kB, which events never are, so the writer packs them.

The chain hash covers these bytes as stored, so packing must stay byte-for-byte
deterministic for a given input; ``unpack`` is the only reader (API, archive checks).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

FORMAT = 1
_LEVEL = 6
MAX_ITEMS = 100_000
MAX_UNPACKED = 64 * 1024 * 1024


class PackedListsError(ValueError):
    """Stored lists that do not decode (never written by this module)."""


def pack(keys: Sequence[str] | None) -> bytes | None:
    """The stored form of an event's keys; None when it has none (not even an empty list)."""
    if keys is None:
        return None
    body = bytearray()
    _put_list(body, keys)
    deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, -15)
    return bytes([FORMAT]) + deflate.compress(bytes(body)) + deflate.flush()


def unpack(packed: bytes | None) -> list[str] | None:
    """The keys of a stored value. Raises PackedListsError on bytes not from ``pack``."""
    if packed is None:
        return None
    if not packed or packed[0] != FORMAT:
        raise PackedListsError("unknown packed-list format")
    try:
        inflate = zlib.decompressobj(-15)
        body = inflate.decompress(packed[1:], MAX_UNPACKED)
    except zlib.error as exc:
        raise PackedListsError(f"packed lists do not inflate: {exc}") from None
    if inflate.unconsumed_tail:
        raise PackedListsError("packed lists are too large")
    reader = _Reader(body)
    keys = reader.list()
    if keys is None or reader.at != len(body):
        raise PackedListsError("packed keys are malformed")
    return keys


def _put_list(out: bytearray, items: Sequence[str] | None) -> None:
    if items is None:
        _put_varint(out, 0)
        return
    _put_varint(out, len(items) + 1)
    previous = b""
    for item in items:
        raw = item.encode("utf-8")
        shared = 0
        limit = min(len(raw), len(previous))
        while shared < limit and raw[shared] == previous[shared]:
            shared += 1
        _put_varint(out, shared)
        _put_varint(out, len(raw) - shared)
        out += raw[shared:]
        previous = raw


def _put_varint(out: bytearray, value: int) -> None:
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.at = 0

    def varint(self) -> int:
        value, shift = 0, 0
        while True:
            if self.at >= len(self.body) or shift > 63:
                raise PackedListsError("packed lists end inside a number")
            byte = self.body[self.at]
            self.at += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
            shift += 7

    def list(self) -> list[str] | None:
        count = self.varint()
        if count == 0:
            return None
        if count - 1 > MAX_ITEMS:
            raise PackedListsError("packed list is too long")
        items: list[str] = []
        previous = b""
        for _ in range(count - 1):
            shared, rest = self.varint(), self.varint()
            end = self.at + rest
            if shared > len(previous) or end > len(self.body):
                raise PackedListsError("packed list item out of range")
            raw = previous[:shared] + self.body[self.at : end]
            self.at = end
            try:
                items.append(raw.decode("utf-8"))
            except UnicodeDecodeError:
                raise PackedListsError("packed list item is not UTF-8") from None
            previous = raw
        return items


__all__ = ["FORMAT", "PackedListsError", "pack", "unpack"]
