"""A snapshot re-sync of a PostgreSQL source finds its unchanged rows set-based (digests
computed by the source server, one join in the hub) and reads only the changed rows, by key:
the outcome is exactly that of reading every row (validation, quarantine, tombstones, a
record rewritten by someone else, a key twice in the source, a row without a key)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import aiomysql
import pytest

from catalog.records import write_records
from connectors.engine import ConnectorBusy
from hub.runtime import Hub
from hub.settings import Settings
from tests.records_fixtures import field_keys
from tests.sync_support import (
    ITEM_FIELDS,
    add,
    connector_toml,
    get_dataset_row,
    live,
    make_dataset,
    rows,
    source_table,
    sync,
)

pytestmark = pytest.mark.usefixtures("seeded")

MAPPING = {"code": "ma", "name": "ten", "amount": "so_luong"}
ROWS = 40


async def _positions(hub: Hub, run_id: int) -> list[str]:
    found = await rows(
        hub, "SELECT position FROM sync_quarantine WHERE run_id = :r ORDER BY id", r=run_id
    )
    return [r["position"] for r in found]


async def test_only_changed_rows_are_read_again_and_the_outcome_is_a_full_reads(
    hub: Hub,
) -> None:
    await make_dataset(hub, "item", ITEM_FIELDS[:3])
    async with source_table("ma int primary key, ten text, so_luong int") as (conn, table):
        await conn.execute(
            f"INSERT INTO {table} SELECT i, 'Mặt hàng ' || i, i FROM generate_series(1, $1::int) i",
            ROWS,
        )
        await add(hub, connector_toml("items", "item", table, MAPPING, batch_size=7))
        first = await sync(hub, "items")
        assert (first.status, first.inserted) == ("SUCCEEDED", ROWS), first.error

        again = await sync(hub, "items")
        assert (again.read, again.unchanged, again.inserted, again.updated) == (ROWS, ROWS, 0, 0)
        assert len(await rows(hub, "SELECT 1 FROM record_versions")) == ROWS

        await conn.execute(f"UPDATE {table} SET ten = 'Đổi tên' WHERE ma = 3")
        await conn.execute(f"UPDATE {table} SET ten = NULL WHERE ma = 5")  # name required
        await conn.execute(f"DELETE FROM {table} WHERE ma = 7")
        await conn.execute(f"INSERT INTO {table} VALUES (41, 'Mới', 41)")
        async with hub.db.sessions.begin() as session:  # another writer changes a record
            await write_records(
                session,
                await get_dataset_row(hub, "item"),
                [{"code": "9", "name": "Sửa tay", "amount": 9}],
                source="test",
                keys=field_keys(hub),
            )
        third = await sync(hub, "items")
        assert third.status == "SUCCEEDED", third.error
        counts = (third.read, third.inserted, third.updated, third.deleted, third.rejected)
        assert counts == (ROWS, 1, 2, 1, 1)
        assert third.unchanged == ROWS - 4
        # Read by key: the quarantined row's position names its key.
        assert await _positions(hub, third.run_id) == ["key 5"]
        records = await live(hub, "item")
        assert set(records) == {str(i) for i in range(1, ROWS + 2)} - {"7"}
        assert records["3"]["name"] == "Đổi tên"
        assert records["5"]["name"] == "Mặt hàng 5"  # the rejected row changed nothing
        assert records["9"]["name"] == "Mặt hàng 9"  # the source's value again
        assert records["41"] == {"code": "41", "name": "Mới", "amount": 41}

        # The rejected row is quarantined again on every run, unchanged or not.
        fourth = await sync(hub, "items")
        assert (fourth.unchanged, fourth.rejected, fourth.inserted + fourth.updated) == (
            ROWS - 1,
            1,
            0,
        )


async def test_a_key_twice_in_the_source_and_a_row_without_key_go_the_full_way(
    hub: Hub,
) -> None:
    await make_dataset(hub, "item", ITEM_FIELDS[:3])
    async with source_table("ma text, ten text, so_luong int") as (conn, table):
        await conn.execute(
            f"INSERT INTO {table} SELECT 'K' || i, 'Hàng ' || i, i FROM generate_series(1, 20) i"
        )
        await add(hub, connector_toml("items", "item", table, MAPPING, batch_size=100))
        assert (await sync(hub, "items")).inserted == 20

        # The same key again with other values: whichever the source gives last wins, as in
        # one batch of a full read, and the record does not count as unchanged.
        await conn.execute(f"INSERT INTO {table} VALUES ('K4', 'Hàng 4 bis', 4)")
        twice = await sync(hub, "items")
        assert twice.status == "SUCCEEDED", twice.error
        assert (twice.read, twice.unchanged + twice.updated) == (21, 20)
        assert (await live(hub, "item"))["K4"]["name"] in ("Hàng 4", "Hàng 4 bis")

        # A row without a key: the whole source is read, the row quarantined by position.
        await conn.execute(f"DELETE FROM {table} WHERE ma = 'K4' AND ten = 'Hàng 4 bis'")
        await conn.execute(f"INSERT INTO {table} VALUES (NULL, 'Không mã', 0)")
        keyless = await sync(hub, "items")
        assert keyless.status == "SUCCEEDED", keyless.error
        assert (keyless.read, keyless.rejected) == (21, 1)
        assert (await _positions(hub, keyless.run_id))[0].startswith("row ")
        assert len(await live(hub, "item")) == 20


async def test_changing_the_mapping_sends_every_row_through_validation_again(hub: Hub) -> None:
    """The digest's salt names the mapping and the field rules: another connector over the
    same rows records digests of its own and never takes the first one's as unchanged."""
    await make_dataset(hub, "item", ITEM_FIELDS[:3])
    await make_dataset(hub, "item_copy", ITEM_FIELDS[:3])
    async with source_table("ma text, ten text, so_luong int, khac int") as (conn, table):
        await conn.execute(
            f"INSERT INTO {table} SELECT 'K' || i, 'Hàng ' || i, i, -i "
            "FROM generate_series(1, 10) i"
        )
        await add(hub, connector_toml("items", "item", table, MAPPING))
        other = {**MAPPING, "amount": "khac"}
        await add(hub, connector_toml("items_copy", "item_copy", table, other))
        assert (await sync(hub, "items")).inserted == 10
        assert (await sync(hub, "items_copy")).inserted == 10
        assert (await sync(hub, "items_copy")).unchanged == 10
        assert (await live(hub, "item_copy"))["K1"]["amount"] == -1


MYSQL_DSN = "mysql://root:@127.0.0.1:3306/test"


def _mysql_toml(name: str, table: str | None = None, query: str | None = None) -> str:
    source = f'table = "{table}"' if table else f"query = {json.dumps(query)}"
    lines = [
        f'name = "{name}"\ndataset = "item"\nkind = "mysql"\nbatch_size = 7',
        f'[source]\ndsn = "{MYSQL_DSN}"\n{source}',
        "[mapping]",
        *[f'{field} = "{column}"' for field, column in MAPPING.items()],
    ]
    return "\n".join(lines) + "\n"


async def _mysql(sql: str) -> None:
    conn = await aiomysql.connect(
        host="127.0.0.1", port=3306, user="root", password="", db="test", autocommit=True
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute(sql)
    finally:
        conn.close()


async def test_a_mysql_snapshot_reads_only_its_changed_rows_again(hub: Hub) -> None:
    """MariaDB digests its rows itself; a query with a literal % stays intact."""
    await make_dataset(hub, "item", ITEM_FIELDS[:3])
    table = f"sync_src_{uuid.uuid4().hex[:10]}"
    await _mysql(
        f"CREATE TABLE {table} (ma INT PRIMARY KEY, ten TEXT, so_luong INT) CHARACTER SET utf8mb4"
    )
    try:
        values = ", ".join(f"({i}, 'Mặt hàng {i}', {i})" for i in range(1, ROWS + 1))
        await _mysql(f"INSERT INTO {table} VALUES {values}")
        await add(hub, _mysql_toml("items", table=table))
        assert (await sync(hub, "items")).inserted == ROWS
        again = await sync(hub, "items")
        assert (again.read, again.unchanged, again.inserted, again.updated) == (ROWS, ROWS, 0, 0)

        await _mysql(f"UPDATE {table} SET ten = 'Đổi tên' WHERE ma = 3")
        await _mysql(f"UPDATE {table} SET ten = NULL WHERE ma = 5")
        await _mysql(f"DELETE FROM {table} WHERE ma = 7")
        await _mysql(f"INSERT INTO {table} VALUES (41, 'Mới', 41)")
        third = await sync(hub, "items")
        assert third.status == "SUCCEEDED", third.error
        counts = (third.read, third.inserted, third.updated, third.deleted, third.rejected)
        assert counts == (ROWS, 1, 1, 1, 1)
        assert await _positions(hub, third.run_id) == ["key 5"]
        records = await live(hub, "item")
        assert set(records) == {str(i) for i in range(1, ROWS + 2)} - {"7"}
        assert records["3"]["name"] == "Đổi tên"

        query = f"SELECT * FROM {table} WHERE ten LIKE '%hàng%' OR ten LIKE 'M%'"
        await add(hub, _mysql_toml("items_query", query=query))
        first = await sync(hub, "items_query")
        assert first.status == "SUCCEEDED", first.error
        again = await sync(hub, "items_query")
        assert (again.status, again.read, again.unchanged) == ("SUCCEEDED", first.read, first.read)
    finally:
        await _mysql(f"DROP TABLE IF EXISTS {table}")


KILL_ROWS = 30_000
HUB = str(Path(sys.executable).parent / "hub")


def _env(settings: Settings) -> dict[str, str]:
    assert settings.database_url is not None
    return {
        **os.environ,
        "HUB_DATABASE_URL": settings.database_url.get_secret_value(),
        "HUB_KEYS_FILE": str(settings.resolved_keys_file),
        "HUB_DATA_DIR": str(settings.data_dir),
    }


async def test_a_run_killed_while_reading_changed_rows_by_key_is_completed_by_the_next(
    hub: Hub, settings: Settings
) -> None:
    """SIGKILL after the scan committed and some changed rows were written: the next run
    ends with exactly the source's rows, each change one new version."""
    await make_dataset(hub, "item", ITEM_FIELDS[:3])
    async with source_table("ma text primary key, ten text, so_luong int") as (conn, table):
        await conn.execute(
            f"INSERT INTO {table} SELECT 'K' || lpad(i::text, 6, '0'), 'Tên số ' || i, i "
            f"FROM generate_series(1, {KILL_ROWS}) i"
        )
        await add(hub, connector_toml("kill_me", "item", table, MAPPING, batch_size=100))
        assert (await sync(hub, "kill_me")).inserted == KILL_ROWS
        # 20 % changed, 100 gone, 100 new.
        await conn.execute(f"UPDATE {table} SET ten = ten || ' (sửa)' WHERE so_luong % 5 = 0")
        await conn.execute(f"DELETE FROM {table} WHERE so_luong % 10 = 1 AND so_luong <= 1000")
        await conn.execute(
            f"INSERT INTO {table} SELECT 'N' || i, 'Mới ' || i, i FROM generate_series(1, 100) i"
        )
        unchanged = KILL_ROWS - KILL_ROWS // 5 - 100
        process = subprocess.Popen(  # noqa: ASYNC220  (polled below, never waited on blocking)
            [HUB, "sync", "run", "kill_me", "--json"],
            env=_env(settings),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        committed = 0
        try:
            for _ in range(3000):
                found = await rows(
                    hub,
                    "SELECT read, status FROM sync_runs WHERE connector = 'kill_me' "
                    "ORDER BY id DESC LIMIT 1",
                )
                if found[0]["status"] == "RUNNING" and found[0]["read"] >= unchanged + 200:
                    committed = found[0]["read"]
                    break
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                await asyncio.sleep(0.01)
            process.send_signal(signal.SIGKILL)
            await asyncio.to_thread(process.wait, 30)
        finally:
            if process.poll() is None:
                process.kill()
        assert unchanged < committed < KILL_ROWS, "the run was not caught reading by key"

        # The killed process's server session ends when its statement in flight does.
        for _ in range(300):
            try:
                rerun = await sync(hub, "kill_me")
                break
            except ConnectorBusy:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the killed run's lock was never released")
        assert rerun.status == "SUCCEEDED", rerun.error
        assert rerun.deleted == 100
        source = {
            r["ma"]: {"code": r["ma"], "name": r["ten"], "amount": r["so_luong"]}
            for r in await conn.fetch(f"SELECT ma, ten, so_luong FROM {table}")
        }
        assert await live(hub, "item") == source
        versions = await rows(
            hub,
            "SELECT count(*) AS n, max(version) AS top FROM record_versions "
            "WHERE dataset_code = 'item'",
        )
        # Each original row once, each change and each deletion one more, each new row once.
        assert versions == [{"n": KILL_ROWS + KILL_ROWS // 5 + 100 + 100, "top": 2}]
        outbox = await rows(hub, "SELECT count(*) AS n FROM search_outbox WHERE key <> ''")
        assert outbox == [{"n": versions[0]["n"]}]
        runs = await rows(
            hub, "SELECT status FROM sync_runs WHERE connector = 'kill_me' ORDER BY id"
        )
        assert [r["status"] for r in runs] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
        again = await sync(hub, "kill_me")
        assert (again.unchanged, again.inserted + again.updated + again.deleted) == (
            len(source),
            0,
        )
