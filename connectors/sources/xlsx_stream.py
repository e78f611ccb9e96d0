"""An XLSX sheet streamed: the zip member inflated and parsed by expat 64 KiB at a time, each
row handed on as it ends, so that memory does not grow with the sheet. ``open_streamed`` gives
the sheet's rows when its XML part and shared-string table (their uncompressed sizes, from the
zip directory) together are larger than ``STREAM_ABOVE_BYTES``, or when the rectangle from A1
to its last value has more than ``CALAMINE_MAX_CELLS`` cells; else None: calamine reads it
(holding about 1.5 bytes of memory per byte of the sheet's XML, and a cell for every one of
that rectangle). A sheet whose rectangle cannot be known (XML that expat refuses and calamine
might take) is refused.

The shared strings are kept as UTF-8 (in a temporary file past ``STRINGS_IN_MEMORY_BYTES``): 8
bytes of memory per distinct string. The rows are what python-calamine gives for the same
cells, by calamine's own rules (``xlsx_formats``): phonetic runs left out, error cells empty.
A file that is not an XLSX zip of transitional SpreadsheetML (XLS, XLSB, ODS, a damaged one)
is not streamed: calamine says what is wrong with it.

An agency's file is untrusted. Its zip and XML are read by ``xlsx_parts``, which refuses DTDs,
entities, unusual compression, a member longer than declared, a part read whole past its limit,
a tag or comment past its limit and a row past Excel's last; streamed, a cell's text past
``CELL_TEXT_MAX_CHARS``, a column past ZZZ or more than ``SHARED_STRINGS_MAX`` shared strings
are refused too. Every such fault, and every fault of a damaged zip or XML, is one
``UnreadableWorkbook``."""

from __future__ import annotations

import os
import tempfile
import zipfile
from array import array
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from itertools import chain
from pathlib import Path
from typing import IO, Any

from connectors.sources.xlsx_formats import PLAIN, column_index, iso_moment, serial, t_text
from connectors.sources.xlsx_parts import (
    CHUNK,
    DAMAGED,
    LAST_ROW,
    MAIN_NS,
    Refused,
    SheetPart,
    extent,
    hardened_expat,
    inflated,
    parse_all,
    parse_chunk,
    sheet_part,
)

# A sheet whose XML part (with the shared-string table's) is larger is streamed; calamine
# would hold about 1.5 times this.
STREAM_ABOVE_BYTES = 32 * 1024 * 1024
# The streamed reader's shared strings: kept in memory as UTF-8 up to this many bytes, then
# in a temporary file.
STRINGS_IN_MEMORY_BYTES = 32 * 1024 * 1024
# The streamed reader refuses a cell or shared string with more text than this (Excel's own
# limit is 32,767 characters), a row past Excel's last (``LAST_ROW``) and a column past ZZZ,
# so that memory stays bounded whatever a (highly compressed) sheet holds.
CELL_TEXT_MAX_CHARS = 1024 * 1024
# ... and a shared-string table of more strings than this (8 bytes each; "<si/>" is 5 bytes of
# XML, and compresses a thousandfold).
SHARED_STRINGS_MAX = 16_000_000
COLUMN_LIMIT = 18_278  # A to ZZZ
# calamine holds a cell (some 32 bytes) for every one of the rectangle from A1 to the last row
# and column with a value, however few have one: a 2 KB sheet with a value at XFD100000 would
# have it ask for 52 GB, and abort the process. A sheet of more is streamed.
CALAMINE_MAX_CELLS = 4_000_000


class UnreadableWorkbook(Exception):
    """The streamed workbook cannot be read: damaged, or a trick refused. The message is one
    line, "not a readable XLSX workbook ...: what"."""


class _Tags:
    """Element names as expat gives them without namespace processing (which costs a third
    of the parse): the main namespace's, under the prefix the part's root element uses."""

    def __init__(self, root: str, attrs: dict[str, str], local_root: str) -> None:
        prefix, _, local = root.rpartition(":")
        declared = attrs.get(f"xmlns:{prefix}" if prefix else "xmlns")
        if local != local_root or declared != MAIN_NS:
            raise ValueError(f"the part is not a SpreadsheetML {local_root} ({root} {declared})")
        tag = (prefix + ":") if prefix else ""
        self.sheet_data, self.row, self.c, self.v = (
            tag + n for n in ("sheetData", "row", "c", "v")
        )
        self.inline, self.t, self.phonetic, self.si = (tag + n for n in ("is", "t", "rPh", "si"))


class _SharedStrings:
    """The shared-string table, looked up by index as cells are read: every string's UTF-8 in
    one buffer and its end offset in an array (8 bytes a string, where a Python str would
    cost 50 more), the buffer moved to a temporary file once it passes
    ``STRINGS_IN_MEMORY_BYTES``, so that memory stays bounded however large the table."""

    def __init__(self) -> None:
        self.ends = array("q")
        self.buffer = bytearray()
        self.file: IO[bytes] | None = None
        self.size = 0

    def append(self, text: str) -> None:
        data = text.encode()
        self.size += len(data)
        self.ends.append(self.size)
        if self.file is not None:
            self.file.write(data)
            return
        self.buffer += data
        if len(self.buffer) > STRINGS_IN_MEMORY_BYTES:
            self.file = tempfile.TemporaryFile(prefix="hub-xlsx-strings-")  # noqa: SIM115
            self.file.write(self.buffer)
            self.buffer = bytearray()

    def done(self) -> None:
        if self.file is not None:
            self.file.flush()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()

    def __getitem__(self, index: int) -> str:
        end = self.ends[index]
        start = self.ends[index - 1] if index else 0
        if self.file is None:
            return self.buffer[start:end].decode()
        return os.pread(self.file.fileno(), end - start, start).decode()


def _shared_strings(source: Iterator[bytes], strings: _SharedStrings, part: str) -> None:
    """The shared-string table into ``strings`` (calamine holds it too: cells refer to it by
    index). A string is its ``<t>``s outside phonetic runs (``<rPh>``), joined."""
    tags: _Tags | None = None
    parts: list[str] | None = None
    text: list[str] | None = None
    preserve = False
    phonetic = 0
    budget = CELL_TEXT_MAX_CHARS  # what the string may still take (each <t> costs one)

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal tags, parts, text, preserve, phonetic, budget
        if tags is None:
            tags = _Tags(name, attrs, "sst")
        elif name == tags.t:
            if parts is not None and not phonetic:
                text, preserve = [], attrs.get("xml:space") == "preserve"
        elif name == tags.si:
            parts, budget = [], CELL_TEXT_MAX_CHARS
        elif name == tags.phonetic:
            phonetic += 1

    def end(name: str) -> None:
        nonlocal parts, text, phonetic, budget
        assert tags is not None
        if name == tags.t:
            if text is not None and parts is not None:
                parts.append(t_text(text, preserve))
                budget -= 1
                if budget < 0:
                    raise Refused(f"{part}: a string longer than {CELL_TEXT_MAX_CHARS} characters")
            text = None
        elif name == tags.si and parts is not None:
            if len(strings.ends) >= SHARED_STRINGS_MAX:
                raise Refused(f"{part}: more than {SHARED_STRINGS_MAX} shared strings")
            strings.append("".join(parts))
            parts = None
        elif name == tags.phonetic:
            phonetic -= 1

    def data(chunk: str) -> None:
        nonlocal budget
        if text is not None:
            text.append(chunk)
            budget -= len(chunk)
            if budget < 0:
                raise Refused(f"{part}: a string longer than {CELL_TEXT_MAX_CHARS} characters")

    parser = hardened_expat(part)
    parser.buffer_text = True
    parser.buffer_size = CHUNK
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    parse_all(parser, source, part)
    strings.done()


Row = tuple[int, list[Any], int | None]


class _SheetParser:
    """A worksheet part parsed as it is read (expat, a chunk at a time): each finished row as
    (Excel row number, cells by column index from A, index of its first used cell). A cell's
    value is what python-calamine gives for it: None where there is no cell or no value, ""
    for an error cell, float for a number (a date, time or duration by its format), bool,
    str. Nothing of a finished row is kept. (The handlers are closures over their state:
    they run for every element, and locals are the cheapest Python has.)"""

    def __init__(
        self, part: str, strings: _SharedStrings, kinds: tuple[int, ...], is_1904: bool
    ) -> None:
        self.done: list[Row] = []
        self.part = part
        self._setup = (strings, kinds, is_1904)
        parser = hardened_expat(part)
        parser.buffer_text = True
        parser.buffer_size = CHUNK
        parser.StartElementHandler = self._root
        self.parser = parser
        self.fed = 0

    def feed(self, chunk: bytes, final: bool = False) -> list[Row]:
        self.fed += len(chunk)
        parse_chunk(self.parser, chunk, final, self.fed, self.part)
        done = self.done.copy()
        self.done.clear()  # (the handlers append to this very list)
        return done

    def _root(self, name: str, attrs: dict[str, str]) -> None:
        tags = _Tags(name, attrs, "worksheet")
        start, end, data = _sheet_handlers(self.part, tags, *self._setup, self.done)
        self.parser.StartElementHandler = start
        self.parser.EndElementHandler = end
        self.parser.CharacterDataHandler = data


def _sheet_handlers(
    part: str,
    tags: _Tags,
    strings: _SharedStrings,
    kinds: tuple[int, ...],
    is_1904: bool,
    done: list[Row],
) -> tuple[Callable[[str, dict[str, str]], None], Callable[[str], None], Callable[[str], None]]:
    c_tag, v_tag, t_tag, is_tag = tags.c, tags.v, tags.t, tags.inline
    row_tag, phonetic_tag = tags.row, tags.phonetic
    columns: dict[str, int] = {}
    row_number = 0
    cells: list[Any] = []
    first: int | None = None
    column = -1
    kind = "n"
    style: str | None = None
    in_v = False
    value: str | None = None  # the cell's <v> text; None when it has no <v>
    parts: list[str] | None = None  # inside <is>: its texts
    text: list[str] | None = None  # inside one of its <t>
    preserve = False
    phonetic = 0
    budget = CELL_TEXT_MAX_CHARS  # what the cell's text may still take (each <t> costs one)
    too_long = f"{part}: a cell's text is longer than {CELL_TEXT_MAX_CHARS} characters"

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal row_number, cells, first, column, kind, style, in_v, value, parts, text
        nonlocal preserve, phonetic, budget
        if name == c_tag:
            ref = attrs.get("r")
            if ref:
                letters = ref.rstrip("0123456789")
                found = columns.get(letters)
                if found is None:
                    found = columns[letters] = column_index(letters, ref)
                column = found
            else:
                column += 1
                if column >= COLUMN_LIMIT:
                    raise Refused(f"{part}: a row with more than {COLUMN_LIMIT} columns")
            kind = attrs.get("t", "n")
            style = attrs.get("s")
            value, budget = None, CELL_TEXT_MAX_CHARS
        elif name == v_tag:
            in_v, value = True, ""
        elif name == t_tag:
            if parts is not None and not phonetic:
                text, preserve = [], attrs.get("xml:space") == "preserve"
        elif name == is_tag:
            parts = []
        elif name == row_tag:
            number = attrs.get("r")
            row_number = int(number) if number else row_number + 1
            if row_number > LAST_ROW:
                raise Refused(f"{part}: row {row_number} is past Excel's last row, {LAST_ROW}")
            cells, first, column = [], None, -1
        elif name == phonetic_tag:
            phonetic += 1

    def data(chunk: str) -> None:
        nonlocal value, budget
        if in_v:
            value = chunk if not value else value + chunk
        elif text is not None:
            text.append(chunk)
        else:
            return
        budget -= len(chunk)
        if budget < 0:
            raise Refused(too_long)

    def cell() -> Any:
        if parts is not None:  # <is>: the value whatever the type says
            return "".join(parts)
        if not value or kind == "inlineStr":  # (an inline string's <v>, if any, is ignored)
            # No <v> (or an empty one): no value, except text types, read as ""
            return None if value is None or kind in ("n", "s", "b", "e", "inlineStr") else ""
        if kind == "n":
            # calamine keeps what is not a number as text; Python's float() would also take
            # surrounding spaces, "1_000" and non-ASCII digits
            if not value.isascii() or "_" in value or value.strip() != value:
                return value
            try:
                number = float(value)
            except ValueError:
                return value
            if style is not None:
                index = int(style) if style.isdigit() else 0
                if index < len(kinds) and kinds[index] != PLAIN:
                    return serial(number, kinds[index], is_1904)
            return number
        if kind == "s":
            # calamine reads an index that is not a number as 0
            return strings[int(value) if value.isascii() and value.isdigit() else 0]
        if kind == "b":
            return value != "0"
        if kind == "e":
            return ""  # #N/A, #DIV/0!...: empty, as calamine gives an error cell
        if kind == "d":
            return iso_moment(value)
        return value  # "str" (a formula's text) and anything else

    def end(name: str) -> None:
        nonlocal first, in_v, parts, text, phonetic, budget
        if name == c_tag:
            got = cell()
            parts = None
            if got is not None:
                if column >= len(cells):
                    cells.extend([None] * (column + 1 - len(cells)))
                cells[column] = got
                if first is None or column < first:
                    first = column
        elif name == v_tag:
            in_v = False
        elif name == t_tag:
            if text is not None and parts is not None:
                parts.append(t_text(text, preserve))
                budget -= 1
                if budget < 0:
                    raise Refused(too_long)
            text = None
        elif name == row_tag:
            done.append((row_number, cells, first))
        elif name == phonetic_tag:
            phonetic -= 1

    return start, end, data


StreamedRow = tuple[list[Any], int | None]


def open_streamed(path: Path, sheet: str | None) -> tuple[str, Generator[StreamedRow]] | None:
    """The sheet named ``sheet`` (else the first) and its rows, when it is large enough to be
    streamed: every row from Excel row 1 on (a missing one empty) as its cells by column
    index from A (None where there is no value) and the index of its first used cell (None
    for none). Close the rows to close the file. None when calamine is to read the sheet: a
    small one, or a file that is not an XLSX zip of transitional SpreadsheetML."""
    try:
        archive = zipfile.ZipFile(path)
    except (*DAMAGED, RuntimeError):
        return None  # not a zip (XLS, empty, truncated): calamine says what it is
    try:
        part = sheet_part(archive, sheet)
    except Refused as exc:
        archive.close()
        raise UnreadableWorkbook(f"not a readable XLSX workbook: {exc}") from None
    except (*DAMAGED, RuntimeError):
        part = None
    if part is not None and part.size <= STREAM_ABOVE_BYTES:
        # A sheet the scan cannot read is not given to calamine (which takes XML that expat
        # does not, such as a repeated attribute): its rectangle is unknown.
        try:
            rows, columns = extent(archive, part.path)
        except Refused as exc:
            archive.close()
            raise UnreadableWorkbook(f"not a readable XLSX workbook: {exc}") from None
        except (*DAMAGED, RuntimeError) as exc:
            archive.close()
            problem = f"not a readable XLSX workbook (truncated or damaged?): {exc}"
            raise UnreadableWorkbook(problem) from None
        if rows * columns <= CALAMINE_MAX_CELLS:
            part = None
    if part is None:
        archive.close()
        return None
    return part.name, _streamed_rows(archive, part)


def _streamed_rows(archive: zipfile.ZipFile, part: SheetPart) -> Generator[StreamedRow]:
    """The rows of ``part``; any fault of the zip or the XML met on the way is one error."""
    strings = _SharedStrings()
    try:
        with archive:
            if part.strings is not None:
                with closing(inflated(archive, part.strings)) as source:
                    _shared_strings(source, strings, part.strings)
            with closing(inflated(archive, part.path)) as xml:
                yield from _parsed_rows(
                    xml, _SheetParser(part.path, strings, part.kinds, part.is_1904)
                )
    except Refused as exc:
        raise UnreadableWorkbook(f"not a readable XLSX workbook: {exc}") from None
    except DAMAGED as exc:
        problem = f"not a readable XLSX workbook (truncated or damaged?): {exc}"
        raise UnreadableWorkbook(problem) from None
    finally:
        strings.close()


def _parsed_rows(xml: Iterator[bytes], parser: _SheetParser) -> Generator[StreamedRow]:
    """Every row from Excel row 1 on (a missing one empty), with its first used column."""
    expected = 1
    for chunk in chain(xml, (b"",)):
        for number, cells, first in parser.feed(chunk, final=not chunk):
            while expected < number:
                expected += 1
                yield [], None
            expected = number + 1
            yield cells, first


__all__ = [
    "CALAMINE_MAX_CELLS",
    "CELL_TEXT_MAX_CHARS",
    "COLUMN_LIMIT",
    "SHARED_STRINGS_MAX",
    "STREAM_ABOVE_BYTES",
    "STRINGS_IN_MEMORY_BYTES",
    "StreamedRow",
    "UnreadableWorkbook",
    "open_streamed",
]
