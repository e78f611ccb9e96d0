"""Ordering and keyset pagination of a typed list on the caller's view (DESIGN.md §5).

The sort value is what the caller may read: a field readable only on some rows sorts as NULL
where it is hidden, and the cursor carries that view value, never the hidden one. SQL row
comparison treats NULL as unknown, so nullable orderings spell NULLs out: rows with a value
come first (in the asked direction, key as tie-break), then the hidden ones by key.

Text fields sort in Vietnamese order: rows compare by the sort key of the view value
(``hub_vi_sort_key``, indexed per field), the cursor still carries the view value, and the key
of the cursor's value is recomputed in SQL. NULL has no key, so the NULL rules are unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog.collation import SORT_KEY, sort_key_sql
from catalog.errors import InvalidInput
from catalog.models import DatasetField
from catalog.record_sql import NUMERIC_TYPES


@dataclass(frozen=True, slots=True)
class Ordering:
    sort: str  # SQL expression of the view value (or the key)
    key: str  # SQL expression of the record key
    direction: str  # "ASC" | "DESC"
    nullable: bool  # hidden on some rows: NULLs handled explicitly
    by_key: bool  # the sort is the key itself
    vietnamese: bool = False  # text compared in Vietnamese order
    text_order: str = SORT_KEY  # how: catalog.collation.TEXT_ORDERS

    @property
    def order_by(self) -> str:
        d = self.direction
        if self.by_key:
            return f"{self.key} {d}"
        if self.nullable:
            return f"({self.sort}) IS NULL, {self._compared(self.sort)} {d}, {self.key} {d}"
        return f"{self._compared(self.sort)} {d}, {self.key} {d}"

    def after(self, value: str, key: str, cast: str) -> str:
        """Rows after the cursor (``value``/``key`` are parameters; ``cast`` their SQL type)."""
        symbol = ">" if self.direction == "ASC" else "<"
        if self.by_key:
            return f"{self.key} {symbol} {key}"
        sort = self._compared(self.sort)
        if not self.nullable:
            return f"({sort}, {self.key}) {symbol} ({self._compared(value)}, {key})"
        typed = f"{value}::{cast}"
        return (
            f"(CASE WHEN {typed} IS NULL THEN ({self.sort} IS NULL AND {self.key} {symbol} {key}) "
            f"ELSE ({self.sort} IS NULL OR ({sort}, {self.key}) {symbol} "
            f"({self._compared(typed)}, {key})) END)"
        )

    def _compared(self, expression: str) -> str:
        return sort_key_sql(expression, self.text_order) if self.vietnamese else expression


def sql_cast(field: DatasetField | None) -> str:
    """The SQL type a cursor's sort value is bound as for ``field`` (None: the key)."""
    if field is None:
        return "text"
    if field.type in NUMERIC_TYPES:
        return "numeric"
    if field.type == "bool":
        return "boolean"
    return "text"


def cursor_value_reader(
    field: DatasetField | None, nullable: bool, place: str
) -> Callable[[Any], Any]:
    """Checks a decoded cursor's sort value against the sort field and binds it; a value of
    the wrong kind is a cursor this hub did not issue (BAD_USER_INPUT, not INTERNAL)."""
    cast = sql_cast(field)

    def read(value: Any) -> Any:
        if value is None and nullable:
            return None
        if (
            cast == "numeric"
            and isinstance(value, int | float | str)
            and not isinstance(value, bool)
        ):
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                number = None
            if number is not None and number.is_finite() and abs(number.adjusted()) <= 1000:
                return number
        if (cast == "boolean" and isinstance(value, bool)) or (
            cast == "text" and isinstance(value, str)
        ):
            return value
        raise InvalidInput(f"{place}: not a cursor this hub issued")

    return read


__all__ = ["Ordering", "cursor_value_reader", "sql_cast"]
