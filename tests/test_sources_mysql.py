"""MySQL/MariaDB sources against the machine's MariaDB (127.0.0.1:3306, root, database
``test``), each test with its own tables: typed values, incremental reads by cursor, and the
failures a sync meets (refused connection, missing table or column, the connection killed
mid-read)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import aiomysql
import pytest

from connectors.sources import SourceError, SourceRow, open_source

DSN = "mysql://root:@127.0.0.1:3306/test"


@pytest.fixture
async def admin() -> AsyncIterator[tuple[Any, str]]:
    """An admin connection and a unique table-name prefix; the tables are dropped after."""
    conn = await aiomysql.connect(
        host="127.0.0.1", port=3306, user="root", password="", db="test", autocommit=True
    )
    prefix = f"src_{uuid.uuid4().hex[:10]}"
    try:
        yield conn, prefix
    finally:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'test' AND table_name LIKE %s",
                (prefix + "%",),
            )
            for (table,) in await cur.fetchall():
                await cur.execute(f"DROP TABLE `{table}`")
        conn.close()


async def execute(conn: Any, sql: str, args: Any = None) -> None:
    async with conn.cursor() as cur:
        await cur.execute(sql, args)


async def read_all(config: dict[str, Any], since: Any = None, size: int = 2) -> list[SourceRow]:
    async with open_source("mysql", config) as source:
        return [row async for batch in source.batches(since, size) for row in batch]


async def make_businesses(conn: Any, table: str) -> None:
    await execute(
        conn,
        f"""CREATE TABLE `{table}` (ma_so_thue VARCHAR(13) PRIMARY KEY, ten TEXT,
            von DECIMAL(18, 2), ngay_cap DATE, cap_nhat_luc DATETIME NOT NULL)
            CHARACTER SET utf8mb4""",
    )
    async with conn.cursor() as cur:
        await cur.executemany(
            f"INSERT INTO `{table}` VALUES (%s, %s, %s, %s, %s)",
            [
                ("4300000001", "Công ty Quảng Ngãi", Decimal("1500.50"), date(2020, 1, 2), _at(1)),
                ("4300000002", "HTX Tư Nghĩa", None, None, _at(2)),
                ("4300000003", "Nguyễn Văn Đức", Decimal(7), date(2021, 3, 4), _at(2)),
                ("4300000004", "đất đai", Decimal(9), None, _at(3)),
            ],
        )


def _at(hour: int) -> datetime:
    return datetime(2024, 5, 1, hour)


async def test_table_rows_come_back_typed(admin: tuple[Any, str]) -> None:
    conn, prefix = admin
    await make_businesses(conn, prefix)
    rows = await read_all({"dsn": DSN, "table": prefix, "cursor": "cap_nhat_luc"})
    assert [r.position for r in rows] == ["row 1", "row 2", "row 3", "row 4"]
    assert rows[0].values == {
        "ma_so_thue": "4300000001",
        "ten": "Công ty Quảng Ngãi",
        "von": Decimal("1500.50"),
        "ngay_cap": date(2020, 1, 2),
        "cap_nhat_luc": _at(1),
    }


async def test_cursor_reads_rows_at_or_after_since(admin: tuple[Any, str]) -> None:
    conn, prefix = admin
    await make_businesses(conn, prefix)
    config = {"dsn": DSN, "table": f"test.{prefix}", "cursor": "cap_nhat_luc"}
    rows = await read_all(config, since=_at(2))
    assert [r.values["ma_so_thue"] for r in rows][-1] == "4300000004"
    assert sorted(r.values["ma_so_thue"] for r in rows) == [f"430000000{i}" for i in (2, 3, 4)]
    as_text = await read_all(config, since="2024-05-01T02:00:00")  # a cursor kept as JSON
    assert [r.values for r in as_text] == [r.values for r in rows]


async def test_query_is_wrapped_for_the_cursor(admin: tuple[Any, str]) -> None:
    conn, prefix = admin
    await make_businesses(conn, prefix)
    query = f"SELECT ma_so_thue AS ma, cap_nhat_luc FROM `{prefix}` WHERE von > 8"
    config = {"dsn": DSN, "query": query, "cursor": "cap_nhat_luc"}
    assert [r.values["ma"] for r in await read_all(config, since=_at(2))] == ["4300000004"]


async def test_missing_table_is_named(admin: tuple[Any, str]) -> None:
    _, prefix = admin
    message = rf"describing table {prefix}_none failed: .*doesn't exist"
    with pytest.raises(SourceError, match=message):
        await read_all({"dsn": DSN, "table": f"{prefix}_none"})


async def test_missing_cursor_column_is_named(admin: tuple[Any, str]) -> None:
    conn, prefix = admin
    await make_businesses(conn, prefix)
    with pytest.raises(SourceError, match=r"cursor column 'updated_at' is not a column of table"):
        await read_all({"dsn": DSN, "table": prefix, "cursor": "updated_at"})


async def test_refused_connection_never_shows_the_password() -> None:
    with pytest.raises(SourceError) as caught:
        await read_all({"dsn": "mysql://hub:s3cret-pw@127.0.0.1:1/test", "table": "x"})
    message = str(caught.value)
    assert "mysql source at hub@127.0.0.1:1/test: connecting to read table x failed" in message
    assert "s3cret-pw" not in message


async def test_denied_login_never_shows_the_password() -> None:
    with pytest.raises(SourceError) as caught:
        await read_all({"dsn": "mysql://no_such_user:hunter2@127.0.0.1:3306/test", "table": "x"})
    assert "Access denied" in str(caught.value)
    assert "hunter2" not in str(caught.value)


async def test_bad_dsn_scheme_is_refused() -> None:
    with pytest.raises(SourceError, match=r"mysql source: key 'dsn' must start with mysql://"):
        open_source("mysql", {"dsn": "postgresql://h/db", "table": "x"})


async def test_connection_killed_mid_read_is_a_source_error(admin: tuple[Any, str]) -> None:
    conn, prefix = admin
    await execute(
        conn,
        f"CREATE TABLE `{prefix}` CHARACTER SET utf8mb4 AS "
        "SELECT seq AS id, REPEAT('x', 200) AS pad FROM seq_1_to_300000",
    )
    async with open_source("mysql", {"dsn": DSN, "table": prefix}) as source:
        batches = source.batches(size=100)
        assert len(await anext(batches)) == 100
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT id FROM information_schema.processlist "
                "WHERE info LIKE %s AND id <> CONNECTION_ID()",
                (f"%{prefix}%",),
            )
            (thread,) = await cur.fetchone()
            await cur.execute(f"KILL {int(thread)}")
        with pytest.raises(SourceError, match=r"reading \(after row \d+\) table .* failed"):
            async for _ in batches:
                pass
