"""The record store's physical layout per dataset: a partition of ``records`` for each dataset,
with expression indexes on its filterable and reference fields, so filters, orderings and
reference joins are index-backed (DESIGN.md §4) and the planner weighs only that dataset's
indexes. Text expressions use collation "C" (bytewise: fast, and code-point order) and the
query side (``catalog.record_sql``) writes the same expressions. Text fields a list can be
ordered by (filterable, required, not encrypted) also get an index on their Vietnamese sort
key (``catalog.collation``), which ``orderBy`` and its keyset pages read, or on a server with
ICU on the text under collation ``vi-x-icu`` (``hub_state.text_order``, migration 0008).
Names are derived, so creation is idempotent."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.collation import ICU, SORT_KEY, orders_vietnamese, sort_key_sql
from catalog.models import Dataset, DatasetField

NUMERIC = frozenset({"int", "decimal"})


def partition_name(code: str) -> str:
    if len(code) <= 50:
        return f"records_{code}"
    return f"records_{code[:40]}_{_digest(code)}"


async def ensure_partition(session: AsyncSession, code: str) -> None:
    # Codes are catalogue-validated snake_case: the only text spliced into this DDL.
    await session.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {partition_name(code)} "
            f"PARTITION OF records FOR VALUES IN ('{code}')"
        )
    )


def index_statements(dataset: Dataset, text_order: str = SORT_KEY) -> list[str]:
    statements = []
    table = partition_name(dataset.code)
    for field in dataset.fields:
        if not (field.filterable or field.type == "reference"):
            continue
        name = _index_name(dataset.code, field.name)
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} (({index_expression(field)}), key)"
        )
        # Ordering by the key field reads the key column, already the table's primary key.
        orderable = field.filterable and field.required and field.name != dataset.key_field
        if orderable and orders_vietnamese(field):
            kind = "icu" if text_order == ICU else "vi"
            name = _index_name(dataset.code, field.name, kind)
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                f"(({sort_key_sql(index_expression(field), text_order)}), key)"
            )
    return statements


async def ensure_indexes(session: AsyncSession, dataset: Dataset) -> int:
    await ensure_partition(session, dataset.code)
    statements = index_statements(dataset, await text_order(session))
    for statement in statements:
        await session.execute(text(statement))
    return len(statements)


async def text_order(session: AsyncSession) -> str:
    """How this database orders text (``catalog.collation.TEXT_ORDERS``)."""
    found = await session.scalar(text("SELECT text_order FROM hub_state WHERE id = 1"))
    return str(found) if found is not None else SORT_KEY


def index_expression(field: DatasetField) -> str:
    if field.encrypted:
        return f"(blind->>'{field.name}') COLLATE \"C\""
    if field.type in NUMERIC:
        return f"(data->>'{field.name}')::numeric"
    if field.type == "bool":
        return f"(data->>'{field.name}')::boolean"
    return f"(data->>'{field.name}') COLLATE \"C\""


def _index_name(code: str, field: str, kind: str = "rec") -> str:
    suffix = "" if kind == "rec" else "/" + kind
    return f"ix_{kind}_{code[:20]}_{field[:20]}_{_digest(code + '.' + field + suffix)}"


def _digest(value: str) -> str:
    return hashlib.sha1(value.encode(), usedforsecurity=False).hexdigest()[:8]


__all__ = [
    "ensure_indexes",
    "ensure_partition",
    "index_expression",
    "index_statements",
    "partition_name",
    "text_order",
]
