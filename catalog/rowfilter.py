"""Declarative row filters of grants: ``{field: value | [values] | {op: value}}``, ANDed.

Operators: eq, in, gte, lte, gt, lt, contains. Only filterable fields may appear (so the
compiled SQL is index-backed). Parsed once into ``Condition`` values that both the SQL compiler
and the Python evaluator (for search hits, holders) read, so the two can never disagree. A
grant's filter is also typed (``typed_row_filter``): each value in the stored canonical form of
its field, each operator one that the field's type orders or matches the same way on both
paths.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog.errors import InvalidInput
from catalog.models import DatasetField
from catalog.values import normalise_value

OPERATORS = ("eq", "in", "gte", "lte", "gt", "lt", "contains")
#: Most values one ``in`` list may hold.
MAX_IN_VALUES = 1000
#: Longest text value in a grant's row filter, in characters.
MAX_FILTER_TEXT = 1000
_ORDERED = frozenset({"eq", "in", "gte", "lte", "gt", "lt"})
#: Operators a grant's row filter may use, per field type. Text is matched, not ordered: a
#: range over names or codes is never what an owner means, and ``gte: 0`` on text is a typo.
TYPED_OPERATORS: dict[str, frozenset[str]] = {
    "string": frozenset({"eq", "in", "contains"}),
    "reference": frozenset({"eq", "in"}),
    "enum": frozenset({"eq", "in"}),
    "bool": frozenset({"eq", "in"}),
    "int": _ORDERED,
    "decimal": _ORDERED,
    "date": _ORDERED,
    "datetime": _ORDERED,
}
# C0 and C1 controls (NUL among them): never part of a filter value.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TEXT_TYPES = frozenset({"string", "reference", "enum"})
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Condition:
    field: str
    op: str
    value: Any


@dataclass(frozen=True, slots=True)
class RowFilter:
    conditions: tuple[Condition, ...]

    def matches(self, values: Mapping[str, Any]) -> bool:
        return all(_holds(c, values.get(c.field)) for c in self.conditions)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for c in self.conditions:
            out.setdefault(c.field, {})[c.op] = list(c.value) if c.op == "in" else c.value
        return out


def parse_row_filter(
    raw: object, filterable: Mapping[str, str], place: str = "rowFilter"
) -> RowFilter | None:
    """``filterable`` maps field name → field type. Raises InvalidInput naming the problem."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidInput(f"{place}: expected a non-empty object of field → condition")
    conditions: list[Condition] = []
    for name, spec in raw.items():
        if name not in filterable:
            raise InvalidInput(
                f"{place}: field '{name}' is not a filterable field; filterable: "
                f"{', '.join(sorted(filterable)) or 'none'}"
            )
        if isinstance(spec, Mapping):
            if not spec:
                raise InvalidInput(f"{place}.{name}: empty condition")
            for op, value in spec.items():
                if op not in OPERATORS:
                    raise InvalidInput(
                        f"{place}.{name}: unknown operator '{op}'; use {', '.join(OPERATORS)}"
                    )
                conditions.append(_condition(name, op, value, place))
        elif isinstance(spec, list):
            conditions.append(_condition(name, "in", spec, place))
        else:
            conditions.append(_condition(name, "eq", spec, place))
    return RowFilter(tuple(conditions))


def typed_row_filter(
    raw: object, fields: Mapping[str, DatasetField], dataset_code: str, place: str = "rowFilter"
) -> RowFilter | None:
    """A grant's row filter checked against its dataset's field types and normalised to the
    stored forms (text NFC, canonical decimals, dates and datetimes, blind-indexable values).

    Raises ``InvalidInput`` naming the field, the operator and the value: an operator the
    field's type does not allow (``contains`` only on text, ranges only on numbers, dates and
    datetimes, encrypted fields ``eq``/``in`` only), a value of the wrong type, a control
    character such as NUL, too long a text or too long an ``in`` list.
    """
    filterable = {f.name: f.type for f in fields.values() if f.filterable}
    parsed = parse_row_filter(raw, filterable, place)
    if parsed is None:
        return None
    conditions = []
    for c in parsed.conditions:
        field = fields[c.field]
        allowed = TYPED_OPERATORS.get(field.type, frozenset())
        if field.encrypted:
            allowed = allowed & {"eq", "in"}  # only the blind index is searchable
        if c.op not in allowed:
            kind = f"an encrypted {field.type}" if field.encrypted else f"a {field.type}"
            raise InvalidInput(
                f"{place}.{c.field}: operator '{c.op}' does not apply to {kind} field; "
                f"use {', '.join(o for o in OPERATORS if o in allowed) or 'none'}"
            )
        where = f"{place}.{c.field}.{c.op}"
        if c.op == "in":
            value: Any = tuple(_typed(field, v, c.op, where, dataset_code) for v in c.value)
        else:
            value = _typed(field, c.value, c.op, where, dataset_code)
        conditions.append(Condition(c.field, c.op, value))
    return RowFilter(tuple(conditions))


def _typed(field: DatasetField, value: Any, op: str, where: str, dataset_code: str) -> Any:
    if field.type in _TEXT_TYPES:
        if not isinstance(value, str):
            raise InvalidInput(f"{where}: expected text, got {_show(value)}")
        if _CONTROL.search(value):
            raise InvalidInput(f"{where}: text contains a control character (such as NUL)")
        if len(value) > MAX_FILTER_TEXT:
            raise InvalidInput(f"{where}: text longer than {MAX_FILTER_TEXT} characters")
        if op == "contains":
            text = unicodedata.normalize("NFC", value).strip()
            if not text:
                raise InvalidInput(f"{where}: expected non-empty text")
            return text
    elif field.type in ("date", "datetime") and not isinstance(value, str):
        raise InvalidInput(f"{where}: expected an ISO 8601 {field.type} text, got {_show(value)}")
    try:
        return normalise_value(field, value, dataset_code)
    except InvalidInput as exc:
        raise InvalidInput(f"{where}: {exc.message}") from None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _condition(name: str, op: str, value: object, place: str) -> Condition:
    if op == "in":
        if not isinstance(value, Sequence) or isinstance(value, str) or not value:
            raise InvalidInput(f"{place}.{name}.in: expected a non-empty list")
        if len(value) > MAX_IN_VALUES:
            raise InvalidInput(
                f"{place}.{name}.in: at most {MAX_IN_VALUES} values, got {len(value)}"
            )
        if any(not isinstance(v, str | int | float | bool) for v in value):
            raise InvalidInput(f"{place}.{name}.in: values must be scalars")
        return Condition(name, op, tuple(value))
    if not isinstance(value, str | int | float | bool) or value is None:
        raise InvalidInput(f"{place}.{name}.{op}: expected a scalar value, got {value!r}")
    return Condition(name, op, value)


def escape_like(text: str) -> str:
    """Literal text for a LIKE/ILIKE pattern: its own %, _ and backslashes match themselves."""
    return text.replace("\\", "\\\\").replace("%", r"\%").replace("_", r"\_")


def _holds(c: Condition, actual: Any) -> bool:
    if actual is None:
        return False
    if c.op == "eq":
        return _norm(actual) == _norm(c.value)
    if c.op == "in":
        return _norm(actual) in {_norm(v) for v in c.value}
    if c.op == "contains":
        return str(c.value).casefold() in str(actual).casefold()
    try:
        left, right = _comparable(actual, c.value)
    except (TypeError, ValueError):
        return False
    return {
        "gte": left >= right,
        "lte": left <= right,
        "gt": left > right,
        "lt": left < right,
    }[c.op]


def _norm(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _comparable(a: Any, b: Any) -> tuple[Any, Any]:
    from decimal import Decimal

    if isinstance(a, str) and isinstance(b, str):
        # Decimals are stored as plain digit strings: compared as numbers, as the SQL does
        # ("150" > "20"); dates and UTC datetimes as text, whose order is time order.
        if _PLAIN_NUMBER.fullmatch(a) and _PLAIN_NUMBER.fullmatch(b):
            return Decimal(a), Decimal(b)
        return a, b
    return Decimal(str(a)), Decimal(str(b))


__all__ = [
    "MAX_FILTER_TEXT",
    "MAX_IN_VALUES",
    "OPERATORS",
    "TYPED_OPERATORS",
    "Condition",
    "RowFilter",
    "escape_like",
    "parse_row_filter",
    "typed_row_filter",
]
