"""XLSX files from outside are hostile: XML tricks (a DTD, entity expansion, external
entities) and zip tricks (a directory that lies about a member's size, a member that inflates
a thousandfold, a compression method whose inflation cannot be bounded) end in one clear
error, never in expanded entities, a read file or memory out of bounds.

Each case runs on both readers: calamine (a small sheet) and the streamed one (the threshold
lowered so that every sheet is streamed). The workbook, its relationships and styles are
parsed by the hub itself for either reader (to measure the sheet), so a trick there is
refused whichever reader would read the sheet."""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import python_calamine

from connectors.sources import SourceError, SourceRow, open_source, xlsx_parts, xlsx_stream

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
SHEET = "xl/worksheets/sheet1.xml"
STRINGS = "xl/sharedStrings.xml"
BOOK = "xl/workbook.xml"

# Nine levels of ten: "lol" 10**9 times (3 GB) if expanded.
BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    + "]>"
)
EXTERNAL = '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


@pytest.fixture(params=["calamine", "streamed"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param == "streamed":
        monkeypatch.setattr(xlsx_stream, "STREAM_ABOVE_BYTES", -1)
    yield request.param


def parts(doctype: dict[str, str] | None = None, ref: str = "") -> dict[str, str]:
    """A workbook's parts: a sheet with header "ma", "ten" and one row, "ten" a shared string.
    ``doctype`` puts a DOCTYPE before the root element of the parts it names, and ``ref`` (an
    entity reference) in those of them with text: the sheet's inline header cell, the shared
    string, the sheet's name in the workbook."""
    doctype = doctype or {}
    sheet_ref, strings_ref, book_ref = (ref if p in doctype else "" for p in (SHEET, STRINGS, BOOK))
    sheet = (
        f'<worksheet xmlns="{_MAIN}"><sheetData>'
        f'<row r="1"><c r="A1" t="inlineStr"><is><t>ma{sheet_ref}</t></is></c>'
        f'<c r="B1" t="inlineStr"><is><t>ten</t></is></c></row>'
        f'<row r="2"><c r="A2"><v>1</v></c><c r="B2" t="s"><v>0</v></c></row>'
        f"</sheetData></worksheet>"
    )
    found = {
        "_rels/.rels": f'<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        BOOK: f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
        f'<sheet name="S{book_ref}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'<Relationships xmlns="{_PKG}">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
        SHEET: sheet,
        STRINGS: f'<sst xmlns="{_MAIN}"><si><t>Quảng Ngãi{strings_ref}</t></si></sst>',
        "xl/styles.xml": f'<styleSheet xmlns="{_MAIN}"><cellXfs count="1"><xf numFmtId="0"/>'
        "</cellXfs></styleSheet>",
    }
    return {name: _DECLARATION + doctype.get(name, "") + text for name, text in found.items()}


def write(path: Path, contents: dict[str, str | bytes], method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", method) as archive:
        for name, text in contents.items():
            archive.writestr(name, text)
    return path


async def read_all(path: Path) -> list[SourceRow]:
    async with open_source("xlsx", {"path": str(path)}) as source:
        return [row async for batch in source.batches() for row in batch]


async def test_the_plain_workbook_is_read(tmp_path: Path, reader: str) -> None:
    rows = await read_all(write(tmp_path / "a.xlsx", dict(parts())))
    assert rows == [SourceRow("sheet S row 2", {"ma": 1, "ten": "Quảng Ngãi"})]


# -- XML: a DTD anywhere is refused before anything is expanded ---------------------------------


@pytest.mark.parametrize(
    ("part", "doctype", "ref"),
    [
        (SHEET, BILLION_LAUGHS, "&lol9;"),
        (SHEET, EXTERNAL, "&xxe;"),
        (STRINGS, BILLION_LAUGHS, "&lol9;"),
        (STRINGS, EXTERNAL, "&xxe;"),
    ],
)
async def test_dtd_in_the_sheet_or_strings_is_refused(
    tmp_path: Path, reader: str, part: str, doctype: str, ref: str
) -> None:
    """Refused at the DOCTYPE: the sheet by either reader (it is scanned for its extent before
    calamine reads it), the shared strings when streamed. calamine (quick-xml) skips a DOCTYPE
    and expands no entity of it: the reference is its "unrecognized entity" error."""
    path = write(tmp_path / "a.xlsx", dict(parts({part: doctype}, ref)))
    refs = {SHEET: f"<t>ma{ref}</t>", STRINGS: f"<t>Quảng Ngãi{ref}</t>"}
    assert refs[part] in parts({part: doctype}, ref)[part]
    if reader == "streamed" or part == SHEET:
        message = rf"a\.xlsx: not a readable XLSX workbook: {part}: DTD/entities are not allowed"
    else:
        message = rf"a\.xlsx: not a readable XLSX workbook \(truncated or damaged\?\).*{ref}"
    with pytest.raises(SourceError, match=message):
        await read_all(path)


@pytest.mark.parametrize("part", [SHEET, STRINGS])
async def test_an_unused_dtd_is_refused_too(tmp_path: Path, reader: str, part: str) -> None:
    """A DOCTYPE that nothing refers to is refused all the same, but in the shared strings
    calamine reads: it skips the DOCTYPE and reads the cells."""
    path = write(tmp_path / "a.xlsx", dict(parts({part: EXTERNAL})))
    if reader == "streamed" or part == SHEET:
        with pytest.raises(SourceError, match=f"{part}: DTD/entities are not allowed"):
            await read_all(path)
    else:
        assert await read_all(path) == [SourceRow("sheet S row 2", {"ma": 1, "ten": "Quảng Ngãi"})]


@pytest.mark.parametrize("part", [BOOK, "xl/_rels/workbook.xml.rels", "_rels/.rels"])
@pytest.mark.parametrize("doctype", [BILLION_LAUGHS, EXTERNAL])
async def test_dtd_in_the_workbook_is_refused_by_either_reader(
    tmp_path: Path, reader: str, part: str, doctype: str
) -> None:
    ref = "&lol9;" if doctype == BILLION_LAUGHS else "&xxe;"
    path = write(tmp_path / "a.xlsx", dict(parts({part: doctype}, ref)))
    message = rf"a\.xlsx: not a readable XLSX workbook: {part}: DTD/entities are not allowed"
    with pytest.raises(SourceError, match=message):
        await read_all(path)


async def test_dtd_in_the_styles_is_refused_by_either_reader(tmp_path: Path, reader: str) -> None:
    path = write(tmp_path / "a.xlsx", dict(parts({"xl/styles.xml": BILLION_LAUGHS})))
    with pytest.raises(SourceError, match=r"xl/styles\.xml: DTD/entities are not allowed"):
        await read_all(path)


async def test_the_refusal_is_the_whole_error(tmp_path: Path, reader: str) -> None:
    path = write(tmp_path / "a.xlsx", dict(parts({BOOK: EXTERNAL}, "&xxe;")))
    with pytest.raises(SourceError) as caught:
        await read_all(path)
    assert str(caught.value) == (
        f"xlsx source: {path}: not a readable XLSX workbook: {BOOK}: DTD/entities are not allowed"
    )
    assert "root:" not in str(caught.value)  # nothing of /etc/passwd


# -- zip: a member inflates no further than its zip entry says, a chunk at a time ---------------


def many_rows(count: int) -> dict[str, str]:
    """The plain workbook with ``count`` more rows, all the same (their XML, without cell
    references, compresses a hundredfold), and as many more shared strings."""
    found = parts()
    more = '<row><c><v>1</v></c><c t="s"><v>0</v></c></row>' * count
    found[SHEET] = found[SHEET].replace("</sheetData>", more + "</sheetData>")
    found[STRINGS] = found[STRINGS].replace("</sst>", "<si><t>x</t></si>" * count + "</sst>")
    return found


def lie_about_size(path: Path, member: str, size: int, forge_crc: bool) -> None:
    """Rewrite ``member``'s entry in the zip's central directory to declare ``size`` inflated
    bytes (and, with ``forge_crc``, the CRC of the first ``size`` bytes, so that the CRC does
    not give the lie away)."""
    with zipfile.ZipFile(path) as archive:
        content = archive.read(member)
    rewrite_entry(path, member, size, zlib.crc32(content[:size]) if forge_crc else None)


def rewrite_entry(path: Path, member: str, size: int | None, crc: int | None) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while data[at + 46 : at + 46 + len(member)] != member.encode():
        at = data.find(b"PK\x01\x02", at + 4)
    assert at > 0
    if size is not None:
        struct.pack_into("<I", data, at + 24, size)
    if crc is not None:
        struct.pack_into("<I", data, at + 16, crc)
    path.write_bytes(bytes(data))


async def test_a_wrong_crc_is_refused(tmp_path: Path, reader: str) -> None:
    path = write(tmp_path / "a.xlsx", dict(many_rows(2000)))
    with zipfile.ZipFile(path) as archive:
        crc = archive.getinfo(SHEET).CRC
    rewrite_entry(path, SHEET, None, crc ^ 1)
    message = "Bad CRC-32 for file 'xl/worksheets/sheet1.xml'" if reader == "streamed" else "crc"
    with pytest.raises(SourceError, match=message):
        await read_all(path)


@pytest.mark.parametrize("forge_crc", [False, True])
@pytest.mark.parametrize("member", [SHEET, STRINGS])
async def test_a_member_longer_than_its_entry_says_is_refused(
    tmp_path: Path, reader: str, member: str, forge_crc: bool
) -> None:
    """Refused as soon as the member inflates one byte past its declared size (the sheet by
    either reader, scanned before calamine reads it); calamine (the zip crate) refuses the
    shared strings' lie too."""
    path = write(tmp_path / "a.xlsx", dict(many_rows(2000)))
    lie_about_size(path, member, 10_000, forge_crc)
    if reader == "streamed" or member == SHEET:
        message = rf"not a readable XLSX workbook: {member}: inflates past the 10000 bytes"
    else:
        message = r"declared uncompressed size"
    with pytest.raises(SourceError, match=message):
        await read_all(path)


async def test_a_member_longer_than_declared_is_cut_by_zipfile_too(tmp_path: Path) -> None:
    """What the streamed reader counts on: zipfile never gives more than the declared size."""
    path = write(tmp_path / "a.xlsx", dict(many_rows(2000)))
    lie_about_size(path, SHEET, 1000, forge_crc=True)
    with zipfile.ZipFile(path) as archive:
        assert len(archive.read(SHEET)) == 1000
    path = write(tmp_path / "a.xlsx", dict(many_rows(2000)))
    lie_about_size(path, SHEET, 1000, forge_crc=False)
    with zipfile.ZipFile(path) as archive, pytest.raises(zipfile.BadZipFile, match="CRC"):
        archive.read(SHEET)


async def test_a_highly_compressed_sheet_is_inflated_a_chunk_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sheet inflating a hundredfold is parsed 64 KiB at a time; reading its columns inflates
    no more than the first chunk."""
    monkeypatch.setattr(xlsx_stream, "STREAM_ABOVE_BYTES", -1)
    path = write(tmp_path / "a.xlsx", dict(many_rows(80_000)))
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(SHEET)
    assert info.file_size > 100 * info.compress_size and info.file_size > 3_000_000
    fed: list[int] = []
    feed = xlsx_stream._SheetParser.feed

    def counted(self: Any, chunk: bytes, final: bool = False) -> Any:
        fed.append(len(chunk))
        return feed(self, chunk, final)

    monkeypatch.setattr(xlsx_stream._SheetParser, "feed", counted)
    async with open_source("xlsx", {"path": str(path)}) as source:
        assert await source.columns() == ["ma", "ten"]
        assert fed == [64 * 1024]
        fed.clear()
        rows = [row async for batch in source.batches() for row in batch]
    assert len(rows) == 80_001 and rows[-1].values == {"ma": 1, "ten": "Quảng Ngãi"}
    assert max(fed) == 64 * 1024 and sum(fed) == info.file_size
    assert len(fed) == -(-info.file_size // (64 * 1024)) + 1  # (the last: the end, empty)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
async def test_a_sheet_compressed_as_excel_never_does_is_refused(
    tmp_path: Path, reader: str, method: int
) -> None:
    """zipfile inflates a bzip2 or LZMA chunk whole: 64 KiB of it can be gigabytes. Neither
    reader takes one (nor would calamine's zip crate)."""
    path = write(tmp_path / "a.xlsx", {SHEET: parts()[SHEET]}, method)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts().items():
            if name != SHEET:
                archive.writestr(name, text)
    message = rf"workbook: {SHEET}: compression method {method} is not supported"
    with pytest.raises(SourceError, match=message):
        await read_all(path)
    book = python_calamine.CalamineWorkbook.from_path(str(path))
    with pytest.raises(python_calamine.CalamineError, match="compression method not supported"):
        book.get_sheet_by_name("S")


@pytest.mark.parametrize("member", [BOOK, "_rels/.rels", "xl/styles.xml"])
async def test_a_workbook_part_compressed_as_excel_never_does_is_refused(
    tmp_path: Path, reader: str, member: str
) -> None:
    path = write(tmp_path / "a.xlsx", {member: parts()[member]}, zipfile.ZIP_BZIP2)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts().items():
            if name != member:
                archive.writestr(name, text)
    with pytest.raises(SourceError, match=rf"{member}: compression method 12 is not supported"):
        await read_all(path)


async def test_a_workbook_part_past_its_limit_is_refused(
    tmp_path: Path, reader: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = parts()
    contents["xl/styles.xml"] = contents["xl/styles.xml"].replace(
        "</cellXfs>", '<xf numFmtId="0"/>' * 10_000 + "</cellXfs>"
    )
    path = write(tmp_path / "a.xlsx", dict(contents))
    assert (await read_all(path))[0].values == {"ma": 1, "ten": "Quảng Ngãi"}
    monkeypatch.setattr(xlsx_parts, "SMALL_PART_MAX_BYTES", 100_000)
    with pytest.raises(SourceError, match=r"xl/styles\.xml: 1\d{5} bytes inflated, more than"):
        await read_all(path)


# -- the streamed reader's bounds on what one cell, row or column may cost ----------------------


@pytest.mark.parametrize(
    ("cells", "error"),
    [
        ('<row r="4000000000"><c><v>1</v></c></row>', "row 4000000000 is past Excel's last row"),
        ("<row>" + "<c/>" * 18_279 + "</row>", "a row with more than 18278 columns"),
        (f"<row><c><v>{'1' * 70_000}</v></c></row>", "a cell's text is longer than 65536"),
        (
            f'<row><c t="inlineStr"><is><t>{"a" * 40_000}</t><t>{"b" * 40_000}</t></is></c></row>',
            "a cell's text is longer than 65536",
        ),
        (
            '<row><c t="inlineStr"><is>' + "<r><t/></r>" * 70_000 + "</is></c></row>",
            "a cell's text is longer than 65536",
        ),
        (f'<row><c r="A3" s="{"0" * 2_000_000}"/></row>', "a tag or comment longer than"),
        (f"<!--{'x' * 2_000_000}-->", "a tag or comment longer than 1048576 bytes"),
    ],
)
async def test_a_cell_row_or_column_past_the_bounds_is_refused_while_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cells: str, error: str
) -> None:
    """(Not on calamine: it holds a sheet whole, every cell of its rectangle, so a cell at row
    4,000,000,000 would have it ask for terabytes.)"""
    monkeypatch.setattr(xlsx_stream, "STREAM_ABOVE_BYTES", -1)
    monkeypatch.setattr(xlsx_stream, "CELL_TEXT_MAX_CHARS", 65_536)
    contents = parts()
    contents[SHEET] = contents[SHEET].replace("</sheetData>", cells + "</sheetData>")
    path = write(tmp_path / "a.xlsx", dict(contents))
    with pytest.raises(SourceError, match=rf"workbook: {SHEET}: {error}"):
        await read_all(path)


async def test_a_shared_string_past_the_bound_is_refused_while_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx_stream, "STREAM_ABOVE_BYTES", -1)
    monkeypatch.setattr(xlsx_stream, "CELL_TEXT_MAX_CHARS", 65_536)
    contents = parts()
    contents[STRINGS] = contents[STRINGS].replace("</sst>", f"<si><t>{'a' * 70_000}</t></si></sst>")
    path = write(tmp_path / "a.xlsx", dict(contents))
    with pytest.raises(SourceError, match=rf"{STRINGS}: a string longer than 65536 characters"):
        await read_all(path)


# -- calamine holds the sheet's whole rectangle: a far cell is streamed instead ------------------


async def test_a_value_far_out_is_streamed_not_given_to_calamine(
    tmp_path: Path, reader: str
) -> None:
    """A 2 KB sheet with a value at XFD100000 would have calamine ask for 52 GB (and abort the
    process): either reader streams it, and the value is met as the stray it is."""
    contents = parts()
    far = '<row r="100000"><c r="XFD100000"><v>1</v></c></row>'
    contents[SHEET] = contents[SHEET].replace("</sheetData>", far + "</sheetData>")
    path = write(tmp_path / "a.xlsx", dict(contents))
    assert path.stat().st_size < 2000
    message = r"sheet S row 100000: a value in a column with no header name"
    with pytest.raises(SourceError, match=message):
        await read_all(path)


@pytest.mark.parametrize(
    "row",
    [
        '<row r="3"><c r="XFD100000"><v>1</v></c></row>',  # the cell's row, not its row's
        '<row r="3" xmlns:y="urn:y"><y:c r="XFD100000"><y:v>1</y:v></y:c></row>',  # any prefix
        '<row r="100000"><c r="XFD3"><v>1</v></c></row>',
    ],
)
async def test_the_rectangle_is_measured_as_calamine_might_read_it(
    tmp_path: Path, reader: str, row: str
) -> None:
    contents = parts()
    contents[SHEET] = contents[SHEET].replace("</sheetData>", row + "</sheetData>")
    path = write(tmp_path / "a.xlsx", dict(contents))
    with zipfile.ZipFile(path) as archive:
        rows, columns = xlsx_parts.extent(archive, SHEET)
    assert rows >= 100_000 and columns == 16_384
    assert xlsx_stream.open_streamed(path, None) is not None  # (not given to calamine)


async def test_positions_without_references_count_as_calamine_might_count_them(
    tmp_path: Path,
) -> None:
    contents = parts()
    more = '<row r="1"><c r="A1"/><c/><c/><c r="A1"/><c><v>1</v></c></row>' * 3
    contents[SHEET] = contents[SHEET].replace("</sheetData>", more + "</sheetData>")
    path = write(tmp_path / "a.xlsx", dict(contents))
    with zipfile.ZipFile(path) as archive:
        assert xlsx_parts.extent(archive, SHEET) == (5, 5)  # the 5th cell of the 5th row


async def test_only_a_sheet_with_a_large_rectangle_is_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contents = parts()
    contents[SHEET] = contents[SHEET].replace(
        "</sheetData>", '<row r="9"><c r="B9" s="0"/><c r="C9"><f>1</f></c></row></sheetData>'
    )
    path = write(tmp_path / "a.xlsx", dict(contents))
    monkeypatch.setattr(xlsx_stream, "CALAMINE_MAX_CELLS", 4)  # 2 rows of 2: cells without
    assert xlsx_stream.open_streamed(path, None) is None  # a value do not count
    monkeypatch.setattr(xlsx_stream, "CALAMINE_MAX_CELLS", 3)
    streamed = xlsx_stream.open_streamed(path, None)
    assert streamed is not None and streamed[0] == "S"
    assert list(streamed[1]) == [(["ma", "ten"], 0), ([1.0, "Quảng Ngãi"], 0)] + [([], None)] * 7


async def test_a_far_row_is_refused_by_either_reader(tmp_path: Path, reader: str) -> None:
    contents = parts()
    far = '<row r="4000000000"><c r="A4000000000"><v>1</v></c></row>'
    contents[SHEET] = contents[SHEET].replace("</sheetData>", far + "</sheetData>")
    path = write(tmp_path / "a.xlsx", dict(contents))
    with pytest.raises(SourceError, match=r"row 4000000000 is past Excel's last row, 1048576"):
        await read_all(path)


@pytest.mark.parametrize("part", [SHEET, STRINGS])
async def test_an_endless_tag_is_refused(tmp_path: Path, reader: str, part: str) -> None:
    """expat holds a tag whole until it ends: 100 MB of one attribute, compressed to 100 KB,
    is refused 1 MiB in (by either reader: the sheet is scanned before calamine reads it, and
    100 MB of shared strings are streamed)."""
    contents = parts()
    endless = f'<x a="{"a" * 100_000_000}"/>'
    root = {SHEET: "<sheetData>", STRINGS: "<si>"}[part]
    contents[part] = contents[part].replace(root, endless + root, 1)
    path = write(tmp_path / "a.xlsx", dict(contents))
    assert path.stat().st_size < 200_000
    message = rf"workbook: {part}: a tag or comment longer than 1048576 bytes"
    with pytest.raises(SourceError, match=message):
        await read_all(path)


async def test_too_many_shared_strings_are_refused_while_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(xlsx_stream, "STREAM_ABOVE_BYTES", -1)
    contents = parts()
    contents[STRINGS] = contents[STRINGS].replace("</sst>", "<si/>" * 1000 + "</sst>")
    path = write(tmp_path / "a.xlsx", dict(contents))
    monkeypatch.setattr(xlsx_stream, "SHARED_STRINGS_MAX", 1001)
    assert len(await read_all(path)) == 1
    monkeypatch.setattr(xlsx_stream, "SHARED_STRINGS_MAX", 1000)
    with pytest.raises(SourceError, match=rf"{STRINGS}: more than 1000 shared strings"):
        await read_all(path)


@pytest.mark.parametrize(
    "row",
    [
        '<row r="3" r="3"><c r="XFD100000"><v>2</v></c></row>',  # a repeated attribute
        '<row r="3"><c r="XFD100000" t="inlineStr"><is><t>\x01</t></is></c></row>',
    ],
)
async def test_a_sheet_the_scan_cannot_read_is_not_given_to_calamine(
    tmp_path: Path, reader: str, row: str
) -> None:
    """calamine takes XML that expat does not (a repeated attribute, a control character):
    such a sheet, its rectangle unknown, is refused rather than given to calamine, which would
    have asked for 52 GB."""
    contents = parts()
    contents[SHEET] = contents[SHEET].replace("</sheetData>", row + "</sheetData>")
    path = write(tmp_path / "a.xlsx", dict(contents))
    message = r"not a readable XLSX workbook \(truncated or damaged\?\): .*line 1, column"
    with pytest.raises(SourceError, match=message):
        await read_all(path)
