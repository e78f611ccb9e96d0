"""Outbox indexing throughput into the embedded search server (osmem-server), and a reindex.

    .venv/bin/python bench/search_index.py [--records 200000] [--batch 1000] [--indexers 1]

Starts a private embedded PostgreSQL and osmem-server under a temporary folder, loads the
baseline catalogue, writes ``--records`` land parcels through the record store with their
outbox rows (as the sync engine does), then times (1) draining the outbox with the hub's
indexer and (2) ``reindex_dataset`` of the same data. Prints records/s for each.
Target (issue 10): at least 5,000 records/s from the outbox on 200,000 records.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DISTRICTS = [
    "Thành phố Bắc Ninh",
    "Thị xã Từ Sơn",
    "Huyện Quế Võ",
    "Huyện Tiên Du",
    "Huyện Lương Tài",
]
COMMUNES = ["Phường Đại Phúc", "Xã Đình Tổ", "Phường Đồng Nguyên", "Xã Phù Lãng", "Xã Lâm Thao"]
USES = ["ODT", "ONT", "SKC", "TMD", "LUC", "CLN", "DGT"]
WRITE_CHUNK = 10_000


def _parcel(n: int, rng: random.Random) -> dict[str, Any]:
    return {
        "parcel_id": f"{27000 + n % 97:05d}-{n // 1000:03d}-{n % 1000:04d}",
        "map_sheet": n // 1000 + 1,
        "parcel_number": n % 1000 + 1,
        "district": rng.choice(DISTRICTS),
        "commune": rng.choice(COMMUNES),
        "area_m2": f"{rng.uniform(40, 5000):.2f}",
        "land_use": rng.choice(USES),
        "certificate_no": f"CS{n:08d}",  # RESTRICTED: never indexed
        "valid_until": f"{2030 + n % 40}-12-31",
        "updated_at": "2026-11-30T08:00:00Z",
    }


async def run(records: int, batch: int, indexers: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import pgserver
    from osmem_server import OsmemServer

    from catalog.models import Dataset
    from catalog.records import write_records
    from catalog.seed import seed_baseline
    from hub.db import make_database
    from hub.embedded_postgres import to_asyncpg_url
    from hub.keys import KeyStore
    from hub.migrate import upgrade
    from hub.search.client import open_search
    from hub.search.indexer import Indexer
    from hub.search.names import record_alias
    from hub.search.reindex import reindex_dataset
    from hub.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="bench-search-"))
    server = pgserver.get_server(folder / "pg", cleanup_mode="stop")
    url = to_asyncpg_url(server.get_uri("postgres"))
    database = make_database(url, pool_size=4)
    await upgrade(database.engine)
    keys = KeyStore.load_or_create(folder / "keys.json").sealing_keys()
    async with database.sessions.begin() as session:
        await seed_baseline(session)
    rng = random.Random(10)
    started = time.perf_counter()
    for first in range(0, records, WRITE_CHUNK):
        rows = [_parcel(n, rng) for n in range(first, min(first + WRITE_CHUNK, records))]
        async with database.sessions.begin() as session:
            dataset = await session.get(Dataset, "land_parcel")
            assert dataset is not None
            await write_records(session, dataset, rows, source="bench", keys=keys, outbox=True)
    print(f"wrote {records:,} records with outbox rows in {time.perf_counter() - started:.1f}s")

    search = OsmemServer.start(japanese=False)
    settings = Settings(
        database_url=url,
        data_dir=folder,
        opensearch_url=search.url,
        search_index_prefix="bench-",
        search_batch_size=batch,
    )
    client = open_search(settings)
    try:
        workers = [Indexer(database.sessions, client, settings) for _ in range(indexers)]
        cpu = _CpuClock(search.pid, folder)
        started = time.perf_counter()
        await asyncio.gather(*(worker.drain() for worker in workers))
        seconds = time.perf_counter() - started
        handled = sum(worker.indexed for worker in workers)
        print(
            f"outbox → index: {handled:,} entries in {seconds:.1f}s = "
            f"{handled / seconds:,.0f} records/s (batch {batch}, {indexers} indexer(s))"
        )
        cpu.report(handled)
        alias = record_alias("bench-", "land_parcel")
        await client.indices.refresh(index=alias)
        count = (await client.count(index=alias))["count"]
        assert count == records, (count, records)
        cpu = _CpuClock(search.pid, folder)
        started = time.perf_counter()
        copied = await reindex_dataset(database.sessions, client, "bench-", "land_parcel")
        seconds = time.perf_counter() - started
        print(f"reindex: {copied:,} records in {seconds:.1f}s = {copied / seconds:,.0f} records/s")
        cpu.report(copied)
    finally:
        await client.close()
        search.close()
        await database.close()
        server.cleanup()


class _CpuClock:
    """CPU seconds spent by the search server, this process and the PostgreSQL processes
    since creation: on a machine shared with other work, wall time measures the neighbours;
    CPU time per record gives the rate each part could sustain on a core of its own."""

    def __init__(self, search_pid: int, folder: Path) -> None:
        import psutil

        self.search = psutil.Process(search_pid)
        self.postgres = [
            p
            for p in psutil.process_iter(["cmdline"])
            if any(str(folder) in part for part in (p.info["cmdline"] or []))
        ]
        self.start = self._now()

    def _now(self) -> tuple[float, float, float]:
        def used(process: Any) -> float:
            try:
                times = process.cpu_times()
                return float(times.user + times.system)
            except Exception:  # a backend that ended meanwhile
                return 0.0

        postmaster_children = [c for p in self.postgres for c in p.children()]
        return (
            used(self.search),
            time.process_time(),
            sum(used(p) for p in self.postgres + postmaster_children),
        )

    def report(self, records: int) -> None:
        end = self._now()
        search, hub, postgres = (e - s for e, s in zip(end, self.start, strict=True))
        print(
            f"  CPU seconds: search server {search:.1f}, hub {hub:.1f}, PostgreSQL {postgres:.1f}"
            f" → on a core each: search server {records / max(search, 1e-9):,.0f} records/s, "
            f"hub {records / max(hub, 1e-9):,.0f} records/s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--indexers", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.records, args.batch, args.indexers))


if __name__ == "__main__":
    main()
