"""PostgreSQL sources against the machine's own server (127.0.0.1:5432, database ``test``),
each test in its own schema: typed values, incremental reads by cursor, constant memory while
streaming, and the failures a sync meets (refused connection, missing table or column, the
connection killed mid-read)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from connectors.sources import SourceError, SourceRow, open_source

SERVER_USERS = ("postgres", "root")


@pytest.fixture(scope="module")
async def source_server() -> str:
    """DSN of the machine's PostgreSQL database ``test`` (trust authentication)."""
    problems = []
    for user in SERVER_USERS:
        dsn = f"postgresql://{user}@127.0.0.1:5432/test"
        try:
            conn = await asyncpg.connect(dsn, timeout=5)
        except (OSError, asyncpg.PostgresError) as exc:
            problems.append(f"{user}: {exc}")
            continue
        await conn.close()
        return dsn
    raise RuntimeError(f"the machine's PostgreSQL is not reachable: {problems}")


@pytest.fixture
async def schema(source_server: str) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """A fresh schema on the source server and an admin connection, dropped afterwards."""
    name = f"src_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(source_server)
    await conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield conn, name
    finally:
        await conn.execute(f'DROP SCHEMA "{name}" CASCADE')
        await conn.close()


async def read_all(config: dict[str, Any], since: Any = None, size: int = 2) -> list[SourceRow]:
    async with open_source("postgres", config) as source:
        return [row async for batch in source.batches(since, size) for row in batch]


async def make_businesses(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(
        f"""CREATE TABLE "{schema}"."Doanh nghiệp" (
            ma_so_thue text PRIMARY KEY, ten text, von numeric(18, 2), ngay_cap date,
            cap_nhat_luc timestamptz NOT NULL)"""
    )
    await conn.executemany(
        f'INSERT INTO "{schema}"."Doanh nghiệp" VALUES ($1, $2, $3, $4, $5)',
        [
            ("4300000001", "Công ty Quảng Ngãi", Decimal("1500.50"), date(2020, 1, 2), _at(1)),
            ("4300000002", "HTX Tư Nghĩa", None, None, _at(2)),
            ("4300000003", "Nguyễn Văn Đức", Decimal(7), date(2021, 3, 4), _at(2)),
            ("4300000004", "đất đai", Decimal(9), None, _at(3)),
        ],
    )


def _at(hour: int) -> datetime:
    return datetime(2024, 5, 1, hour, tzinfo=UTC)


async def test_table_rows_come_back_typed(schema: tuple[Any, str], source_server: str) -> None:
    conn, name = schema
    await make_businesses(conn, name)
    rows = await read_all({"dsn": source_server, "table": f"{name}.Doanh nghiệp"})
    assert [r.position for r in rows] == ["row 1", "row 2", "row 3", "row 4"]
    first = next(r.values for r in rows if r.values["ma_so_thue"] == "4300000001")
    assert first == {
        "ma_so_thue": "4300000001",
        "ten": "Công ty Quảng Ngãi",
        "von": Decimal("1500.50"),
        "ngay_cap": date(2020, 1, 2),
        "cap_nhat_luc": _at(1),
    }


async def test_cursor_reads_rows_at_or_after_since_in_order(
    schema: tuple[Any, str], source_server: str
) -> None:
    conn, name = schema
    await make_businesses(conn, name)
    config = {"dsn": source_server, "table": f"{name}.Doanh nghiệp", "cursor": "cap_nhat_luc"}
    everything = await read_all(config)
    assert [r.values["cap_nhat_luc"].hour for r in everything] == [1, 2, 2, 3]
    since = await read_all(config, since=_at(2))
    assert sorted(r.values["ma_so_thue"] for r in since) == [f"430000000{i}" for i in (2, 3, 4)]
    as_text = await read_all(config, since="2024-05-01T02:00:00+00:00")  # a cursor kept as JSON
    assert [r.values for r in as_text] == [r.values for r in since]


async def test_query_is_wrapped_for_the_cursor(schema: tuple[Any, str], source_server: str) -> None:
    conn, name = schema
    await make_businesses(conn, name)
    query = f'SELECT ma_so_thue AS ma, cap_nhat_luc FROM "{name}"."Doanh nghiệp"\n'
    query += "WHERE von > 8 -- the larger ones"
    config = {"dsn": source_server, "query": query, "cursor": "cap_nhat_luc"}
    async with open_source("postgres", config) as source:
        assert await source.columns() == ["ma", "cap_nhat_luc"]
    rows = await read_all(config, since=_at(2))
    assert [r.values["ma"] for r in rows] == ["4300000004"]


async def test_missing_table_is_named(schema: tuple[Any, str], source_server: str) -> None:
    _, name = schema
    with pytest.raises(SourceError, match=rf"table {name}\.khong_co failed: .*does not exist"):
        await read_all({"dsn": source_server, "table": f"{name}.khong_co"})


async def test_config_without_table_or_query_is_refused(source_server: str) -> None:
    with pytest.raises(SourceError, match=r"postgres source: give exactly one of 'table' or"):
        open_source("postgres", {"dsn": source_server})


async def test_missing_cursor_column_is_named(schema: tuple[Any, str], source_server: str) -> None:
    conn, name = schema
    await make_businesses(conn, name)
    config = {"dsn": source_server, "table": f"{name}.Doanh nghiệp", "cursor": "updated_at"}
    with pytest.raises(SourceError, match=r"cursor column 'updated_at' is not a column of table"):
        await read_all(config)


async def test_refused_connection_never_shows_the_password() -> None:
    dsn = "postgresql://hub:s3cret-pw@127.0.0.1:1/test"
    with pytest.raises(SourceError) as caught:
        await read_all({"dsn": dsn, "table": "x"})
    message = str(caught.value)
    assert "postgres source at hub@127.0.0.1:1/test: connecting to read table x failed" in message
    assert "s3cret-pw" not in message


async def test_wrong_password_is_reported_without_it(source_server: str) -> None:
    # Trust authentication accepts any password, so ask for a role that does not exist.
    dsn = "postgresql://no_such_role_x:hunter2@127.0.0.1:5432/test"
    with pytest.raises(SourceError) as caught:
        await read_all({"dsn": dsn, "table": "x"})
    assert "no_such_role_x" in str(caught.value)
    assert "hunter2" not in str(caught.value)


async def test_connection_killed_mid_read_is_a_source_error(
    schema: tuple[Any, str], source_server: str
) -> None:
    conn, name = schema
    await conn.execute(f'CREATE TABLE "{name}".big AS SELECT generate_series(1, 50000) AS id')
    config = {"dsn": source_server, "table": f"{name}.big"}
    async with open_source("postgres", config) as source:
        batches = source.batches(size=100)
        first = await anext(batches)
        assert len(first) == 100
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE query LIKE $1 AND pid <> pg_backend_pid()",
            f"%{name}%big%",
        )
        assert killed == 1
        with pytest.raises(SourceError, match=r"reading \(after row \d+\) table .*big failed"):
            async for _ in batches:
                pass


async def test_closing_mid_read_ends_the_read_cleanly(
    schema: tuple[Any, str], source_server: str
) -> None:
    conn, name = schema
    await conn.execute(f'CREATE TABLE "{name}".part AS SELECT generate_series(1, 1000) AS id')
    async with open_source("postgres", {"dsn": source_server, "table": f"{name}.part"}) as source:
        batches = source.batches(size=10)
        assert len(await anext(batches)) == 10
    with pytest.raises(StopAsyncIteration):  # rolled back and finished, not left for the GC
        await anext(batches)
    left = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()",
        f"%{name}%part%",
    )
    assert left == 0


async def test_streaming_keeps_memory_flat(schema: tuple[Any, str], source_server: str) -> None:
    """200,000 rows of about 150 bytes stream with little RSS growth: one batch at a time."""
    conn, name = schema
    await conn.execute(
        f"""CREATE TABLE "{name}".wide AS SELECT g AS id, md5(g::text) || md5((g + 1)::text)
            || md5((g + 2)::text) AS ten, g * 1.5 AS von, now() AS luc
            FROM generate_series(1, 200000) g"""
    )
    baseline = _rss()
    peak = baseline
    count = 0
    async with open_source("postgres", {"dsn": source_server, "table": f"{name}.wide"}) as source:
        async for batch in source.batches(size=5000):
            count += len(batch)
            peak = max(peak, _rss())
            await asyncio.sleep(0)
    assert count == 200_000
    growth_mib = (peak - baseline) / 2**20
    # Measured: about 9 MiB streamed; the whole result held at once as dicts takes ~120 MiB.
    assert growth_mib < 40, f"RSS grew by {growth_mib:.1f} MiB"


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")
