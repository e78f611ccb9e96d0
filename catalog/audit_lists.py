"""The compact form of an audit event's key list (``audit_log.lists``).

A read event lists every key it served (62 on average in the benchmark's mix); as ``text[]``
that was half of each stored event. Here the list travels and is stored as one ``bytea``: a
format byte, the number of keys (varint), then raw DEFLATE of the keys laid out by format:

- ``COLUMNS``: keys all of one byte length, written column by column (every key's first
  byte, then every second byte, ...). Keys served by a list query come in key order, so most
  columns of a page of tax codes are one repeated byte and DEFLATE folds them away;
- ``JOINED``: keys of differing lengths, separated by NUL (which PostgreSQL text never holds);
- ``FRONT``: any other list (a key holding NUL): each key as the bytes it shares with the one
  before and the rest, lengths as varints.

PostgreSQL only compresses values in rows over 2 kB, which events never are, so the writer
packs them; layout and DEFLATE are C-speed slicing and zlib (about 20 µs for 62 keys). The
chain hash covers the bytes as stored; ``unpack`` is the only reader (API, archives).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

FRONT = 1
COLUMNS = 2
JOINED = 3
_LEVEL = 6
# Raw DEFLATE (no header or checksum: the chain hash covers the bytes) with a 4 kB window and
# a small hash table: setting up zlib's default 256 kB state cost more than packing a list.
_WINDOW_BITS = -12
_MEM_LEVEL = 4
MAX_ITEMS = 100_000
MAX_UNPACKED = 64 * 1024 * 1024


class PackedListsError(ValueError):
    """Stored lists that do not decode (never written by this module)."""


def pack(keys: Sequence[str] | None) -> bytes | None:
    """The stored form of an event's keys; None when it has none (not even an empty list)."""
    if keys is None:
        return None
    raw = [k.encode("utf-8") for k in keys]
    head = bytearray()
    width = len(raw[0]) if raw else 0
    if len(raw) > 1 and width and len(set(map(len, raw))) == 1:
        joined = b"".join(raw)
        body = b"".join(joined[i::width] for i in range(width))
        head.append(COLUMNS)
        _put_varint(head, len(raw))
        _put_varint(head, width)
    elif not any(b"\0" in r for r in raw):
        body = b"\0".join(raw)
        head.append(JOINED)
        _put_varint(head, len(raw))
    else:
        front = bytearray()
        _put_list(front, keys)
        body = bytes(front)
        head.append(FRONT)
    deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WINDOW_BITS, _MEM_LEVEL)
    return bytes(head) + deflate.compress(body) + deflate.flush()


def unpack(packed: bytes | None) -> list[str] | None:
    """The keys of a stored value. Raises PackedListsError on bytes not from ``pack``."""
    if packed is None:
        return None
    if not packed or packed[0] not in (FRONT, COLUMNS, JOINED):
        raise PackedListsError("unknown packed-list format")
    head = _Reader(packed)
    head.at = 1
    count = head.varint() if packed[0] != FRONT else 0
    width = head.varint() if packed[0] == COLUMNS else 0
    if count > MAX_ITEMS or width * count > MAX_UNPACKED:
        raise PackedListsError("packed keys are too large")
    try:
        inflate = zlib.decompressobj(-15)
        body = inflate.decompress(packed[head.at :], MAX_UNPACKED)
    except zlib.error as exc:
        raise PackedListsError(f"packed keys do not inflate: {exc}") from None
    if inflate.unconsumed_tail or not inflate.eof:
        raise PackedListsError("packed keys are truncated or too large")
    try:
        if packed[0] == COLUMNS:
            if len(body) != width * count:
                raise PackedListsError("packed keys do not fill their columns")
            rows = bytearray(len(body))
            for i in range(width):
                rows[i::width] = body[i * count : (i + 1) * count]
            if rows.isascii():  # one character per byte: slice the decoded text
                whole = rows.decode("ascii")
                return [whole[j : j + width] for j in range(0, len(whole), width)]
            return [rows[j : j + width].decode("utf-8") for j in range(0, len(rows), width)]
        if packed[0] == JOINED:
            keys = [part.decode("utf-8") for part in body.split(b"\0")] if count else []
            if len(keys) != count:
                raise PackedListsError("packed keys do not match their count")
            return keys
    except UnicodeDecodeError:
        raise PackedListsError("packed key is not UTF-8") from None
    reader = _Reader(body)
    keys_front = reader.list()
    if keys_front is None or reader.at != len(body):
        raise PackedListsError("packed keys are malformed")
    return keys_front


def _put_list(out: bytearray, items: Sequence[str] | None) -> None:
    if items is None:
        _put_varint(out, 0)
        return
    _put_varint(out, len(items) + 1)
    previous = b""
    for item in items:
        raw = item.encode("utf-8")
        shared = _shared(previous, raw)
        rest = len(raw) - shared
        if shared < 0x80 and rest < 0x80:  # nearly always: two one-byte varints
            out.append(shared)
            out.append(rest)
        else:
            _put_varint(out, shared)
            _put_varint(out, rest)
        out += raw[shared:]
        previous = raw


def _shared(a: bytes, b: bytes) -> int:
    """How many leading bytes ``a`` and ``b`` share, without a loop over bytes: the XOR of
    their common-length prefixes as integers has its highest bit at the first difference."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    differ = int.from_bytes(a[:n], "big") ^ int.from_bytes(b[:n], "big")
    return (n * 8 - differ.bit_length()) // 8


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
        body = self.body
        size = len(body)
        items: list[str] = []
        previous = b""
        try:
            for _ in range(count - 1):
                at = self.at
                shared, rest = body[at], body[at + 1]
                if shared < 0x80 and rest < 0x80:  # the one-byte case, inline
                    self.at = at + 2
                else:
                    shared, rest = self.varint(), self.varint()
                end = self.at + rest
                if shared > len(previous) or end > size:
                    raise PackedListsError("packed list item out of range")
                raw = previous[:shared] + body[self.at : end]
                self.at = end
                items.append(raw.decode("utf-8"))
                previous = raw
        except IndexError:
            raise PackedListsError("packed lists end inside an item") from None
        except UnicodeDecodeError:
            raise PackedListsError("packed list item is not UTF-8") from None
        return items


__all__ = ["COLUMNS", "FRONT", "JOINED", "PackedListsError", "pack", "unpack"]
