"""An XLSX sheet as a source, read in a worker thread. The header row names the columns; each
later non-blank row is a row at "sheet NAME row N" (N as Excel numbers it). Whole numbers come
back as int, dates as date/datetime, text as NFC (decoded from a legacy font encoding when
configured), an empty cell as None.

Two readers, one result. python-calamine (Rust) is fast but holds the whole sheet's cells in
memory while it is read (0.9 has no lazy reading): about 1.5 bytes of memory per byte of the
sheet's XML (a 200,000-row, 13-column sheet: 170 MB of XML, 255 MB held), and a cell for every
one of the rectangle up to its last value. So a sheet larger than
``xlsx_stream.STREAM_ABOVE_BYTES``, or with a rectangle of more than
``xlsx_stream.CALAMINE_MAX_CELLS``, is streamed by ``xlsx_stream``, which gives what
calamine gives for the same cells, rows from Excel row 1 and columns from the sheet's first
used column; this module applies the same header and encoding rules to either. An agency's
file is untrusted: ``xlsx_parts`` refuses XML and zip tricks in the parts the hub parses (for
either reader: the workbook, its relationships and styles), and calamine expands no entity."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Generator, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import python_calamine

from connectors.sources.base import SourceError, SourceRow
from connectors.sources.config import SourceConfig
from connectors.sources.threaded import FileSource
from connectors.sources.xlsx_stream import StreamedRow, UnreadableWorkbook, open_streamed
from connectors.text_encodings import LEGACY_ENCODINGS, decode_font_text

MAX_COLUMNS = 2000
XLSX_ENCODINGS = ("unicode", *LEGACY_ENCODINGS)
_EXACT_FLOAT = 2**53


class XlsxSource(FileSource):
    """Config keys: ``path``, ``sheet`` (name; default the first), ``header_row`` (default 1),
    ``encoding`` (``unicode`` default, or ``tcvn3``/``vni`` for legacy-font text)."""

    def __init__(self, config: SourceConfig) -> None:
        self._path = Path(config.required_text("path"))
        self._sheet = config.text("sheet")
        self._header_row = config.integer("header_row", 1, maximum=1_048_576)
        self._encoding = config.choice("encoding", "unicode", XLSX_ENCODINGS)
        # A file has no order to resume from: each run reads it whole, as a full snapshot.
        config.refuse("cursor", "a file is read whole on every run (a full snapshot)")
        self._columns: list[str] | None = None

    def _fail(self, what: str) -> SourceError:
        return SourceError(f"xlsx source: {self._path}: {what}")

    def _open(self) -> tuple[str, Iterator[list[Any]]]:
        """The sheet's name and its rows from Excel row 1 on, each from the sheet's first used
        column, as calamine gives them (the streamed reader gives those above the header row
        empty: only the header and the rows under it are read)."""
        if not self._path.is_file():
            raise self._fail("the file does not exist" if not self._path.exists() else "not a file")
        streamed = self._open_streamed()
        if streamed is not None:
            return streamed
        try:
            book = python_calamine.CalamineWorkbook.from_path(str(self._path))
            name = self._sheet if self._sheet is not None else book.sheet_names[0]
            sheet = book.get_sheet_by_name(name)
            return name, iter(sheet.iter_rows())
        except python_calamine.WorksheetNotFound:
            raise self._fail(f"no sheet named '{self._sheet}'") from None
        except IndexError:
            raise self._fail("the workbook has no sheets") from None
        except (python_calamine.CalamineError, OSError, ValueError) as exc:
            problem = f"not a readable XLSX workbook (truncated or damaged?): {exc}"
            raise self._fail(problem) from None

    def _open_streamed(self) -> tuple[str, Iterator[list[Any]]] | None:
        """The sheet streamed when it is large (``xlsx_stream``); None to read it with
        calamine."""
        try:
            streamed = open_streamed(self._path, self._sheet)
        except UnreadableWorkbook as exc:
            raise self._fail(str(exc)) from None
        if streamed is None:
            return None
        name, rows = streamed
        return name, self._streamed_rows(name, rows)

    def _streamed_rows(
        self, name: str, rows: Generator[StreamedRow]
    ) -> Generator[list[Any], None, None]:
        """Rows as calamine gives them: from Excel row 1, each from the sheet's first used
        column, those above the header empty. That column is known once the header row is
        read (the leftmost used cell up to there); a used cell further left in a later row
        means calamine's header would start with an empty column: the same error is raised
        when that row is met."""
        with closing(rows):
            try:
                header: list[Any] | None = None
                above = 0  # rows above the header: only their leftmost used cell matters
                left: int | None = None
                for row, first in rows:
                    if first is not None and (left is None or first < left):
                        left = first
                    if above + 1 == self._header_row:
                        header = row
                        break
                    above += 1
                start = left or 0
                for _ in range(above):
                    yield []  # (the header is found by counting rows; these are skipped)
                if header is None:
                    return
                yield header[start:]
                for row, first in rows:
                    if first is not None and first < start:
                        self._names(name, header[first:])
                        raise self._fail(f"sheet {name}: a used cell left of the header")
                    yield row[start:]
            except UnreadableWorkbook as exc:
                raise self._fail(str(exc)) from None

    def _header(self, name: str, rows: Iterator[list[Any]]) -> list[str]:
        header: list[Any] | None = None
        for _ in range(self._header_row):
            header = next(rows, None)
        return self._names(name, header)

    def _names(self, name: str, header: list[Any] | None) -> list[str]:
        where = f"sheet {name} row {self._header_row}"
        if header is None or not any(v not in ("", None) for v in header):
            raise self._fail(f"{where}: the header row is empty")
        names = [self._text(name, self._header_row, i, v) for i, v in enumerate(header)]
        while names and not names[-1]:
            names.pop()  # trailing empty header cells: columns outside the table
        if len(names) > MAX_COLUMNS:
            raise self._fail(f"{where}: more than {MAX_COLUMNS} columns")
        for index, column in enumerate(names):
            if not column:
                raise self._fail(f"{where}: header column {index + 1} has no name")
            if names.index(column) != index:
                raise self._fail(f"{where}: header names column '{column}' twice")
        return names

    def _text(self, sheet: str, row: int, column: int, value: Any) -> str:
        value = self._value(sheet, row, column, value)
        return "" if value is None else str(value).strip()

    def _decoded(self, sheet: str, row: int, column: int, text: str) -> str:
        if self._encoding != "unicode":
            try:
                text = decode_font_text(text, self._encoding)
            except UnicodeError:
                raise self._fail(
                    f"sheet {sheet} row {row} column {column + 1}: text is not in the "
                    f"{self._encoding} font encoding: mixed encodings"
                ) from None
        return unicodedata.normalize("NFC", text)

    def _value(self, sheet: str, row: int, column: int, value: Any) -> Any:
        if isinstance(value, str):
            return self._decoded(sheet, row, column, value) if value else None
        if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT_FLOAT:
            return int(value)
        return value

    def _read_columns(self) -> list[str]:
        name, rows = self._open()
        try:
            return self._header(name, rows)
        finally:
            if isinstance(rows, Generator):
                rows.close()  # a streamed sheet: close its zip now

    async def columns(self) -> list[str]:
        if self._columns is None:
            self._columns = await asyncio.to_thread(self._read_columns)
        return list(self._columns)

    def _rows(self) -> Generator[SourceRow, None, None]:
        name, rows = self._open()
        names = self._header(name, rows)
        width = len(names)
        for number, cells in enumerate(rows, start=self._header_row + 1):
            if not any(v not in ("", None) for v in cells):
                continue
            if any(v not in ("", None) for v in cells[width:]):
                raise self._fail(
                    f"sheet {name} row {number}: a value in a column with no header name"
                )
            values = {
                column: self._value(name, number, index, cells[index])
                if index < len(cells)
                else None
                for index, column in enumerate(names)
            }
            yield SourceRow(f"sheet {name} row {number}", values)


__all__ = ["XlsxSource"]
