"""Audit at scale: bytes per event, verification rate, archive export and check.

Creates a scratch database on the bench server, migrates it, writes ``--events`` read events
(the audit bench's mix: 1 key, 50 keys, 10 + 200 keys per request) through the real
group-commit writer, then reports:

- events/s written and bytes per event (``pg_total_relation_size`` summed over every
  partition of ``audit_log``: heap, indexes and TOAST), with the share of each part;
- ``hub audit verify`` (in-process, the same function): events/s, full and from a checkpoint;
- with ``--months N`` (default 3) the events are re-dated into the N months before this one
  (a superuser rewrite of the scratch chain, hashes recomputed by the database's own digest),
  then ``hub audit archive`` exports all but the newest of them: export and check time,
  file size, and ``verify --archive`` time.

    python -m bench.audit_scale --events 100000

``--keys random`` replaces the key lists by random 10-digit keys (no shared prefixes): the
packing's worst realistic case.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from bench.audit_bench import _request
from bench.common import dsn
from catalog import audit
from catalog.checkpoints import SigningKeys, last_good_checkpoint, write_checkpoint
from catalog.principal import Principal
from hub.db import make_database
from hub.keys import KeyStore
from hub.migrate import upgrade
from schema.records.read_audit import ReadAuditWriter

READER = Principal("bench-reader", None, frozenset({"reader"}), "bench-client")

# Rewrites the scratch chain as if written over the months before this one: each event's
# time moves back by whole months (spread evenly by position), its hash is recomputed in
# chain order. Only for a scratch database: it disables the append-only triggers.
_REDATE = """
DO $$
DECLARE
  total bigint := (SELECT count(*) FROM audit_log);
  months int := {months};
  this_month timestamptz := date_trunc('month', now() AT TIME ZONE '+07') AT TIME ZONE '+07';
  prev bytea := '\\x{genesis}'::bytea;
  r record;
  moved timestamptz;
BEGIN
  CREATE TEMP TABLE redated ON COMMIT DROP AS
    SELECT * FROM audit_log l JOIN audit_contexts c ON c.id = l.context ORDER BY chain_pos;
  DELETE FROM audit_log;
  FOR r IN SELECT * FROM redated ORDER BY chain_pos LOOP
    moved := this_month - make_interval(months => months)
             + (r.chain_pos - 1) * (make_interval(months => months) / total);
    prev := hub_audit_digest3(r.chain_pos, r.seq, moved, r.ident, r.request_id, r.detail,
                              r.lists, r.keys, prev);
    INSERT INTO audit_log (seq, at, chain_pos, context, hash, request_id, detail, lists, keys)
    VALUES (r.seq, moved, r.chain_pos, r.context, prev, r.request_id, r.detail, r.lists,
            r.keys);
  END LOOP;
END $$
"""


def _random_keys(events: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    from catalog.audit_lists import pack, unpack

    out = []
    for event in events:
        keys = unpack(event["lists"])
        if keys:
            keys = [f"{rng.randrange(10**9, 10**10)}" for _ in keys]
        out.append({**event, "lists": pack(keys)})
    return out


async def _sizes(conn: asyncpg.Connection) -> asyncpg.Record:
    return await conn.fetchrow(
        "SELECT sum(pg_total_relation_size(c.oid)) AS total, "
        "sum(pg_relation_size(c.oid)) AS heap, sum(pg_indexes_size(c.oid)) AS indexes "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'audit_log'::regclass"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=32)
    parser.add_argument("--months", type=int, default=3)
    parser.add_argument("--keys", choices=("bench", "random"), default="bench")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    name = f"hub_audit_scale_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(dsn("postgres"))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = dsn(name)
    db = make_database(url, pool_size=4)
    work = Path(tempfile.mkdtemp(prefix="audit-scale-"))
    try:
        await upgrade(db.engine)
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        writer = ReadAuditWriter(pool)
        rng = random.Random(7)
        requests = []
        for n in range(args.events * 2):
            events, ledger = _request(n)
            if args.keys == "random":
                events = _random_keys(events, rng)
            requests.append((events, ledger))
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
        await pool.close()
        conn = await asyncpg.connect(url)
        count = await conn.fetchval("SELECT count(*) FROM audit_log")
        await conn.execute("ANALYZE audit_log")
        sizes = await _sizes(conn)
        print(
            f"events written: {written:,} in {write_s:.2f} s = {written / write_s:,.0f} events/s "
            f"({count:,} in the log)"
        )
        total, heap, indexes = sizes["total"], sizes["heap"], sizes["indexes"]
        print(
            f"size: {total / count:,.0f} bytes/event in all (heap {heap / count:,.0f}, "
            f"indexes {indexes / count:,.0f}, toast {(total - heap - indexes) / count:,.0f})"
        )
        parts = await conn.fetchrow(
            "SELECT avg(coalesce(pg_column_size(lists), 0)) AS lists, "
            "avg(pg_column_size(hash)) AS hash, "
            "avg(pg_column_size(detail)) AS detail, avg(pg_column_size(l.*)) AS tuple "
            "FROM audit_log l"
        )
        print(
            f"per event: tuple {parts['tuple']:.0f} B, packed lists {parts['lists']:.0f} B, "
            f"hash {parts['hash']:.0f} B, detail {parts['detail']:.0f} B"
        )
        for label in ("first", "second", "parallel"):
            parallel = db.sessions if label == "parallel" else None
            async with db.sessions() as session:
                started = time.perf_counter()
                report = await audit.verify_chain(session, sessions=parallel)
                verify_s = time.perf_counter() - started
            print(
                f"verify ({label} run{' over 4 connections' if parallel else ''}): "
                f"ok={report.ok} checked={report.checked:,} in "
                f"{verify_s:.2f} s = {report.checked / verify_s:,.0f} events/s"
            )
        store = KeyStore.load_or_create(work / "keys.json")
        keys = SigningKeys(tuple(store.signing_keys), store.active_signing_kid)
        async with db.sessions.begin() as session:
            await write_checkpoint(session, keys, min_interval=0)
        events, ledger = _request(0)
        await _write_once(url, events)
        started = time.perf_counter()
        async with db.sessions() as session:
            since = await last_good_checkpoint(session, keys)
            assert since is not None
            report = await audit.verify_chain(session, audit.ChainStart(since.pos, since.head))
        print(
            f"verify from the last checkpoint: ok={report.ok} checked={report.checked:,} in "
            f"{time.perf_counter() - started:.3f} s"
        )
        if args.months > 1:
            await _archive(conn, db, keys, work, args.months, count)
        await conn.close()
    finally:
        await db.close()
        if not args.keep:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _write_once(url: str, events: list[dict[str, Any]]) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        await ReadAuditWriter(pool).write(events, None, [])
    finally:
        await pool.close()


async def _archive(
    conn: asyncpg.Connection,
    db: Any,
    keys: SigningKeys,
    work: Path,
    months: int,
    count: int,
) -> None:
    from catalog.audit_archive import export_archive, month_of, verify_archive

    started = time.perf_counter()
    for back in range(months, 0, -1):
        await conn.execute(
            "SELECT hub_audit_ensure_partition((date_trunc('month', now() AT TIME ZONE '+07') "
            f"- interval '{back} month')::date)"
        )
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute("SET LOCAL jit = off")
        await conn.execute(_REDATE.format(months=months, genesis=audit.GENESIS))
        await conn.execute(
            "ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_forward_only; "
            "UPDATE audit_chain SET pos = (SELECT max(chain_pos) FROM audit_log), "
            "hash = (SELECT hash FROM audit_log ORDER BY chain_pos DESC LIMIT 1), "
            "at = (SELECT max(at) FROM audit_log); "
            "ALTER TABLE audit_chain ENABLE TRIGGER audit_chain_forward_only"
        )
    took = time.perf_counter() - started
    print(f"re-dated {count:,} events into {months} past months in {took:.1f} s")
    before = await conn.fetchval(
        "SELECT to_char((date_trunc('month', now() AT TIME ZONE '+07') - interval '1 month'), "
        "'YYYY-MM')"
    )
    file = work / "archive.ndjson.gz"
    started = time.perf_counter()
    result = await export_archive(db.sessions, keys, month_of(before), file)
    export_s = time.perf_counter() - started
    print(
        f"archive --before {before}: {result.rows:,} events ({', '.join(result.months)}) in "
        f"{export_s:.2f} s = {result.rows / export_s:,.0f} events/s written, checked and "
        f"dropped; file {file.stat().st_size / 1e6:.1f} MB = "
        f"{file.stat().st_size / result.rows:,.0f} bytes/event"
    )
    started = time.perf_counter()
    async with db.sessions() as session:
        checked = await verify_archive(session, keys, file)
    verify_s = time.perf_counter() - started
    print(
        f"verify --archive: ok={checked.ok} ({checked.problem or 'intact'}) "
        f"{checked.rows:,} events in {verify_s:.2f} s = "
        f"{checked.rows / verify_s:,.0f} events/s"
    )
    async with db.sessions() as session:
        started = time.perf_counter()
        report = await audit.verify_chain(session)
    print(
        f"verify of what is left, from the archive's boundary: ok={report.ok} "
        f"checked={report.checked:,} in {time.perf_counter() - started:.2f} s"
    )


if __name__ == "__main__":
    asyncio.run(main())
