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
cells, by calamine's own rules: number formats classified as date/time or duration as calamine
does, serials rounded to the millisecond, a whole one a date, one under 1 a time, one outside
the years 1..9999 kept as a number; text trimmed unless xml:space="preserve", ``_x00HH_``
escapes undone, phonetic runs left out; error cells empty. A file that is not an XLSX zip of
transitional SpreadsheetML (XLS, XLSB, ODS, a damaged one) is not streamed: calamine says what
is wrong with it.

An agency's file is untrusted. An XML part parsed here (the workbook, its relationships and
styles, read to measure the sheet whichever reader then reads it; the sheet, scanned for its
extent before calamine reads it; the shared strings when streamed) with a DOCTYPE, entity
declaration or external entity is refused before anything in it is expanded; so is a zip
member compressed otherwise than stored or deflated (as Excel writes) or longer than its zip
entry declares, a part read whole past ``SMALL_PART_MAX_BYTES``, a tag or comment past
``MARKUP_MAX_BYTES``, a row past Excel's last, and, streamed, a cell's text past
``CELL_TEXT_MAX_CHARS``, a column past ZZZ or more than ``SHARED_STRINGS_MAX`` shared
strings. Every such fault, and every fault of a damaged zip or XML, is one
``UnreadableWorkbook``."""

from __future__ import annotations

import copy
import math
import os
import posixpath
import pyexpat
import re
import tempfile
import zipfile
import zlib
from array import array
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import chain
from pathlib import Path
from typing import IO, Any, NoReturn
from xml.etree import ElementTree

# A sheet whose XML part (with the shared-string table's) is larger is streamed; calamine
# would hold about 1.5 times this.
STREAM_ABOVE_BYTES = 32 * 1024 * 1024
# The streamed reader's shared strings: kept in memory as UTF-8 up to this many bytes, then
# in a temporary file.
STRINGS_IN_MEMORY_BYTES = 32 * 1024 * 1024
# Parts read whole (the workbook, relationships, styles) larger than this are refused.
SMALL_PART_MAX_BYTES = 16 * 1024 * 1024
# The streamed reader refuses a cell or shared string with more text than this (Excel's own
# limit is 32,767 characters), a row past Excel's last and a column past ZZZ, so that memory
# stays bounded whatever a (highly compressed) sheet holds.
CELL_TEXT_MAX_CHARS = 1024 * 1024
LAST_ROW = 1_048_576
# ... and a shared-string table of more strings than this (8 bytes each; "<si/>" is 5 bytes of
# XML, and compresses a thousandfold).
SHARED_STRINGS_MAX = 16_000_000
# ... and a tag (its attributes) or comment past this many bytes: expat holds one whole.
MARKUP_MAX_BYTES = 1024 * 1024
COLUMN_LIMIT = 18_278  # A to ZZZ
# calamine holds a cell (some 32 bytes) for every one of the rectangle from A1 to the last row
# and column with a value, however few have one: a 2 KB sheet with a value at XFD100000 would
# have it ask for 52 GB, and abort the process. A sheet of more is streamed.
CALAMINE_MAX_CELLS = 4_000_000
# Excel writes members stored or deflated; calamine reads no other. zipfile inflates deflate
# only as far as asked, but a bzip2 or LZMA chunk whole (64 KiB of it can be gigabytes).
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# What a damaged workbook raises while it is streamed (a truncated or corrupt zip member, bad
# XML, a shared-string index past the table, a number that is not one).
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    KeyError,
    IndexError,
    ValueError,
    TypeError,
    SyntaxError,
    OSError,
    pyexpat.ExpatError,
)


class Refused(Exception):
    """A trick in the zip or its XML: a document type declaration (a DTD, entity
    declarations), a member compressed otherwise than Excel does or inflating past its declared
    size, a part, cell, row or column past what a workbook can have. Refused before it costs
    memory, never passed on to calamine (it is not one of ``_DAMAGED``)."""


def _expat(part: str, namespace_separator: str | None = None) -> pyexpat.XMLParserType:
    """An expat parser that refuses any DOCTYPE, entity declaration or external entity
    reference in ``part`` (as defusedxml does): an agency's file is untrusted, and nothing in
    SpreadsheetML needs a DTD."""

    def refuse(*_: object) -> NoReturn:
        raise Refused(f"{part}: DTD/entities are not allowed")

    parser = pyexpat.ParserCreate(namespace_separator=namespace_separator)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    return parser


def _parse_chunk(
    parser: pyexpat.XMLParserType, chunk: bytes, final: bool, fed: int, part: str
) -> None:
    """``chunk`` parsed, ``fed`` bytes of ``part`` in all. expat holds a tag (or a comment)
    whole until it ends, however long: one that has not ended ``MARKUP_MAX_BYTES`` after it
    began is refused. (Outside its handlers, expat's byte index is just past its last event;
    text is an event as it comes, a chunk at a time.)"""
    parser.Parse(chunk, final)
    if fed - parser.CurrentByteIndex > MARKUP_MAX_BYTES:
        raise Refused(f"{part}: a tag or comment longer than {MARKUP_MAX_BYTES} bytes")


def _parse(parser: pyexpat.XMLParserType, chunks: Iterator[bytes], part: str) -> None:
    fed = 0
    for chunk in chunks:
        fed += len(chunk)
        _parse_chunk(parser, chunk, False, fed, part)
    parser.Parse(b"", True)


def _inflated(archive: zipfile.ZipFile, path: str) -> Generator[bytes, None, None]:
    """A zip member's bytes ``_CHUNK`` at a time, never past the size its zip entry declares.
    zipfile inflates a deflated member only as far as asked, and cuts it at the declared size
    (where a CRC that is not forged too would fail). Here it is asked for one byte more, so
    that a member longer than declared is refused by what it is; the CRC is checked here (at
    the declared end), not by zipfile (which would check it at the byte past it)."""
    info = archive.getinfo(path)
    if info.compress_type not in _METHODS:
        raise Refused(f"{path}: compression method {info.compress_type} is not supported")
    declared = info.file_size
    probe = copy.copy(info)
    probe.file_size = declared + 1
    del probe.CRC  # (zipfile checks a CRC only when its entry has one)
    inflated = crc = 0
    with archive.open(probe) as member:
        while chunk := member.read(_CHUNK):
            inflated += len(chunk)
            if inflated > declared:
                raise Refused(f"{path}: inflates past the {declared} bytes its zip entry declares")
            crc = zlib.crc32(chunk, crc)
            yield chunk
    if crc != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {path!r}")


def _read_small(archive: zipfile.ZipFile, path: str) -> bytes:
    """A part read whole (the workbook, relationships, styles), refused when its declared size
    is past ``SMALL_PART_MAX_BYTES`` (it is not read past that size)."""
    size = archive.getinfo(path).file_size
    if size > SMALL_PART_MAX_BYTES:
        limit = SMALL_PART_MAX_BYTES
        raise Refused(f"{path}: {size} bytes inflated, more than the {limit} such a part may have")
    return b"".join(_inflated(archive, path))


# Number formats as calamine classifies them (calamine's formats.rs): plain, date/time, duration.
_PLAIN, _DATETIME, _DURATION = 0, 1, 2
_BUILTIN_DATETIME_IDS = frozenset(
    {"14", "15", "16", "17", "18", "19", "20", "21", "22", "45", "47"}
)
_BUILTIN_DURATION_ID = "46"
_EXCEL_EPOCH = datetime(1899, 12, 30)
_EXCEL_ESCAPE = re.compile("_x00([0-9A-Fa-f]{2})_")
_STRIPPED = " \t\r\n"  # what calamine trims from text not marked xml:space="preserve"
_CHUNK = 64 * 1024  # XML read and parsed at a time
_DAY_MS = 86_400_000
_EPOCH_1904_DAYS = 1462.0


def _custom_format_kind(code: str) -> int:
    """calamine's ``detect_custom_number_format``: the first section's date/time or duration
    tokens outside quotes, escapes and (except ``[h]``/``[m]``/``[s]``) brackets."""
    escaped = is_quote = ap = hms = False
    brackets = 0
    prev = " "
    for char in code:
        if escaped:
            escaped = False
        elif char in "_\\*":
            escaped = True
        elif is_quote:
            if char == '"':
                is_quote = False
        elif char == '"':
            is_quote = True
        elif char == ";":
            return _PLAIN
        elif char == "[":
            brackets = min(brackets + 1, 255)
        elif char == "]" and brackets == 1 and hms:
            return _DURATION
        elif char == "]":
            brackets = max(brackets - 1, 0)
        elif char in "aA" and not ap and brackets == 0:
            ap = True
        elif brackets == 0 and (char in "pm/PM" if ap else char in "dmhysDMHYS"):
            return _DATETIME
        elif not (hms and char.lower() == prev.lower()):
            hms = prev == "[" and char in "mhsMHS"
        prev = char
    return _PLAIN


def _round_half_away(value: float) -> int:
    """Rust's ``f64::round`` (halves away from zero)."""
    whole = math.trunc(value)
    if abs(value - whole) >= 0.5:
        whole += 1 if value > 0 else -1
    return whole


def _serial(value: float, kind: int, is_1904: bool) -> Any:
    """A number formatted as a date, time or duration, as python-calamine gives it."""
    if not math.isfinite(value):
        return value
    if kind == _DURATION:
        try:
            return timedelta(milliseconds=_round_half_away(value * _DAY_MS))
        except OverflowError:
            return value
    days = value + _EPOCH_1904_DAYS if is_1904 else value
    if not days >= 60.0:
        days += 1.0  # Excel's 1900-02-29 that never was
    milliseconds = _round_half_away(days * _DAY_MS)
    if value < 1.0:
        if abs(days) > 95_000_000:  # beyond chrono's dates too: calamine keeps the number
            return value
        ms = milliseconds % _DAY_MS
        return time(ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60, ms % 1000 * 1000)
    try:
        moment = _EXCEL_EPOCH + timedelta(milliseconds=milliseconds)
    except OverflowError:
        return value  # outside the years 1..9999
    return moment.date() if value.is_integer() and value < 2.0**64 else moment


def _excel_unescape(text: str) -> str:
    """Excel's ``_x00HH_`` escapes (``_x000D_`` for a carriage return), as calamine undoes them."""
    if "_x00" not in text:
        return text
    return _EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _iso_moment(text: str) -> Any:
    """A ``t="d"`` cell (ISO 8601 text) as python-calamine gives it: a datetime when it has a
    "T", a time when it has a ":", else a date; the text itself when it is none of these."""
    parse: Callable[[str], Any] = date.fromisoformat
    if "T" in text:
        parse = datetime.fromisoformat
    elif ":" in text:
        parse = time.fromisoformat
    try:
        value = parse(text)
    except ValueError:
        return text
    return text if getattr(value, "tzinfo", None) is not None else value


class _Tags:
    """Element names as expat gives them without namespace processing (which costs a third
    of the parse): the main namespace's, under the prefix the part's root element uses."""

    def __init__(self, root: str, attrs: dict[str, str], local_root: str) -> None:
        prefix, _, local = root.rpartition(":")
        declared = attrs.get(f"xmlns:{prefix}" if prefix else "xmlns")
        if local != local_root or declared != _MAIN_NS:
            raise ValueError(f"the part is not a SpreadsheetML {local_root} ({root} {declared})")
        tag = (prefix + ":") if prefix else ""
        self.sheet_data, self.row, self.c, self.v = (
            tag + n for n in ("sheetData", "row", "c", "v")
        )
        self.inline, self.t, self.phonetic, self.si = (tag + n for n in ("is", "t", "rPh", "si"))


def _text(parts: list[str], preserve: bool) -> str:
    """One ``<t>`` as calamine reads it: trimmed unless xml:space="preserve", Excel's
    ``_x00HH_`` escapes undone."""
    text = "".join(parts)
    return _excel_unescape(text if preserve else text.strip(_STRIPPED))


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
                parts.append(_text(text, preserve))
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

    parser = _expat(part)
    parser.buffer_text = True
    parser.buffer_size = _CHUNK
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    _parse(parser, source, part)
    strings.done()


Row = tuple[int, list[Any], int | None]


def _column_index(letters: str, ref: str) -> int:
    """0 for A, 25 for Z, 26 for AA ... up to XFD."""
    if not letters.isalpha() or not letters.isascii() or len(letters) > 3:
        raise ValueError(f"cell reference {ref!r}")
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - 64
    return index - 1


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
        parser = _expat(part)
        parser.buffer_text = True
        parser.buffer_size = _CHUNK
        parser.StartElementHandler = self._root
        self.parser = parser
        self.fed = 0

    def feed(self, chunk: bytes, final: bool = False) -> list[Row]:
        self.fed += len(chunk)
        _parse_chunk(self.parser, chunk, final, self.fed, self.part)
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
                    found = columns[letters] = _column_index(letters, ref)
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
                if index < len(kinds) and kinds[index] != _PLAIN:
                    return _serial(number, kinds[index], is_1904)
            return number
        if kind == "s":
            # calamine reads an index that is not a number as 0
            return strings[int(value) if value.isascii() and value.isdigit() else 0]
        if kind == "b":
            return value != "0"
        if kind == "e":
            return ""  # #N/A, #DIV/0!...: empty, as calamine gives an error cell
        if kind == "d":
            return _iso_moment(value)
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
                parts.append(_text(text, preserve))
                budget -= 1
                if budget < 0:
                    raise Refused(too_long)
            text = None
        elif name == row_tag:
            done.append((row_number, cells, first))
        elif name == phonetic_tag:
            phonetic -= 1

    return start, end, data


@dataclass(frozen=True, slots=True)
class _SheetPart:
    """Where a sheet's cells are in an XLSX zip, and what reading them needs."""

    name: str
    path: str
    size: int  # of the sheet's XML and the shared strings' together
    strings: str | None
    kinds: tuple[int, ...]  # number format kind by cell style index
    is_1904: bool


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _clark(name: str) -> str:
    """expat's ``namespace}local`` as ElementTree's ``{namespace}local``."""
    return "{" + name if "}" in name else name


def _xml(data: bytes, part: str) -> ElementTree.Element:
    """A small part of the zip (relationships, workbook, styles) parsed whole, by the same
    hardened expat as the sheet (ElementTree's own parser takes a DTD's internal entities)."""
    builder = ElementTree.TreeBuilder()

    def start(name: str, attrs: dict[str, str]) -> None:
        builder.start(_clark(name), {_clark(k): v for k, v in attrs.items()})

    parser = _expat(part, namespace_separator="}")
    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: builder.end(_clark(name))
    parser.CharacterDataHandler = builder.data
    parser.Parse(data, True)
    return builder.close()


def _relations(archive: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """A part's relationships: id -> (type, the target part's path in the zip)."""
    folder, file = posixpath.split(part)
    rels = posixpath.join(folder, "_rels", f"{file}.rels")
    found: dict[str, tuple[str, str]] = {}
    for rel in _xml(_read_small(archive, rels), rels):
        target = rel.get("Target", "")
        if target.startswith("/"):
            path = target.lstrip("/")
        else:
            path = posixpath.normpath(posixpath.join(folder, target))
        found[rel.get("Id", "")] = (rel.get("Type", ""), path)
    return found


def _style_kinds(archive: zipfile.ZipFile, path: str | None) -> tuple[int, ...]:
    if path is None or path not in archive.namelist():
        return ()
    root = _xml(_read_small(archive, path), path)
    custom: dict[str, str] = {}
    kinds: list[int] = []
    for part in root:
        if _local(part.tag) == "numFmts":
            for fmt in part:
                custom[fmt.get("numFmtId", "")] = fmt.get("formatCode", "")
        elif _local(part.tag) == "cellXfs":
            for xf in part:
                number_format = xf.get("numFmtId")
                if number_format is None:
                    kinds.append(_PLAIN)
                elif number_format in custom:
                    kinds.append(_custom_format_kind(custom[number_format]))
                elif number_format in _BUILTIN_DATETIME_IDS:
                    kinds.append(_DATETIME)
                else:
                    kinds.append(_DURATION if number_format == _BUILTIN_DURATION_ID else _PLAIN)
    return tuple(kinds)


def _sheet_part(archive: zipfile.ZipFile, wanted: str | None) -> _SheetPart | None:
    """The sheet named ``wanted`` (else the first) when it is a transitional-SpreadsheetML
    worksheet part; None for anything else (calamine reads it, or says why it cannot)."""
    book_path = next(
        (p for t, p in _relations(archive, "").values() if t.endswith("/officeDocument")), None
    )
    if book_path is None:
        return None
    book = _xml(_read_small(archive, book_path), book_path)
    if book.tag != f"{{{_MAIN_NS}}}workbook":
        return None
    book_rels = _relations(archive, book_path)
    sheets = [
        (sheet.get("name", ""), sheet.get(f"{{{_REL_NS}}}id", ""))
        for sheets in book.iter(f"{{{_MAIN_NS}}}sheets")
        for sheet in sheets
    ]
    chosen = next((s for s in sheets if wanted is None or s[0] == wanted), None)
    if chosen is None or chosen[1] not in book_rels:
        return None
    kind, path = book_rels[chosen[1]]
    if not kind.endswith("/worksheet"):
        return None
    pr = next(book.iter(f"{{{_MAIN_NS}}}workbookPr"), None)
    is_1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
    by_type = {t.rpartition("/")[2]: p for t, p in book_rels.values()}
    strings = by_type.get("sharedStrings")
    if strings not in archive.namelist():
        strings = None
    return _SheetPart(
        name=chosen[0],
        path=path,
        size=archive.getinfo(path).file_size
        + (archive.getinfo(strings).file_size if strings else 0),
        strings=strings,
        kinds=_style_kinds(archive, by_type.get("styles")),
        is_1904=is_1904,
    )


StreamedRow = tuple[list[Any], int | None]


class UnreadableWorkbook(Exception):
    """The streamed workbook cannot be read: damaged, or a trick refused. The message is one
    line, "not a readable XLSX workbook ...: what"."""


def open_streamed(path: Path, sheet: str | None) -> tuple[str, Generator[StreamedRow]] | None:
    """The sheet named ``sheet`` (else the first) and its rows, when it is large enough to be
    streamed: every row from Excel row 1 on (a missing one empty) as its cells by column
    index from A (None where there is no value) and the index of its first used cell (None
    for none). Close the rows to close the file. None when calamine is to read the sheet: a
    small one, or a file that is not an XLSX zip of transitional SpreadsheetML."""
    try:
        archive = zipfile.ZipFile(path)
    except (*_DAMAGED, RuntimeError):
        return None  # not a zip (XLS, empty, truncated): calamine says what it is
    try:
        part = _sheet_part(archive, sheet)
    except Refused as exc:
        archive.close()
        raise UnreadableWorkbook(f"not a readable XLSX workbook: {exc}") from None
    except (*_DAMAGED, RuntimeError):
        part = None
    if part is not None and part.size <= STREAM_ABOVE_BYTES:
        # A sheet the scan cannot read is not given to calamine (which takes XML that expat
        # does not, such as a repeated attribute): its rectangle is unknown.
        try:
            rows, columns = _extent(archive, part.path)
        except Refused as exc:
            archive.close()
            raise UnreadableWorkbook(f"not a readable XLSX workbook: {exc}") from None
        except (*_DAMAGED, RuntimeError) as exc:
            archive.close()
            problem = f"not a readable XLSX workbook (truncated or damaged?): {exc}"
            raise UnreadableWorkbook(problem) from None
        if rows * columns <= CALAMINE_MAX_CELLS:
            part = None
    if part is None:
        archive.close()
        return None
    return part.name, _streamed_rows(archive, part)


def _extent(archive: zipfile.ZipFile, path: str) -> tuple[int, int]:
    """At least the rows and columns, from A1, of the rectangle that holds every cell of the
    sheet with a value: calamine would hold a cell for each one of it. Read as calamine might
    read it, whichever way is larger: elements by their local name whatever their prefix, a
    cell's row from its reference (else its row's), a position without a reference as one past
    the last or as the count of elements so far. (Only start tags are looked at: a pass costs
    about 1.5 times calamine's read.)"""
    rows = columns = row = row_count = 0
    column = cell_row = -1
    cell_count = 0  # in the row
    known: dict[str, int] = {}

    def start(name: str, attrs: dict[str, str]) -> None:
        nonlocal rows, columns, row, row_count, column, cell_row, cell_count
        if ":" in name:
            name = name[name.index(":") + 1 :]
        if name == "c":
            cell_count += 1
            column += 1
            cell_row = row
            ref = attrs.get("r")
            if ref:
                letters = ref.rstrip("0123456789")
                if letters:
                    found = known.get(letters)
                    if found is None:
                        found = known[letters] = _column_index(letters, ref)
                    column = found
                    digits = ref[len(letters) :]
                    if digits and digits.isdigit() and int(digits) > row:
                        cell_row = int(digits)
                        if cell_row > LAST_ROW:
                            last = LAST_ROW
                            raise Refused(
                                f"{path}: row {cell_row} is past Excel's last row, {last}"
                            )
            if column < cell_count - 1:
                column = cell_count - 1
        elif name == "v" or name == "is":
            if cell_row > rows:
                rows = cell_row
            if column >= columns:
                columns = column + 1
        elif name == "row":
            row_count += 1
            number = attrs.get("r")
            row = int(number) if number and number.isdigit() else row + 1
            if row < row_count:
                row = row_count
            if row > LAST_ROW:
                raise Refused(f"{path}: row {row} is past Excel's last row, {LAST_ROW}")
            column, cell_count = -1, 0

    parser = _expat(path)
    parser.StartElementHandler = start
    _parse(parser, _inflated(archive, path), path)
    return rows, columns


def _streamed_rows(archive: zipfile.ZipFile, part: _SheetPart) -> Generator[StreamedRow]:
    """The rows of ``part``; any fault of the zip or the XML met on the way is one error."""
    strings = _SharedStrings()
    try:
        with archive:
            if part.strings is not None:
                with closing(_inflated(archive, part.strings)) as source:
                    _shared_strings(source, strings, part.strings)
            with closing(_inflated(archive, part.path)) as xml:
                yield from _parsed_rows(
                    xml, _SheetParser(part.path, strings, part.kinds, part.is_1904)
                )
    except Refused as exc:
        raise UnreadableWorkbook(f"not a readable XLSX workbook: {exc}") from None
    except _DAMAGED as exc:
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
    "LAST_ROW",
    "MARKUP_MAX_BYTES",
    "SHARED_STRINGS_MAX",
    "SMALL_PART_MAX_BYTES",
    "STREAM_ABOVE_BYTES",
    "STRINGS_IN_MEMORY_BYTES",
    "StreamedRow",
    "UnreadableWorkbook",
    "open_streamed",
]
