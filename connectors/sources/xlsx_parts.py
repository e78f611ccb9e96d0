"""An XLSX zip's parts read as an untrusted file's: a member inflated ``CHUNK`` at a time and
never past the size its zip entry declares (its CRC checked at that end, a member compressed
otherwise than stored or deflated refused), XML parsed by an expat that refuses any DOCTYPE,
entity declaration or external entity before anything in it is expanded, and a tag or comment
past ``MARKUP_MAX_BYTES`` refused. On these: the small parts read whole (the workbook, its
relationships and styles, each refused past ``SMALL_PART_MAX_BYTES``) to find a sheet's part
and what reading it needs, and the scan of a sheet's extent (a row past Excel's last refused)
before calamine reads it. A trick is ``Refused``; a damaged zip or XML raises one of
``DAMAGED``."""

from __future__ import annotations

import copy
import posixpath
import pyexpat
import zipfile
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import NoReturn
from xml.etree import ElementTree

from connectors.sources.xlsx_formats import column_index, format_kind

# Parts read whole (the workbook, relationships, styles) larger than this are refused.
SMALL_PART_MAX_BYTES = 16 * 1024 * 1024
# A tag (its attributes) or comment past this many bytes is refused: expat holds one whole.
MARKUP_MAX_BYTES = 1024 * 1024
LAST_ROW = 1_048_576  # Excel's; a row past it is refused
CHUNK = 64 * 1024  # XML read and parsed at a time
# Excel writes members stored or deflated; calamine reads no other. zipfile inflates deflate
# only as far as asked, but a bzip2 or LZMA chunk whole (64 KiB of it can be gigabytes).
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
# What a damaged workbook raises while it is read (a truncated or corrupt zip member, bad
# XML, a shared-string index past the table, a number that is not one).
DAMAGED = (
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
    memory, never passed on to calamine (it is not one of ``DAMAGED``)."""


def hardened_expat(part: str, namespace_separator: str | None = None) -> pyexpat.XMLParserType:
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


def parse_chunk(
    parser: pyexpat.XMLParserType, chunk: bytes, final: bool, fed: int, part: str
) -> None:
    """``chunk`` parsed, ``fed`` bytes of ``part`` in all. expat holds a tag (or a comment)
    whole until it ends, however long: one that has not ended ``MARKUP_MAX_BYTES`` after it
    began is refused. (Outside its handlers, expat's byte index is just past its last event;
    text is an event as it comes, a chunk at a time.)"""
    parser.Parse(chunk, final)
    if fed - parser.CurrentByteIndex > MARKUP_MAX_BYTES:
        raise Refused(f"{part}: a tag or comment longer than {MARKUP_MAX_BYTES} bytes")


def parse_all(parser: pyexpat.XMLParserType, chunks: Iterator[bytes], part: str) -> None:
    """Every chunk of ``part`` parsed, then its end."""
    fed = 0
    for chunk in chunks:
        fed += len(chunk)
        parse_chunk(parser, chunk, False, fed, part)
    parser.Parse(b"", True)


def inflated(archive: zipfile.ZipFile, path: str) -> Generator[bytes, None, None]:
    """A zip member's bytes ``CHUNK`` at a time, never past the size its zip entry declares.
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
    total = crc = 0
    with archive.open(probe) as member:
        while chunk := member.read(CHUNK):
            total += len(chunk)
            if total > declared:
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
    return b"".join(inflated(archive, path))


@dataclass(frozen=True, slots=True)
class SheetPart:
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

    parser = hardened_expat(part, namespace_separator="}")
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
            kinds.extend(format_kind(xf.get("numFmtId"), custom) for xf in part)
    return tuple(kinds)


def sheet_part(archive: zipfile.ZipFile, wanted: str | None) -> SheetPart | None:
    """The sheet named ``wanted`` (else the first) when it is a transitional-SpreadsheetML
    worksheet part; None for anything else (calamine reads it, or says why it cannot)."""
    book_path = next(
        (p for t, p in _relations(archive, "").values() if t.endswith("/officeDocument")), None
    )
    if book_path is None:
        return None
    book = _xml(_read_small(archive, book_path), book_path)
    if book.tag != f"{{{MAIN_NS}}}workbook":
        return None
    book_rels = _relations(archive, book_path)
    sheets = [
        (sheet.get("name", ""), sheet.get(f"{{{_REL_NS}}}id", ""))
        for sheets in book.iter(f"{{{MAIN_NS}}}sheets")
        for sheet in sheets
    ]
    chosen = next((s for s in sheets if wanted is None or s[0] == wanted), None)
    if chosen is None or chosen[1] not in book_rels:
        return None
    kind, path = book_rels[chosen[1]]
    if not kind.endswith("/worksheet"):
        return None
    pr = next(book.iter(f"{{{MAIN_NS}}}workbookPr"), None)
    is_1904 = pr is not None and pr.get("date1904", "0").lower() in ("1", "true")
    by_type = {t.rpartition("/")[2]: p for t, p in book_rels.values()}
    strings = by_type.get("sharedStrings")
    if strings not in archive.namelist():
        strings = None
    return SheetPart(
        name=chosen[0],
        path=path,
        size=archive.getinfo(path).file_size
        + (archive.getinfo(strings).file_size if strings else 0),
        strings=strings,
        kinds=_style_kinds(archive, by_type.get("styles")),
        is_1904=is_1904,
    )


def extent(archive: zipfile.ZipFile, path: str) -> tuple[int, int]:
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
                        found = known[letters] = column_index(letters, ref)
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

    parser = hardened_expat(path)
    parser.StartElementHandler = start
    parse_all(parser, inflated(archive, path), path)
    return rows, columns


__all__ = [
    "CHUNK",
    "DAMAGED",
    "LAST_ROW",
    "MAIN_NS",
    "MARKUP_MAX_BYTES",
    "SMALL_PART_MAX_BYTES",
    "Refused",
    "SheetPart",
    "extent",
    "hardened_expat",
    "inflated",
    "parse_all",
    "parse_chunk",
    "sheet_part",
]
