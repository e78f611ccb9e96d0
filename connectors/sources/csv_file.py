"""A CSV file as a source: the header row names the columns, each later record is a row at
"line N" (the physical line its record starts on; quoted fields may span lines). Text is NFC
whatever the file's encoding; an empty field reads as None. Parsing runs in a worker thread a
batch at a time, so the event loop never waits on the file and memory holds one batch."""

from __future__ import annotations

import asyncio
import csv
import unicodedata
from collections.abc import Generator
from pathlib import Path
from typing import Any, BinaryIO

from connectors.sources.base import SourceError, SourceRow
from connectors.sources.config import SourceConfig
from connectors.sources.text_lines import (
    FILE_ENCODINGS,
    numbered_lines,
    open_binary,
    resolve_encoding,
)
from connectors.sources.threaded import FileSource

MAX_COLUMNS = 2000


class CsvSource(FileSource):
    """Config keys: ``path``, ``encoding`` (default utf-8; see FILE_ENCODINGS), ``delimiter``
    (one character, default ",")."""

    def __init__(self, config: SourceConfig) -> None:
        self._path = Path(config.required_text("path"))
        self._encoding = config.choice("encoding", "utf-8", FILE_ENCODINGS)
        delimiter = config.text("delimiter", ",") or ","
        if delimiter == "\\t":
            delimiter = "\t"
        if len(delimiter) != 1 or delimiter in '\r\n"':
            raise SourceError("csv source: key 'delimiter' must be one character, not a quote")
        self._delimiter = delimiter
        # A file has no order to resume from: each run reads it whole, as a full snapshot.
        config.refuse("cursor", "a file is read whole on every run (a full snapshot)")
        self._columns: list[str] | None = None

    def _where(self, line: int) -> str:
        return f"csv source: {self._path} line {line}"

    def _open(self) -> tuple[BinaryIO, Any]:
        """The open file and a csv reader over its decoded lines (``line_num`` counts the
        physical lines taken)."""
        stream = open_binary("csv", self._path)
        try:
            encoding = resolve_encoding("csv", self._path, stream, self._encoding)
            lines = numbered_lines("csv", self._path, stream, encoding)
            reader = csv.reader(lines, delimiter=self._delimiter, strict=True)
        except BaseException:
            stream.close()
            raise
        return stream, reader

    def _header(self, reader: Any) -> list[str]:
        header = self._next(reader)
        while header is not None and not any(header):
            header = self._next(reader)
        if header is None:
            raise SourceError(f"csv source: {self._path} is empty: no header row")
        names = [unicodedata.normalize("NFC", name.strip()) for name in header]
        if len(names) > MAX_COLUMNS:
            raise SourceError(f"{self._where(reader.line_num)}: more than {MAX_COLUMNS} columns")
        for index, name in enumerate(names, start=1):
            if not name:
                raise SourceError(
                    f"{self._where(reader.line_num)}: header column {index} has no name"
                )
            if names.index(name) != index - 1:
                raise SourceError(
                    f"{self._where(reader.line_num)}: header names column '{name}' twice"
                )
        return names

    def _next(self, reader: Any) -> list[str] | None:
        try:
            return next(reader)
        except StopIteration:
            return None
        except csv.Error as exc:
            raise SourceError(f"{self._where(reader.line_num)}: {exc}") from None

    def _read_columns(self) -> list[str]:
        stream, reader = self._open()
        with stream:
            return self._header(reader)

    async def columns(self) -> list[str]:
        if self._columns is None:
            self._columns = await asyncio.to_thread(self._read_columns)
        return list(self._columns)

    def _rows(self) -> Generator[SourceRow, None, None]:
        stream, reader = self._open()
        with stream:
            names = self._header(reader)
            width = len(names)
            end = reader.line_num
            try:
                for record in reader:
                    start, end = end + 1, reader.line_num
                    if len(record) != width:
                        if not any(record):
                            continue  # a blank line
                        raise SourceError(
                            f"{self._where(start)}: {len(record)} fields where the header "
                            f"has {width}"
                        )
                    values = {n: v or None for n, v in zip(names, record, strict=True)}
                    yield SourceRow(f"line {start}", values)
            except csv.Error as exc:
                raise SourceError(f"{self._where(reader.line_num)}: {exc}") from None


__all__ = ["CsvSource"]
