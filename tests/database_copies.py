"""Test databases: a template migrated to head once per session (or module), and a fresh
copy of it per test, on whichever server the caller names."""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator

import asyncpg
from alembic import command
from sqlalchemy import Connection

from hub.db import make_database
from hub.embedded_postgres import to_libpq_url
from hub.migrate import alembic_config, upgrade

_copies = itertools.count()


def with_database(url: str, name: str) -> str:
    """``url`` (an asyncpg URL of any database on the server) pointing at database ``name``."""
    head, _, tail = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{tail}" if tail else "")


@contextlib.asynccontextmanager
async def migrated_template(server_url: str, prefix: str = "hub_tpl") -> AsyncIterator[str]:
    """The name of a new database migrated to head, dropped at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(to_libpq_url(server_url), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        database = make_database(with_database(server_url, name), pool_size=2)
        await upgrade(database.engine)
        await database.close()
        yield name
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@contextlib.asynccontextmanager
async def database_copy(
    server_url: str, template: str, prefix: str = "hub_t"
) -> AsyncIterator[str]:
    """The URL of a fresh copy of ``template``, dropped at the end."""
    name = f"{prefix}{os.getpid()}_{next(_copies)}"
    admin = await asyncpg.connect(to_libpq_url(server_url), timeout=10)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        yield with_database(server_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def downgrade_to(connection: Connection, revision: str) -> None:
    """Run the migrations' downgrades on ``connection`` down to ``revision`` (run_sync)."""
    command.downgrade(alembic_config(connection), revision)


__all__ = ["database_copy", "downgrade_to", "migrated_template", "with_database"]
