"""Validation and normalisation of record values against their field definitions.

Stored forms are canonical so that content hashes, text ordering and index lookups agree:
text NFC (002 Điều 5.2, TCVN 6909:2001), decimals as plain digit strings, dates ``YYYY-MM-DD``,
datetimes in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (fixed width, so text order is time order).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, DefaultContext, InvalidOperation
from functools import partial
from typing import Any

from catalog.errors import InvalidInput
from catalog.models import Dataset, DatasetField

VIETNAM = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")
MAX_TEXT = 200_000
MAX_DECIMAL_DIGITS = 1000
MAX_JSON_DEPTH = 32
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TAX_CODE = re.compile(r"^\d{10}(?:-?\d{3})?$")
_CITIZEN_ID = re.compile(r"^\d{12}$")
_IDENTIFIER_KINDS = frozenset({"tax_code", "citizen_id"})
_IDENTIFIER_SEPARATORS = re.compile(r"[\s.]+")
_WHOLE = re.compile(r"[-+]?\d{1,18}")
_DATETIME = "%Y-%m-%dT%H:%M:%S.%fZ"
# Numbers already in stored form: no sign on zero, no leading zeros, no trailing zeros after
# the point. ``_decimal`` also bounds their length by the decimal context's precision: the
# general rule's ``normalize`` rounds to 28 significant digits.
_PLAIN_NUMBER = re.compile(r"(?:0|-?[1-9][0-9]{0,17})|-?(?:0|[1-9][0-9]{0,17})\.[0-9]{0,17}[1-9]")
_PLAIN_LIMIT = 10**18
_PLAIN_CHARS = DefaultContext.prec  # characters, so at most that many digits
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_TRUE = {"true", "1", "yes", "có", "co", "x"}
_FALSE = {"false", "0", "no", "không", "khong", ""}


Converter = Callable[[Any], Any]
RecordNormaliser = Callable[[Mapping[str, Any]], dict[str, Any]]


def normalise_record(dataset: Dataset, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validated canonical values of one record; InvalidInput names field and value."""
    return record_normaliser(dataset)(raw)


def record_normaliser(dataset: Dataset) -> RecordNormaliser:
    """``normalise_record`` bound to ``dataset``: each field's rules are looked up once, not
    for every row (a bulk write normalises millions of rows with the same fields)."""
    code, key_field = dataset.code, dataset.key_field
    names = frozenset(f.name for f in dataset.fields)
    # (name, whether blank text counts as missing, required, converter), in field order.
    steps = [
        (f.name, f.type != "string", f.required, value_converter(f, code)) for f in dataset.fields
    ]

    def normalise(raw: Mapping[str, Any]) -> dict[str, Any]:
        if not names.issuperset(raw):
            unknown = sorted(set(raw) - names)
            raise InvalidInput(f"dataset '{code}': unknown field(s) {', '.join(unknown)}")
        out: dict[str, Any] = {}
        for name, blank_is_missing, required, convert in steps:
            value = raw.get(name)
            if value is None or (blank_is_missing and isinstance(value, str) and not value.strip()):
                if required:
                    raise InvalidInput(f"field '{name}' of dataset '{code}': a value is required")
                continue
            out[name] = convert(value)
        key = out.get(key_field)
        if key is None or (isinstance(key, str) and not key.strip()):
            raise InvalidInput(f"field '{key_field}' of dataset '{code}': the key is empty")
        return out

    return normalise


def normalise_value(field: DatasetField, value: Any, dataset_code: str) -> Any:
    return value_converter(field, dataset_code)(value)


def value_converter(field: DatasetField, dataset_code: str) -> Converter:
    """The stored form of a value of ``field`` (InvalidInput names field and value)."""
    place = f"field '{field.name}' of dataset '{dataset_code}'"
    kind = field.type
    if kind in ("string", "reference", "enum"):
        return _text_converter(field, place)
    if kind == "int":
        return partial(_whole_number, place)
    if kind == "decimal":
        return partial(_decimal, place)
    if kind == "bool":
        return partial(_bool, place)
    if kind == "date":
        return lambda value: _date(value, place).isoformat()
    if kind == "datetime":
        return lambda value: _utc_text(_datetime(value, place))
    if kind == "json":
        return partial(_json, place)

    def unknown(value: Any) -> Any:
        raise InvalidInput(f"{place}: unknown type {kind}")

    return unknown


def _text_converter(field: DatasetField, place: str) -> Converter:
    enum_values = tuple(field.enum_values or ()) if field.type == "enum" else None
    allowed = frozenset(enum_values) if enum_values is not None else None
    identifier = field.pii_kind if field.pii_kind in _IDENTIFIER_KINDS else None
    normalize = unicodedata.normalize

    def convert(value: Any) -> str:
        if type(value) is not str:
            if isinstance(value, bool) or not isinstance(value, str | int):
                raise InvalidInput(f"{place}: expected text, got {_show(value)}")
            value = str(value)
        text = normalize("NFC", value).strip()
        check_text(text, place)
        if len(text) > MAX_TEXT:
            raise InvalidInput(f"{place}: text longer than {MAX_TEXT} characters")
        if allowed is not None and text not in allowed:
            raise InvalidInput(
                f"{place}: expected one of {', '.join(enum_values or ())}, got {text!r}"
            )
        if identifier is not None:
            # Identifiers are written "0101 234 567" or "001.093.000.123" at the source.
            text = _IDENTIFIER_SEPARATORS.sub("", text)
            _check_identifier(identifier, text, place)
        return text

    return convert


def _whole_number(place: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{place}: expected a whole number, got {_show(value)}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value.strip()):
        return int(value)
    if isinstance(value, float | Decimal) and value == int(value):
        return int(value)
    raise InvalidInput(f"{place}: expected a whole number, got {_show(value)}")


def _decimal(place: str, value: Any) -> str:
    # Numbers as most sources give them are already in stored form (what the Decimal round
    # trip below would print): skip it, it is the dearest step of a typical row.
    if type(value) is str and len(value) <= _PLAIN_CHARS and _PLAIN_NUMBER.fullmatch(value):
        return value
    if type(value) is int and -_PLAIN_LIMIT < value < _PLAIN_LIMIT:
        return str(value)
    if isinstance(value, bool):
        raise InvalidInput(f"{place}: expected a number, got {_show(value)}")
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except InvalidOperation:
        raise InvalidInput(f"{place}: expected a number, got {_show(value)}") from None
    if not number.is_finite():
        raise InvalidInput(f"{place}: expected a finite number, got {_show(value)}")
    number = number.normalize()
    # "1e999999" is finite but would print as a million digits: bound it before formatting.
    if abs(number.adjusted()) > MAX_DECIMAL_DIGITS or len(number.as_tuple().digits) > (
        MAX_DECIMAL_DIGITS
    ):
        raise InvalidInput(
            f"{place}: expected a number of at most {MAX_DECIMAL_DIGITS} digits, got {_show(value)}"
        )
    return format(number, "f")


def _bool(place: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().casefold()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidInput(f"{place}: expected true or false, got {_show(value)}")


def _json(place: str, value: Any) -> Any:
    _check_json(value, place, 0)
    return value


def has_control(text: str) -> bool:
    """PostgreSQL text cannot hold NUL; other C0 controls but tab and newlines are never data."""
    return _CONTROL.search(text) is not None


def check_text(text: str, place: str) -> None:
    if has_control(text):
        raise InvalidInput(f"{place}: text contains a control character (such as NUL)")


def _check_json(value: Any, place: str, depth: int) -> None:
    if depth > MAX_JSON_DEPTH:
        raise InvalidInput(f"{place}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        check_text(value, place)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_text(str(key), place)
            _check_json(item, place, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, place, depth + 1)


def _check_identifier(pii_kind: str, text: str, place: str) -> None:
    if pii_kind == "tax_code" and not _TAX_CODE.fullmatch(text):
        digits = sum(ch.isdigit() for ch in text)
        raise InvalidInput(f"{place}: expected 10 or 13 digits, got {digits} in {text!r}")
    if pii_kind == "citizen_id" and not _CITIZEN_ID.fullmatch(text):
        # The value itself is personal data: say what is wrong, not what it is.
        raise InvalidInput(f"{place}: expected 12 digits, got {len(text)} characters")


def _date(value: Any, place: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    match = _DMY.fullmatch(text)
    try:
        if match:
            day, month, year = (int(g) for g in match.groups())
            return date(year, month, day)
        return date.fromisoformat(text[:10] if "T" in text else text)
    except ValueError:
        raise InvalidInput(f"{place}: expected a date YYYY-MM-DD, got {_show(value)}") from None


def _utc_text(moment: datetime) -> str:
    """``moment`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; ``isoformat`` prints the same as
    the ``strftime`` below for four-digit years and costs a fifth as much."""
    moment = moment.astimezone(UTC)
    if moment.year >= 1000:
        return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    return moment.strftime(_DATETIME)


def _datetime(value: Any, place: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{place}: expected an ISO 8601 date-time, got {_show(value)}"
            ) from None
    # Source systems in the province write local time without an offset.
    return moment if moment.tzinfo else moment.replace(tzinfo=VIETNAM)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = [
    "Converter",
    "RecordNormaliser",
    "check_text",
    "has_control",
    "normalise_record",
    "normalise_value",
    "record_normaliser",
    "value_converter",
]
