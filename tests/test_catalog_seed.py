"""The baseline catalogue loads idempotently into a real database."""

from __future__ import annotations

from sqlalchemy import func, select

from catalog.models import Agency, AuditEvent, Dataset
from catalog.seed import seed_baseline
from hub.db import Database


async def test_seed_loads_agencies_and_five_published_core_datasets(database: Database) -> None:
    async with database.sessions.begin() as session:
        report = await seed_baseline(session)
    assert sorted(report.datasets_created) == [
        "business",
        "citizen",
        "health_insurance",
        "land_parcel",
        "legal_document",
    ]
    async with database.sessions() as session:
        statuses = dict((await session.execute(select(Dataset.code, Dataset.status))).all())
        codes = set(await session.scalars(select(Agency.code)))
    assert set(statuses.values()) == {"PUBLISHED"}
    assert {"SKHDT", "STNMT", "SYT", "STP", "STTTT", "VPUBND"} <= codes


async def test_seed_twice_changes_nothing(database: Database) -> None:
    async with database.sessions.begin() as session:
        await seed_baseline(session)
    async with database.sessions() as session:
        events_before = await session.scalar(select(func.count()).select_from(AuditEvent))
    async with database.sessions.begin() as session:
        second = await seed_baseline(session)
    async with database.sessions() as session:
        events_after = await session.scalar(select(func.count()).select_from(AuditEvent))
    assert second.datasets_created == []
    assert events_after == events_before
