"""Validation and normalisation of record values against their field definitions.

Stored forms are canonical so that content hashes, text ordering and index lookups agree:
text NFC (002 Điều 5.2, TCVN 6909:2001), decimals as plain digit strings, dates ``YYYY-MM-DD``,
datetimes in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (fixed width, so text order is time order).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
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
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_TRUE = {"true", "1", "yes", "có", "co", "x"}
_FALSE = {"false", "0", "no", "không", "khong", ""}


def normalise_record(dataset: Dataset, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validated canonical values of one record; InvalidInput names field and value."""
    fields = {f.name: f for f in dataset.fields}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise InvalidInput(f"dataset '{dataset.code}': unknown field(s) {', '.join(unknown)}")
    out: dict[str, Any] = {}
    for name, field in fields.items():
        value = raw.get(name)
        if value is None or (
            isinstance(value, str) and not value.strip() and field.type != "string"
        ):
            if field.required:
                raise InvalidInput(
                    f"field '{name}' of dataset '{dataset.code}': a value is required"
                )
            continue
        out[name] = normalise_value(field, value, dataset.code)
    key = out.get(dataset.key_field)
    if key is None or (isinstance(key, str) and not key.strip()):
        raise InvalidInput(
            f"field '{dataset.key_field}' of dataset '{dataset.code}': the key is empty"
        )
    return out


def normalise_value(field: DatasetField, value: Any, dataset_code: str) -> Any:
    place = f"field '{field.name}' of dataset '{dataset_code}'"
    kind = field.type
    if kind in ("string", "reference", "enum"):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InvalidInput(f"{place}: expected text, got {_show(value)}")
        text = unicodedata.normalize("NFC", str(value)).strip()
        check_text(text, place)
        if len(text) > MAX_TEXT:
            raise InvalidInput(f"{place}: text longer than {MAX_TEXT} characters")
        if kind == "enum" and text not in (field.enum_values or ()):
            raise InvalidInput(
                f"{place}: expected one of {', '.join(field.enum_values or ())}, got {text!r}"
            )
        if field.pii_kind in _IDENTIFIER_KINDS:
            # Identifiers are written "0101 234 567" or "001.093.000.123" at the source.
            text = _IDENTIFIER_SEPARATORS.sub("", text)
        _check_identifier(field, text, place)
        return text
    if kind == "int":
        if isinstance(value, bool):
            raise InvalidInput(f"{place}: expected a whole number, got {_show(value)}")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and re.fullmatch(r"[-+]?\d{1,18}", value.strip()):
            return int(value)
        if isinstance(value, float | Decimal) and value == int(value):
            return int(value)
        raise InvalidInput(f"{place}: expected a whole number, got {_show(value)}")
    if kind == "decimal":
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
                f"{place}: expected a number of at most {MAX_DECIMAL_DIGITS} digits, "
                f"got {_show(value)}"
            )
        return format(number, "f")
    if kind == "bool":
        if isinstance(value, bool):
            return value
        lowered = str(value).strip().casefold()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise InvalidInput(f"{place}: expected true or false, got {_show(value)}")
    if kind == "date":
        return _date(value, place).isoformat()
    if kind == "datetime":
        moment = _datetime(value, place).astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if kind == "json":
        _check_json(value, place, 0)
        return value
    raise InvalidInput(f"{place}: unknown type {kind}")


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


def _check_identifier(field: DatasetField, text: str, place: str) -> None:
    if field.pii_kind == "tax_code" and not _TAX_CODE.fullmatch(text):
        digits = sum(ch.isdigit() for ch in text)
        raise InvalidInput(f"{place}: expected 10 or 13 digits, got {digits} in {text!r}")
    if field.pii_kind == "citizen_id" and not _CITIZEN_ID.fullmatch(text):
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


__all__ = ["check_text", "has_control", "normalise_record", "normalise_value"]
