"""The embedded PostgreSQL (``pgserver``) used when no ``HUB_DATABASE_URL`` is set.

pgserver keeps one postmaster per data folder and counts the processes holding it, so
``hub serve`` and any other ``hub`` command on the same ``HUB_DATA_DIR`` share one server;
the last process to let go stops it. Starting is blocking, so it runs in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from pathlib import Path
from urllib.parse import parse_qs, urlparse

DATABASE_NAME = "hub"

log = logging.getLogger(__name__)

# platformdirs (via pgserver) warns on every start when XDG_RUNTIME_DIR is unset; harmless.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


def forget_dead_holders(data_dir: Path, dead: int | None = None) -> None:
    """Drop processes that died without letting go (SIGKILL, out of memory) from pgserver's
    list of holders: the last live process's clean stop then stops the server, as it should.

    Under pgserver's own lock: workers stopping at the same moment rewrite the list in their
    exit handlers, and an unlocked read could catch it half-written."""
    from pgserver.postgres_server import PostgresServer
    from pgserver.utils import DiskList, process_is_running

    holders = DiskList(data_dir.resolve() / "pg" / ".handle_pids.json")
    with PostgresServer._lock:
        for pid in holders.get():
            if pid == dead or not process_is_running(pid):
                holders.get_and_remove(pid)


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or join) the embedded server under ``data_dir/pg``; return an asyncpg URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import pgserver

        data_dir.mkdir(parents=True, exist_ok=True)
        forget_dead_holders(data_dir)
        server = pgserver.get_server(data_dir.resolve() / "pg", cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}';")
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DATABASE_NAME};")
        log.info("created embedded database %s", DATABASE_NAME)
    return to_asyncpg_url(server.get_uri(DATABASE_NAME))


async def start_embedded_postgres_async(data_dir: Path) -> str:
    return await asyncio.to_thread(start_embedded_postgres, data_dir)


def to_asyncpg_url(uri: str) -> str:
    """pgserver gives ``postgresql://postgres:@/db?host=/sock``; SQLAlchemy wants the driver."""
    if uri.startswith("postgresql+asyncpg://"):
        return uri
    for prefix in ("postgresql://", "postgres://"):
        if uri.startswith(prefix):
            return "postgresql+asyncpg://" + uri[len(prefix) :]
    raise ValueError(f"not a PostgreSQL URL: {uri!r}")


def to_libpq_url(url: str) -> str:
    """The plain form asyncpg.connect accepts."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def socket_dir(url: str) -> str | None:
    hosts = parse_qs(urlparse(url).query).get("host")
    return hosts[0] if hosts else None


__all__ = [
    "forget_dead_holders",
    "start_embedded_postgres",
    "start_embedded_postgres_async",
    "to_asyncpg_url",
]
