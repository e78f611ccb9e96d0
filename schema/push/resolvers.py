"""``upsertRecords(dataset:, records:, source:)``: an owner system sends a bounded batch.

The batch is checked whole before anything is written: more than ``HUB_PUSH_MAX_RECORDS``
records, or an item that is not an object, is BAD_USER_INPUT naming the limit or the item.
Rows that fail the dataset's validation are quarantined by the engine, not fatal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol, cast

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from catalog.errors import InvalidInput
from connectors.sources.base import SourceRow
from schema.connectors.types import SyncRun
from schema.context import Context
from schema.push.pushing import push, pushable_dataset
from schema.push.types import run_of

CtxInfo = Info[Context, None]
ACTION = "upsertRecords"


class _PushLimit(Protocol):
    @property
    def push_max_records(self) -> int: ...


@strawberry.type
class PushMutation:
    @strawberry.mutation(
        description=(
            "Owner of the dataset's agency only: insert or update records by key, through the "
            "sync engine (validation, quarantine, versions, audit); at most HUB_PUSH_MAX_RECORDS."
        )
    )
    async def upsert_records(
        self, info: CtxInfo, dataset: str, records: list[JSON], source: str | None = None
    ) -> SyncRun:
        ctx = info.context
        row = pushable_dataset(ctx.principal, ctx.services.snapshot.datasets, dataset, ACTION)
        # hub.services.Services has the setting; the context's protocol need not know it.
        rows = checked_batch(records, cast(_PushLimit, ctx.services).push_max_records)
        outcome = await push(
            ctx.sessions, ctx.services.field_keys, ctx.principal, row, _one(rows), source=source
        )
        return run_of(outcome)


def checked_batch(records: list[Any], limit: int) -> list[SourceRow]:
    """The batch as source rows (``record N``, 1-based); InvalidInput over the limit or for
    an item that is not an object, before anything is written."""
    if len(records) > limit:
        raise InvalidInput(
            f"{ACTION}: {len(records)} records in one batch; at most {limit} "
            "(HUB_PUSH_MAX_RECORDS); send larger batches to POST /ingest/{dataset}"
        )
    if not records:
        raise InvalidInput(f"{ACTION}: 'records' is empty; send at least one record")
    rows = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, Mapping):
            raise InvalidInput(
                f"{ACTION}: records[{number - 1}] is a {type(record).__name__}, "
                "not an object of field → value"
            )
        rows.append(SourceRow(f"record {number}", dict(record)))
    return rows


async def _one(rows: list[SourceRow]) -> AsyncIterator[list[SourceRow]]:
    yield rows


__all__ = ["PushMutation", "checked_batch"]
