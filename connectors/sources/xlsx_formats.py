"""calamine's rules for what a cell holds, as python-calamine gives it (pure functions, no I/O):
number formats classified as plain, date/time or duration as calamine does (its formats.rs),
serials rounded to the millisecond, a whole one a date, one under 1 a time, one outside the
years 1..9999 kept as a number; text trimmed unless xml:space="preserve", ``_x00HH_`` escapes
undone; a ``t="d"`` cell's ISO 8601 text as a date, time or datetime; column letters as an
index."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any

# Number formats as calamine classifies them (calamine's formats.rs): plain, date/time, duration.
PLAIN, DATETIME, DURATION = 0, 1, 2
_BUILTIN_DATETIME_IDS = frozenset(
    {"14", "15", "16", "17", "18", "19", "20", "21", "22", "45", "47"}
)
_BUILTIN_DURATION_ID = "46"
_EXCEL_EPOCH = datetime(1899, 12, 30)
_EXCEL_ESCAPE = re.compile("_x00([0-9A-Fa-f]{2})_")
_STRIPPED = " \t\r\n"  # what calamine trims from text not marked xml:space="preserve"
_DAY_MS = 86_400_000
_EPOCH_1904_DAYS = 1462.0


def format_kind(number_format: str | None, custom: dict[str, str]) -> int:
    """The kind of a cell style's number format ``numFmtId`` (None when it has none), given
    the workbook's custom formats (``numFmtId`` -> ``formatCode``): PLAIN, DATETIME or
    DURATION."""
    if number_format is None:
        return PLAIN
    if number_format in custom:
        return _custom_format_kind(custom[number_format])
    if number_format in _BUILTIN_DATETIME_IDS:
        return DATETIME
    return DURATION if number_format == _BUILTIN_DURATION_ID else PLAIN


def _custom_format_kind(code: str) -> int:
    """calamine's ``detect_custom_number_format``: the first section's date/time or duration
    tokens outside quotes, escapes and (except ``[h]``/``[m]``/``[s]``) brackets."""
    escaped = is_quote = ap = hms = False
    brackets = 0
    prev = " "
    for char in code:
        if escaped:
            escaped = False
        elif char in "_\\*":
            escaped = True
        elif is_quote:
            if char == '"':
                is_quote = False
        elif char == '"':
            is_quote = True
        elif char == ";":
            return PLAIN
        elif char == "[":
            brackets = min(brackets + 1, 255)
        elif char == "]" and brackets == 1 and hms:
            return DURATION
        elif char == "]":
            brackets = max(brackets - 1, 0)
        elif char in "aA" and not ap and brackets == 0:
            ap = True
        elif brackets == 0 and (char in "pm/PM" if ap else char in "dmhysDMHYS"):
            return DATETIME
        elif not (hms and char.lower() == prev.lower()):
            hms = prev == "[" and char in "mhsMHS"
        prev = char
    return PLAIN


def _round_half_away(value: float) -> int:
    """Rust's ``f64::round`` (halves away from zero)."""
    whole = math.trunc(value)
    if abs(value - whole) >= 0.5:
        whole += 1 if value > 0 else -1
    return whole


def serial(value: float, kind: int, is_1904: bool) -> Any:
    """A number formatted as a date, time or duration, as python-calamine gives it."""
    if not math.isfinite(value):
        return value
    if kind == DURATION:
        try:
            return timedelta(milliseconds=_round_half_away(value * _DAY_MS))
        except OverflowError:
            return value
    days = value + _EPOCH_1904_DAYS if is_1904 else value
    if not days >= 60.0:
        days += 1.0  # Excel's 1900-02-29 that never was
    milliseconds = _round_half_away(days * _DAY_MS)
    if value < 1.0:
        if abs(days) > 95_000_000:  # beyond chrono's dates too: calamine keeps the number
            return value
        ms = milliseconds % _DAY_MS
        return time(ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60, ms % 1000 * 1000)
    try:
        moment = _EXCEL_EPOCH + timedelta(milliseconds=milliseconds)
    except OverflowError:
        return value  # outside the years 1..9999
    return moment.date() if value.is_integer() and value < 2.0**64 else moment


def _excel_unescape(text: str) -> str:
    """Excel's ``_x00HH_`` escapes (``_x000D_`` for a carriage return), as calamine undoes them."""
    if "_x00" not in text:
        return text
    return _EXCEL_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def iso_moment(text: str) -> Any:
    """A ``t="d"`` cell (ISO 8601 text) as python-calamine gives it: a datetime when it has a
    "T", a time when it has a ":", else a date; the text itself when it is none of these."""
    parse: Callable[[str], Any] = date.fromisoformat
    if "T" in text:
        parse = datetime.fromisoformat
    elif ":" in text:
        parse = time.fromisoformat
    try:
        value = parse(text)
    except ValueError:
        return text
    return text if getattr(value, "tzinfo", None) is not None else value


def t_text(parts: list[str], preserve: bool) -> str:
    """One ``<t>`` as calamine reads it: trimmed unless xml:space="preserve", Excel's
    ``_x00HH_`` escapes undone."""
    text = "".join(parts)
    return _excel_unescape(text if preserve else text.strip(_STRIPPED))


def column_index(letters: str, ref: str) -> int:
    """0 for A, 25 for Z, 26 for AA ... up to XFD."""
    if not letters.isalpha() or not letters.isascii() or len(letters) > 3:
        raise ValueError(f"cell reference {ref!r}")
    index = 0
    for letter in letters.upper():
        index = index * 26 + ord(letter) - 64
    return index - 1


__all__ = [
    "DATETIME",
    "DURATION",
    "PLAIN",
    "column_index",
    "format_kind",
    "iso_moment",
    "serial",
    "t_text",
]
