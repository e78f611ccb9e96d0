"""Loading the province's baseline catalogue, idempotently: running it twice changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.agencies import upsert_agencies
from catalog.audit import EventDraft, append_event
from catalog.baseline import AGENCIES, DATASETS
from catalog.datasets import create_dataset, get_dataset
from catalog.indexes import ensure_indexes
from catalog.models import Agency
from catalog.principal import Principal

SYSTEM = Principal(subject="system:seed", roles=frozenset({"admin", "steward"}))


@dataclass(frozen=True, slots=True)
class SeedReport:
    agencies: int
    datasets_created: list[str]


async def seed_baseline(session: AsyncSession) -> SeedReport:
    """Upsert the baseline agencies; create and publish baseline datasets that are missing."""
    # Only what differs is written: every write to the catalogue tables bumps the catalogue
    # version, which makes each running hub process rebuild its schema.
    present = {
        a.code: (a.name, a.level, a.parent_code) for a in await session.scalars(select(Agency))
    }
    changed = [a for a in AGENCIES if present.get(a.code) != (a.name, a.level, a.parent)]
    if changed:
        await upsert_agencies(session, changed)
    count = len(AGENCIES)
    created = []
    for owner, spec in DATASETS:
        if await get_dataset(session, spec.code) is not None:
            continue
        dataset = await create_dataset(session, SYSTEM, spec, owner_code=owner)
        # The baseline is the province's own published catalogue (001 Điều 16.1a).
        dataset.status = "PUBLISHED"
        await session.flush()
        await ensure_indexes(session, dataset)
        created.append(spec.code)
    if created:
        await session.flush()
        await append_event(
            session, SYSTEM, EventDraft("catalog.seed", detail={"datasets": created})
        )
    return SeedReport(agencies=count, datasets_created=created)


__all__ = ["SYSTEM", "SeedReport", "seed_baseline"]
