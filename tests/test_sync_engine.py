"""The sync engine on a real PostgreSQL source (the machine's server): counts, versions,
outbox, quarantine, dedupe, unchanged rows skipped, tombstones, cursors, soft deletes, the
one-run-at-a-time lock, interrupted runs, a source dropping its connection, audit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from catalog.errors import InvalidInput, NotFound
from connectors.engine import INTERRUPTED, ConnectorBusy, RunProgress
from connectors.store import remove_connector
from hub.runtime import Hub
from hub.settings import Settings
from tests.sync_support import (
    SOURCE_DSN,
    add,
    connector_toml,
    live,
    make_dataset,
    rows,
    source_table,
    sync,
)

pytestmark = pytest.mark.usefixtures("seeded")

MAPPING = {"code": "ma", "name": "ten", "amount": "so_luong", "tax_code": "mst"}
COLUMNS = "id serial, ma text, ten text, so_luong text, mst text, xoa boolean, sua timestamptz"


async def insert(conn: asyncpg.Connection, table: str, values: list[tuple[object, ...]]) -> None:
    await conn.executemany(
        f"INSERT INTO {table} (ma, ten, so_luong, mst) VALUES ($1, $2, $3, $4)", values
    )


async def test_snapshot_sync_writes_quarantines_dedupes_and_tombstones(hub: Hub) -> None:
    await make_dataset(hub, "item")
    async with source_table(COLUMNS) as (conn, table):
        await insert(
            conn,
            table,
            [
                ("A1", "  Cà phê  ", "3", "0101234567"),
                ("A2", "Trà", "x", None),  # wrong type: quarantined
                ("A3", "Bánh", "5", "0101 234 567"),  # tax code with spaces: normalised
                ("A1", "Cà phê sữa", "4", None),  # same key later in the batch: wins
                (None, "Không mã", "1", None),  # missing key: quarantined
                ("A4", "Kẹo", "7", "12345"),  # invalid tax code: quarantined
            ],
        )
        await add(hub, connector_toml("items", "item", table, MAPPING))
        first = await sync(hub, "items")
        assert first.status == "SUCCEEDED", first.error
        assert (first.read, first.inserted, first.updated, first.rejected) == (6, 2, 0, 3)
        records = await live(hub, "item")
        assert records == {
            "A1": {"code": "A1", "name": "Cà phê sữa", "amount": 4},
            "A3": {"code": "A3", "name": "Bánh", "amount": 5, "tax_code": "0101234567"},
        }
        quarantined = await rows(
            hub,
            "SELECT position, reason, row FROM sync_quarantine WHERE run_id = :r ORDER BY id",
            r=first.run_id,
        )
        assert [q["position"] for q in quarantined] == ["row 2", "row 5", "row 6"]
        assert "amount" in quarantined[0]["reason"] and "whole number" in quarantined[0]["reason"]
        assert "code" in quarantined[1]["reason"]
        assert "tax_code" in quarantined[2]["reason"]
        assert quarantined[0]["row"]["ten"] == "Trà"
        versions = await rows(
            hub, "SELECT key, version, source FROM record_versions WHERE dataset_code = 'item'"
        )
        assert {(v["key"], v["version"], v["source"]) for v in versions} == {
            ("A1", 1, "connector:items"),
            ("A3", 1, "connector:items"),
        }
        outbox = await rows(
            hub, "SELECT key, version FROM search_outbox WHERE key <> '' ORDER BY key"
        )
        assert [(o["key"], o["version"]) for o in outbox] == [("A1", 1), ("A3", 1)]

        # Nothing changed: nothing written (the quarantined rows are quarantined again).
        again = await sync(hub, "items")
        assert (again.inserted, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 3)
        assert len(await rows(hub, "SELECT 1 FROM record_versions")) == 2

        # A row changes, a row goes away, a quarantined row is fixed.
        await conn.execute(f"UPDATE {table} SET ten = 'Bánh ngọt' WHERE ma = 'A3'")
        await conn.execute(f"DELETE FROM {table} WHERE ma = 'A1'")
        await conn.execute(f"UPDATE {table} SET so_luong = '9' WHERE ma = 'A2'")
        third = await sync(hub, "items")
        assert (third.inserted, third.updated, third.deleted, third.rejected) == (1, 1, 1, 2)
        assert set(await live(hub, "item")) == {"A2", "A3"}
        tomb = await rows(
            hub,
            "SELECT version, deleted, source FROM record_versions WHERE key = 'A1' "
            "ORDER BY version",
        )
        assert [(t["version"], t["deleted"]) for t in tomb] == [(1, False), (2, True)]
        deleted = await rows(hub, "SELECT deleted, version FROM records WHERE key = 'A1'")
        assert deleted == [{"deleted": True, "version": 2}]
        assert ("A1", 2) in {
            (o["key"], o["version"])
            for o in await rows(hub, "SELECT * FROM search_outbox WHERE key <> ''")
        }

        # The row comes back: a new live version.
        await insert(conn, table, [("A1", "Cà phê", "1", None)])
        fourth = await sync(hub, "items")
        assert fourth.inserted == 0 and fourth.updated == 1 and fourth.deleted == 0
        assert (await live(hub, "item"))["A1"]["name"] == "Cà phê"
        audit = await rows(
            hub,
            "SELECT detail FROM audit_events WHERE action = 'sync.run' ORDER BY seq",
        )
        assert len(audit) == 4
        assert audit[0]["detail"]["inserted"] == 2 and audit[0]["detail"]["status"] == "SUCCEEDED"


async def test_snapshot_never_deletes_what_others_wrote(hub: Hub) -> None:
    await make_dataset(hub, "item")
    async with source_table(COLUMNS) as (conn, table):
        await insert(conn, table, [("B1", "Một", "1", None)])
        await add(hub, connector_toml("items", "item", table, MAPPING))
        await sync(hub, "items")
        from catalog.models import Dataset
        from catalog.records import write_records

        async with hub.db.sessions.begin() as session:
            dataset = await session.get(Dataset, "item")
            assert dataset is not None
            await write_records(
                session,
                dataset,
                [{"code": "P1", "name": "Gửi lên"}],
                source="push:test",
                keys=hub.keys.sealing_keys(),
            )
        outcome = await sync(hub, "items")
        assert outcome.deleted == 0
        assert set(await live(hub, "item")) == {"B1", "P1"}


async def test_incremental_cursor_and_soft_delete(hub: Hub) -> None:
    await make_dataset(hub, "item")
    async with source_table(COLUMNS) as (conn, table):
        await conn.execute(
            f"INSERT INTO {table} (ma, ten, so_luong, sua, xoa) VALUES "
            "('C1', 'Một', '1', '2026-01-01 08:00+07', false), "
            "('C2', 'Hai', '2', '2026-01-02 08:00+07', false)"
        )
        toml = connector_toml(
            "items_inc", "item", table, MAPPING, cursor="sua", soft_delete="xoa", batch_size=1
        )
        await add(hub, toml)
        first = await sync(hub, "items_inc")
        assert first.status == "SUCCEEDED", first.error
        assert first.inserted == 2
        stored = await rows(hub, "SELECT cursor FROM connectors WHERE name = 'items_inc'")
        assert stored[0]["cursor"].startswith("2026-01-02T01:00:00")
        # Only rows at or after the cursor are read again; the boundary row is unchanged.
        await conn.execute(
            f"INSERT INTO {table} (ma, ten, so_luong, sua, xoa) VALUES "
            "('C3', 'Ba', '3', '2026-01-03 08:00+07', false)"
        )
        second = await sync(hub, "items_inc")
        assert (second.read, second.inserted, second.unchanged) == (2, 1, 1)
        # Incremental runs never tombstone unseen rows; a soft-delete flag does.
        await conn.execute(
            f"UPDATE {table} SET xoa = true, sua = '2026-01-04 08:00+07' WHERE ma = 'C1'"
        )
        third = await sync(hub, "items_inc")
        assert third.deleted == 1
        assert set(await live(hub, "item")) == {"C2", "C3"}
        runs = await rows(
            hub,
            "SELECT cursor_from, cursor_to FROM sync_runs WHERE id = :id",
            id=third.run_id,
        )
        assert runs[0]["cursor_to"].startswith("2026-01-04")


async def test_second_run_is_refused_while_one_holds_the_lock(hub: Hub) -> None:
    await make_dataset(hub, "item")
    async with source_table(COLUMNS) as (_conn, table):
        await add(hub, connector_toml("items", "item", table, MAPPING))
        started = asyncio.Event()
        release = asyncio.Event()

        def progress(_p: RunProgress) -> None:
            started.set()

        # Hold the run inside its first batch by locking the dataset's write lock.
        blocker = await hub.db.engine.connect()
        await blocker.exec_driver_sql(
            "SELECT pg_advisory_lock(hashtext('hub-dataset-write'), hashtext('item'))"
        )
        await _conn.execute(f"INSERT INTO {table} (ma, ten) VALUES ('D1', 'Một')")
        running = asyncio.create_task(sync(hub, "items", progress=progress))
        for _ in range(200):
            found = await rows(
                hub, "SELECT id FROM sync_runs WHERE connector = 'items' AND status = 'RUNNING'"
            )
            if found:
                break
            await asyncio.sleep(0.05)
        with pytest.raises(ConnectorBusy) as refused:
            await sync(hub, "items")
        assert "items" in refused.value.message and f"run {found[0]['id']}" in refused.value.message
        assert refused.value.code == "CONFLICT"
        await blocker.exec_driver_sql(
            "SELECT pg_advisory_unlock(hashtext('hub-dataset-write'), hashtext('item'))"
        )
        await blocker.close()
        release.set()
        outcome = await running
        assert outcome.status == "SUCCEEDED" and outcome.inserted == 1


async def test_interrupted_run_is_marked_failed_by_the_next(hub: Hub) -> None:
    await make_dataset(hub, "item")
    async with source_table(COLUMNS) as (_conn, table):
        await add(hub, connector_toml("items", "item", table, MAPPING))
        async with hub.db.sessions.begin() as session:
            from sqlalchemy import text

            await session.execute(
                text(
                    "INSERT INTO sync_runs (connector, dataset_code, trigger, status) "
                    "VALUES ('items', 'item', 'manual', 'RUNNING')"
                )
            )
        outcome = await sync(hub, "items")
        assert outcome.status == "SUCCEEDED"
        runs = await rows(hub, "SELECT status, error FROM sync_runs ORDER BY id")
        assert runs[0] == {"status": "FAILED", "error": INTERRUPTED}


async def test_source_dropping_its_connection_fails_the_run_and_keeps_batches(hub: Hub) -> None:
    await make_dataset(hub, "item")
    async with source_table(COLUMNS) as (conn, table):
        await conn.execute(
            f"INSERT INTO {table} (ma, ten, so_luong) "
            "SELECT 'K' || lpad(i::text, 5, '0'), 'Tên ' || i, i::text "
            "FROM generate_series(1, 3000) i"
        )
        await add(hub, connector_toml("items", "item", table, MAPPING, batch_size=500))
        killed = False

        async def kill_source() -> None:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query LIKE $1 AND pid <> pg_backend_pid()",
                f"%{table}%",
            )

        pending: list[asyncio.Task[None]] = []

        def progress(p: RunProgress) -> None:
            nonlocal killed
            if p.read >= 1000 and not killed:
                killed = True
                pending.append(asyncio.ensure_future(kill_source()))

        failed = await sync(hub, "items", progress=progress)
        assert failed.status == "FAILED"
        assert failed.error is not None and "\n" not in failed.error
        assert "postgres source" in failed.error
        kept = await live(hub, "item")
        assert 1000 <= len(kept) < 3000
        assert failed.inserted == len(kept)
        again = await sync(hub, "items")
        assert again.status == "SUCCEEDED"
        assert again.inserted == 3000 - len(kept) and again.unchanged == len(kept)
        assert len(await live(hub, "item")) == 3000
        versions = await rows(
            hub, "SELECT count(*) AS n FROM record_versions WHERE dataset_code = 'item'"
        )
        assert versions[0]["n"] == 3000


async def test_unreachable_source_fails_the_run_without_secrets(hub: Hub) -> None:
    await make_dataset(hub, "item")
    toml = connector_toml("items", "item", "nothing_here", MAPPING).replace(
        SOURCE_DSN, "postgresql://root:${SRC_PASSWORD}@127.0.0.1:1/postgres"
    )
    await add(hub, toml, check_source=False)
    outcome = await sync(hub, "items", environ={"SRC_PASSWORD": "hunter2-secret"})
    assert outcome.status == "FAILED"
    assert outcome.error is not None and "hunter2" not in outcome.error
    assert "\n" not in outcome.error


async def test_add_refuses_unknown_fields_missing_columns_and_unmapped_keys(hub: Hub) -> None:
    await make_dataset(hub, "item")
    async with source_table(COLUMNS) as (_conn, table):
        with pytest.raises(InvalidInput, match="'colour'"):
            await add(hub, connector_toml("a", "item", table, {**MAPPING, "colour": "ma"}))
        with pytest.raises(InvalidInput, match="'mau_sac'"):
            await add(hub, connector_toml("a", "item", table, {**MAPPING, "name": "mau_sac"}))
        with pytest.raises(InvalidInput, match="key field 'code'"):
            await add(hub, connector_toml("a", "item", table, {"name": "ten"}))
        with pytest.raises(NotFound, match="'nope'"):
            await add(hub, connector_toml("a", "nope", table, MAPPING))
    assert await rows(hub, "SELECT name FROM connectors") == []
    with pytest.raises(NotFound, match="'ghost'"):
        await sync(hub, "ghost")


async def test_cli_exits_non_zero_with_one_line_on_failure(hub: Hub, settings: Settings) -> None:
    await make_dataset(hub, "item")
    toml = connector_toml("items", "item", "nothing_here", MAPPING).replace(
        SOURCE_DSN, "postgresql://root:${SRC_PASSWORD}@127.0.0.1:1/postgres"
    )
    await add(hub, toml, check_source=False)
    assert settings.database_url is not None
    env = {
        **os.environ,
        "HUB_DATABASE_URL": settings.database_url.get_secret_value(),
        "HUB_KEYS_FILE": str(settings.resolved_keys_file),
        "HUB_DATA_DIR": str(settings.data_dir),
        "SRC_PASSWORD": "hunter2-secret",
    }
    hub_command = str(Path(sys.executable).parent / "hub")
    failed = await asyncio.to_thread(
        subprocess.run,
        [hub_command, "sync", "run", "items"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 1
    last = failed.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: run ") and "connector 'items' failed: postgres source" in last
    assert "hunter2" not in failed.stderr and "Traceback" not in failed.stderr
    missing = await asyncio.to_thread(
        subprocess.run,
        [hub_command, "sync", "run", "ghost", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert missing.returncode == 1
    assert missing.stderr.strip() == "Error: connector 'ghost' does not exist"


async def test_cli_shows_progress_and_summary(hub: Hub, settings: Settings) -> None:
    await make_dataset(hub, "item")
    async with source_table(COLUMNS) as (conn, table):
        await insert(conn, table, [("E1", "Một", "1", None), ("E2", "Hai", "x", None)])
        await add(hub, connector_toml("items", "item", table, MAPPING))
        assert settings.database_url is not None
        env = {
            **os.environ,
            "HUB_DATABASE_URL": settings.database_url.get_secret_value(),
            "HUB_KEYS_FILE": str(settings.resolved_keys_file),
            "HUB_DATA_DIR": str(settings.data_dir),
            "COLUMNS": "200",
        }
        done = await asyncio.to_thread(
            subprocess.run,
            [str(Path(sys.executable).parent / "hub"), "sync", "run", "items"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    # A quarantined row does not fail the run.
    assert done.returncode == 0, done.stderr
    shown = " ".join(done.stderr.split())
    assert "SUCCEEDED" in shown and "1 quarantined" in shown
    assert "read 2" in shown and "new 1" in shown  # the bar's last state


async def test_a_snapshot_that_would_delete_most_records_fails_and_deletes_nothing(
    hub: Hub,
) -> None:
    # An export cut short or a query that suddenly matches nothing looks exactly like mass
    # deletion at the source: past max_delete_percent (50 by default) the run fails instead.
    await make_dataset(hub, "item")
    async with source_table(COLUMNS) as (conn, table):
        await insert(conn, table, [(f"D{i}", f"Hàng {i}", str(i), None) for i in range(1, 5)])
        toml = connector_toml("items", "item", table, MAPPING)
        await add(hub, toml)
        assert (await sync(hub, "items")).inserted == 4
        await conn.execute(f"DELETE FROM {table} WHERE ma IN ('D1', 'D2', 'D3')")
        refused = await sync(hub, "items")
        assert refused.status == "FAILED"
        assert refused.error is not None
        assert "3 of the 4 records" in refused.error and "max_delete_percent = 50" in refused.error
        assert set(await live(hub, "item")) == {"D1", "D2", "D3", "D4"}
        assert not await rows(hub, "SELECT 1 FROM record_versions WHERE deleted")

        # The owner confirms the source really lost them.
        async with hub.db.sessions.begin() as session:
            await remove_connector(session, "items", actor=None)
        await add(
            hub, toml.replace("batch_size = 1000", "batch_size = 1000\nmax_delete_percent = 100")
        )
        allowed = await sync(hub, "items")
        assert (allowed.status, allowed.deleted) == ("SUCCEEDED", 3)
        assert set(await live(hub, "item")) == {"D4"}
