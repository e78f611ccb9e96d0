"""SQL fragments over the record store (``records``: one JSONB ``data`` per dataset and key).

Every value reaches SQL as a bind parameter: ``Params`` hands out ``$n`` placeholders whose
values are resolved per request (from variables, literals or blind-index hashing), so a plan
compiled once serves every request of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog.access import Access
from catalog.models import DatasetField
from catalog.rowfilter import Condition, RowFilter, escape_like

NUMERIC_TYPES = frozenset({"int", "decimal"})
Resolver = Callable[[Any], Any]


@dataclass
class Params:
    """Bind parameters of one statement: literals now, or resolvers run per request."""

    slots: list[Resolver] = field(default_factory=list)

    def literal(self, value: Any) -> str:
        def constant(_binding: Any) -> Any:
            return value

        self.slots.append(constant)
        return f"${len(self.slots)}"

    def dynamic(self, resolve: Resolver) -> str:
        self.slots.append(resolve)
        return f"${len(self.slots)}"

    def values(self, binding: Any) -> list[Any]:
        """Parameter values for one request; ``binding`` is what dynamic slots read."""
        return [slot(binding) for slot in self.slots]


def quote_literal_name(name: str) -> str:
    """Field names are catalogue-validated snake_case; still, never splice anything else."""
    if not name.replace("_", "").isalnum() or not name.isascii():
        raise ValueError(f"unsafe field name {name!r}")
    return "'" + name + "'"


def text_value(alias: str, field_name: str) -> str:
    return f"({alias}.data->>{quote_literal_name(field_name)})"


def json_value(alias: str, field_name: str) -> str:
    return f"({alias}.data->{quote_literal_name(field_name)})"


def blind_value(alias: str, field_name: str) -> str:
    return f"({alias}.blind->>{quote_literal_name(field_name)})"


def typed_value(alias: str, field: DatasetField) -> str:
    """The expression filters and orderings compare: numeric for numbers, text otherwise
    (dates and UTC datetimes are stored in ISO form, so text order is time order). Each is
    written exactly as ``catalog.indexes.index_expression`` indexes it."""
    if field.encrypted:
        return f'({blind_value(alias, field.name)} COLLATE "C")'
    if field.type in NUMERIC_TYPES:
        return f"({text_value(alias, field.name)})::numeric"
    if field.type == "bool":
        return f"({text_value(alias, field.name)})::boolean"
    return f'({text_value(alias, field.name)} COLLATE "C")'


def sql_param_value(field: DatasetField, value: Any, blind: Callable[[str], str]) -> Any:
    """A Python value as bound for ``typed_value``'s expression."""
    if field.encrypted:
        return blind(str(value))
    if field.type in NUMERIC_TYPES:
        from decimal import Decimal, InvalidOperation

        try:
            return Decimal(str(value))
        except InvalidOperation:
            from catalog.errors import InvalidInput

            raise InvalidInput(f"field '{field.name}': expected a number, got {value!r}") from None
    if field.type == "bool":
        return bool(value)
    return str(value)


def condition_sql(
    alias: str,
    field: DatasetField,
    op: str,
    param: str,
) -> str:
    expr = typed_value(alias, field)
    if op == "eq":
        return f"{expr} = {param}"
    if op == "in":
        return f"{expr} = ANY({param})"
    if op == "contains":
        return f"{text_value(alias, field.name)} ILIKE '%' || {param} || '%'"
    symbol = {"gte": ">=", "lte": "<=", "gt": ">", "lt": "<"}[op]
    return f"{expr} {symbol} {param}"


def row_filter_sql(
    alias: str,
    row_filter: RowFilter,
    fields: Mapping[str, DatasetField],
    params: Params,
    blind: Callable[[str], str],
) -> str:
    parts = [
        condition_sql(alias, fields[c.field], c.op, params.literal(_bound(c, fields, blind)))
        for c in row_filter.conditions
    ]
    return "(" + " AND ".join(parts) + ")" if parts else "TRUE"


def _bound(c: Condition, fields: Mapping[str, DatasetField], blind: Callable[[str], str]) -> Any:
    field = fields[c.field]
    if c.op == "in":
        return [sql_param_value(field, v, blind) for v in c.value]
    if c.op == "contains":
        return escape_like(str(c.value))
    return sql_param_value(field, c.value, blind)


def any_filter_sql(
    alias: str,
    filters: Sequence[RowFilter],
    fields: Mapping[str, DatasetField],
    params: Params,
    blind: Callable[[str], str],
) -> str:
    """Rows matching at least one of ``filters`` (FALSE for none)."""
    return any_of([row_filter_sql(alias, f, fields, params, blind) for f in filters])


def visibility_sql(
    alias: str,
    access: Access,
    fields: Mapping[str, DatasetField],
    params: Params,
    blind: Callable[[str], str],
) -> list[str]:
    """The rows that exist for the caller: no condition when it sees them all."""
    if access.sees_all_rows:
        return []
    filters = [r.row_filter for r in access.rules if r.row_filter is not None]
    return [any_filter_sql(alias, filters, fields, params, blind)]


def any_of(filters: Sequence[str]) -> str:
    if not filters:
        return "FALSE"
    if len(filters) == 1:
        return filters[0]
    return "(" + " OR ".join(filters) + ")"


__all__ = [
    "Params",
    "any_filter_sql",
    "any_of",
    "blind_value",
    "condition_sql",
    "json_value",
    "row_filter_sql",
    "sql_param_value",
    "text_value",
    "typed_value",
    "visibility_sql",
]
