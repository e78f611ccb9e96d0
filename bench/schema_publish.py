"""Publish time and memory of schema rebuilds (issue 7 item 15).

Starts an embedded PostgreSQL (pgserver) in a scratch directory, migrates and seeds it, starts
the hub's ``Services`` (what each hub process holds), then:

1. bulk: creates ``--datasets`` minus ``--publishes`` datasets of 21 fields at once and
   rebuilds once (a "fresh start" with that catalogue; its RSS is the baseline);
2. publishes ``--publishes`` more, one after another, as through the API (create, submit,
   publish, each followed by a refresh); timed: the publishing transaction (indexes
   included) plus ``Services.refresh`` (the schema rebuild every hub process does);
3. revises one dataset ``--revisions`` times (a compatible change: new description), each
   followed by a refresh, as an owner revising in a loop would;

and prints publish times and the process's resident memory (after a full collection) at each
step. ``--sequential`` publishes all ``--datasets`` one by one instead (the issue's scenario).

    .venv/bin/python bench/schema_publish.py --datasets 500 --publishes 10 --revisions 50
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bench.catalogue_specs import wide_dataset  # noqa: E402
from catalog.datasets import create_dataset, publish_dataset, revise_dataset, submit_dataset  # noqa: E402
from catalog.principal import Principal  # noqa: E402
from catalog.seed import seed_baseline  # noqa: E402
from catalog.specs import DatasetSpec  # noqa: E402
from hub.db import make_database  # noqa: E402
from hub.embedded_postgres import to_asyncpg_url, to_libpq_url  # noqa: E402
from hub.keys import KeyStore  # noqa: E402
from hub.migrate import upgrade  # noqa: E402
from hub.runtime import Hub  # noqa: E402
from hub.services import Services  # noqa: E402
from hub.settings import Settings  # noqa: E402

OWNER = Principal(subject="bench-owner", agency="STNMT", roles=frozenset({"owner"}))
STEWARD = Principal(subject="bench-steward", agency="STTTT", roles=frozenset({"steward"}))
REBUILDS: list[float] = []  # the Services.refresh part of each publish or revision
PUBLISH_CPU: list[float] = []  # CPU time of each publish in this process
COLLECTIONS: list[float] = []  # the collection run just after each rebuild
REBUILD_CPU: list[float] = []  # its CPU time in this process (less noisy on a shared machine)


def rss_mb() -> float:
    """Resident set size after a full collection, from /proc/self/statm."""
    gc.collect()
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def spec(i: int, description: str = "bench") -> DatasetSpec:
    return wide_dataset(i, "bench_set", "bench", description)


async def publish(services: Services, i: int) -> float:
    """As through the API: create and submit (a draft, each change refreshed), then the timed
    part, the steward's publishDataset and the refresh that rebuilds the schema."""
    async with services.sessions.begin() as session:
        await create_dataset(session, OWNER, spec(i))
    await services.refresh()
    async with services.sessions.begin() as session:
        await submit_dataset(session, OWNER, spec(i).code)
    await services.refresh()  # nothing typed changed: no rebuild, no collection soon
    started, cpu = time.perf_counter(), time.process_time()
    async with services.sessions.begin() as session:
        await publish_dataset(session, STEWARD, spec(i).code)
    REBUILDS.append(await timed_refresh(services))
    PUBLISH_CPU.append(time.process_time() - cpu)
    return time.perf_counter() - started


async def revise(services: Services, i: int, n: int) -> float:
    started = time.perf_counter()
    async with services.sessions.begin() as session:
        await revise_dataset(session, OWNER, spec(i, f"revision {n}"))
    REBUILDS.append(await timed_refresh(services))
    return time.perf_counter() - started


async def timed_refresh(services: Services) -> float:
    started, cpu = time.perf_counter(), time.process_time()
    await services.refresh()
    REBUILD_CPU.append(time.process_time() - cpu)
    return time.perf_counter() - started


async def settle(services: Services) -> None:
    """Wait for the collection a rebuild schedules just after itself, and note its time."""
    # getattr: the script also runs against earlier versions of the hub, for before figures.
    if not getattr(services, "collection_pending", False):
        return
    while services.collection_pending:  # noqa: ASYNC110 (a timer in Services, no event)
        await asyncio.sleep(0.02)
    COLLECTIONS.append(services.last_collection_seconds)


async def bulk(services: Services, count: int) -> float:
    started = time.perf_counter()
    async with services.sessions.begin() as session:
        for i in range(count):
            dataset = await create_dataset(session, OWNER, spec(i))
            dataset.status = "PUBLISHED"
    await services.refresh()
    return time.perf_counter() - started


def summary(label: str, times: list[float]) -> None:
    if not times:
        return
    print(
        f"{label}: n={len(times)} first={times[0]:.3f}s last={times[-1]:.3f}s "
        f"median={statistics.median(times):.3f}s max={max(times):.3f}s"
    )


async def main(args: argparse.Namespace) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import pgserver

    scratch = Path(tempfile.mkdtemp(prefix="hub-schema-bench-"))
    server = pgserver.get_server(scratch / "pg", cleanup_mode="stop")
    admin_url = to_asyncpg_url(server.get_uri("postgres"))
    admin = await asyncpg.connect(to_libpq_url(admin_url))
    await admin.execute('CREATE DATABASE "schema_bench"')
    await admin.close()
    head, _, tail = admin_url.partition("?")
    url = head.rsplit("/", 1)[0] + "/schema_bench" + (f"?{tail}" if tail else "")
    settings = Settings(
        database_url=url,
        data_dir=scratch / "hub",
        keys_file=scratch / "keys.json",
        public_url="http://hub.bench",
    )
    database = make_database(url, pool_size=4)
    await upgrade(database.engine)
    async with database.sessions.begin() as session:
        await seed_baseline(session)
    hub = Hub(settings=settings, db=database, keys=KeyStore.load_or_create(scratch / "keys.json"))
    services = Services(hub)
    await services.start()
    try:
        print(f"started: rss={rss_mb():.0f} MB")
        publishes: list[float] = []
        if args.sequential:
            first = 0
        else:
            first = args.datasets - args.publishes
            took = await bulk(services, first)
            print(f"bulk {first} datasets + one rebuild: {took:.2f}s rss={rss_mb():.0f} MB")
        for i in range(first, args.datasets):
            publishes.append(await publish(services, i))
            await settle(services)
            if (i + 1) % args.report_every == 0 or i + 1 == args.datasets:
                print(f"published {i + 1}: last publish {publishes[-1]:.3f}s rss={rss_mb():.0f} MB")
        summary("publish (catalogue transaction + rebuild)", publishes)
        summary("publish CPU time (this process; PostgreSQL's own not counted)", PUBLISH_CPU)
        revisions = []
        for n in range(args.revisions):
            revisions.append(await revise(services, 0, n))
            await settle(services)
        summary("revise (catalogue transaction + rebuild)", revisions)
        summary("of which Services.refresh (schema rebuild)", REBUILDS)
        summary("Services.refresh CPU time", REBUILD_CPU)
        summary("collection of the old build, just after each rebuild", COLLECTIONS)
        print(f"after {args.revisions} revisions: rss={rss_mb():.0f} MB")
    finally:
        await services.stop()
        await database.close()
        server.cleanup()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=500)
    parser.add_argument("--publishes", type=int, default=10)
    parser.add_argument("--revisions", type=int, default=20)
    parser.add_argument("--report-every", type=int, default=10)
    parser.add_argument("--sequential", action="store_true")
    asyncio.run(main(parser.parse_args()))
