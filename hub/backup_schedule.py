"""Scheduled backups, taken by the worker (``HUB_BACKUP_DIR``, ``HUB_BACKUP_SCHEDULE``,
``HUB_BACKUP_KEEP``; 000 Điều 25: at least weekly).

The backup folder is the schedule's memory: files are named ``hub-YYYYMMDDTHHMMSSZ.backup``
after the time their backup started (UTC), so the newest name says when the last one was taken
and whether the schedule makes the next one due, across restarts. A due backup is taken under
a PostgreSQL advisory lock held on its own connection for the whole dump: of the workers
sharing the database (and the folder), one takes it; the others skip, and see the new file
once the lock is free. The lock dies with its connection, so a killed worker blocks no one;
its temporary file is removed by the next backup. After each backup only the newest
``keep`` files are kept; files the hub did not name are never touched.

A backup runs beside the worker's polls as a task of its own; a failure is logged and retried
after ``RETRY_SECONDS`` (or at the next due time, if sooner), never at every poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from connectors.spec import Schedule, parse_schedule
from hub.settings import Settings

log = logging.getLogger(__name__)

NAME = re.compile(r"^hub-(\d{8}T\d{6}Z)\.backup$")
STAMP = "%Y%m%dT%H%M%SZ"
RETRY_SECONDS = 300
_LOCK = "SELECT pg_try_advisory_lock(hashtext('hub-scheduled-backup'))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext('hub-scheduled-backup'))"


def backup_name(started: datetime) -> str:
    return f"hub-{started.astimezone(UTC).strftime(STAMP)}.backup"


def backups_in(directory: Path) -> list[tuple[datetime, Path]]:
    """The hub's scheduled backups in ``directory``, oldest first."""
    found: list[tuple[datetime, Path]] = []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return []
    for entry in entries:
        matched = NAME.match(entry.name)
        if matched and entry.is_file():
            stamp = datetime.strptime(matched.group(1), STAMP).replace(tzinfo=UTC)
            found.append((stamp, Path(entry.path)))
    return sorted(found)


def is_due(schedule: Schedule, last: datetime | None, now: datetime) -> bool:
    """Due when none was taken yet, or the schedule's next time after the last one passed."""
    return last is None or schedule.next_after(last) <= now


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest ``keep`` backups and any leftover temporary files of the
    hub's scheduled backups; the paths deleted. Call only under the backup lock."""
    deleted: list[Path] = []
    backups = backups_in(directory)
    for _, path in backups[: max(0, len(backups) - keep)]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            deleted.append(path)
    for entry in os.scandir(directory):
        if entry.name.startswith(".hub-") and entry.name.endswith(".partial"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                deleted.append(Path(entry.path))
    return deleted


@dataclass
class BackupSchedule:
    """Takes the scheduled backups of the database at ``url`` into ``directory``."""

    directory: Path
    schedule: Schedule
    keep: int
    url: str
    embedded: bool
    backup_key: bytes = field(repr=False)
    _task: asyncio.Task[Path | None] | None = None
    _retry_at: datetime | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, url: str, backup_key: bytes
    ) -> BackupSchedule | None:
        """The schedule HUB_BACKUP_* describe; None when HUB_BACKUP_DIR is unset."""
        if settings.backup_dir is None:
            return None
        return cls(
            directory=settings.backup_dir,
            schedule=parse_schedule(settings.backup_schedule),
            keep=settings.backup_keep,
            url=url,
            embedded=settings.database_url is None,
            backup_key=backup_key,
        )

    def last_taken(self) -> datetime | None:
        backups = backups_in(self.directory)
        return backups[-1][0] if backups else None

    def poll(self, now: datetime | None = None) -> bool:
        """Start a backup in the background if one is due and none is running here; whether
        one was started. Cheap: a look at the folder's names."""
        moment = now or datetime.now(UTC)
        if self._task is not None and not self._task.done():
            return False
        if self._retry_at is not None and moment < self._retry_at:
            return False
        try:
            last = self.last_taken()
        except OSError as error:  # never let a bad folder stop the worker's connector runs
            self._failed(moment, f"cannot read {self.directory} ({error.strerror or error})")
            return False
        if not is_due(self.schedule, last, moment):
            return False
        self._task = asyncio.create_task(self.take_if_due(moment), name="scheduled-backup")
        return True

    async def take_if_due(self, now: datetime | None = None) -> Path | None:
        """Under the backup lock, take the backup if it is still due; its path, or None when
        another worker holds the lock or took it already. Failures are logged, not raised."""
        from hub.backup.dump import take_backup
        from hub.backup.sealed import BackupFileError
        from hub.backup.tools import BackupError
        from hub.embedded_postgres import to_libpq_url

        moment = now or datetime.now(UTC)
        try:
            connection = await asyncpg.connect(to_libpq_url(self.url), timeout=10)
        except (OSError, asyncpg.PostgresError, TimeoutError) as error:
            self._failed(moment, f"database unreachable ({type(error).__name__})")
            return None
        try:
            if not await connection.fetchval(_LOCK):
                log.info("scheduled backup: another worker is taking it")
                return None
            try:
                # Another worker may have finished one while this one waited for its turn.
                if not await asyncio.to_thread(self._still_due, moment):
                    return None
                target = self.directory / backup_name(moment)
                result = await take_backup(
                    self.url, embedded=self.embedded, backup_key=self.backup_key, target=target
                )
                deleted = await asyncio.to_thread(prune, self.directory, self.keep)
            finally:
                await connection.fetchval(_UNLOCK)
        except (BackupError, BackupFileError, OSError) as error:
            self._failed(moment, str(error))
            return None
        finally:
            with contextlib.suppress(Exception):
                await connection.close()
        self._retry_at = None
        log.info(
            "scheduled backup written to %s (%d bytes); %d old file(s) deleted, %d kept",
            result.path,
            result.file_bytes,
            len(deleted),
            self.keep,
        )
        return result.path

    def _still_due(self, moment: datetime) -> bool:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return is_due(self.schedule, self.last_taken(), moment)

    def _failed(self, moment: datetime, reason: str) -> None:
        self._retry_at = min(
            moment + timedelta(seconds=RETRY_SECONDS), self.schedule.next_after(moment)
        )
        log.error("scheduled backup failed: %s; next try at %s", reason, self._retry_at)

    async def wait(self) -> None:
        """Wait for the backup in flight, if any, to end."""
        if self._task is not None:
            await asyncio.wait({self._task})

    async def stop(self) -> None:
        """Abandon the backup in flight: its temporary file is removed, no file is left."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


__all__ = ["BackupSchedule", "backup_name", "backups_in", "is_due", "prune"]
