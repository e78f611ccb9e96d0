"""Reads of connectors and runs for the API: every listing bounded and in a total order (runs
newest first by id; quarantined rows and findings in the order they were set aside, by id),
each served by an index (``ix_sync_runs_connector``, ``ix_sync_quarantine_run``,
``ix_sync_reconciliation_run``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Dataset
from catalog.sync_models import Connector, QuarantinedRow, ReconciliationFinding, SyncRun

T = TypeVar("T")
# Most (field, kind, authority) totals of one run: bounded by the dataset's fields anyway.
MAX_TOTALS = 1000

_LAST_RUNS = """
SELECT r.* FROM unnest(CAST(:names AS text[])) AS n(name)
CROSS JOIN LATERAL (
  SELECT * FROM sync_runs s WHERE s.connector = n.name ORDER BY s.id DESC LIMIT 1
) AS r
"""


async def last_runs(session: AsyncSession, names: Sequence[str]) -> dict[str, SyncRun]:
    """Each named connector's newest run (one index probe per name)."""
    if not names:
        return {}
    query = select(SyncRun).from_statement(text(_LAST_RUNS))
    rows = await session.scalars(query, {"names": list(names)})
    return {row.connector: row for row in rows}


async def connector_owner(session: AsyncSession, name: str) -> tuple[str, str] | None:
    """(agency, dataset) of a connector's runs: the connector's own, or for a removed one or
    a push (``push:<dataset>``) the dataset of its newest run; its agency is always the
    dataset's owner. None when nothing of that name exists."""
    row = await session.get(Connector, name)
    if row is not None:
        return row.agency_code, row.dataset_code
    found = (
        await session.execute(
            select(Dataset.owner_code, Dataset.code)
            .join(SyncRun, SyncRun.dataset_code == Dataset.code)
            .where(SyncRun.connector == name)
            .order_by(SyncRun.id.desc())
            .limit(1)
        )
    ).first()
    return (found[0], found[1]) if found is not None else None


async def run_owner(session: AsyncSession, run_id: int) -> str | None:
    """The agency owning the dataset a run wrote into; None for an unknown run."""
    owner: str | None = await session.scalar(
        select(Dataset.owner_code)
        .join(SyncRun, SyncRun.dataset_code == Dataset.code)
        .where(SyncRun.id == run_id)
    )
    return owner


async def run_by_id(session: AsyncSession, run_id: int) -> SyncRun | None:
    return await session.get(SyncRun, run_id)


async def list_runs(
    session: AsyncSession, connector: str, first: int, before: int | None
) -> tuple[list[SyncRun], bool]:
    """Up to ``first`` runs of ``connector``, newest first, older than run ``before``; and
    whether more follow."""
    query = select(SyncRun).where(SyncRun.connector == connector)
    if before is not None:
        query = query.where(SyncRun.id < before)
    query = query.order_by(SyncRun.id.desc()).limit(first + 1)
    return _page(list(await session.scalars(query)), first)


async def quarantine_page(
    session: AsyncSession, run_id: int, first: int, after: int | None
) -> tuple[list[QuarantinedRow], bool]:
    query = select(QuarantinedRow).where(QuarantinedRow.run_id == run_id)
    if after is not None:
        query = query.where(QuarantinedRow.id > after)
    query = query.order_by(QuarantinedRow.id).limit(first + 1)
    return _page(list(await session.scalars(query)), first)


async def findings_page(
    session: AsyncSession, run_id: int, first: int, after: int | None
) -> tuple[list[ReconciliationFinding], bool]:
    query = select(ReconciliationFinding).where(ReconciliationFinding.run_id == run_id)
    if after is not None:
        query = query.where(ReconciliationFinding.id > after)
    query = query.order_by(ReconciliationFinding.id).limit(first + 1)
    return _page(list(await session.scalars(query)), first)


async def findings_totals(session: AsyncSession, run_id: int) -> list[dict[str, Any]]:
    """Findings of a run counted by field, kind and authority (no key, no value)."""
    f = ReconciliationFinding
    query = (
        select(f.field, f.kind, f.authority, func.count().label("count"))
        .where(f.run_id == run_id)
        .group_by(f.field, f.kind, f.authority)
        .order_by(f.field, f.kind, f.authority)
        .limit(MAX_TOTALS)
    )
    return [dict(row._mapping) for row in await session.execute(query)]


def _page(rows: list[T], first: int) -> tuple[list[T], bool]:
    return rows[:first], len(rows) > first


__all__ = [
    "connector_owner",
    "findings_page",
    "findings_totals",
    "last_runs",
    "list_runs",
    "quarantine_page",
    "run_by_id",
    "run_owner",
]
