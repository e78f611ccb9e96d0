"""Scheduled backups (HUB_BACKUP_DIR, HUB_BACKUP_SCHEDULE, HUB_BACKUP_KEEP): due by the
newest file's time and the schedule, one worker per backup under the advisory lock, only the
newest kept, a failure retried later rather than at every poll, and ``hub worker --once``
taking one through the real command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from connectors.spec import parse_schedule
from hub.backup.restore import verify_file
from hub.backup.tools import embedded_bin_dir
from hub.backup_schedule import BackupSchedule, backup_name, backups_in, is_due, prune
from hub.embedded_postgres import to_libpq_url
from hub.keys import KeyStore
from hub.settings import Settings, SettingsError, load_settings

HUB = str(Path(sys.executable).with_name("hub"))
NOON = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
LOCK = "SELECT pg_advisory_lock(hashtext('hub-scheduled-backup'))"


@pytest.fixture(autouse=True)
def server_tools_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server's own client tools first on PATH (the system's may be older)."""
    monkeypatch.setenv("PATH", f"{embedded_bin_dir()}{os.pathsep}{os.environ.get('PATH', '')}")


def _schedule(
    settings: Settings, directory: Path, keys: KeyStore, **changes: object
) -> BackupSchedule:
    configured = settings.model_copy(update={"backup_dir": directory, **changes})
    assert settings.database_url is not None
    url = settings.database_url.get_secret_value()
    schedule = BackupSchedule.from_settings(configured, url, keys.backup_key)
    assert schedule is not None
    return schedule


def _touch(directory: Path, *names: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        (directory / name).write_bytes(b"x")


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def test_settings_default_to_no_scheduled_backups() -> None:
    settings = Settings()
    assert settings.backup_dir is None
    assert settings.backup_schedule == "every 1d" and settings.backup_keep == 7
    assert BackupSchedule.from_settings(settings, "postgresql://x/y", b"k" * 32) is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("HUB_BACKUP_SCHEDULE", "weekly", "HUB_BACKUP_SCHEDULE: schedule 'weekly': expected"),
        ("HUB_BACKUP_SCHEDULE", "every 5s", "HUB_BACKUP_SCHEDULE: schedule 'every 5s': at least"),
        ("HUB_BACKUP_KEEP", "0", "HUB_BACKUP_KEEP: Input should be greater than or equal to 1"),
    ],
)
def test_bad_backup_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=expected):
        load_settings()


def test_cron_and_interval_schedules_are_accepted() -> None:
    assert Settings(backup_schedule="0 2 * * 0").backup_schedule == "0 2 * * 0"
    assert Settings(backup_schedule="every  12h").backup_schedule == "every 12h"


def test_due_when_none_was_taken_or_the_next_time_passed() -> None:
    daily = parse_schedule("every 1d")
    assert is_due(daily, None, NOON)
    assert not is_due(daily, NOON - timedelta(hours=23), NOON)
    assert is_due(daily, NOON - timedelta(hours=24), NOON)
    nightly = parse_schedule("0 2 * * *")
    assert not is_due(nightly, NOON - timedelta(hours=9), NOON)  # 03:00 today: next is tomorrow
    assert is_due(nightly, NOON - timedelta(hours=11), NOON)  # 01:00 today: 02:00 passed


def test_only_the_hubs_backups_count_and_are_pruned(tmp_path: Path) -> None:
    names = [backup_name(NOON - timedelta(days=d)) for d in range(5)]
    _touch(
        tmp_path,
        *names,
        "notes.txt",
        "hub-manual.backup",
        ".hub-20261201T000000Z.backup.ab.partial",
    )
    (tmp_path / "hub-20261202T000000Z.backup.d").mkdir()  # a folder is no backup
    found = backups_in(tmp_path)
    assert [p.name for _, p in found] == sorted(names)
    assert found[-1][0] == NOON

    deleted = prune(tmp_path, keep=2)
    assert len(deleted) == 4  # three old backups and the leftover temporary file
    assert _names(tmp_path) == sorted(
        [*names[:2], "notes.txt", "hub-manual.backup", "hub-20261202T000000Z.backup.d"]
    )
    assert backups_in(tmp_path / "absent") == []


async def test_a_due_backup_is_taken_once_and_restorable(
    settings: Settings, keys: KeyStore, tmp_path: Path
) -> None:
    directory = tmp_path / "backups"
    one, two = _schedule(settings, directory, keys), _schedule(settings, directory, keys)
    taken = await asyncio.gather(one.take_if_due(NOON), two.take_if_due(NOON))
    paths = [p for p in taken if p is not None]
    assert len(paths) == 1  # the other waited for nothing: it found the lock taken or the file
    assert _names(directory) == [backup_name(NOON)]
    assert verify_file(paths[0], keys.backup_key) > 0
    assert oct(directory.stat().st_mode & 0o777) == oct(0o700)
    assert not one.poll(NOON + timedelta(hours=1))  # not due again until tomorrow
    assert await one.take_if_due(NOON + timedelta(hours=1)) is None


async def test_only_the_newest_are_kept(settings: Settings, keys: KeyStore, tmp_path: Path) -> None:
    directory = tmp_path / "backups"
    schedule = _schedule(settings, directory, keys, backup_keep=2)
    for day in range(4):
        assert await schedule.take_if_due(NOON + timedelta(days=day)) is not None
    assert _names(directory) == [backup_name(NOON + timedelta(days=d)) for d in (2, 3)]


async def test_a_backup_held_by_another_worker_is_skipped(
    settings: Settings, keys: KeyStore, tmp_path: Path, database_url: str
) -> None:
    directory = tmp_path / "backups"
    other = await asyncpg.connect(to_libpq_url(database_url))
    try:
        await other.execute(LOCK)  # another worker's backup in flight
        assert await _schedule(settings, directory, keys).take_if_due(NOON) is None
    finally:
        await other.close()
    assert backups_in(directory) == []


async def test_a_failed_backup_is_retried_later_not_at_every_poll(
    settings: Settings, keys: KeyStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "backups"
    schedule = _schedule(settings, directory, keys)
    schedule.url = "postgresql://hub:s3cret@127.0.0.1:9/hub"  # unreachable
    assert schedule.poll(NOON)
    await schedule.wait()
    assert backups_in(directory) == []
    assert "scheduled backup failed: database unreachable" in caplog.text
    assert "s3cret" not in caplog.text
    assert not schedule.poll(NOON + timedelta(seconds=60))  # within the retry delay
    assert schedule.poll(NOON + timedelta(minutes=6))
    await schedule.stop()


async def test_stopping_abandons_a_backup_without_leaving_a_file(
    settings: Settings, keys: KeyStore, tmp_path: Path
) -> None:
    directory = tmp_path / "backups"
    schedule = _schedule(settings, directory, keys)
    assert schedule.poll(NOON)
    await asyncio.sleep(0.2)  # started, not finished
    await schedule.stop()
    assert not [n for n in _names(directory) if n.endswith(".partial")]


async def test_hub_worker_once_takes_the_due_backup(
    database_url: str, tmp_path: Path, keys: KeyStore
) -> None:
    directory = tmp_path / "backups"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "PG"))}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_KEYS_FILE=str(keys.path),
        HUB_BACKUP_DIR=str(directory),
        HUB_BACKUP_KEEP="3",
        HUB_OPENSEARCH_URL="http://127.0.0.1:9",  # never reached by --once: no search started
    )
    for _ in range(2):
        result = await asyncio.to_thread(
            subprocess.run,
            [HUB, "worker", "--once"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
    backups = backups_in(directory)
    assert len(backups) == 1  # the second run found it taken today
    assert verify_file(backups[0][1], keys.backup_key) > 0


def test_an_unreadable_folder_is_logged_and_retried_without_raising(
    settings: Settings, keys: KeyStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_bytes(b"x")
    schedule = _schedule(settings, not_a_folder, keys)
    assert not schedule.poll(NOON)
    assert f"scheduled backup failed: cannot read {not_a_folder}" in caplog.text
    assert not schedule.poll(NOON + timedelta(seconds=60))
