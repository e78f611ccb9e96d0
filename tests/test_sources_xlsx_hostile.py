"""XLSX files from outside are hostile: XML tricks (a DTD, entity expansion, external
entities) and zip tricks (a directory that lies about a member's size, a member that inflates
a thousandfold, a compression method whose inflation cannot be bounded) end in one clear
error, never in expanded entities, a read file or memory out of bounds.

Each case runs on both readers: calamine (a small sheet) and the streamed one (the threshold
lowered so that every sheet is streamed). The workbook, its relationships and styles are
parsed by the hub itself for either reader (to measure the sheet), so a trick there is
refused whichever reader would read the sheet."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.sources import SourceError, SourceRow, open_source
from connectors.sources import xlsx_file as reader_module

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
        monkeypatch.setattr(reader_module, "STREAM_ABOVE_BYTES", -1)
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
    """Streamed: refused at the DOCTYPE. calamine (quick-xml) skips a DOCTYPE and expands no
    entity of it: the reference is an "unrecognized entity" error."""
    path = write(tmp_path / "a.xlsx", dict(parts({part: doctype}, ref)))
    refs = {SHEET: f"<t>ma{ref}</t>", STRINGS: f"<t>Quảng Ngãi{ref}</t>"}
    assert refs[part] in parts({part: doctype}, ref)[part]
    if reader == "streamed":
        message = rf"a\.xlsx: not a readable XLSX workbook: {part}: DTD/entities are not allowed"
    else:
        message = rf"a\.xlsx: not a readable XLSX workbook \(truncated or damaged\?\).*{ref}"
    with pytest.raises(SourceError, match=message):
        await read_all(path)


@pytest.mark.parametrize("part", [SHEET, STRINGS])
async def test_an_unused_dtd_is_refused_too(tmp_path: Path, reader: str, part: str) -> None:
    """A DOCTYPE that nothing refers to: the streamed reader refuses it all the same; calamine
    skips it and reads the cells."""
    path = write(tmp_path / "a.xlsx", dict(parts({part: EXTERNAL})))
    if reader == "streamed":
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
