"""XLSX sources: workbooks written with openpyxl, read with types kept (whole numbers as int,
dates as date/datetime), positions as Excel numbers rows, and damaged workbooks refused.

Every test runs on both readers: calamine (a sheet up to ``STREAM_ABOVE_BYTES`` of XML) and the
streamed one (the threshold lowered so that every sheet is "large"), the latter also with its
shared strings in a temporary file (``STRINGS_IN_MEMORY_BYTES`` lowered)."""

from __future__ import annotations

import unicodedata
import zipfile
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from connectors.sources import SourceError, SourceRow, open_source, xlsx_file, xlsx_stream


@pytest.fixture(autouse=True, params=["calamine", "streamed", "streamed-strings-in-file"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if request.param.startswith("streamed"):
        monkeypatch.setattr(xlsx_stream, "STREAM_ABOVE_BYTES", -1)
    if request.param == "streamed-strings-in-file":
        monkeypatch.setattr(xlsx_stream, "STRINGS_IN_MEMORY_BYTES", 0)
    yield request.param


def workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    first = True
    for name, rows in sheets.items():
        sheet = book.active if first else book.create_sheet(name)
        assert sheet is not None
        sheet.title = name
        first = False
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


async def read_all(config: dict[str, Any]) -> list[SourceRow]:
    async with open_source("xlsx", config) as source:
        return [row async for batch in source.batches(size=2) for row in batch]


BUSINESSES: list[list[Any]] = [
    ["ma_so_thue", "ten", "von", "ngay_cap", "cap_nhat_luc", "hoat_dong"],
    [1234567890, "Công ty Quảng Ngãi", 1500000.5, date(2020, 5, 1), datetime(2024, 1, 2, 3), True],
    [4300000001, unicodedata.normalize("NFD", "Hợp tác xã Tư Nghĩa"), 2e9, None, None, False],
]


async def test_values_keep_their_types(tmp_path: Path) -> None:
    path = workbook(tmp_path / "a.xlsx", {"Đất": BUSINESSES})
    rows = await read_all({"path": str(path)})
    assert rows == [
        SourceRow(
            "sheet Đất row 2",
            {
                "ma_so_thue": 1234567890,
                "ten": "Công ty Quảng Ngãi",
                "von": 1500000.5,
                "ngay_cap": date(2020, 5, 1),
                "cap_nhat_luc": datetime(2024, 1, 2, 3),
                "hoat_dong": True,
            },
        ),
        SourceRow(
            "sheet Đất row 3",
            {
                "ma_so_thue": 4300000001,
                "ten": "Hợp tác xã Tư Nghĩa",  # NFC although written decomposed
                "von": 2000000000,
                "ngay_cap": None,
                "cap_nhat_luc": None,
                "hoat_dong": False,
            },
        ),
    ]
    assert isinstance(rows[1].values["von"], int)


async def test_named_sheet_and_header_row(tmp_path: Path) -> None:
    sheets: dict[str, list[list[Any]]] = {
        "Bìa": [["nothing here"]],
        "Số liệu": [["Báo cáo năm 2024"], [], ["ma", "ten"], [1, "a"], [], [2, "b"]],
    }
    path = workbook(tmp_path / "a.xlsx", sheets)
    config = {"path": str(path), "sheet": "Số liệu", "header_row": 3}
    async with open_source("xlsx", config) as source:
        assert await source.columns() == ["ma", "ten"]
    rows = await read_all(config)
    assert [(r.position, r.values) for r in rows] == [
        ("sheet Số liệu row 4", {"ma": 1, "ten": "a"}),
        ("sheet Số liệu row 6", {"ma": 2, "ten": "b"}),
    ]


async def test_tcvn3_cells_are_decoded(tmp_path: Path) -> None:
    # A legacy-font workbook stores the font's bytes as the Latin-1 characters they show.
    path = workbook(tmp_path / "a.xlsx", {"S": [["ten"], ["Qu¶ng Ng·i"], ["®Êt ®ai"]]})
    rows = await read_all({"path": str(path), "encoding": "tcvn3"})
    assert [r.values["ten"] for r in rows] == ["Quảng Ngãi", "đất đai"]


async def test_vni_cells_are_decoded(tmp_path: Path) -> None:
    path = workbook(tmp_path / "a.xlsx", {"S": [["ten"], ["Nguyeãn Vaên Ñöùc"]]})
    rows = await read_all({"path": str(path), "encoding": "vni"})
    assert rows[0].values["ten"] == "Nguyễn Văn Đức"


async def test_unicode_cell_in_a_tcvn3_workbook_is_mixed_encodings(tmp_path: Path) -> None:
    path = workbook(tmp_path / "a.xlsx", {"S": [["ma", "ten"], [1, "Qu¶ng"], [2, "Quảng"]]})
    with pytest.raises(SourceError, match=r"sheet S row 3 column 2: text is not in the tcvn3"):
        await read_all({"path": str(path), "encoding": "tcvn3"})


async def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"nope\.xlsx: the file does not exist"):
        await read_all({"path": str(tmp_path / "nope.xlsx")})


async def test_truncated_workbook_is_refused(tmp_path: Path) -> None:
    path = workbook(tmp_path / "a.xlsx", {"S": BUSINESSES})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match=r"a\.xlsx: not a readable XLSX workbook \(truncated"):
        await read_all({"path": str(path)})


async def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"")
    with pytest.raises(SourceError, match=r"a\.xlsx: not a readable XLSX workbook"):
        await read_all({"path": str(path)})


async def test_empty_sheet_has_no_header(tmp_path: Path) -> None:
    path = workbook(tmp_path / "a.xlsx", {"S": []})
    with pytest.raises(SourceError, match=r"sheet S row 1: the header row is empty"):
        await read_all({"path": str(path)})


async def test_header_only_gives_columns_and_no_rows(tmp_path: Path) -> None:
    path = workbook(tmp_path / "a.xlsx", {"S": [["ma", "ten"]]})
    async with open_source("xlsx", {"path": str(path)}) as source:
        assert await source.columns() == ["ma", "ten"]
        assert [batch async for batch in source.batches()] == []


async def test_missing_sheet_is_named(tmp_path: Path) -> None:
    path = workbook(tmp_path / "a.xlsx", {"S": BUSINESSES})
    with pytest.raises(SourceError, match=r"no sheet named 'Thuế'"):
        await read_all({"path": str(path), "sheet": "Thuế"})


async def test_value_under_no_header_is_refused(tmp_path: Path) -> None:
    path = workbook(tmp_path / "a.xlsx", {"S": [["ma"], [1], [2, "stray"]]})
    with pytest.raises(SourceError, match=r"sheet S row 3: a value in a column with no header"):
        await read_all({"path": str(path)})


async def test_bad_header_row_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"xlsx source: key 'header_row' must be a whole number"):
        open_source("xlsx", {"path": str(tmp_path / "a.xlsx"), "header_row": "2"})


# -- the streamed reader gives what calamine gives ------------------------------------------------


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, **config: Any) -> tuple[Any, Any]:
    """What each reader makes of ``path``: its columns and rows, or the error it raises."""
    results = []
    for threshold, in_memory in ((1 << 40, 1 << 40), (-1, 1 << 40), (-1, 0)):
        monkeypatch.setattr(xlsx_stream, "STREAM_ABOVE_BYTES", threshold)
        monkeypatch.setattr(xlsx_stream, "STRINGS_IN_MEMORY_BYTES", in_memory)
        source = xlsx_file.XlsxSource(xlsx_file.SourceConfig("xlsx", {"path": str(path), **config}))
        try:
            result: Any = (source._read_columns(), [(r.position, r.values) for r in source._rows()])
        except SourceError as exc:
            result = str(exc)
        results.append(result)
    assert results[2] == results[1]  # shared strings in a file or in memory: the same
    return results[0], results[1]


def _cells_of_every_kind(path: Path, rows: int) -> Path:
    """A sheet starting at column C under a title, with numbers, text, booleans, errors and
    numbers in every kind of date, time and duration format, over ``rows`` rows."""
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Số liệu"
    sheet["C1"] = "Báo cáo"
    header = ["ma", "ten", "so", "ngay", "luc", "gio", "khoang", "loi", "co", "tien"]
    for index, name in enumerate(header):
        sheet.cell(row=3, column=3 + index, value=name)
    formats = {"ngay": "dd/mm/yyyy", "luc": "yyyy-mm-dd hh:mm:ss.000", "gio": "h:mm AM/PM"}
    formats |= {"khoang": "[h]:mm:ss", "tien": '#,##0 "đ";[Red]-#,##0'}
    for number in range(rows):
        line = 4 + number + number // 7  # a blank row now and then
        serial = 40000 + number * 1.37 - (number % 5) * 0.25
        values: list[Any] = [
            number * 10_000_000_000 + 1,
            unicodedata.normalize("NFD", f"Hợp tác xã {number}") if number % 3 else None,
            [1.5, -0.0, 2**60, 12345678901234567890, 1e-7, 7.0][number % 6],
            [serial, 60, 59.5, 1, 0.999999999, 2958466][number % 6],
            [serial, 45000.0, 45000.5, 0.25, -3.5, 45000.123456789][number % 6],
            [0.0, 0.5, 0.75, 0.3333333333, 1.25][number % 5],
            [1.5, 0.000005, 100.25, -1.0][number % 4],
            ["#DIV/0!", "#N/A", None][number % 3],
            number % 2 == 0,
            number * 1000.5,
        ]
        for index, value in enumerate(values):
            if value is None:
                continue
            cell = sheet.cell(row=line, column=3 + index, value=value)
            if header[index] == "loi":
                cell.data_type = "e"
            if header[index] in formats:
                cell.number_format = formats[header[index]]
    book.save(path)
    return path


@pytest.mark.parametrize("reader", ["both"], indirect=True)
async def test_streamed_rows_are_calamine_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _cells_of_every_kind(tmp_path / "a.xlsx", 600)
    calamine, streamed = _both(path, monkeypatch, sheet="Số liệu", header_row=3)
    assert not isinstance(calamine, str), calamine
    columns, rows = calamine
    assert columns == ["ma", "ten", "so", "ngay", "luc", "gio", "khoang", "loi", "co", "tien"]
    assert len(rows) == 600 and rows[7][0] == "sheet Số liệu row 12"
    kinds = {type(v) for _, values in rows for v in values.values()}
    assert {int, float, str, bool, date, datetime, time, timedelta, type(None)} <= kinds
    assert streamed == calamine


@pytest.mark.parametrize("reader", ["both"], indirect=True)
async def test_streamed_1904_workbook_is_read_as_calamine_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = openpyxl.Workbook()
    book.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    sheet = book.active
    assert sheet is not None
    sheet.append(["ngay", "luc"])
    for day in range(1, 40000, 997):  # (serial 0, under 1, is a time for calamine)
        sheet.append([datetime(1904, 1, 1) + timedelta(days=day), day + 0.5])
        sheet.cell(row=sheet.max_row, column=2).number_format = "d/m/yy h:mm"
    book.save(tmp_path / "a.xlsx")
    calamine, streamed = _both(tmp_path / "a.xlsx", monkeypatch)
    assert not isinstance(calamine, str), calamine
    assert calamine[1][0][1] == {"ngay": date(1904, 1, 2), "luc": datetime(1904, 1, 2, 12)}
    assert streamed == calamine


@pytest.mark.parametrize("reader", ["both"], indirect=True)
@pytest.mark.parametrize(
    ("sheet", "header_row", "error"),
    [
        ({"B1": "ma", "C1": "ten", "B2": 1, "A9": "lề"}, 1, "row 1: header column 1 has no name"),
        ({"A1": "Báo cáo", "B3": "ma", "B4": 1}, 3, "row 3: header column 1 has no name"),
        ({"B1": "ma", "D1": "ten", "B2": 1}, 1, "header column 2 has no name"),
        ({"B1": "ma", "B2": "Qu¶ng", "C3": "Quảng"}, 1, "row 3: a value in a column with no head"),
        ({"C1": "ma", "D1": "ten", "D2": "Quảng"}, 1, "row 2 column 2: text is not in the tcvn3"),
        ({"C1": "ma", "D1": "ma"}, 1, "header names column 'ma' twice"),
        ({"C5": "ma"}, 4, "row 4: the header row is empty"),
        ({"C5": "ma"}, 6, "row 6: the header row is empty"),
    ],
)
async def test_streamed_errors_are_calamine_errors(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sheet: dict[str, Any],
    header_row: int,
    error: str,
) -> None:
    book = openpyxl.Workbook()
    assert book.active is not None
    for where, value in sheet.items():
        book.active[where] = value
    book.save(tmp_path / "a.xlsx")
    config = {"encoding": "tcvn3", "header_row": header_row}
    calamine, streamed = _both(tmp_path / "a.xlsx", monkeypatch, **config)
    assert isinstance(calamine, str) and error in calamine, calamine
    assert streamed == calamine


async def test_damaged_sheet_is_refused_while_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The zip's directory is whole (so the sheet is measured and streamed) but the sheet's
    compressed data is damaged half-way: one clear error, whichever reader meets it."""
    path = workbook(
        tmp_path / "a.xlsx", {"S": [["ma", "ten"]] + [[n, f"t{n}"] for n in range(9999)]}
    )
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
    data = bytearray(path.read_bytes())
    middle = info.header_offset + 30 + len(info.filename) + info.compress_size // 2
    data[middle : middle + 64] = bytes(64)
    path.write_bytes(bytes(data))
    with pytest.raises(SourceError, match=r"a\.xlsx: not a readable XLSX workbook \(truncated"):
        await read_all({"path": str(path)})


async def test_only_a_large_sheet_is_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    path = workbook(tmp_path / "a.xlsx", {"S": BUSINESSES})
    with zipfile.ZipFile(path) as archive:
        parts = ("xl/worksheets/sheet1.xml", "xl/sharedStrings.xml")
        size = sum(i.file_size for i in archive.infolist() if i.filename in parts)
    source = xlsx_file.XlsxSource(xlsx_file.SourceConfig("xlsx", {"path": str(path)}))
    assert (source._open_streamed() is not None) == reader.startswith("streamed")
    monkeypatch.setattr(xlsx_stream, "STREAM_ABOVE_BYTES", size)
    assert source._open_streamed() is None
    monkeypatch.setattr(xlsx_stream, "STREAM_ABOVE_BYTES", size - 1)
    streamed = source._open_streamed()
    assert streamed is not None and streamed[0] == "S"
    assert isinstance(streamed[1], Iterator)
    streamed[1].close()  # type: ignore[attr-defined]


# -- the streamed reader on XML as other writers (Excel, .NET, LibreOffice) write it ------------

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
_STRINGS = (
    "<si><t> trimmed </t></si>"
    '<si><t xml:space="preserve"> kept </t></si>'
    '<si><r><t>Rich</t></r><r><rPr><b/></rPr><t xml:space="preserve"> text</t></r>'
    '<rPh sb="0" eb="1"><t>PHONETIC</t></rPh></si>'
    "<si><t>line_x000D_break _x005F_x000D_</t></si>"
    "<si><t/></si>"
    "<si><t>a &amp; b &#x1EA1;</t></si>"
)
_STYLES = (
    '<numFmts count="3"><numFmt numFmtId="164" formatCode="dd/mm/yyyy"/>'
    '<numFmt numFmtId="165" formatCode="[h]:mm"/><numFmt numFmtId="14" formatCode="0.00"/>'
    '</numFmts><cellXfs count="5"><xf numFmtId="0"/><xf numFmtId="164"/><xf numFmtId="165"/>'
    '<xf numFmtId="14"/><xf numFmtId="22"/></cellXfs>'
)


def _raw_workbook(path: Path, prefix: str) -> Path:
    """A workbook written by hand: shared and inline strings with and without
    xml:space="preserve", rich text with a phonetic run, Excel escapes, entities, a custom
    format over a built-in id, error, boolean, ISO date, formula and text-typed cells, cells
    and rows without a reference, numbers that are not numbers; ``prefix`` on every element
    of the sheet (as .NET writers do)."""
    p = f"{prefix}:" if prefix else ""

    def c(ref: str | None, body: str, t: str | None = None, s: str | None = None) -> str:
        attrs = "".join(f' {k}="{v}"' for k, v in (("r", ref), ("t", t), ("s", s)) if v)
        return f"<{p}c{attrs}>{body}</{p}c>"

    def v(text: str) -> str:
        return f"<{p}v>{text}</{p}v>"

    def inline(text: str) -> str:
        return f"<{p}is><{p}t>{text}</{p}t></{p}is>"

    header = "".join(c(f"{col}1", inline(col.lower()), "inlineStr") for col in "BCDEFGH")
    shared = "".join(c(f"{col}2", v(str(i)), "s") for i, col in enumerate("BCDEFG"))
    typed = [
        c("B4", v("45000"), s="1"),
        c("C4", v("1.5"), s="2"),
        c("D4", v("45000.5"), s="3"),
        c("E4", v("45000.25"), s="4"),
        c("F4", v("#N/A"), "e"),
        c("G4", v("1"), "b"),
        c("H4", v(""), "str"),
    ]
    unreferenced = [
        c("B5", v("x"), "str"),
        c(None, inline("  in line  "), "inlineStr"),
        c(None, v("2024-01-02T03:04:05"), "d"),
        c(None, v("2024-01-02"), "d"),
        c(None, v("12:30:00"), "d"),
        c(None, v("not a date"), "d"),
        c(None, v("12345678901234567890")),
    ]
    odd = [c("B7", v("")), c("C7", ""), c("D7", v("1e3")), c("E7", v("-0")), c("F7", v(" 7 "))]
    odd += [c("G7", v("1_0")), c("H7", f"<{p}f>1+1</{p}f>" + v("2"))]
    rows = [
        f'<{p}row r="1">{header}</{p}row>',
        f'<{p}row r="2">{shared}</{p}row>',
        f'<{p}row r="4">{"".join(typed)}</{p}row>',
        f"<{p}row>{''.join(unreferenced)}</{p}row>",
        f'<{p}row r="7">{"".join(odd)}</{p}row>',
    ]
    xmlns = f'xmlns{":" + prefix if prefix else ""}="{_MAIN}"'
    declaration = '<?xml version="1.0" encoding="UTF-8"?>'
    parts = {
        "_rels/.rels": f'{declaration}<Relationships xmlns="{_PKG}"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'{declaration}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
        '<sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": f'{declaration}<Relationships xmlns="{_PKG}">'
        f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="/xl/sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{_REL}/styles" Target="styles.xml"/></Relationships>',
        "xl/worksheets/sheet1.xml": f"{declaration}<{p}worksheet {xmlns}><{p}sheetData>"
        f"{''.join(rows)}</{p}sheetData></{p}worksheet>",
        "xl/sharedStrings.xml": f'{declaration}<sst xmlns="{_MAIN}">{_STRINGS}</sst>',
        "xl/styles.xml": f'{declaration}<styleSheet xmlns="{_MAIN}">{_STYLES}</styleSheet>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize("reader", ["both"], indirect=True)
@pytest.mark.parametrize("prefix", ["", "x"])
async def test_streamed_raw_xml_is_read_as_calamine_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefix: str
) -> None:
    calamine, streamed = _both(_raw_workbook(tmp_path / "a.xlsx", prefix), monkeypatch)
    assert not isinstance(calamine, str), calamine
    columns, rows = calamine
    assert columns == ["b", "c", "d", "e", "f", "g", "h"]
    assert rows[0] == (
        "sheet S row 2",
        {"b": "trimmed", "c": " kept ", "d": "Rich text", "e": "line\rbreak _x000D_"}
        | {"f": None, "g": "a & b ạ", "h": None},
    )
    assert rows[2][1]["c"] == "in line" and rows[2][1]["h"] == 1.2345678901234567e19
    assert rows[3][1]["f"] == " 7 " and rows[3][1]["g"] == "1_0"  # text, as calamine keeps it
    assert streamed == calamine
