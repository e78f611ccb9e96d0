"""Database clients: the SQLAlchemy engine for domain work, an asyncpg pool for the hot read
path (compiled queries run as prepared statements and return JSON text untouched) and a small
asyncpg pool for the read audit's writes.

Every statement on the read pool runs under ``statement_timeout`` (``HUB_STATEMENT_TIMEOUT_MS``),
so no single read can hold PostgreSQL for long; the audit and the domain (catalogue, grants,
corrections) write through their own connections, which a timeout meant for reads never cuts.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from hub.database_url import sqlalchemy_url
from hub.embedded_postgres import start_embedded_postgres_async, to_asyncpg_url, to_libpq_url
from hub.settings import Settings


@dataclass
class Database:
    """The hub's handles on PostgreSQL; one per process."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    pool: asyncpg.Pool | None = None
    write_pool: asyncpg.Pool | None = None

    async def open_pool(self, size: int, statement_timeout_ms: int = 0) -> asyncpg.Pool:
        """The read pool; each statement on it is cancelled after ``statement_timeout_ms``
        (0: never). Set at connection start-up, so it costs no round trip per request."""
        if self.pool is None:
            self.pool = await asyncpg.create_pool(
                to_libpq_url(self.url),
                min_size=1,
                max_size=size,
                statement_cache_size=1024,
                reset=_keep_session,
                server_settings={"statement_timeout": str(statement_timeout_ms)},
            )
        return self.pool

    async def open_write_pool(self) -> asyncpg.Pool:
        """Connections for the read audit's group commit (one writer at a time per process),
        without the read pool's statement timeout: a served read's audit must commit."""
        if self.write_pool is None:
            self.write_pool = await asyncpg.create_pool(
                to_libpq_url(self.url), min_size=1, max_size=2, reset=_keep_session
            )
        return self.write_pool

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        if self.write_pool is not None:
            await self.write_pool.close()
            self.write_pool = None
        await self.engine.dispose()


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """The hot path sets no session state, so the pool's default reset (a round trip on every
    release) is skipped."""


async def resolve_database_url(settings: Settings) -> str:
    """The configured URL, or the embedded server's after starting (or joining) it."""
    if settings.database_url is not None:
        return to_asyncpg_url(settings.database_url.get_secret_value())
    return await start_embedded_postgres_async(settings.data_dir)


def make_database(url: str, pool_size: int = 10) -> Database:
    # hide_parameters: a driver error must never carry record values into a log line.
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        hide_parameters=True,
    )
    return Database(
        url=url, engine=engine, sessions=async_sessionmaker(engine, expire_on_commit=False)
    )


async def connect(settings: Settings) -> Database:
    return make_database(await resolve_database_url(settings), settings.db_pool_size)


__all__ = ["Database", "connect", "make_database", "resolve_database_url"]
