"""``hub restore``: a sealed backup back into an empty database, all or nothing.

Order matters, so that nothing reaches the database unless the whole file is authentic:

1. the whole file is read and every chunk authenticated (nothing written anywhere);
2. the target is checked: reachable, tools new enough, and empty (or, with ``force``, the
   operator named it to confirm its contents are replaced);
3. the file is decrypted again, chunk by authenticated chunk, into ``pg_restore`` (which
   turns the archive into SQL) and that SQL into ``psql`` inside one transaction that
   ``hub.backup.replay`` opens and commits only after pg_restore and the decryption both
   finished cleanly.
   A failure anywhere (a chunk changed since step 1, a tool error, a SQL error) kills psql
   before any COMMIT, so PostgreSQL rolls the whole restore back;
4. migrations run to head (a backup of an older hub is upgraded).

With ``force`` the same transaction first drops the hub's event triggers and every schema
(``public`` recreated): the database's objects are replaced, not merged.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from hub.backup.replay import list_without_event_triggers, open_backup, replay
from hub.backup.sealed import BackupFileError, open_sealed
from hub.backup.tools import BackupError, checked_tools

ARCHIVE_MAGIC = b"PGDMP"

_CONTENTS = r"""
SELECT
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
     AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%')
   AS tables,
  (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%')
  + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%')
  + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
     WHERE t.typrelid = 0 AND t.typelem = 0
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\_%')
  + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')
  + (SELECT count(*) FROM pg_event_trigger)
  + (SELECT count(*) FROM pg_namespace
     WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public')
       AND nspname NOT LIKE 'pg\_%') AS objects,
  (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
  current_database() AS name
"""

# Replaces the database's objects (``--force``): the audit drop guard goes first, or it would
# refuse the drop of the audit partitions (as it should, outside a restore).
_REPLACE = r"""
SET client_min_messages = warning;
DO $$
DECLARE item record;
BEGIN
  FOR item IN SELECT evtname FROM pg_event_trigger WHERE evtname LIKE 'hub\_%' LOOP
    EXECUTE format('DROP EVENT TRIGGER %I', item.evtname);
  END LOOP;
  FOR item IN SELECT nspname FROM pg_namespace
              WHERE nspname NOT IN ('pg_catalog', 'information_schema')
                AND nspname NOT LIKE 'pg\_%' LOOP
    EXECUTE format('DROP SCHEMA %I CASCADE', item.nspname);
  END LOOP;
  CREATE SCHEMA public;
END $$;
"""


@dataclass(frozen=True, slots=True)
class RestoreResult:
    database: str
    dump_bytes: int
    replaced: bool
    revision: str | None
    skipped: list[str]  # archive entries left out (an event trigger a non-superuser cannot make)


def verify_file(path: Path, backup_key: bytes) -> int:
    """Authenticate every chunk of ``path`` and check it holds a pg_dump archive; its
    plaintext size. BackupFileError names the first problem."""
    total = 0
    with open_backup(path) as source:
        for chunk in open_sealed(source, backup_key, str(path)):
            if total == 0 and chunk[: len(ARCHIVE_MAGIC)] != ARCHIVE_MAGIC:
                raise BackupFileError(f"{path}: decrypts, but holds no pg_dump archive")
            total += len(chunk)
    if total == 0:
        raise BackupFileError(f"{path}: decrypts to nothing")
    return total


async def restore_backup(
    url: str,
    *,
    embedded: bool,
    backup_key: bytes,
    source: Path,
    force: bool = False,
    confirm: str | None = None,
    verified_size: int | None = None,
) -> RestoreResult:
    """Restore ``source`` into the database at ``url``; BackupError or BackupFileError,
    with nothing written, when it cannot. ``verified_size``: the caller already ran
    ``verify_file`` (and got that size)."""
    size = verified_size
    if size is None:
        size = await asyncio.to_thread(verify_file, source, backup_key)
    tools = await checked_tools(url, embedded, ("pg_restore", "psql"))
    tables, objects, superuser, name = await _contents(url)
    if objects and not force:
        raise BackupError(
            f"database {name} is not empty ({tables} tables, {objects} objects); restore into "
            f"an empty database, or pass --force --confirm {name} to replace its contents"
        )
    if force and confirm != name:
        raise BackupError(
            f"--force replaces everything in database {name}: pass --confirm {name} to go on"
        )
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hub-restore-") as scratch:
        use_list: Path | None = None
        if not superuser:
            use_list, skipped = await list_without_event_triggers(
                tools, source, backup_key, Path(scratch)
            )
        preamble = _REPLACE if force and objects else ""
        await replay(tools, source, backup_key, use_list, preamble)
    revision = await _migrate(url)
    return RestoreResult(name, size, bool(force and objects), revision, skipped)


async def _contents(url: str) -> tuple[int, int, bool, str]:
    from hub.embedded_postgres import to_libpq_url

    connection = await asyncpg.connect(to_libpq_url(url), timeout=10)
    try:
        row = await connection.fetchrow(_CONTENTS)
    finally:
        await connection.close()
    assert row is not None
    return int(row["tables"]), int(row["objects"]), bool(row["superuser"]), str(row["name"])


async def _migrate(url: str) -> str | None:
    from hub.db import make_database
    from hub.migrate import current_revision, upgrade

    database = make_database(url, pool_size=1)
    try:
        await upgrade(database.engine)
        return await current_revision(database.engine)
    finally:
        await database.close()


__all__ = ["RestoreResult", "restore_backup", "verify_file"]
