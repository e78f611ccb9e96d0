"""The replay of a sealed backup into PostgreSQL: decrypted chunk by authenticated chunk into
``pg_restore`` (archive to SQL), and its SQL into ``psql`` inside one transaction that is
committed only after pg_restore and the decryption both ended cleanly. On any failure psql is
killed before a COMMIT can reach it, so PostgreSQL rolls everything back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from hub.backup.sealed import BackupFileError, open_sealed
from hub.backup.tools import BackupError, PgTools, first_error, read_bounded


@contextlib.contextmanager
def open_backup(path: Path) -> Iterator[BinaryIO]:
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


async def list_without_event_triggers(
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
    with open_backup(source) as handle:
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


async def replay(
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
        # A lock held elsewhere (a hub still running on this database, a dump in progress)
        # fails the restore after 30 s rather than queueing it, and every lock behind it.
        env={**tools.env, "PGOPTIONS": "-c client_min_messages=warning -c lock_timeout=30s"},
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


__all__ = ["list_without_event_triggers", "open_backup", "replay"]
