"""Connector types of the contract (``api.graphql``: Connector, SyncRun, SyncStatus) and the
additions that read what a run set aside: its quarantined rows and reconciliation findings,
as bounded pages, and a per-field summary of the findings without any value."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from catalog import sync_models
from schema.catalogue.types import Dataset, PageInfo
from schema.context import Context


@strawberry.enum
class SyncStatus(enum.Enum):
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@strawberry.type
class SyncRun:
    id: strawberry.ID
    connector: str = strawberry.field(description="The connector's name, or push:<dataset>.")
    status: SyncStatus
    started_at: datetime
    finished_at: datetime | None
    read: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    rejected: int = strawberry.field(description="Rows quarantined (see quarantinedRows).")
    error: str | None
    trigger: str = strawberry.field(description="manual, schedule, api or push.")
    unresolved_references: int = strawberry.field(
        description="References that resolve to nothing in their authoritative dataset."
    )
    disagreements: int = strawberry.field(
        description="Values that disagree with the authoritative dataset of their entity."
    )

    @classmethod
    def of(cls, row: sync_models.SyncRun) -> SyncRun:
        return cls(
            id=strawberry.ID(str(row.id)),
            connector=row.connector,
            status=SyncStatus(row.status),
            started_at=row.started_at,
            finished_at=row.finished_at,
            read=row.read,
            inserted=row.inserted,
            updated=row.updated,
            unchanged=row.unchanged,
            deleted=row.deleted,
            rejected=row.rejected,
            error=row.error,
            trigger=row.trigger,
            unresolved_references=row.unresolved,
            disagreements=row.disagreeing,
        )


@strawberry.type
class Connector:
    name: str
    kind: str = strawberry.field(description="postgres | mysql | csv | xlsx | http")
    schedule: str | None
    next_run_at: datetime | None = strawberry.field(
        description="When the worker runs it next; null for manual runs only."
    )
    dataset_code: strawberry.Private[str]

    @classmethod
    def of(cls, row: sync_models.Connector) -> Connector:
        return cls(
            name=row.name,
            kind=row.kind,
            schedule=row.schedule,
            next_run_at=row.next_run_at,
            dataset_code=row.dataset_code,
        )

    @strawberry.field
    async def dataset(self, info: Info[Context, None]) -> Dataset:
        from schema.catalogue.loaders import dataset_loader

        row = await dataset_loader(info.context).load(self.dataset_code)
        assert row is not None  # foreign key
        return Dataset.of(row)

    @strawberry.field(description="Its latest run, finished or not.")
    async def last_run(self, info: Info[Context, None]) -> SyncRun | None:
        from schema.connectors.loaders import last_run_loader

        row = await last_run_loader(info.context).load(self.name)
        return SyncRun.of(row) if row is not None else None


@strawberry.type
class QuarantinedRow:
    position: str = strawberry.field(description='Where the source holds it, e.g. "line 12".')
    reason: str
    row: JSON = strawberry.field(description="The row as the source sent it.")
    at: datetime

    @classmethod
    def of(cls, row: sync_models.QuarantinedRow) -> QuarantinedRow:
        values: Any = row.row
        return cls(position=row.position, reason=row.reason, row=values, at=row.at)


@strawberry.type
class QuarantinedRowEdge:
    node: QuarantinedRow
    cursor: str


@strawberry.type
class QuarantinedRowConnection:
    edges: list[QuarantinedRowEdge]
    page_info: PageInfo


@strawberry.type
class ReconciliationFinding:
    field: str
    kind: str = strawberry.field(description="UNRESOLVED_REFERENCE or DISAGREES.")
    authority: str = strawberry.field(description="The authoritative dataset's code.")
    key: str = strawberry.field(description="The record's key in the connector's dataset.")
    value: str | None = strawberry.field(description="The connector's value, as stored.")

    @classmethod
    def of(cls, row: sync_models.ReconciliationFinding) -> ReconciliationFinding:
        return cls(
            field=row.field, kind=row.kind, authority=row.authority, key=row.key, value=row.value
        )


@strawberry.type
class ReconciliationFindingEdge:
    node: ReconciliationFinding
    cursor: str


@strawberry.type
class ReconciliationFindingConnection:
    edges: list[ReconciliationFindingEdge]
    page_info: PageInfo


@strawberry.type
class ReconciliationTotal:
    """How many findings of one kind a run made on one field: the report without values."""

    field: str
    kind: str
    authority: str
    count: int


__all__ = [
    "Connector",
    "QuarantinedRow",
    "QuarantinedRowConnection",
    "QuarantinedRowEdge",
    "ReconciliationFinding",
    "ReconciliationFindingConnection",
    "ReconciliationFindingEdge",
    "ReconciliationTotal",
    "SyncRun",
    "SyncStatus",
]
