"""XLSX sources: workbooks written with openpyxl, read with types kept (whole numbers as int,
dates as date/datetime), positions as Excel numbers rows, and damaged workbooks refused."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from connectors.sources import SourceError, SourceRow, open_source


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


BUSINESSES = [
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
    sheets = {
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
