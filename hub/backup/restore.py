"""``hub restore``: a sealed backup back into an empty database, all or nothing.

Order matters, so that nothing reaches the database unless the whole file is authentic:

1. the whole file is read and every chunk authenticated (nothing written anywhere);
2. the target is checked: reachable, tools new enough, and empty (or, with ``force``, the
   operator named it to confirm its contents are replaced);
3. the file is decrypted again, chunk by authenticated chunk, into ``pg_restore`` (which
   turns the archive into SQL) and that SQL into ``psql`` inside one transaction that this
   module opens and commits only after pg_restore and the decryption both finished cleanly.
   A failure anywhere (a chunk changed since step 1, a tool error, a SQL error) kills psql
   before any COMMIT, so PostgreSQL rolls the whole restore back;
4. migrations run to head (a backup of an older hub is upgraded).

With ``force`` the same transaction first drops the hub's event triggers and every schema
(``public`` recreated): the database's objects are replaced, not merged.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import asyncpg

from hub.backup.sealed import BackupFileError, open_sealed
from hub.backup.tools import BackupError, PgTools, checked_tools, first_error, read_bounded

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
    with _open(path) as source:
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
            use_list, skipped = await _list_without_event_triggers(
                tools, source, backup_key, Path(scratch)
            )
        preamble = _REPLACE if force and objects else ""
        await _replay(tools, source, backup_key, use_list, preamble)
    revision = await _migrate(url)
    return RestoreResult(name, size, bool(force and objects), revision, skipped)


@contextlib.contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        raise BackupFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BackupFileError(f"{path}: is a directory, not a backup file") from None
    except PermissionError:
        raise BackupFileError(f"{path}: permission denied") from None
    with handle:
        yield handle


async def _contents(url: str) -> tuple[int, int, bool, str]:
    from hub.embedded_postgres import to_libpq_url

    connection = await asyncpg.connect(to_libpq_url(url), timeout=10)
    try:
        row = await connection.fetchrow(_CONTENTS)
    finally:
        await connection.close()
    assert row is not None
    return int(row["tables"]), int(row["objects"]), bool(row["superuser"]), str(row["name"])


async def _list_without_event_triggers(
    tools: PgTools, source: Path, backup_key: bytes, scratch: Path
) -> tuple[Path, list[str]]:
    """The archive's table of contents without its event triggers (only a superuser may
    create one; the migration skips the audit drop guard for other roles in the same way)."""
    process = await asyncio.create_subprocess_exec(
        tools.path("pg_restore"),
        "--list",
        env=tools.env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    feeding = asyncio.create_task(_feed(process.stdin, source, backup_key, stop_early=True))
    listing, stderr = await process.communicate()
    await feeding
    if process.returncode != 0:
        raise BackupError(f"pg_restore --list failed: {first_error(stderr)}")
    kept: list[str] = []
    skipped: list[str] = []
    for line in listing.decode("utf-8", "replace").splitlines():
        # "2538; 3466 16735 EVENT TRIGGER - hub_audit_drop_guard postgres"
        if " EVENT TRIGGER " in line and not line.startswith(";"):
            words = line.split(" EVENT TRIGGER ", 1)[1].split()
            skipped.append(f"event trigger {words[1] if len(words) > 1 else '?'}")
            kept.append(";" + line)
        else:
            kept.append(line)
    path = scratch / "toc.list"
    path.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return path, skipped


async def _feed(
    stdin: asyncio.StreamWriter | None, source: Path, backup_key: bytes, *, stop_early: bool
) -> None:
    """Write the decrypted archive into a tool's standard input, chunk by authenticated chunk.
    With ``stop_early`` a tool that stops reading (pg_restore --list has its table of contents)
    ends the feed quietly."""
    assert stdin is not None
    with _open(source) as handle:
        chunks = open_sealed(handle, backup_key, str(source))
        try:
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                stdin.write(chunk)
                await stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            if not stop_early:
                raise
            return
        finally:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                stdin.close()
                await stdin.wait_closed()


async def _replay(
    tools: PgTools, source: Path, backup_key: bytes, use_list: Path | None, preamble: str
) -> None:
    restore_args = ["--no-owner", "--no-privileges", "--exit-on-error", "--file=-"]
    if use_list is not None:
        restore_args.append(f"--use-list={use_list}")
    restorer = await asyncio.create_subprocess_exec(
        tools.path("pg_restore"),
        *restore_args,
        env=tools.env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    # -X: no ~/.psqlrc; ON_ERROR_STOP: the first error ends psql, its connection drops and
    # PostgreSQL rolls back the open transaction.
    applier = await asyncio.create_subprocess_exec(
        tools.path("psql"),
        "-X",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-f",
        "-",
        env={**tools.env, "PGOPTIONS": "-c client_min_messages=warning"},
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    restorer_errors = asyncio.create_task(read_bounded(restorer.stderr))
    applier_errors = asyncio.create_task(read_bounded(applier.stderr))
    feeding = asyncio.create_task(_feed(restorer.stdin, source, backup_key, stop_early=False))
    relaying = asyncio.create_task(_relay(restorer.stdout, applier.stdin, preamble))
    committed = False
    try:
        failure: BaseException | None = None
        try:
            await asyncio.gather(feeding, relaying)
        except Exception as exc:  # a changed chunk, or a tool that stopped reading
            failure = exc
        if failure is None and await restorer.wait() == 0:
            assert applier.stdin is not None
            applier.stdin.write(b"\nCOMMIT;\n")
            committed = True
            applier.stdin.close()
            if await applier.wait() != 0:
                raise BackupError(f"restore failed: {first_error(await applier_errors)}")
            return
        _kill(applier, restorer)
        if isinstance(failure, BackupFileError):
            raise failure
        raise BackupError(_explain(await restorer_errors, await applier_errors))
    finally:
        if not committed:
            # Before anything else: psql must never reach the end of its input, where a
            # COMMIT could follow; killed, its open transaction is rolled back.
            _kill(applier, restorer)
        for task in (feeding, relaying):
            task.cancel()
        await asyncio.gather(feeding, relaying, return_exceptions=True)
        await asyncio.gather(applier.wait(), restorer.wait())
        await asyncio.gather(restorer_errors, applier_errors, return_exceptions=True)


def _kill(*processes: asyncio.subprocess.Process) -> None:
    for process in processes:
        with contextlib.suppress(ProcessLookupError):
            process.kill()


def _explain(restorer_stderr: bytes, applier_stderr: bytes) -> str:
    if restorer_stderr.strip():
        return f"pg_restore failed: {first_error(restorer_stderr)}"
    if applier_stderr.strip():
        return f"restore failed: {first_error(applier_stderr)}"
    return "restore failed: pg_restore and psql stopped without a message"


async def _relay(
    stdout: asyncio.StreamReader | None, stdin: asyncio.StreamWriter | None, preamble: str
) -> None:
    """pg_restore's SQL into psql, inside the transaction this module commits."""
    assert stdout is not None and stdin is not None
    stdin.write(f"BEGIN;\n{preamble}\n".encode())
    while chunk := await stdout.read(256 * 1024):
        stdin.write(chunk)
        await stdin.drain()


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
