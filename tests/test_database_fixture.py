"""The test database is a real, migrated PostgreSQL database."""

from __future__ import annotations

from sqlalchemy import text

from hub.db import Database


async def test_fresh_database_is_migrated_with_state_row(database: Database) -> None:
    async with database.sessions() as session:
        row = (await session.execute(text("SELECT catalog_version FROM hub_state"))).one()
        revision = await session.scalar(text("SELECT version_num FROM alembic_version"))
    assert row.catalog_version == 0
    assert revision == "0008"
