"""``hub backup``: pg_dump's custom-format archive (compressed), sealed as it streams out.

pg_dump's output is read a chunk at a time, sealed (``hub.backup.sealed``) and written to a
temporary file beside the target, created 0600; only a complete, fsynced file is renamed to
the target name, so a crash or a failed dump leaves no half backup under it. The dump itself is
one consistent snapshot of the database (pg_dump's repeatable-read transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from hub.backup.sealed import CHUNK_SIZE, SealingWriter, key_id
from hub.backup.tools import BackupError, PgTools, checked_tools, first_error, read_bounded

# pg_dump options: custom format (compressed, restorable selectively), -B: no large objects
# (the hub has none, and their restore would open transactions of its own inside ours), and a
# bounded wait for locks so a dump never queues forever behind a migration.
_DUMP_OPTIONS = ("--format=custom", "-B", "--lock-wait-timeout=60000", "--compress=6")


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    dump_bytes: int  # the compressed archive, before sealing
    file_bytes: int
    key_id: str


async def take_backup(
    url: str, *, embedded: bool, backup_key: bytes, target: Path, overwrite: bool = False
) -> BackupResult:
    """Dump the database at ``url`` into the sealed file ``target``; BackupError on failure
    (nothing is then left at ``target``, and an older file there is untouched)."""
    target = await asyncio.to_thread(_checked_target, target, overwrite)
    tools = await checked_tools(url, embedded, ("pg_dump",))
    partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}.partial")
    try:
        dumped = await _dump_into(tools, partial, backup_key)
        os.replace(partial, target)
        _sync_directory(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
    return BackupResult(target, dumped, target.stat().st_size, key_id(backup_key).hex())


def _checked_target(target: Path, overwrite: bool) -> Path:
    target = target.expanduser()
    if target.is_dir():
        raise BackupError(f"{target} is a directory; name the backup file to write")
    if target.exists() and not overwrite:
        raise BackupError(f"{target} exists; choose another name or pass --overwrite")
    if not target.parent.is_dir():
        raise BackupError(f"{target.parent} is not a directory")
    return target


def partial_name_prefix(target: Path) -> str:
    """How the temporary files of a backup to ``target`` start (for cleaning up after a kill)."""
    return f".{target.name}."


async def _dump_into(tools: PgTools, partial: Path, backup_key: bytes) -> int:
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        writer = SealingWriter(out, backup_key)
        process = await asyncio.create_subprocess_exec(
            tools.path("pg_dump"),
            *_DUMP_OPTIONS,
            env=tools.env,  # PGDATABASE names the database: nothing secret in argv
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        errors = asyncio.create_task(read_bounded(process.stderr))
        try:
            await _pump(process.stdout, writer, out)
            code = await process.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
            errors.cancel()
            raise
        stderr = await errors
        if code != 0:
            raise BackupError(f"pg_dump failed: {first_error(stderr)}")
        if writer.plaintext_bytes == 0:
            raise BackupError("pg_dump wrote nothing")
        await asyncio.to_thread(_finish, writer, out)
        return writer.plaintext_bytes


async def _pump(stdout: asyncio.StreamReader | None, writer: SealingWriter, out: BinaryIO) -> None:
    assert stdout is not None
    buffered = bytearray()
    while chunk := await stdout.read(CHUNK_SIZE):
        buffered += chunk
        if len(buffered) >= CHUNK_SIZE:
            # Sealing and writing a chunk take a few ms: off the event loop, which may be a
            # serving hub's (the in-process worker's scheduled backups).
            await asyncio.to_thread(writer.write, bytes(buffered))
            buffered.clear()
    if buffered:
        await asyncio.to_thread(writer.write, bytes(buffered))


def _finish(writer: SealingWriter, out: BinaryIO) -> None:
    writer.close()
    out.flush()
    os.fsync(out.fileno())


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["BackupError", "BackupResult", "partial_name_prefix", "take_backup"]
