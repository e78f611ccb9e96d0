"""CSV sources: real files in every supported encoding, positions by physical line, and each
kind of bad file refused with a message naming the file and line."""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import pytest

from connectors.sources import SourceError, SourceRow, open_source
from tests.test_sources_encodings import cp1258_encode, tcvn3_encode, vni_encode

ROWS_TEXT = 'ma,ten,huyen\n1,Nguyễn Văn Đức,Tư Nghĩa\n2,"Trần Thị\nLan",Quảng Ngãi\n3,đất đai,\n'
EXPECTED = [
    SourceRow("line 2", {"ma": "1", "ten": "Nguyễn Văn Đức", "huyen": "Tư Nghĩa"}),
    SourceRow("line 3", {"ma": "2", "ten": "Trần Thị\nLan", "huyen": "Quảng Ngãi"}),
    SourceRow("line 5", {"ma": "3", "ten": "đất đai", "huyen": None}),
]


async def read_all(config: dict[str, Any], size: int = 5000) -> list[SourceRow]:
    async with open_source("csv", config) as source:
        return [row async for batch in source.batches(size=size) for row in batch]


def write(path: Path, data: bytes) -> dict[str, Any]:
    path.write_bytes(data)
    return {"path": str(path)}


ENCODED = {
    "utf-8": ROWS_TEXT.encode("utf-8"),
    "utf-8-sig": codecs.BOM_UTF8 + ROWS_TEXT.encode("utf-8"),
    "utf-16": ROWS_TEXT.encode("utf-16"),
    "windows-1258": cp1258_encode(ROWS_TEXT),
    "tcvn3": tcvn3_encode(
        ROWS_TEXT.replace("Nguyễn Văn Đức", "nguyễn văn đức")
        .replace("Trần Thị", "trần thị")
        .replace("Tư Nghĩa", "tư nghĩa")
        .replace("Quảng", "quảng")
    ),
    "vni": vni_encode(ROWS_TEXT),
}


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "windows-1258", "vni"])
async def test_each_declared_encoding_reads_the_same_rows(tmp_path: Path, encoding: str) -> None:
    config = write(tmp_path / "a.csv", ENCODED[encoding]) | {"encoding": encoding}
    assert await read_all(config) == EXPECTED


async def test_tcvn3_reads_lowercase_names(tmp_path: Path) -> None:
    config = write(tmp_path / "a.csv", ENCODED["tcvn3"]) | {"encoding": "tcvn3"}
    rows = await read_all(config)
    assert rows[0].values == {"ma": "1", "ten": "nguyễn văn đức", "huyen": "tư nghĩa"}
    assert rows[1].values["huyen"] == "quảng Ngãi"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "windows-1258", "vni"])
async def test_auto_detects_each_encoding(tmp_path: Path, encoding: str) -> None:
    config = write(tmp_path / "a.csv", ENCODED[encoding]) | {"encoding": "auto"}
    assert await read_all(config) == EXPECTED


async def test_auto_detects_tcvn3(tmp_path: Path) -> None:
    config = write(tmp_path / "a.csv", ENCODED["tcvn3"]) | {"encoding": "auto"}
    assert (await read_all(config))[0].values["ten"] == "nguyễn văn đức"


async def test_text_comes_back_nfc_from_decomposed_utf8(tmp_path: Path) -> None:
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "ten\nQuảng Ngãi\n").encode("utf-8")
    rows = await read_all(write(tmp_path / "a.csv", decomposed))
    assert rows[0].values["ten"] == unicodedata.normalize("NFC", "Quảng Ngãi")


async def test_columns_come_from_the_header(tmp_path: Path) -> None:
    async with open_source("csv", write(tmp_path / "a.csv", ENCODED["utf-8"])) as source:
        assert await source.columns() == ["ma", "ten", "huyen"]


async def test_delimiter_and_batches(tmp_path: Path) -> None:
    text = "a;b\n" + "".join(f"{i};x{i}\n" for i in range(7))
    config = write(tmp_path / "a.csv", text.encode()) | {"delimiter": ";"}
    async with open_source("csv", config) as source:
        sizes = [len(batch) async for batch in source.batches(size=3)]
    assert sizes == [3, 3, 1]


async def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"file .*nope\.csv does not exist"):
        await read_all({"path": str(tmp_path / "nope.csv")})


async def test_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"a\.csv is empty: no header row"):
        await read_all(write(tmp_path / "a.csv", b""))


async def test_header_only_gives_columns_and_no_rows(tmp_path: Path) -> None:
    config = write(tmp_path / "a.csv", b"ma,ten\n")
    async with open_source("csv", config) as source:
        assert await source.columns() == ["ma", "ten"]
        assert [batch async for batch in source.batches()] == []


async def test_broken_utf8_names_the_line(tmp_path: Path) -> None:
    data = "ma,ten\n1,Quảng\n".encode() + b"2,Ng\xe3i\n"
    with pytest.raises(SourceError, match=r"a\.csv line 3, byte 5 \(0xE3\) is not valid utf-8"):
        await read_all(write(tmp_path / "a.csv", data))


async def test_broken_tcvn3_byte_names_the_line(tmp_path: Path) -> None:
    data = b"ma,ten\n1,Qu\xb6ng\n2,\xc0\n"
    config = write(tmp_path / "a.csv", data) | {"encoding": "tcvn3"}
    with pytest.raises(SourceError, match=r"line 3, byte 3 \(0xC0\) is not valid tcvn3"):
        await read_all(config)


async def test_a_utf8_line_in_a_vni_file_is_mixed_encodings(tmp_path: Path) -> None:
    data = b"ma,ten\n1," + VNI_NAME + b"\n2," + "Quảng Ngãi".encode() + b"\n"
    config = write(tmp_path / "a.csv", data) | {"encoding": "vni"}
    with pytest.raises(SourceError, match=r"line 3 is UTF-8 while the file is vni: mixed"):
        await read_all(config)


VNI_NAME = vni_encode("Nguyễn Văn Đức")


async def test_auto_refuses_mixed_lines_after_detection(tmp_path: Path) -> None:
    data = b"ma,ten\n" + b"".join(b"%d,%s\n" % (i, VNI_NAME) for i in range(50))
    data += b"51," + tcvn3_encode("đất đai") + b"\n"
    config = write(tmp_path / "a.csv", data) | {"encoding": "auto"}
    with pytest.raises(SourceError, match=r"line 52, byte 5 \(0xCA\) is not valid vni"):
        await read_all(config)


async def test_auto_says_when_no_encoding_fits(tmp_path: Path) -> None:
    data = "ten\nGröße über Straße\n".encode("latin-1")
    config = write(tmp_path / "a.csv", data) | {"encoding": "auto"}
    with pytest.raises(SourceError, match=r"cannot tell the encoding of .*a\.csv.*set 'encoding'"):
        await read_all(config)


async def test_a_row_of_another_width_names_its_line(tmp_path: Path) -> None:
    data = b"a,b\n1,2\n\n3,4,5\n"
    with pytest.raises(SourceError, match=r"a\.csv line 4: 3 fields where the header has 2"):
        await read_all(write(tmp_path / "a.csv", data))


async def test_duplicate_header_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"line 1: header names column 'a' twice"):
        await read_all(write(tmp_path / "a.csv", b"a,b,a\n1,2,3\n"))


async def test_bad_quoting_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"a\.csv line 2"):
        await read_all(write(tmp_path / "a.csv", b'a,b\n"1"x,2\n'))


async def test_unknown_encoding_key_value_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"key 'encoding' must be one of"):
        open_source("csv", {"path": str(tmp_path / "a.csv"), "encoding": "latin-9"})


async def test_utf8_with_a_bom_reads_with_utf8_declared(tmp_path: Path) -> None:
    config = write(tmp_path / "a.csv", ENCODED["utf-8-sig"]) | {"encoding": "utf-8"}
    async with open_source("csv", config) as source:
        assert await source.columns() == ["ma", "ten", "huyen"]
