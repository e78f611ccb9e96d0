"""Writes the demo's source files under ``hub/demo/fixtures/``, deterministically.

Run ``python -m hub.demo.make_fixtures`` after changing ``hub.demo.generate``; the files are
committed, so ``hub serve --demo`` reads what an agency would send, not what it generates:

- ``thua_dat.xlsx``: land parcels as a land office's spreadsheet (Vietnamese headers, dates
  and areas as cells of their own type);
- ``cong_dan_tcvn3.csv``: citizens as an old population system exports them, in TCVN3
  (the ABC fonts, .VnTime), dates written day/month/year;
- ``the_bhyt_cp1258.csv``: health-insurance cards in Windows-1258 (tone marks as separate
  combining bytes, as that code page writes them);
- ``van_ban.json``: legal documents, served page by page by a local HTTP source.

The business registry has no file: it is a PostgreSQL table filled at load time
(``hub.demo.sources``). Same generator, same sizes: the same bytes, file for file.
"""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from connectors.text_encodings import TCVN3_TABLE
from hub.demo import generate
from hub.demo.generate import Row

FIXTURES = Path(__file__).parent / "fixtures"
# Sizes keep the committed files under 1 MB together; the business registry is larger
# because it is generated into PostgreSQL at load time rather than shipped.
SIZES = {"business": 5000, "land_parcel": 3000, "citizen": 1500, "legal_document": 60}
FILES = {
    "land_parcel": "thua_dat.xlsx",
    "citizen": "cong_dan_tcvn3.csv",
    "health_insurance": "the_bhyt_cp1258.csv",
    "legal_document": "van_ban.json",
}
# Source column (as the agency's system names it) for each dataset field.
LAND_COLUMNS = {
    "parcel_id": "Mã thửa",
    "map_sheet": "Số tờ",
    "parcel_number": "Số thửa",
    "district": "Huyện",
    "commune": "Xã",
    "area_m2": "Diện tích (m2)",
    "land_use": "Mục đích sử dụng",
    "holder_tax_code": "MST người sử dụng",
    "certificate_no": "Số GCN",
    "valid_until": "Thời hạn",
    "updated_at": "Cập nhật lúc",
}
CITIZEN_COLUMNS = {
    "citizen_id": "so_dinh_danh",
    "full_name": "ho_ten",
    "birth_date": "ngay_sinh",
    "sex": "gioi_tinh",
    "district": "huyen",
    "commune": "xa",
    "address": "dia_chi",
    "phone": "dien_thoai",
    "ethnicity": "dan_toc",
}
HEALTH_COLUMNS = {
    "card_no": "ma_the",
    "citizen_id": "so_dinh_danh",
    "beneficiary_group": "nhom_doi_tuong",
    "hospital_code": "ma_kcb",
    "hospital_name": "noi_kcb",
    "valid_from": "tu_ngay",
    "valid_to": "den_ngay",
    "chronic_conditions": "benh_man_tinh",
    "district": "huyen",
}
DOCUMENT_COLUMNS = {
    "number": "so_hieu",
    "doc_type": "loai_van_ban",
    "title": "trich_yeu",
    "issuer": "co_quan_ban_hanh",
    "signer": "nguoi_ky",
    "issued_on": "ngay_ban_hanh",
    "effective_on": "ngay_hieu_luc",
    "status": "tinh_trang",
    "sector": "linh_vuc",
    "full_text": "noi_dung",
}
_FIXED_TIME = (2025, 6, 30, 0, 0, 0)  # zip entry times: the same bytes on every run
_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")
_FIXED_MODIFIED = rb"\g<1>2025-06-30T00:00:00Z\g<2>"
_TONES = frozenset("\u0300\u0301\u0303\u0309\u0323")
_TCVN3 = {char: byte for byte, char in enumerate(TCVN3_TABLE) if char != "\ufffe"}


def data() -> dict[str, list[Row]]:
    """The demo's rows of every core dataset, from the generator at the demo's sizes."""
    businesses = generate.businesses(SIZES["business"])
    citizens = generate.citizens(SIZES["citizen"])
    return {
        "business": businesses,
        "land_parcel": generate.land_parcels(
            SIZES["land_parcel"], [str(b["tax_code"]) for b in businesses]
        ),
        "citizen": citizens,
        "health_insurance": generate.health_insurance(citizens),
        "legal_document": generate.legal_documents(SIZES["legal_document"]),
    }


def encode_tcvn3(text: str) -> bytes:
    """NFC text in TCVN3; ValueError names a letter TCVN3 cannot write (it has no
    uppercase toned vowels)."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        byte = _TCVN3.get(char)
        if byte is None:
            raise ValueError(f"TCVN3 cannot write {char!r} (in {text!r})")
        out.append(byte)
    return bytes(out)


def encode_cp1258(text: str) -> bytes:
    """NFC text in Windows-1258: a letter the code page lacks is its base letter (with
    circumflex, breve or horn) followed by the tone mark's own byte."""
    out = bytearray()
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        parts = unicodedata.normalize("NFD", char)
        tones = "".join(c for c in parts if c in _TONES)
        base = unicodedata.normalize("NFC", "".join(c for c in parts if c not in _TONES))
        out += (base + tones).encode("cp1258")
    return bytes(out)


def _csv_text(rows: Sequence[Row], columns: dict[str, str], dates_dmy: bool) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns.values())
    for row in rows:
        writer.writerow(_cell_text(row[field], dates_dmy) for field in columns)
    return buffer.getvalue()


def _cell_text(value: object, dates_dmy: bool) -> str:
    if value is None:
        return ""
    text = str(value)
    if dates_dmy and len(text) == 10 and text[4] == "-" and text[7] == "-":
        day = date.fromisoformat(text)
        return f"{day.day:02d}/{day.month:02d}/{day.year}"
    return text


def citizens_csv(rows: Sequence[Row]) -> bytes:
    return encode_tcvn3(_csv_text(rows, CITIZEN_COLUMNS, dates_dmy=True))


def health_csv(rows: Sequence[Row]) -> bytes:
    return encode_cp1258(_csv_text(rows, HEALTH_COLUMNS, dates_dmy=False))


def land_xlsx(rows: Sequence[Row]) -> bytes:
    """The parcels as one sheet, ``Thửa đất``: dates as date cells, areas as numbers,
    update times as local date-times (Excel has no time zone)."""
    from openpyxl import Workbook  # a development dependency: only this script writes XLSX

    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "Thửa đất"
    sheet.append(list(LAND_COLUMNS.values()))
    for row in rows:
        sheet.append([_xlsx_cell(field, row[field]) for field in LAND_COLUMNS])
    moment = datetime(*_FIXED_TIME)
    workbook.properties.created = moment
    workbook.properties.modified = moment
    workbook.properties.creator = "So Tai nguyen va Moi truong"
    raw = io.BytesIO()
    workbook.save(raw)
    return _fixed_zip(raw.getvalue())


def _xlsx_cell(field: str, value: object) -> object:
    if value is None:
        return None
    if field == "area_m2":
        return Decimal(str(value))
    if field == "valid_until":
        return date.fromisoformat(str(value))
    if field == "updated_at":
        return datetime.fromisoformat(str(value)).replace(tzinfo=None)
    return value


def _fixed_zip(data: bytes) -> bytes:
    """The same archive with fixed entry times, so the file's bytes do not depend on now."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=_FIXED_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":  # openpyxl stamps "modified" on save
                content = _MODIFIED.sub(_FIXED_MODIFIED, content)
            target.writestr(fixed, content)
    return out.getvalue()


def documents_json(rows: Sequence[Row]) -> bytes:
    """The documents as the legal-document service answers them: its own key names."""
    items = [{column: row[field] for field, column in DOCUMENT_COLUMNS.items()} for row in rows]
    return json.dumps(items, ensure_ascii=False, indent=0).encode("utf-8")


def write_fixtures(folder: Path = FIXTURES) -> dict[str, int]:
    """Write every fixture file; their sizes in bytes by file name."""
    rows = data()
    contents = {
        FILES["land_parcel"]: land_xlsx(rows["land_parcel"]),
        FILES["citizen"]: citizens_csv(rows["citizen"]),
        FILES["health_insurance"]: health_csv(rows["health_insurance"]),
        FILES["legal_document"]: documents_json(rows["legal_document"]),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        (folder / name).write_bytes(content)
    return {name: len(content) for name, content in contents.items()}


if __name__ == "__main__":
    for file_name, size in write_fixtures().items():
        print(f"{file_name}: {size} bytes")
