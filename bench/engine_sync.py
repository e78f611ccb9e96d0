"""The sync engine alone, in one process: N narrow rows from a table on the machine's
PostgreSQL (127.0.0.1:5432) into a fresh embedded PostgreSQL (pgserver), beside a plain binary
COPY between the same two servers. Prints rows per second of a full snapshot sync, an
unchanged re-sync, an incremental connector's first run and its run after 1 % changed, and
the process's peak RSS. bench/sync.py is the full benchmark (MariaDB, XLSX, child processes).

    ROWS=100000 RESYNCS=3 .venv/bin/python bench/engine_sync.py
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog.seed import seed_baseline
from connectors.engine import RunOutcome
from hub.db import make_database
from hub.embedded_postgres import to_asyncpg_url, to_libpq_url
from hub.keys import KeyStore
from hub.migrate import upgrade
from hub.runtime import Hub
from hub.settings import Settings
from tests.sync_support import ITEM_FIELDS, add, connector_toml, make_dataset, sync

ROWS = int(os.environ.get("ROWS", "1000000"))
RESYNCS = int(os.environ.get("RESYNCS", "3"))
SOURCE = "postgresql://root@127.0.0.1:5432/postgres"
MAPPING = {"code": "ma", "name": "ten", "amount": "so_luong"}


def peak_rss() -> str:
    with open("/proc/self/status") as status:
        return next(line.split(":")[1].strip() for line in status if line.startswith("VmHWM"))


async def timed(hub: Hub, name: str) -> tuple[RunOutcome, float]:
    started = time.perf_counter()
    outcome = await sync(hub, name)
    return outcome, time.perf_counter() - started


async def plain_copy(src: asyncpg.Connection, dst: asyncpg.Connection) -> float:
    """Seconds for a binary COPY of the source table into the hub's server."""
    await dst.execute("CREATE TABLE copy_target (ma text, ten text, so_luong int, sua bigint)")
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)

    async def produce() -> None:
        async def sink(chunk: bytes) -> None:
            await queue.put(chunk)

        await src.copy_from_query("SELECT * FROM bench_src", output=sink, format="binary")
        await queue.put(None)

    async def chunks() -> AsyncIterator[bytes]:
        while (chunk := await queue.get()) is not None:
            yield chunk

    started = time.perf_counter()
    await asyncio.gather(
        produce(), dst.copy_to_table("copy_target", source=chunks(), format="binary")
    )
    return time.perf_counter() - started


async def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="engine-bench-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        server = pgserver.get_server(work / "pg", cleanup_mode="stop")
    url = to_asyncpg_url(server.get_uri("postgres"))
    db = make_database(url, pool_size=4)
    await upgrade(db.engine)
    keys = KeyStore.load_or_create(work / "keys.json")
    settings = Settings(database_url=url, data_dir=work / "hub", keys_file=work / "keys.json")
    hub = Hub(settings=settings, db=db, keys=keys)
    async with db.sessions.begin() as session:
        await seed_baseline(session)
    src = await asyncpg.connect(SOURCE)
    await src.execute("DROP TABLE IF EXISTS bench_src")
    await src.execute(
        "CREATE TABLE bench_src (ma text primary key, ten text, so_luong int, sua bigint)"
    )
    await src.execute(
        "INSERT INTO bench_src SELECT 'K' || lpad(i::text, 8, '0'), 'Doanh nghiệp số ' || i, "
        "i, i FROM generate_series(1, $1::int) i",
        ROWS,
    )
    await src.execute("CREATE INDEX ON bench_src (sua)")
    await src.execute("ANALYZE bench_src")
    dst = await asyncpg.connect(to_libpq_url(url))
    copy_seconds = await plain_copy(src, dst)
    copy_rate = ROWS / copy_seconds
    print(f"plain COPY: {ROWS:,} rows in {copy_seconds:.2f} s = {copy_rate:,.0f} rows/s")

    await make_dataset(hub, "narrow", ITEM_FIELDS[:3])
    await add(hub, connector_toml("bench_full", "narrow", "bench_src", MAPPING, batch_size=5000))
    full, seconds = await timed(hub, "bench_full")
    rate = ROWS / seconds
    print(
        f"full snapshot sync: {full.status}, {full.inserted:,} inserted in {seconds:.2f} s = "
        f"{rate:,.0f} rows/s ({rate / copy_rate:.1%} of COPY), peak RSS {peak_rss()}"
    )
    for _ in range(RESYNCS):  # the machine is shared: each re-sync is shown
        again, seconds = await timed(hub, "bench_full")
        print(
            f"re-sync, nothing changed: {again.status}, {again.unchanged:,} unchanged in "
            f"{seconds:.2f} s = {ROWS / seconds:,.0f} rows/s, peak RSS {peak_rss()}"
        )

    await make_dataset(hub, "narrow_inc", ITEM_FIELDS[:3])
    incremental = connector_toml(
        "bench_inc", "narrow_inc", "bench_src", MAPPING, cursor="sua", batch_size=5000
    )
    await add(hub, incremental)
    first, first_seconds = await timed(hub, "bench_inc")
    print(
        f"incremental connector, first run: {first.inserted:,} inserted in "
        f"{first_seconds:.2f} s = {ROWS / first_seconds:,.0f} rows/s"
    )
    await src.execute(
        "UPDATE bench_src SET ten = ten || ' (sửa)', sua = sua + $1::int WHERE so_luong % 100 = 0",
        ROWS,
    )
    changed, seconds = await timed(hub, "bench_inc")
    print(
        f"1 % changed, incremental: {changed.read:,} read, {changed.updated:,} updated in "
        f"{seconds:.2f} s = {seconds / first_seconds:.1%} of the first run, "
        f"peak RSS {peak_rss()}"
    )
    await src.execute("DROP TABLE bench_src")
    await src.close()
    await dst.close()
    await db.close()
    server.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
