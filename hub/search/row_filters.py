"""Grant row filters (``catalog.rowfilter``) as OpenSearch filters over a record index.

Invariant: a translated filter never selects a document that ``RowFilter.matches`` rejects on
the document's values. Where the index cannot decide a condition exactly, the translation
selects a subset, or gives up (``None``): the caller then drops the rule, so a search sees
at most what the typed API shows, never more.

- text (string, enum, reference): ``eq``/``in`` are ``term``/``terms`` on the keyword;
  ``contains`` (a case-insensitive substring in Python, ``casefold``) is a ``regexp`` whose
  every character is the class of characters with the same case fold, so a match always
  folds to the filter's text (a fold across characters, ``ß`` for ``ss``, is missed);
- int, date, bool: exact; decimal: ``eq``/``in`` on the canonical digit string (``kw``);
  ranges on the double, strictly (rounding to a double never reverses an order, so
  ``double(s) > double(v)`` implies ``s > v``), ``gte``/``lte`` adding equality on the digit
  string: exact while values have at most 15 significant digits (distinct such decimals are
  distinct doubles), a subset beyond;
- datetime: the index keeps milliseconds, stored values microseconds; ``gte``/``lt`` on a
  whole millisecond are exact, the others select the subset the truncation cannot confuse
  (``gt v`` → ``gte`` the next millisecond, ``lte v`` → ``lt`` v's millisecond), ``eq``/``in``
  give up;
- a field the index does not hold (encrypted, RESTRICTED, json), or a keyword value longer
  than the keyword keeps, gives up.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.models import DatasetField
from catalog.rowfilter import Condition, RowFilter
from hub.search.documents import KEYWORD_IGNORE_ABOVE, field_mapping, is_indexable

Dsl = dict[str, Any]

# OpenSearch refuses longer regular expressions (index.max_regex_length).
MAX_REGEX_LENGTH = 1000
_TEXT_TYPES = frozenset({"string", "enum", "reference"})
_RANGES = {"gte": "gte", "lte": "lte", "gt": "gt", "lt": "lt"}
_MILLI = timedelta(milliseconds=1)
# No character above U+1FFFF has a case mapping (checked against the running Python's
# Unicode tables in tests/test_search_query.py), so the fold table stops there.
_LAST_CASED = 0x1FFFF


def row_filter_dsl(row_filter: RowFilter, fields: Mapping[str, DatasetField]) -> Dsl | None:
    """The filter selecting (a subset of) the documents ``row_filter`` matches; None when
    a condition cannot be translated without widening it."""
    clauses = []
    for condition in row_filter.conditions:
        field = fields.get(condition.field)
        if field is None or not is_indexable(field):
            return None
        clause = condition_dsl(condition, field)
        if clause is None:
            return None
        clauses.append(clause)
    if len(clauses) == 1:
        return clauses[0]
    return {"bool": {"filter": clauses}}


def condition_dsl(c: Condition, field: DatasetField) -> Dsl | None:
    path = f"v.{field.name}"
    kind = field.type
    values = list(c.value) if c.op == "in" else [c.value]
    if kind in _TEXT_TYPES:
        keyword = path + ".kw" if field_mapping(field)["type"] == "text" else path
        texts = [str(v) for v in values]
        if any(len(t.encode()) > KEYWORD_IGNORE_ABOVE for t in texts):
            return None  # the keyword does not hold values this long
        if c.op == "contains":
            pattern = contains_regexp(texts[0])
            if pattern is None:
                return None
            return {"regexp": {keyword: {"value": pattern, "flags": "NONE"}}}
        return _equal(keyword, c.op, texts)
    if kind == "bool":
        if c.op not in ("eq", "in"):
            return None
        return _equal(path, c.op, [v if isinstance(v, bool) else str(v) == "true" for v in values])
    if kind == "int":
        try:
            numbers = [int(v) for v in values]
        except (TypeError, ValueError):
            return None
        return _equal(path, c.op, numbers) if c.op in ("eq", "in") else _range(path, c.op, numbers)
    if kind == "decimal":
        if c.op in ("eq", "in"):
            return _equal(path + ".kw", c.op, [str(v) for v in values])
        number = _double(values[0])
        if number is None:
            return None
        strict = _range(path, {"gte": "gt", "lte": "lt"}.get(c.op, c.op), [number])
        if c.op in ("gt", "lt") or strict is None:
            return strict
        return {
            "bool": {
                "should": [strict, {"term": {path + ".kw": str(values[0])}}],
                "minimum_should_match": 1,
            }
        }
    if kind == "date":
        if c.op in ("eq", "in"):
            return _equal(path, c.op, [str(v) for v in values])
        return _range(path, c.op, [str(values[0])])
    if kind == "datetime":
        return _datetime_range(path, c.op, str(values[0]))
    return None


def _equal(path: str, op: str, values: list[Any]) -> Dsl | None:
    if op == "eq":
        return {"term": {path: values[0]}}
    if op == "in":
        return {"terms": {path: values}}
    return None


def _range(path: str, op: str, values: list[Any]) -> Dsl | None:
    bound = _RANGES.get(op)
    return {"range": {path: {bound: values[0]}}} if bound else None


def _double(value: Any) -> float | None:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    double = float(number)
    return double if math.isfinite(double) else None


def _datetime_range(path: str, op: str, value: str) -> Dsl | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    whole = moment.replace(microsecond=moment.microsecond - moment.microsecond % 1000)
    aligned = whole == moment
    if op == "gte":
        return _range(path, "gte", [_millis(whole if aligned else whole + _MILLI)])
    if op == "gt":
        return _range(path, "gte", [_millis(whole + _MILLI)])
    if op in ("lt", "lte"):
        return _range(path, "lt", [_millis(whole)])
    return None  # eq, in: the index cannot tell microseconds apart


def _millis(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def contains_regexp(text: str) -> str | None:
    """A whole-value regexp matching values that hold ``text`` up to case folding, each
    character by the class of characters folding alike (see the module docstring)."""
    parts = []
    for char in text:
        same = _folds_alike().get(char.casefold(), (char,))
        members = sorted(set(same) | {char})
        if len(members) == 1:
            parts.append(_escape(members[0]))
        else:
            parts.append("[" + "".join(_escape(m) for m in members) + "]")
    pattern = ".*" + "".join(parts) + ".*"
    return pattern if len(pattern) <= MAX_REGEX_LENGTH else None


def _escape(char: str) -> str:
    # Lucene's syntax takes any character after a backslash literally.
    return char if char.isalnum() and char.isascii() else "\\" + char


@functools.cache
def _folds_alike() -> dict[str, tuple[str, ...]]:
    """Case fold → every character with that fold (built once, on the first ``contains``)."""
    table: dict[str, list[str]] = {}
    for point in range(_LAST_CASED + 1):
        char = chr(point)
        folded = char.casefold()
        if folded != char or char.lower() != char or char.upper() != char:
            table.setdefault(folded, []).append(char)
    for folded, chars in table.items():
        if len(folded) == 1 and folded not in chars:
            chars.append(folded)
    return {folded: tuple(chars) for folded, chars in table.items() if len(chars) > 1}


__all__ = ["MAX_REGEX_LENGTH", "condition_dsl", "contains_regexp", "row_filter_dsl"]
