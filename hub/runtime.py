"""The process-wide handles of a running hub, opened once by ``hub serve`` or a CLI command."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from hub.db import Database, connect
from hub.keys import KeyStore
from hub.migrate import upgrade
from hub.settings import Settings


@dataclass
class Hub:
    settings: Settings
    db: Database
    keys: KeyStore


async def open_hub(settings: Settings, *, migrate: bool | None = None) -> Hub:
    """Connect (starting the embedded PostgreSQL if needed) and load the keys file.

    Migrations run automatically on the embedded database; on a configured one only when
    asked (``hub db upgrade``), as operators of a shared server expect.
    """
    db = await connect(settings)
    if migrate or (migrate is None and settings.database_url is None):
        await upgrade(db.engine)
    keys = KeyStore.load_or_create(settings.resolved_keys_file)
    return Hub(settings=settings, db=db, keys=keys)


@contextlib.asynccontextmanager
async def hub_session(settings: Settings, *, migrate: bool | None = None) -> AsyncIterator[Hub]:
    hub = await open_hub(settings, migrate=migrate)
    try:
        yield hub
    finally:
        await hub.db.close()


__all__ = ["Hub", "hub_session", "open_hub"]
