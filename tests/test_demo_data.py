"""The demo-data generator: deterministic rows that honour the baseline catalogue's contract."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta
from decimal import Decimal
from functools import cache

import pytest

from catalog.baseline import (
    BUSINESS,
    CITIZEN,
    DISTRICTS,
    HEALTH_INSURANCE,
    LAND_PARCEL,
    LEGAL_DOCUMENT,
)
from catalog.specs import DatasetSpec
from hub.demo import generate
from hub.demo.generate import Row

COUNT = 600
SPECS = {
    spec.code: spec for spec in (BUSINESS, LAND_PARCEL, CITIZEN, HEALTH_INSURANCE, LEGAL_DOCUMENT)
}


@cache
def _data() -> dict[str, list[Row]]:
    business = generate.businesses(COUNT)
    citizen = generate.citizens(COUNT)
    return {
        "business": business,
        "land_parcel": generate.land_parcels(COUNT, [str(b["tax_code"]) for b in business]),
        "citizen": citizen,
        "health_insurance": generate.health_insurance(citizen),
        "legal_document": generate.legal_documents(COUNT // 4),
    }


def _rows(code: str) -> list[Row]:
    return _data()[code]


DATASET_CODES = sorted(SPECS)


# ---------------------------------------------------------------------------------- contract


def test_every_dataset_has_rows() -> None:
    for code in DATASET_CODES:
        assert len(_rows(code)) > 50, code


def test_same_arguments_give_the_same_rows() -> None:
    business = generate.businesses(300)
    assert business == generate.businesses(300)
    codes = [str(b["tax_code"]) for b in business]
    assert generate.land_parcels(300, codes) == generate.land_parcels(300, codes)
    citizen = generate.citizens(300)
    assert citizen == generate.citizens(300)
    assert generate.health_insurance(citizen) == generate.health_insurance(citizen)
    assert generate.legal_documents(40) == generate.legal_documents(40)


def test_another_seed_gives_other_rows() -> None:
    assert generate.businesses(50, seed=7) != generate.businesses(50, seed=8)
    assert generate.citizens(50, seed=7) != generate.citizens(50, seed=8)
    assert generate.legal_documents(20, seed=7) != generate.legal_documents(20, seed=8)


def test_counts_are_honoured_and_zero_gives_nothing() -> None:
    assert len(generate.businesses(123)) == 123
    assert len(generate.land_parcels(77, ["0100109106"])) == 77
    assert len(generate.citizens(45)) == 45
    assert len(generate.legal_documents(9)) == 9
    assert generate.businesses(0) == []
    assert generate.land_parcels(0, []) == []
    assert generate.citizens(0) == []
    assert generate.health_insurance([]) == []
    assert generate.legal_documents(0) == []
    with pytest.raises(ValueError):
        generate.businesses(-1)


@pytest.mark.parametrize("code", DATASET_CODES)
def test_keys_are_unique(code: str) -> None:
    key = SPECS[code].key_field
    keys = [row[key] for row in _rows(code)]
    assert all(isinstance(k, str) and k for k in keys)
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("code", DATASET_CODES)
def test_rows_carry_exactly_the_spec_fields_and_every_required_value(code: str) -> None:
    spec = SPECS[code]
    names = {f.name for f in spec.fields}
    required = [f.name for f in spec.fields if f.required]
    for row in _rows(code):
        assert set(row) == names
        for name in required:
            assert row[name] is not None, (code, name)
            assert row[name] != "", (code, name)


def _check_type(spec: DatasetSpec, name: str, kind: str, value: object) -> None:
    where = f"{spec.code}.{name}={value!r}"
    if kind in ("string", "enum", "reference"):
        assert isinstance(value, str), where
        assert value == value.strip() and value, where
    elif kind == "int":
        assert isinstance(value, int) and not isinstance(value, bool), where
    elif kind == "decimal":
        assert isinstance(value, str) and re.fullmatch(r"\d+(\.\d+)?", value), where
        assert Decimal(value) > 0, where
    elif kind == "date":
        assert isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value), where
        date.fromisoformat(value)
    elif kind == "datetime":
        assert isinstance(value, str) and value.endswith("+07:00"), where
        moment = datetime.fromisoformat(value)
        assert moment.utcoffset() == timedelta(hours=7), where
    else:  # pragma: no cover - the baseline uses no other types
        pytest.fail(f"unexpected field type {kind} in {where}")


@pytest.mark.parametrize("code", DATASET_CODES)
def test_values_have_their_field_types(code: str) -> None:
    spec = SPECS[code]
    for row in _rows(code):
        for field in spec.fields:
            value = row[field.name]
            if value is not None:
                _check_type(spec, field.name, field.type, value)


@pytest.mark.parametrize("code", DATASET_CODES)
def test_enum_values_come_from_the_spec(code: str) -> None:
    enums = [f for f in SPECS[code].fields if f.type == "enum"]
    for field in enums:
        assert field.enum_values
        seen = {row[field.name] for row in _rows(code)}
        assert seen <= set(field.enum_values), (code, field.name, seen)
        assert len(seen) >= 2, (code, field.name)  # not a constant


@pytest.mark.parametrize("code", DATASET_CODES)
def test_all_text_is_nfc(code: str) -> None:
    for row in _rows(code):
        for name, value in row.items():
            if isinstance(value, str):
                assert unicodedata.is_normalized("NFC", value), (code, name)


def test_text_is_vietnamese_with_diacritics() -> None:
    names = " ".join(str(row["full_name"]) for row in _rows("citizen"))
    assert any(ch in names for ch in "ễịưởằạ")
    assert "Nguyễn" in names


@pytest.mark.parametrize("code", [c for c in DATASET_CODES if c != "legal_document"])
def test_districts_are_the_baseline_districts(code: str) -> None:
    districts = {row["district"] for row in _rows(code)}
    assert districts - {None} <= set(DISTRICTS)
    assert len(districts) >= 5


# ---------------------------------------------------------------------------------- tax codes


def test_check_digit_of_a_known_tax_code() -> None:
    # 0100109106: 29 + 17 + 63 + 5 = 114; 114 % 11 = 4; 10 - 4 = 6.
    assert generate.tax_code_check_digit("010010910") == "6"
    assert generate.is_valid_tax_code("0100109106")
    assert generate.is_valid_tax_code("0100109106001")
    assert generate.is_valid_tax_code("0100109106999")


def test_check_digit_refuses_prefixes_without_a_valid_code() -> None:
    with pytest.raises(ValueError):
        generate.tax_code_check_digit("000000000")  # 10 - 0 % 11 == 10
    with pytest.raises(ValueError):
        generate.tax_code_check_digit("12345678")
    with pytest.raises(ValueError):
        generate.tax_code_check_digit("12345678a")


@pytest.mark.parametrize(
    "code",
    [
        "0100109107",  # wrong check digit
        "0100109106000",  # branch suffix 000
        "010010910",  # too short
        "01001091060",  # 11 digits
        "0100109106-001",  # separator not allowed
        "010010910A",
        "0000000000",  # prefix without a valid check digit
        "",
    ],
)
def test_invalid_tax_codes_are_rejected(code: str) -> None:
    assert not generate.is_valid_tax_code(code)


def test_business_tax_codes_are_valid_bac_ninh_codes() -> None:
    rows = _rows("business")
    for row in rows:
        code = str(row["tax_code"])
        assert generate.is_valid_tax_code(code), code
        assert code.startswith("23")
        assert len(code) in (10, 13)


def test_a_corrupted_business_tax_code_is_rejected() -> None:
    code = str(_rows("business")[0]["tax_code"])
    corrupted = code[:9] + str((int(code[9]) + 1) % 10) + code[10:]
    assert not generate.is_valid_tax_code(corrupted)


def test_about_one_business_in_twenty_is_a_branch_of_a_listed_head_office() -> None:
    rows = _rows("business")
    by_code = {str(row["tax_code"]): row for row in rows}
    branches = [row for row in rows if len(str(row["tax_code"])) == 13]
    assert len(branches) == COUNT // 20
    for branch in branches:
        code = str(branch["tax_code"])
        assert "001" <= code[10:] <= "009"
        parent = by_code[code[:10]]
        assert str(branch["name"]).startswith(f"Chi nhánh {parent['name']} tại ")
        assert branch["legal_form"] == parent["legal_form"]


def test_business_names_and_addresses_look_vietnamese() -> None:
    prefixes = (
        "Công ty TNHH",
        "Công ty Cổ phần",
        "Công ty Hợp danh",
        "Doanh nghiệp tư nhân",
        "Chi nhánh ",
    )
    for row in _rows("business"):
        assert str(row["name"]).startswith(prefixes)
        assert str(row["address"]).endswith("Tỉnh Bắc Ninh, Việt Nam")
        assert str(row["district"]) in str(row["address"])
        assert re.fullmatch(r"\d{4}", str(row["industry_code"]))
        if row["representative_phone"] is not None:
            assert re.fullmatch(r"0\d{9}", str(row["representative_phone"]))


# ---------------------------------------------------------------------------------- citizens


def test_citizen_ids_encode_province_sex_century_and_birth_year() -> None:
    for row in _rows("citizen"):
        citizen_id = str(row["citizen_id"])
        born = date.fromisoformat(str(row["birth_date"]))
        assert re.fullmatch(r"\d{12}", citizen_id)
        assert citizen_id[:3] == "027"
        century = 0 if born.year < 2000 else 2
        female = row["sex"] == "NU"
        assert citizen_id[3] == str(century + female), (citizen_id, row["sex"], born)
        assert citizen_id[4:6] == f"{born.year % 100:02d}"
        assert born <= generate.REFERENCE_DATE


def test_citizen_addresses_name_their_commune_and_district() -> None:
    for row in _rows("citizen"):
        assert str(row["commune"]).startswith(("Phường ", "Xã ", "Thị trấn "))
        if row["address"] is not None:
            suffix = f", {row['commune']}, {row['district']}, Tỉnh Bắc Ninh"
            assert str(row["address"]).endswith(suffix)
        if row["phone"] is not None:
            assert re.fullmatch(r"0\d{9}", str(row["phone"]))


# ---------------------------------------------------------------------------------- land


def test_land_parcel_holders_reference_existing_businesses() -> None:
    tax_codes = {row["tax_code"] for row in _rows("business")}
    parcels = _rows("land_parcel")
    held = [row for row in parcels if row["holder_tax_code"] is not None]
    assert all(row["holder_tax_code"] in tax_codes for row in held)
    assert 0.6 <= len(held) / len(parcels) <= 0.8


def test_land_parcels_without_businesses_have_no_holder() -> None:
    assert all(row["holder_tax_code"] is None for row in generate.land_parcels(50, []))


def test_land_parcel_ids_areas_and_certificates() -> None:
    for row in _rows("land_parcel"):
        match = re.fullmatch(r"27-(\d{5})-(\d+)-(\d+)", str(row["parcel_id"]))
        assert match, row["parcel_id"]
        assert int(match.group(2)) == row["map_sheet"]
        assert int(match.group(3)) == row["parcel_number"]
        assert re.fullmatch(r"\d+\.\d", str(row["area_m2"]))
        if row["certificate_no"] is not None:
            assert re.fullmatch(r"[A-Z]{2} \d{6}", str(row["certificate_no"]))
        if row["land_use"] in ("ODT", "ONT"):
            assert row["valid_until"] is None  # residential land is held long-term


# ---------------------------------------------------------------------------------- insurance


def test_health_insurance_cards_reference_existing_citizens() -> None:
    citizens = {str(row["citizen_id"]): row for row in _rows("citizen")}
    cards = _rows("health_insurance")
    holders = [str(card["citizen_id"]) for card in cards]
    assert set(holders) <= set(citizens)
    assert len(set(holders)) == len(holders)  # one card per citizen
    assert 0.8 <= len(cards) / len(citizens) <= 0.97
    for card in cards:
        citizen_id = str(card["citizen_id"])
        card_no = str(card["card_no"])
        assert re.fullmatch(r"[A-Z]{2}\d27\d{10}", card_no), card_no
        assert card_no.endswith(citizen_id[-10:])
        assert card_no[:2] == card["beneficiary_group"]
        assert card["district"] == citizens[citizen_id]["district"]
        assert re.fullmatch(r"27\d{3}", str(card["hospital_code"]))
        assert str(card["valid_from"]) <= str(card["valid_to"])


def test_children_under_six_hold_te_cards_until_their_sixth_birthday() -> None:
    citizens = {str(row["citizen_id"]): row for row in _rows("citizen")}
    children = 0
    for card in _rows("health_insurance"):
        born = date.fromisoformat(str(citizens[str(card["citizen_id"])]["birth_date"]))
        if card["beneficiary_group"] == "TE":
            children += 1
            assert card["valid_from"] == born.isoformat()
            assert date.fromisoformat(str(card["valid_to"])) < born.replace(year=born.year + 6)
    assert children > 0


# ---------------------------------------------------------------------------------- documents


def test_legal_document_numbers_match_their_type_and_issuer() -> None:
    suffix = {"QUYET_DINH": "QĐ-UBND", "NGHI_QUYET": "NQ-HĐND", "CHI_THI": "CT-UBND"}
    issuer = {
        "QUYET_DINH": "UBND tỉnh Bắc Ninh",
        "NGHI_QUYET": "HĐND tỉnh Bắc Ninh",
        "CHI_THI": "UBND tỉnh Bắc Ninh",
    }
    for row in _rows("legal_document"):
        doc_type = str(row["doc_type"])
        match = re.fullmatch(r"(\d{2,})/(\d{4})/(.+)", str(row["number"]))
        assert match, row["number"]
        assert match.group(3) == suffix[doc_type]
        assert match.group(2) == str(row["issued_on"])[:4]
        assert row["issuer"] == issuer[doc_type]
        if row["effective_on"] is not None:
            assert str(row["effective_on"]) >= str(row["issued_on"])


def test_legal_documents_have_full_texts_in_articles() -> None:
    rows = _rows("legal_document")
    assert rows[0]["number"] == "33/2017/QĐ-UBND"  # wording taken from the seeds
    for row in rows:
        text = str(row["full_text"])
        assert len(text) > 600
        if row["doc_type"] in ("QUYET_DINH", "NGHI_QUYET"):
            assert "Điều 1." in text and "Điều 2." in text
        assert "./." in text  # the closing formula of a Vietnamese legal document
