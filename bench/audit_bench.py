"""Audit figures: read events written through the real group-commit writer, then verified.

Creates a scratch database on the bench server, migrates it, writes ``--events`` read events
(a benchmark-like mix: 1 key, 50 keys, 10 + 200 keys) from ``--tasks`` concurrent requests
through ``ReadAuditWriter``, chains them if this version of the hub still has a chainer,
then reports events/s written (with the ledger rows of an agency's reads, or with
``--no-ledger`` the events alone), ``hub audit verify`` events/s (in-process, the same function),
bytes per event (pg_total_relation_size of ``audit_events``) and dead tuples. Drops the
scratch database afterwards unless ``--keep``.

    python bench/audit_bench.py --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from bench.common import dsn
from catalog import audit
from catalog.principal import Principal
from catalog.reads import read_events
from hub.db import Database, make_database
from hub.keys import KeyStore
from hub.migrate import upgrade
from schema.records.read_audit import ReadAuditWriter

READER = Principal("bench-reader", "STNMT", frozenset({"reader"}), "bench-client")
FIELDS = {
    "business": ["taxCode", "name", "district", "registeredAt", "status"],
    "land_parcel": ["parcelId", "area", "district", "owner"],
}


def _request(n: int) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]]]:
    """One request's events, shaped like the benchmark's Q1 / Q2 / Q3 (by n % 3)."""
    kind = n % 3
    if kind == 0:
        reads = [("business", f"{2300000000 + n % 200000}", 1)]
    elif kind == 1:
        base = (n * 50) % 200000
        reads = [("business", f"{2300000000 + base + i}", 1) for i in range(50)]
        reads += [("land_parcel", f"P{base + i:07d}", 1) for i in range(50)]
    else:
        base = (n * 10) % 10000
        reads = [("business", f"{2300000000 + base + i}", 1) for i in range(10)]
        reads += [
            ("land_parcel", f"P{(base + i) * 20 + j:07d}", 1) for i in range(10) for j in range(20)
        ]
    events, ledger = read_events(READER, reads, FIELDS, "bench", f"req-{uuid.uuid4()}")
    return events, ledger


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--checkpoints",
        type=int,
        default=0,
        help="then sign this many checkpoints (one event between each, as a day at one a "
        "minute would) and time the full and the incremental verification",
    )
    parser.add_argument(
        "--no-ledger",
        action="store_true",
        help="anonymous reads: events only, no record_reads rows (the audit part alone)",
    )
    args = parser.parse_args()
    global READER
    if args.no_ledger:
        READER = Principal("bench-reader", None, frozenset({"reader"}), "bench-client")
    name = f"hub_audit_bench_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(dsn("postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = dsn(name)
    db = make_database(url, pool_size=4)
    try:
        await upgrade(db.engine)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        writer = ReadAuditWriter(pool)
        requests = [_request(n) for n in range(args.events * 2)]
        written = 0
        next_request = 0

        async def client() -> None:
            nonlocal written, next_request
            while written < args.events:
                events, ledger = requests[next_request]
                next_request += 1
                written += len(events)
                await writer.write(events, READER.agency, ledger)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(args.tasks)))
        write_s = time.perf_counter() - started
        chain_s = 0.0
        chain_pending = getattr(audit, "chain_pending", None)
        if chain_pending is not None:  # before one-write chaining: the chainer's update
            started = time.perf_counter()
            while True:
                async with db.sessions.begin() as session:
                    if await chain_pending(session) == 0:
                        break
            chain_s = time.perf_counter() - started
        async with db.sessions() as session:
            started = time.perf_counter()
            report = await audit.verify_chain(session)
            verify_s = time.perf_counter() - started
        if args.checkpoints:
            await _day_of_checkpoints(db, writer, args.checkpoints)
        conn = await asyncpg.connect(url)
        count = await conn.fetchval("SELECT count(*) FROM audit_events")
        await conn.execute("ANALYZE")
        await asyncio.sleep(1.0)  # statistics are reported asynchronously
        # Since migration 0005 the events are in the monthly partitions of audit_log.
        tables = await conn.fetchval(
            "SELECT coalesce((SELECT array_agg(inhrelid::regclass::text) FROM pg_inherits "
            "WHERE to_regclass('audit_log') IS NOT NULL "
            "AND inhparent = to_regclass('audit_log')), ARRAY['audit_events'])"
        )
        dead = await conn.fetchval(
            "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables "
            "WHERE relname = ANY($1::text[])",
            tables,
        )
        sizes = await conn.fetchrow(
            "SELECT sum(pg_total_relation_size(t)) AS total, sum(pg_relation_size(t)) AS heap, "
            "sum(pg_indexes_size(t)) AS indexes FROM unnest($1::regclass[]) AS t",
            tables,
        )
        await conn.close()
        await pool.close()
        print(
            f"events written: {written:,} in {write_s:.2f} s = {written / write_s:,.0f} "
            f"events/s ({count:,} in the table)"
        )
        if chain_s:
            print(f"chainer: {chain_s:.2f} s = {written / chain_s:,.0f} events/s")
        print(
            f"verify: ok={report.ok} checked={report.checked:,} in {verify_s:.2f} s = "
            f"{report.checked / verify_s:,.0f} events/s"
        )
        total, heap, indexes = sizes["total"], sizes["heap"], sizes["indexes"]
        print(
            f"size: {total / count:,.0f} bytes/event in all (heap {heap / count:,.0f}, "
            f"indexes {indexes / count:,.0f}, toast {(total - heap - indexes) / count:,.0f}); "
            f"dead tuples {dead:,}"
        )
    finally:
        await db.close()
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _day_of_checkpoints(db: Database, writer: ReadAuditWriter, count: int) -> None:
    """``count`` signed checkpoints, then the verifications ``hub audit verify`` runs."""
    from catalog.checkpoints import (
        SigningKeys,
        last_good_checkpoint,
        verify_checkpoints,
        write_checkpoint,
    )

    with tempfile.TemporaryDirectory() as tmp:
        store = KeyStore.load_or_create(Path(tmp) / "keys.json")
    keys = SigningKeys(tuple(store.signing_keys), store.active_signing_kid)
    for n in range(count):
        events, ledger = _request(3 * n)
        await writer.write(events, READER.agency, ledger)
        async with db.sessions.begin() as session:
            await write_checkpoint(session, keys, min_interval=0)
    for label, incremental in (("full", False), ("since the last checkpoint", True)):
        started = time.perf_counter()
        async with db.sessions() as session:
            since = await last_good_checkpoint(session, keys) if incremental else None
            start = audit.ChainStart(since.pos, since.head) if since is not None else None
            report = await audit.verify_chain(session, start)
        async with db.sessions() as session:
            checks = await verify_checkpoints(session, keys)
        took = time.perf_counter() - started
        print(
            f"verify {label}: ok={report.ok and checks.ok} events={report.checked:,} "
            f"checkpoints={checks.checked:,} in {took:.2f} s"
        )


if __name__ == "__main__":
    asyncio.run(main())
