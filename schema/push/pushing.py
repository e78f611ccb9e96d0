"""The one push path: who may push into a dataset, and the sync engine's ``ingest`` behind it.

Invariant: a push writes only into a dataset owned by the caller's agency, and only through
``connectors.engine.ingest`` (validation, quarantine, versions, outbox, audit and a
``SyncRun`` named ``push:<dataset>``), as a connector run would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from sqlalchemy import insert, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog import policy
from catalog.crypto import FieldKeys
from catalog.errors import NotFound
from catalog.models import Dataset
from catalog.principal import Principal
from catalog.sync_models import QuarantinedRow, SyncRun
from connectors.engine import RunOutcome, ingest
from connectors.sources.base import SourceRow

MAX_SOURCE_LABEL = 200


def pushable_dataset(
    principal: Principal, datasets: dict[str, Dataset], code: str, action: str
) -> Dataset:
    """The dataset ``code`` when the caller is the owner of its agency. A dataset the caller
    may not know exists is NOT_FOUND (no existence oracle); another agency's is FORBIDDEN."""
    policy.require_authenticated(principal, action)
    dataset = datasets.get(code)
    if dataset is None or not policy.can_see_dataset(principal, dataset):
        raise NotFound(f"dataset '{code[:100]}' does not exist")
    policy.require_owner(principal, dataset.owner_code, action)
    return dataset


def source_label(principal: Principal, source: str | None) -> str:
    """What the versions' ``source`` says: the caller's own label (bounded), or who pushed."""
    if source is not None and source.strip():
        return source.strip()[:MAX_SOURCE_LABEL]
    return f"push by {principal.subject}"


async def push(
    sessions: async_sessionmaker[AsyncSession],
    keys: FieldKeys,
    principal: Principal,
    dataset: Dataset,
    batches: AsyncIterator[list[SourceRow]],
    *,
    source: str | None,
) -> RunOutcome:
    """Run ``batches`` through the engine as the dataset's owner; the finished run."""
    return await ingest(
        sessions,
        keys,
        dataset.code,
        batches,
        label=source_label(principal, source),
        trigger="push",
        started_by=principal.subject,
        agency=dataset.owner_code,
    )


class UnreadLine(Protocol):
    """A line of an upload that could not be parsed (``hub.ingest_lines.BadLine``)."""

    @property
    def line(self) -> int: ...

    @property
    def reason(self) -> str: ...

    @property
    def text(self) -> str: ...


async def quarantine_lines(
    sessions: async_sessionmaker[AsyncSession],
    dataset: Dataset,
    outcome: RunOutcome,
    lines: Sequence[UnreadLine],
) -> RunOutcome:
    """Keep the lines an upload could not parse in the run's quarantine, counted as read and
    rejected like the rows the engine refused; the run with its counts so amended."""
    async with sessions.begin() as session:
        await session.execute(
            insert(QuarantinedRow),
            [
                {
                    "run_id": outcome.run_id,
                    "connector": f"push:{dataset.code}",
                    "dataset_code": dataset.code,
                    "position": f"line {item.line}",
                    "reason": item.reason,
                    "row": {"line": item.text},
                }
                for item in lines
            ],
        )
        await session.execute(
            update(SyncRun)
            .where(SyncRun.id == outcome.run_id)
            .values(read=SyncRun.read + len(lines), rejected=SyncRun.rejected + len(lines))
        )
    return dataclasses.replace(
        outcome, read=outcome.read + len(lines), rejected=outcome.rejected + len(lines)
    )


__all__ = ["MAX_SOURCE_LABEL", "push", "pushable_dataset", "quarantine_lines", "source_label"]
