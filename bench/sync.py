"""Sync engine benchmark: sources into the record store, beside a plain ``COPY``.

    python bench/sync.py                      # 1,000,000 rows from PostgreSQL and MariaDB,
                                              # 200,000 from XLSX
    python bench/sync.py --rows 100000 --xlsx-rows 20000    # a quick run
    python bench/sync.py --only-xlsx --xlsx-rows 200000     # the XLSX source alone

One run measures, on this machine's PostgreSQL (127.0.0.1:5432, the hub's database and the
source database side by side on one server) and MariaDB (127.0.0.1:3306, root):

- ``COPY``: the source table copied as it is into a plain table of the hub's database
  (``COPY ... TO STDOUT`` piped into ``COPY ... FROM STDIN``), the yardstick;
- full sync: a snapshot connector into an empty ``business`` dataset (validation,
  normalisation, content hashes, versions, outbox, quarantine, audit);
- re-sync with nothing changed: the same connector again (every row read, none written);
- incremental: a cursor connector after 1 % of the source rows changed;
- the same from MariaDB, and a 200,000-row XLSX file (full and re-sync).

Every sync runs in a child process (``--child NAME``, the same calls as ``hub sync run``)
that reports its own peak RSS (VmHWM). The hub's database is dropped and made afresh for
each source, so each full sync starts from an empty dataset. Figures go to stdout and to
``bench/.work/sync/results.json`` (``results-xlsx.json`` for ``--only-xlsx``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import PG_HOST, PG_PORT, PG_USER, ROOT, VENV_BIN, WORK, reexec_in_venv

SYNC_DIR = WORK / "sync"
HUB_DB = os.environ.get("BENCH_SYNC_HUB_DB", "sync_bench_hub")
SOURCE_DB = os.environ.get("BENCH_SYNC_SOURCE_DB", "sync_bench_src")
MYSQL_HOST = os.environ.get("BENCH_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("BENCH_MYSQL_PORT", "3306"))
TABLE = "doanh_nghiep"
CHANGED_SHARE = 100  # one row in this many changes before the incremental run


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pg_dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def mysql_dsn(database: str) -> str:
    return f"mysql://root@{MYSQL_HOST}:{MYSQL_PORT}/{database}"


def hub_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=pg_dsn(HUB_DB),
        HUB_DATA_DIR=str(SYNC_DIR / "hub"),
        HUB_KEYS_FILE=str(SYNC_DIR / "hub" / "keys.json"),
        HUB_LOG_LEVEL="WARNING",
    )
    return env


def hub_cli(*args: str) -> str:
    done = subprocess.run(
        [str(VENV_BIN / "hub"), *args],
        env=hub_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"hub {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip()


# -- the child: one connector run, as `hub sync run` does it ------------------------------------


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM; ru_maxrss would carry the parent's across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def child(name: str) -> None:
    from connectors.engine import run_connector
    from hub.runtime import hub_session
    from hub.settings import load_settings

    settings = load_settings()
    async with hub_session(settings) as hub:
        started = time.perf_counter()
        outcome = await run_connector(
            hub.db.sessions, hub.keys.sealing_keys(), name, environ=os.environ
        )
        wall = time.perf_counter() - started
    print(json.dumps({**outcome.as_dict(), "wall": wall, "peak_rss_mb": peak_rss_mb()}))


def run_child(name: str) -> dict[str, Any]:
    done = subprocess.run(
        [str(VENV_BIN / "python"), __file__, "--child", name],
        env=hub_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"sync of {name} failed ({done.returncode}):\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    if result["status"] != "SUCCEEDED" or result["rejected"]:
        raise SystemExit(f"sync of {name}: {result}")
    return result


# -- sources -----------------------------------------------------------------------------------


def source_rows(count: int) -> list[tuple[Any, ...]]:
    from hub.demo import generate
    from hub.demo.sources import _registry_record

    started = time.perf_counter()
    rows = [_registry_record(row) for row in generate.businesses(count)]
    say(f"generated {count:,} businesses in {time.perf_counter() - started:.1f} s")
    return rows


async def ensure_pg_source(count: int, rows: list[tuple[Any, ...]] | None) -> bool:
    """The source table on PostgreSQL with ``count`` rows; False when it needs ``rows``."""
    import asyncpg

    from hub.demo.sources import DKKD_COLUMNS

    admin = await asyncpg.connect(pg_dsn("postgres"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", SOURCE_DB):
            await admin.execute(f'CREATE DATABASE "{SOURCE_DB}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(pg_dsn(SOURCE_DB))
    try:
        exists = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", TABLE)
        if exists and await conn.fetchval(f"SELECT count(*) FROM {TABLE}") == count:
            return True
        if rows is None:
            return False
        await conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
        columns = ", ".join(f"{name} {kind}" for name, kind, _ in DKKD_COLUMNS)
        await conn.execute(f"CREATE TABLE {TABLE} ({columns})")
        await conn.copy_records_to_table(
            TABLE, records=rows, columns=[c for c, _, _ in DKKD_COLUMNS]
        )
        await conn.execute(f"CREATE INDEX ON {TABLE} (cap_nhat_luc)")
        await conn.execute(f"VACUUM ANALYZE {TABLE}")
        say(f"PostgreSQL source: {count:,} rows in {SOURCE_DB}.{TABLE}")
        return True
    finally:
        await conn.close()


def _local(moment: datetime) -> datetime:
    """Vietnam's local time without a zone, as DATETIME columns and spreadsheets hold it."""
    from catalog.values import VIETNAM

    return moment.astimezone(VIETNAM).replace(tzinfo=None)


_MYSQL_TYPES = {
    "text PRIMARY KEY": "VARCHAR(20) PRIMARY KEY",
    "text NOT NULL": "TEXT NOT NULL",
    "text": "TEXT",
    "numeric(20, 0)": "DECIMAL(20, 0)",
    "date": "DATE",
    "timestamptz NOT NULL": "DATETIME(6) NOT NULL",
}


async def ensure_mysql_source(count: int, rows: list[tuple[Any, ...]] | None) -> bool:
    import aiomysql

    from hub.demo.sources import DKKD_COLUMNS

    conn = await aiomysql.connect(host=MYSQL_HOST, port=MYSQL_PORT, user="root", autocommit=True)
    try:
        async with conn.cursor() as cur:
            await cur.execute(
                "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
                (SOURCE_DB,),
            )
            if (await cur.fetchone())[0] == 0:
                await cur.execute(f"CREATE DATABASE {SOURCE_DB} CHARACTER SET utf8mb4")
            await cur.execute(f"USE {SOURCE_DB}")
            await cur.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_schema = %s AND table_name = %s",
                (SOURCE_DB, TABLE),
            )
            (exists,) = await cur.fetchone()
            if exists:
                await cur.execute(f"SELECT count(*) FROM {TABLE}")
                if (await cur.fetchone())[0] == count:
                    return True
            if rows is None:
                return False
            if exists:
                await cur.execute(f"DROP TABLE {TABLE}")
            columns = ", ".join(f"{n} {_MYSQL_TYPES[k]}" for n, k, _ in DKKD_COLUMNS)
            await cur.execute(f"CREATE TABLE {TABLE} ({columns}, INDEX (cap_nhat_luc))")
            names = ", ".join(n for n, _, _ in DKKD_COLUMNS)
            marks = ", ".join(["%s"] * len(DKKD_COLUMNS))
            statement = f"INSERT INTO {TABLE} ({names}) VALUES ({marks})"
            # DATETIME has no zone: store Vietnam's local time, as agency systems do.
            local = [(*row[:-1], _local(row[-1])) for row in rows]
            for start in range(0, len(local), 5000):
                await cur.executemany(statement, local[start : start + 5000])
        say(f"MariaDB source: {count:,} rows in {SOURCE_DB}.{TABLE}")
        return True
    finally:
        conn.close()


def ensure_xlsx(count: int, rows: list[tuple[Any, ...]] | None) -> Path | None:
    """A one-sheet workbook of ``count`` rows (Vietnamese headers), written once."""
    path = SYNC_DIR / f"doanh_nghiep_{count}.xlsx"
    if path.exists():
        return path
    if rows is None:
        return None
    from openpyxl import Workbook

    from hub.demo.sources import DKKD_COLUMNS

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Doanh nghiệp")
    sheet.append([name for name, _, _ in DKKD_COLUMNS])
    for row in rows[:count]:
        sheet.append([*row[:-1], _local(row[-1])])
    partial = path.with_suffix(".partial")
    workbook.save(partial)
    partial.rename(path)
    say(f"XLSX source: {count:,} rows in {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path


# -- the hub's database and connectors ----------------------------------------------------------


async def fresh_hub() -> None:
    import asyncpg

    admin = await asyncpg.connect(pg_dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{HUB_DB}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{HUB_DB}"')
    finally:
        await admin.close()
    (SYNC_DIR / "hub").mkdir(parents=True, exist_ok=True)
    hub_cli("db", "upgrade")
    hub_cli("seed")


def add_connector(name: str, kind: str, source: dict[str, str]) -> None:
    from hub.demo.sources import DKKD_COLUMNS

    lines = [f'name = "{name}"', 'dataset = "business"', f'kind = "{kind}"', "batch_size = 5000"]
    lines += [
        "[source]",
        *(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in source.items()),
    ]
    lines += ["[mapping]", *(f'{field} = "{column}"' for column, _, field in DKKD_COLUMNS)]
    path = SYNC_DIR / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    hub_cli("connectors", "add", "--file", str(path))


async def plain_copy(count: int) -> dict[str, Any]:
    """``COPY`` of the source table into a plain table of the hub's database, streamed
    through this process as the sync engine's rows are."""
    import asyncpg

    from hub.demo.sources import DKKD_COLUMNS

    source = await asyncpg.connect(pg_dsn(SOURCE_DB))
    target = await asyncpg.connect(pg_dsn(HUB_DB))
    try:
        columns = ", ".join(f"{n} {k.replace(' PRIMARY KEY', '')}" for n, k, _ in DKKD_COLUMNS)
        await target.execute(f"DROP TABLE IF EXISTS copy_{TABLE}")
        await target.execute(f"CREATE TABLE copy_{TABLE} ({columns})")
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=64)

        async def chunks() -> AsyncIterator[bytes]:
            while (chunk := await queue.get()) is not None:
                yield chunk

        async def produce() -> None:
            await source.copy_from_query(f"SELECT * FROM {TABLE}", output=queue.put)
            await queue.put(None)

        started = time.perf_counter()
        await asyncio.gather(produce(), target.copy_to_table(f"copy_{TABLE}", source=chunks()))
        seconds = time.perf_counter() - started
        copied = await target.fetchval(f"SELECT count(*) FROM copy_{TABLE}")
        await target.execute(f"DROP TABLE copy_{TABLE}")
    finally:
        await source.close()
        await target.close()
    assert copied == count, (copied, count)
    return {"rows": count, "seconds": seconds, "rows_per_s": count / seconds}


async def change_pg_rows(count: int) -> int:
    import asyncpg

    conn = await asyncpg.connect(pg_dsn(SOURCE_DB))
    try:
        status = await conn.execute(
            f"UPDATE {TABLE} SET von_dieu_le = von_dieu_le + 1000000, cap_nhat_luc = now() "
            f"WHERE ma_so_thue IN (SELECT ma_so_thue FROM {TABLE} "
            f"ORDER BY md5(ma_so_thue || $1) LIMIT $2)",
            str(time.time()),
            count // CHANGED_SHARE,
        )
    finally:
        await conn.close()
    return int(status.split()[-1])


async def change_mysql_rows(count: int) -> int:
    import aiomysql

    conn = await aiomysql.connect(
        host=MYSQL_HOST, port=MYSQL_PORT, user="root", db=SOURCE_DB, autocommit=True
    )
    try:
        async with conn.cursor() as cur:
            changed: int = await cur.execute(
                f"UPDATE {TABLE} SET von_dieu_le = von_dieu_le + 1000000, "
                "cap_nhat_luc = NOW(6) ORDER BY md5(concat(ma_so_thue, %s)) LIMIT %s",
                (str(time.time()), count // CHANGED_SHARE),
            )
    finally:
        conn.close()
    return changed


# -- the phases ----------------------------------------------------------------------------------


def _rate(result: dict[str, Any]) -> float:
    return float(result["read"]) / float(result["seconds"])


def _show(label: str, result: dict[str, Any]) -> None:
    say(
        f"{label}: {result['read']:,} rows read in {result['seconds']:.2f} s "
        f"({_rate(result):,.0f} rows/s; inserted {result['inserted']:,}, updated "
        f"{result['updated']:,}, unchanged {result['unchanged']:,}); peak RSS "
        f"{result['peak_rss_mb']:.0f} MB"
    )


async def database_phase(kind: str, count: int, change: Any) -> dict[str, Any]:
    """Full sync, re-sync and 1 % incremental from one database source."""
    await fresh_hub()
    dsn = pg_dsn(SOURCE_DB) if kind == "postgres" else mysql_dsn(SOURCE_DB)
    out: dict[str, Any] = {}
    if kind == "postgres":
        out["copy"] = await plain_copy(count)
        say(
            f"COPY: {count:,} rows in {out['copy']['seconds']:.2f} s "
            f"({out['copy']['rows_per_s']:,.0f} rows/s)"
        )
    add_connector(f"bench_{kind}_snapshot", kind, {"dsn": dsn, "table": TABLE})
    add_connector(
        f"bench_{kind}_cursor", kind, {"dsn": dsn, "table": TABLE, "cursor": "cap_nhat_luc"}
    )
    out["full"] = run_child(f"bench_{kind}_snapshot")
    _show(f"{kind} full sync", out["full"])
    out["resync"] = run_child(f"bench_{kind}_snapshot")
    _show(f"{kind} re-sync, nothing changed", out["resync"])
    out["cursor_first"] = run_child(f"bench_{kind}_cursor")
    _show(f"{kind} cursor connector, first run", out["cursor_first"])
    out["changed"] = await change(count)
    out["incremental"] = run_child(f"bench_{kind}_cursor")
    _show(f"{kind} incremental, {out['changed']:,} rows changed", out["incremental"])
    return out


async def xlsx_phase(path: Path) -> dict[str, Any]:
    await fresh_hub()
    add_connector("bench_xlsx", "xlsx", {"path": str(path), "sheet": "Doanh nghiệp"})
    out = {"full": run_child("bench_xlsx")}
    _show("xlsx full sync", out["full"])
    out["resync"] = run_child("bench_xlsx")
    _show("xlsx re-sync, nothing changed", out["resync"])
    return out


async def main(args: argparse.Namespace) -> None:
    SYNC_DIR.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"rows": args.rows, "xlsx_rows": args.xlsx_rows}
    if args.only_xlsx:
        xlsx = ensure_xlsx(args.xlsx_rows, None)
        if xlsx is None:
            xlsx = ensure_xlsx(args.xlsx_rows, source_rows(args.xlsx_rows))
        assert xlsx is not None
        results["xlsx"] = await xlsx_phase(xlsx)
        peak = max(r["peak_rss_mb"] for r in results["xlsx"].values())
        say(f"peak RSS of an XLSX sync process {peak:.0f} MB (target < 300 MB)")
        (SYNC_DIR / "results-xlsx.json").write_text(json.dumps(results, indent=2), "utf-8")
        return
    needed = not await ensure_pg_source(args.rows, None)
    if not args.skip_mysql:
        needed = needed or not await ensure_mysql_source(args.rows, None)
    if not args.skip_xlsx:
        needed = needed or ensure_xlsx(args.xlsx_rows, None) is None
    rows = source_rows(max(args.rows, args.xlsx_rows)) if needed else None
    await ensure_pg_source(args.rows, rows[: args.rows] if rows else None)
    if not args.skip_mysql:
        await ensure_mysql_source(args.rows, rows[: args.rows] if rows else None)
    xlsx = None if args.skip_xlsx else ensure_xlsx(args.xlsx_rows, rows)
    del rows

    results["postgres"] = await database_phase("postgres", args.rows, change_pg_rows)
    if not args.skip_mysql:
        results["mysql"] = await database_phase("mysql", args.rows, change_mysql_rows)
    if xlsx is not None:
        results["xlsx"] = await xlsx_phase(xlsx)
    report(results)
    (SYNC_DIR / "results.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


def report(results: dict[str, Any]) -> None:
    pg = results["postgres"]
    copy_rate = pg["copy"]["rows_per_s"]
    full = pg["full"]
    lines = [
        f"COPY {copy_rate:,.0f} rows/s; full sync {_rate(full):,.0f} rows/s = "
        f"{100 * _rate(full) / copy_rate:.0f} % of COPY (target >= 25 %)",
        f"re-sync unchanged {_rate(pg['resync']):,.0f} rows/s (target >= 200,000)",
        f"incremental {pg['changed']:,} changed: {pg['incremental']['seconds']:.2f} s = "
        f"{100 * pg['incremental']['seconds'] / full['seconds']:.1f} % of the full sync "
        "(target < 10 %)",
    ]
    peaks = [
        r["peak_rss_mb"]
        for source in ("postgres", "mysql", "xlsx")
        for r in results.get(source, {}).values()
        if isinstance(r, dict) and "peak_rss_mb" in r
    ]
    lines.append(f"peak RSS of a sync process {max(peaks):.0f} MB (target < 300 MB)")
    for line in lines:
        say(line)


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="database source rows")
    parser.add_argument("--xlsx-rows", type=int, default=200_000, help="XLSX source rows")
    parser.add_argument("--skip-mysql", action="store_true", help="no MariaDB phase")
    parser.add_argument("--skip-xlsx", action="store_true", help="no XLSX phase")
    parser.add_argument(
        "--only-xlsx", action="store_true", help="only the XLSX phase (no database source)"
    )
    parser.add_argument("--child", metavar="NAME", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


if __name__ == "__main__":
    reexec_in_venv()
    arguments = parse(sys.argv[1:])
    if arguments.child:
        asyncio.run(child(arguments.child))
    else:
        asyncio.run(main(arguments))
