"""Validation and stored forms of record values (``catalog.values``), and the canonical JSON the
content hash covers: the fast paths a bulk write takes give exactly what the general rules
give, and bad values are refused with the field and the problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, cast

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from catalog.errors import InvalidInput
from catalog.models import Dataset
from catalog.records import canonical_json, canonical_plain
from catalog.values import normalise_record, normalise_value, record_normaliser

STORED_DATETIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def field(name: str, kind: str, **rules: Any) -> Any:
    defaults = {"required": False, "pii_kind": None, "enum_values": None, "encrypted": False}
    return SimpleNamespace(name=name, type=kind, **{**defaults, **rules})


FIELDS = [
    field("tax_code", "string", required=True, pii_kind="tax_code"),
    field("name", "string", required=True),
    field("citizen_id", "string", pii_kind="citizen_id"),
    field("status", "enum", enum_values=["OPEN", "CLOSED"]),
    field("capital", "decimal"),
    field("staff", "int"),
    field("active", "bool"),
    field("founded", "date"),
    field("updated_at", "datetime"),
    field("extra", "json"),
]
DATASET = cast(Dataset, SimpleNamespace(code="firm", key_field="tax_code", fields=FIELDS))
BY_NAME = {f.name: f for f in FIELDS}


def stored(name: str, value: Any) -> Any:
    return normalise_value(BY_NAME[name], value, "firm")


def decimal_by_rule(text: str) -> str:
    """The stored form of a number by its definition: the normalised decimal, in plain digits."""
    return format(Decimal(text.strip().replace(",", ".")).normalize(), "f")


numbers = st.one_of(
    st.from_regex(r"-?\d{1,22}(\.\d{0,22})?", fullmatch=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=None).map(str),
    st.integers(min_value=-(10**20), max_value=10**20).map(str),
)


@given(numbers)
@example("52024015694942.607253900960711")  # 29 digits: normalize() rounds to 28
@settings(max_examples=400, deadline=None)
def test_decimal_text_is_stored_as_its_normalised_plain_digits(text: str) -> None:
    assert stored("capital", text) == decimal_by_rule(text)


@given(st.integers(min_value=-(10**25), max_value=10**25))
@settings(max_examples=200, deadline=None)
def test_whole_numbers_given_as_numbers_are_stored_as_decimal_text(number: int) -> None:
    assert stored("capital", number) == decimal_by_rule(str(number))


zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-9, minutes=-30))]
)


@given(st.datetimes(min_value=datetime(2, 1, 1), timezones=zones))
@settings(max_examples=300, deadline=None)
def test_datetimes_are_stored_in_utc_with_microseconds(moment: datetime) -> None:
    expected = moment.astimezone(UTC).strftime(STORED_DATETIME)
    assert stored("updated_at", moment) == expected
    assert stored("updated_at", moment.isoformat()) == expected


def test_datetimes_without_offset_are_vietnam_time_and_years_before_1000_keep_their_form() -> None:
    assert stored("updated_at", "2024-03-01T08:30:00") == "2024-03-01T01:30:00.000000Z"
    assert stored("updated_at", "2024-03-01T08:30:00Z") == "2024-03-01T08:30:00.000000Z"
    early = datetime(999, 5, 1, 12, tzinfo=UTC)
    assert stored("updated_at", early) == early.strftime(STORED_DATETIME)


def test_every_code_point_is_written_by_canonical_plain_as_by_json() -> None:
    for start in range(0, 0x110000, 8192):
        text = "".join(
            chr(c) for c in range(start, min(start + 8192, 0x110000)) if not 0xD800 <= c <= 0xDFFF
        )
        values = {"b": text, "a": 12, "c": True, "đ": "ấ", "z": -(2**63)}
        assert canonical_plain(values) == canonical_json(values).encode("utf-8")


plain_values = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.one_of(st.text(), st.integers(min_value=-(2**70), max_value=2**70), st.booleans()),
    max_size=8,
)


@given(plain_values)
@settings(max_examples=300, deadline=None)
def test_canonical_plain_is_canonical_json_in_utf8(values: dict[str, Any]) -> None:
    try:
        expected = canonical_json(values).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate is refused both ways
        with pytest.raises(UnicodeEncodeError):
            canonical_plain(values)
        return
    assert canonical_plain(values) == expected
    assert json.loads(canonical_plain(values)) == values


def good_row(**changes: Any) -> dict[str, Any]:
    row = {
        "tax_code": " 0101 234 567 ",
        "name": "Co\u0300ng ty",  # decomposed: stored NFC
        "citizen_id": "001.093.000.123",
        "status": "OPEN",
        "capital": "1.500,0".replace(".", ""),
        "staff": "42",
        "active": "có",
        "founded": "05/01/2020",
        "updated_at": "2024-03-01T08:30:00+07:00",
        "extra": {"tags": ["a", "b"]},
    }
    return {**row, **changes}


def test_a_record_is_stored_in_canonical_forms() -> None:
    assert record_normaliser(DATASET)(good_row()) == {
        "tax_code": "0101234567",
        "name": "Còng ty",
        "citizen_id": "001093000123",
        "status": "OPEN",
        "capital": "1500",
        "staff": 42,
        "active": True,
        "founded": "2020-01-05",
        "updated_at": "2024-03-01T01:30:00.000000Z",
        "extra": {"tags": ["a", "b"]},
    }
    assert normalise_record(DATASET, good_row()) == record_normaliser(DATASET)(good_row())


def test_blank_optional_values_are_left_out_and_blank_text_is_kept() -> None:
    values = record_normaliser(DATASET)(good_row(staff=" ", founded="", citizen_id=None))
    assert "staff" not in values and "founded" not in values and "citizen_id" not in values


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"colour": "red", "size": 1}, "dataset 'firm': unknown field(s) colour, size"),
        ({"name": None}, "field 'name' of dataset 'firm': a value is required"),
        ({"tax_code": "12345"}, "field 'tax_code' of dataset 'firm': expected 10 or 13 digits"),
        ({"citizen_id": "123"}, "field 'citizen_id' of dataset 'firm': expected 12 digits"),
        ({"status": "GONE"}, "expected one of OPEN, CLOSED, got 'GONE'"),
        ({"name": "a\x00b"}, "field 'name' of dataset 'firm': text contains a control character"),
        ({"name": 1.5}, "field 'name' of dataset 'firm': expected text, got 1.5"),
        ({"capital": "12abc"}, "field 'capital' of dataset 'firm': expected a number"),
        ({"capital": "1e999999"}, "expected a number of at most 1000 digits"),
        ({"capital": "NaN"}, "expected a finite number"),
        ({"capital": True}, "field 'capital' of dataset 'firm': expected a number, got True"),
        ({"staff": "4.5"}, "field 'staff' of dataset 'firm': expected a whole number"),
        ({"staff": True}, "expected a whole number, got True"),
        ({"active": "maybe"}, "field 'active' of dataset 'firm': expected true or false"),
        ({"founded": "31/02/2020"}, "field 'founded' of dataset 'firm': expected a date"),
        ({"updated_at": "yesterday"}, "expected an ISO 8601 date-time, got 'yesterday'"),
        ({"extra": {"k": "a\x00"}}, "field 'extra' of dataset 'firm': text contains a control"),
    ],
)
def test_bad_values_are_refused_with_the_field_and_the_problem(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        record_normaliser(DATASET)(good_row(**changes))
    assert message in refused.value.message


def test_a_citizen_id_refusal_does_not_repeat_the_value() -> None:
    with pytest.raises(InvalidInput) as refused:
        stored("citizen_id", "0010930001234")
    assert "0010930001234" not in refused.value.message


def test_an_empty_key_is_refused_even_where_the_field_rules_allow_blank_text() -> None:
    loose = cast(
        Dataset,
        SimpleNamespace(code="note", key_field="ref", fields=[field("ref", "string")]),
    )
    with pytest.raises(InvalidInput, match="field 'ref' of dataset 'note': the key is empty"):
        record_normaliser(loose)({"ref": "   "})
