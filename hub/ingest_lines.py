"""Incremental parsers of an uploaded body: NDJSON and CSV (UTF-8), chunk by chunk.

Invariant: memory stays bounded whatever the body's size: at most one record of
``max_line_bytes`` is buffered (a longer one is skipped to its end and reported, never held),
and each chunk's complete records are handed on at once. A line that cannot be parsed is not
fatal: it comes back as a ``BadLine`` with its 1-based line number and the reason, for
quarantine. CSV records may span lines inside quotes (RFC 4180); such a record is numbered by
the line it starts on.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

BOM = b"\xef\xbb\xbf"
MAX_COLUMNS = 500  # as a connector's mapping: a header wider than any dataset is refused
SHOWN_BYTES = 1_000  # of a bad line kept in quarantine


@dataclass(frozen=True, slots=True)
class GoodLine:
    line: int
    values: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    reason: str
    text: str  # the start of the line as received, for the steward to see


class HeaderError(ValueError):
    """The CSV header itself is unusable: nothing can be read after it."""


class _Records:
    """Splits bytes into records at newlines: for CSV only where the quotes are balanced."""

    def __init__(self, max_line_bytes: int, quoted: bool) -> None:
        self.max = max_line_bytes
        self.quoted = quoted
        self.pending = bytearray()
        self.quotes = 0  # '"' seen in ``pending`` (CSV), to know whether a newline ends it
        self.line = 1  # physical line the pending record starts on
        self.newlines = 0  # newlines inside the pending (quoted) record
        self.skipping = False  # the pending record grew past the bound: drop it to its end
        self.first = True

    def feed(self, chunk: bytes) -> Iterator[tuple[int, bytes | None]]:
        """(line number, record bytes) for each record completed by ``chunk``; ``None``
        bytes for a record longer than the bound (skipped)."""
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if not self.skipping:
                self.pending += piece
                if self.quoted:
                    self.quotes += piece.count(b'"')
                if len(self.pending) > self.max:
                    self.skipping = True
                    self.pending.clear()
            if end < 0:
                return
            start = end + 1
            if self.quoted and not self.skipping and self.quotes % 2:
                self.pending += b"\n"  # a newline inside a quoted field: the record goes on
                self.newlines += 1
                continue
            yield from self._finish()

    def close(self) -> Iterator[tuple[int, bytes | None]]:
        """The last record, when the body does not end with a newline."""
        if self.pending or self.skipping:
            yield from self._finish()

    def _finish(self) -> Iterator[tuple[int, bytes | None]]:
        line = self.line
        self.line += 1 + self.newlines
        self.newlines = 0
        self.quotes = 0
        if self.skipping:
            self.skipping = False
            yield line, None
            return
        record = bytes(self.pending)
        self.pending.clear()
        if self.first:
            self.first = False
            record = record.removeprefix(BOM)
        record = record.removesuffix(b"\r")
        if record.strip():
            yield line, record


def _shown(record: bytes) -> str:
    """The start of a line as text PostgreSQL can store (no NUL), for the steward to see."""
    return record[:SHOWN_BYTES].decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _text(line: int, record: bytes) -> str | BadLine:
    try:
        return record.decode("utf-8")
    except UnicodeDecodeError as error:
        return BadLine(line, f"line {line}: not UTF-8 (byte {error.start + 1})", _shown(record))


class NdjsonParser:
    """One JSON object per line (``application/x-ndjson``)."""

    def __init__(self, max_line_bytes: int) -> None:
        self.records = _Records(max_line_bytes, quoted=False)
        self.max = max_line_bytes

    def feed(self, chunk: bytes) -> list[GoodLine | BadLine]:
        return [self._parse(line, record) for line, record in self.records.feed(chunk)]

    def close(self) -> list[GoodLine | BadLine]:
        return [self._parse(line, record) for line, record in self.records.close()]

    def _parse(self, line: int, record: bytes | None) -> GoodLine | BadLine:
        if record is None:
            return BadLine(line, f"line {line}: longer than {self.max} bytes", "")
        text = _text(line, record)
        if isinstance(text, BadLine):
            return text
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            where = f"character {error.pos + 1}"
            return BadLine(
                line, f"line {line}: not valid JSON at {where}: {error.msg}", _shown(record)
            )
        if not isinstance(value, dict):
            kind = type(value).__name__
            return BadLine(
                line,
                f"line {line}: expected a JSON object of field → value, got {kind}",
                _shown(record),
            )
        return GoodLine(line, value)


class CsvParser:
    """A header line of field names, then one record per row (``text/csv``, comma, RFC 4180
    quoting). Empty cells are absent values."""

    def __init__(self, max_line_bytes: int) -> None:
        self.records = _Records(max_line_bytes, quoted=True)
        self.max = max_line_bytes
        self.header: list[str] | None = None
        self.header_checked = False  # against the dataset's fields, by the caller

    def feed(self, chunk: bytes) -> list[GoodLine | BadLine]:
        parsed = (self._parse(line, record) for line, record in self.records.feed(chunk))
        return [item for item in parsed if item is not None]

    def close(self) -> list[GoodLine | BadLine]:
        parsed = (self._parse(line, record) for line, record in self.records.close())
        return [item for item in parsed if item is not None]

    def _parse(self, line: int, record: bytes | None) -> GoodLine | BadLine | None:
        """The record of ``line``; ``None`` for the header (it names the columns)."""
        if record is None:
            if self.header is None:
                raise HeaderError(f"line {line}: the header is longer than {self.max} bytes")
            return BadLine(line, f"line {line}: longer than {self.max} bytes", "")
        text = _text(line, record)
        if isinstance(text, BadLine):
            if self.header is None:
                raise HeaderError(text.reason)
            return text
        try:
            cells = next(csv.reader([text], strict=True))
        except csv.Error as error:
            if self.header is None:
                raise HeaderError(f"line {line}: not valid CSV: {error}") from None
            return BadLine(line, f"line {line}: not valid CSV: {error}", _shown(record))
        if self.header is None:
            self.header = _header(line, cells)
            return None
        if len(cells) != len(self.header):
            return BadLine(
                line,
                f"line {line}: expected {len(self.header)} columns as in the header, "
                f"got {len(cells)}",
                _shown(record),
            )
        pairs = zip(self.header, cells, strict=True)
        return GoodLine(line, {name: cell for name, cell in pairs if cell != ""})


def _header(line: int, cells: list[str]) -> list[str]:
    names = [cell.strip() for cell in cells]
    if len(names) > MAX_COLUMNS:
        raise HeaderError(f"line {line}: {len(names)} columns; at most {MAX_COLUMNS}")
    for position, name in enumerate(names, start=1):
        if not name:
            raise HeaderError(f"line {line}: column {position} of the header has no name")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise HeaderError(f"line {line}: column '{name[:100]}' appears twice in the header")
        seen.add(name)
    return names


__all__ = ["BadLine", "CsvParser", "GoodLine", "HeaderError", "NdjsonParser"]
