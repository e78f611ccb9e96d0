"""The audit chain (DESIGN.md §6): chained events verify; editing one behind the database's
back breaks the chain at that link, which ``verify_chain`` and ``hub audit verify`` name; and
the database itself refuses edits and deletions."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from catalog.audit import CONTENT_DIFFERS, EventDraft, append_event, verify_chain
from catalog.principal import Principal
from hub.db import Database
from hub.embedded_postgres import to_libpq_url

HUB = str(Path(sys.executable).with_name("hub"))
READER = Principal("tuson-app", "UBND-TX-TUSON", frozenset({"reader"}), "client-1")


@pytest.fixture
async def chained(database: Database) -> int:
    """Five events, committed, so chained by their insert (positions 1 to 5); returns how
    many."""
    async with database.sessions.begin() as session:
        for n in range(5):
            await append_event(
                session,
                READER,
                EventDraft(
                    "record.read",
                    dataset="citizen",
                    keys=[f"key-{n}"],
                    fields=["district"],
                    purpose="Xác minh nơi thường trú",
                    detail={"count": 1},
                ),
                f"req-{n}",
            )
    return 5


@pytest.fixture
async def superuser(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(to_libpq_url(database_url))
    try:
        yield connection
    finally:
        await connection.close()


async def _tamper(connection: asyncpg.Connection, sql: str) -> None:
    """What an intruder with a superuser's rights could do: switch the guards off."""
    await connection.execute("SET session_replication_role = replica")
    try:
        await connection.execute(sql)
    finally:
        await connection.execute("SET session_replication_role = DEFAULT")


async def _hub(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_KEYS_FILE=str(tmp_path / "keys.json"),
        HUB_DATA_DIR=str(tmp_path / "hub"),
    )
    return await asyncio.to_thread(
        subprocess.run,
        [HUB, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_chained_events_verify(database: Database, chained: int) -> None:
    async with database.sessions() as session:
        report = await verify_chain(session)
    assert report.ok
    assert (report.checked, report.pending, report.broken_at) == (chained, 0, None)


async def test_new_events_extend_the_chain(database: Database, chained: int) -> None:
    async with database.sessions.begin() as session:
        await append_event(session, READER, EventDraft("grant.request", dataset="citizen"))
    async with database.sessions() as session:
        report = await verify_chain(session)
    assert report.ok and report.checked == chained + 1


async def test_edited_event_breaks_the_chain_at_its_position(
    database: Database, chained: int, superuser: asyncpg.Connection
) -> None:
    await _tamper(superuser, "UPDATE audit_log SET request_id = 'x' WHERE chain_pos = 2")
    async with database.sessions() as session:
        report = await verify_chain(session)
    assert not report.ok
    assert report.broken_at == 2
    assert report.checked == 1
    assert report.reason == "content does not match hash"


async def test_deleted_event_is_a_missing_link(
    database: Database, chained: int, superuser: asyncpg.Connection
) -> None:
    await _tamper(superuser, "DELETE FROM audit_log WHERE chain_pos = 3")
    async with database.sessions() as session:
        report = await verify_chain(session)
    assert (report.ok, report.broken_at) == (False, 3)
    assert report.reason is not None and "missing" in report.reason


async def test_cli_verify_exits_1_and_names_the_broken_position(
    database_url: str, tmp_path: Path, chained: int, superuser: asyncpg.Connection
) -> None:
    intact = await _hub(database_url, tmp_path, "audit", "verify")
    assert intact.returncode == 0, intact.stderr
    assert f"{chained} events verified" in intact.stdout
    await _tamper(superuser, "UPDATE audit_log SET request_id = 'x' WHERE chain_pos = 2")
    broken = await _hub(database_url, tmp_path, "audit", "verify")
    assert broken.returncode == 1
    assert "position 2" in broken.stderr
    assert "Traceback" not in broken.stderr


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET request_id = 'x' WHERE chain_pos = 2",
        "UPDATE audit_log SET hash = sha256('x') WHERE chain_pos = 2",
        "DELETE FROM audit_log WHERE chain_pos = 2",
        "UPDATE audit_contexts SET purpose = 'x'",
        "DELETE FROM audit_contexts",
        "TRUNCATE audit_log_default",
    ],
)
async def test_database_refuses_edits_without_disabling_the_guard(
    database: Database, chained: int, superuser: asyncpg.Connection, sql: str
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await superuser.execute(sql)
    async with database.sessions() as session:
        assert (await verify_chain(session)).ok


async def test_edited_context_breaks_the_first_event_of_it(
    database: Database, chained: int, superuser: asyncpg.Connection
) -> None:
    """Who, what and why are stored once per context; editing one breaks its events."""
    await _tamper(superuser, "UPDATE audit_contexts SET purpose = 'x'")
    async with database.sessions() as session:
        report = await verify_chain(session)
    assert (report.ok, report.broken_at, report.reason) == (False, 1, CONTENT_DIFFERS)


async def test_record_versions_are_append_only_too(
    database: Database, superuser: asyncpg.Connection
) -> None:
    await superuser.execute(
        "INSERT INTO record_versions (dataset_code, key, version, data, hash) "
        "VALUES ('business', '2300000001', 1, '{}', repeat('a', 64))"
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await superuser.execute('UPDATE record_versions SET data = \'{"name": "x"}\'')
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await superuser.execute("DELETE FROM record_versions")
