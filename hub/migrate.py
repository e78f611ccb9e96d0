"""Apply Alembic migrations over the hub's async engine."""

from __future__ import annotations

import functools
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

import migrations

# Two processes starting on one fresh database must not both migrate it.
_MIGRATION_LOCK = 7_305_001


def alembic_config(connection: Connection) -> Config:
    """Alembic configuration running the hub's migrations on ``connection``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.attributes["connection"] = connection
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    command.upgrade(alembic_config(connection), revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        await conn.run_sync(_upgrade, revision)


@functools.cache
def head_revision() -> str:
    """The revision this code expects (the newest migration shipped with it)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None, "the hub ships its migrations"
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        exists = await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL"))
        if not exists:
            return None
        return await conn.scalar(text("SELECT version_num FROM alembic_version"))


__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade"]
