"""Per-dataset expression indexes on the record store, so filters on ``filterable`` fields,
orderings and reference joins are index-backed (DESIGN.md §4). Created when a dataset is
published (and for the baseline at seed time); names are derived, so creation is idempotent."""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Dataset, DatasetField

NUMERIC = frozenset({"int", "decimal"})


def index_statements(dataset: Dataset) -> list[str]:
    # Names and codes are catalogue-validated snake_case; they are the only text spliced here.
    statements = []
    for field in dataset.fields:
        if not (field.filterable or field.type == "reference"):
            continue
        expression = _expression(field)
        name = _index_name(dataset.code, field.name)
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {name} ON records (({expression}), key) "
            f"WHERE dataset_code = '{dataset.code}'"
        )
    return statements


async def ensure_indexes(session: AsyncSession, dataset: Dataset) -> int:
    statements = index_statements(dataset)
    for statement in statements:
        await session.execute(text(statement))
    return len(statements)


def _expression(field: DatasetField) -> str:
    if field.encrypted:
        return f"blind->>'{field.name}'"
    if field.type in NUMERIC:
        return f"(data->>'{field.name}')::numeric"
    if field.type == "bool":
        return f"(data->>'{field.name}')::boolean"
    return f"data->>'{field.name}'"


def _index_name(code: str, field: str) -> str:
    digest = hashlib.sha1(f"{code}.{field}".encode(), usedforsecurity=False).hexdigest()[:8]
    return f"ix_rec_{code[:20]}_{field[:20]}_{digest}"


__all__ = ["ensure_indexes", "index_statements"]
