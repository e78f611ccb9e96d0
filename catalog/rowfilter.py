"""Declarative row filters of grants: ``{field: value | [values] | {op: value}}``, ANDed.

Operators: eq, in, gte, lte, gt, lt. Only filterable fields may appear (so the compiled SQL is
index-backed). Parsed once into ``Condition`` values that both the SQL compiler and the Python
evaluator (for search hits, holders) read, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog.errors import InvalidInput

OPERATORS = ("eq", "in", "gte", "lte", "gt", "lt", "contains")


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


def _condition(name: str, op: str, value: object, place: str) -> Condition:
    if op == "in":
        if not isinstance(value, Sequence) or isinstance(value, str) or not value:
            raise InvalidInput(f"{place}.{name}.in: expected a non-empty list")
        if len(value) > 1000:
            raise InvalidInput(f"{place}.{name}.in: at most 1000 values")
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
    if isinstance(a, str) and isinstance(b, str):
        return a, b
    from decimal import Decimal

    return Decimal(str(a)), Decimal(str(b))


__all__ = ["OPERATORS", "Condition", "RowFilter", "escape_like", "parse_row_filter"]
