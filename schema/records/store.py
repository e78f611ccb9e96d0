"""SQL of the generic record queries, over the asyncpg pool; every value a ``$n`` parameter.

The caller's row filters are ANDed into every statement (``visibility``), so a page, a count or
a lookup never even fetches a record the caller may not see; ``View.shape`` checks again in
Python. A client's own filter may only name fields the caller may read, on the rows where it
may read them, so filtering cannot reveal a value the caller cannot read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from catalog.errors import Forbidden, InvalidInput
from catalog.models import DatasetField
from catalog.record_sql import Params, any_filter_sql, row_filter_sql, visibility_sql
from catalog.rowfilter import Condition, RowFilter, parse_row_filter
from catalog.values import normalise_value
from schema.records.reading import View

RECORD_COLUMNS = "r.key, r.version, r.data, r.updated_at"
TEXT_TYPES = frozenset({"string", "reference", "enum"})
HISTORY_LIMIT = 200  # entries of one record's history shown
VERSION_SCAN = 1000  # stored versions read to build them (history covers the newest these)


def fields_of(view: View) -> dict[str, DatasetField]:
    return {f.name: f for f in view.dataset.fields}


def parse_user_filter(view: View, raw: object) -> RowFilter | None:
    """A client's ``filter`` argument, validated and normalised to stored forms.

    Raises InvalidInput naming the field (unknown, not filterable, wrong value type, missing
    purpose) and Forbidden for a field the caller may not read at all."""
    place = f"records.filter of dataset '{view.code}'"
    fields = fields_of(view)
    filterable = {f.name: f.type for f in fields.values() if f.filterable}
    parsed = parse_row_filter(raw, filterable, place)
    if parsed is None:
        return None
    conditions = []
    for c in parsed.conditions:
        field = fields[c.field]
        if view.access.filters_for_field(c.field) == ():
            raise Forbidden(f"{place}: field '{c.field}' is not readable by the caller")
        if view.withheld_of(frozenset({c.field})):
            raise InvalidInput(
                f"{place}: filtering on RESTRICTED field '{c.field}' needs a purpose: "
                "send the X-Purpose header"
            )
        if field.encrypted and c.op not in ("eq", "in"):
            raise InvalidInput(
                f"{place}: field '{c.field}' is encrypted; only eq and in apply, not {c.op}"
            )
        conditions.append(Condition(c.field, c.op, _normalised(view, field, c)))
    return RowFilter(tuple(conditions))


def where_clauses(view: View, user_filter: RowFilter | None, params: Params) -> list[str]:
    """The dataset, live records, the caller's row filters and the client's filter."""
    fields = fields_of(view)
    blind = view.ctx.services.field_keys.blind
    where = [f"r.dataset_code = {params.literal(view.code)}", "NOT r.deleted"]
    where.extend(visibility(view, params))
    if user_filter is not None:
        where.append(row_filter_sql("r", user_filter, fields, params, blind))
        for name in sorted({c.field for c in user_filter.conditions}):
            where.extend(readable_where(view, name, params))
    return where


def visibility(view: View, params: Params) -> list[str]:
    blind = view.ctx.services.field_keys.blind
    return visibility_sql("r", view.access, fields_of(view), params, blind)


def readable_where(view: View, name: str, params: Params) -> list[str]:
    """Rows on which field ``name`` is readable: nothing to add when it is on all of them."""
    filters = view.access.filters_within_view(name)
    if filters is None:
        return []
    blind = view.ctx.services.field_keys.blind
    return [any_filter_sql("r", filters, fields_of(view), params, blind)]


async def fetch_page(
    pool: asyncpg.Pool,
    view: View,
    user_filter: RowFilter | None,
    after_key: str | None,
    limit: int,
) -> list[asyncpg.Record]:
    params = Params()
    where = where_clauses(view, user_filter, params)
    if after_key is not None:
        where.append(f"r.key > {params.literal(after_key)}")
    sql = (
        f"SELECT {RECORD_COLUMNS} FROM records r WHERE {' AND '.join(where)} "
        f"ORDER BY r.key LIMIT {params.literal(limit)}"
    )
    return list(await pool.fetch(sql, *params.values(None)))


async def count(pool: asyncpg.Pool, view: View, user_filter: RowFilter | None) -> int:
    params = Params()
    where = where_clauses(view, user_filter, params)
    sql = f"SELECT count(*) FROM records r WHERE {' AND '.join(where)}"
    return int(await pool.fetchval(sql, *params.values(None)))


async def fetch_current(
    pool: asyncpg.Pool, view: View, stored_keys: list[str]
) -> asyncpg.Record | None:
    """The live record under any of ``stored_keys`` that the caller's row filters admit."""
    params = Params()
    where = [
        f"r.dataset_code = {params.literal(view.code)}",
        f"r.key = ANY({params.literal(stored_keys)}::text[])",
        "NOT r.deleted",
        *visibility(view, params),
    ]
    sql = f"SELECT {RECORD_COLUMNS} FROM records r WHERE {' AND '.join(where)} LIMIT 1"
    row: asyncpg.Record | None = await pool.fetchrow(sql, *params.values(None))
    return row


async def fetch_versions(
    pool: asyncpg.Pool, view: View, stored_key: str, until: datetime | None = None
) -> list[asyncpg.Record]:
    """The newest ``VERSION_SCAN`` versions of a record (changed at or before ``until`` when
    given), oldest first, for ``schema.records.versions`` to cut to the caller's view."""
    rows = await pool.fetch(
        "SELECT v.version, v.changed_at, v.source, v.reason, v.data, v.deleted "
        "FROM record_versions v WHERE v.dataset_code = $1 AND v.key = $2 "
        "AND ($3::timestamptz IS NULL OR v.changed_at <= $3) "
        "ORDER BY v.version DESC LIMIT $4",
        view.code,
        stored_key,
        until,
        VERSION_SCAN,
    )
    return list(reversed(rows))


def _normalised(view: View, field: DatasetField, c: Condition) -> Any:
    def one(value: Any) -> Any:
        if c.op == "contains" or (field.type in TEXT_TYPES and c.op not in ("eq", "in")):
            return str(value)
        return normalise_value(field, value, view.code)

    if c.op == "in":
        return tuple(one(v) for v in c.value)
    return one(c.value)


__all__ = [
    "count",
    "fetch_current",
    "fetch_page",
    "fetch_versions",
    "parse_user_filter",
    "visibility",
    "where_clauses",
]
