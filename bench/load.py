"""Load the benchmark data: the same businesses, land parcels and citizens into the hub and into
plain tables for PostGraphile.

    python bench/load.py            # creates what is missing, skips what is already loaded
    python bench/load.py --force    # drops both bench databases and loads everything again
    python bench/load.py --bulk --businesses 200000   # bulk-write benchmark (see --help)

Databases (on the machine's PostgreSQL, 127.0.0.1:5432, user postgres):
- ``hub_bench``: the hub's own schema (``hub db upgrade`` + ``hub seed``), records written
  through ``catalog.records.write_records`` (the record store, as a connector would);
- ``pg_bench``: schema ``bench_pg`` with plain tables ``business``, ``land_parcel`` and
  ``citizen``, loaded with COPY, values taken from the hub's own normalisation so both hold the
  same text.

Then, each time (idempotent): the hub's Vietnamese sort key function copied into ``pg_bench``
with a generated column ``business.name_sort`` of it (Q5), the citizen grant of the agency
``UBND-TX-TUSON`` approved by the owner in the hub, and its PostgreSQL peer for PostGraphile: a
role with SELECT on the same columns and a row-level security policy on the same district (Q4).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BUSINESSES,
    CITIZEN_DISTRICT,
    CITIZEN_GRANT_FIELDS,
    CITIZEN_PURPOSE,
    CITIZEN_READER_AGENCY,
    CITIZENS,
    HOLDERS,
    HUB_CLI,
    HUB_DB,
    HUB_DIR,
    PARCELS,
    PG_CITIZEN_ROLE,
    PLAIN_DB,
    PLAIN_SCHEMA,
    ROOT,
    WORK,
    dsn,
    hub_env,
    reexec_in_venv,
)

reexec_in_venv()

import asyncpg  # noqa: E402

BATCH_ROWS = 5_000
ANALYZE_EVERY = 25_000

PLAIN_DDL = f"""
CREATE SCHEMA IF NOT EXISTS {PLAIN_SCHEMA};
CREATE TABLE {PLAIN_SCHEMA}.business (
    tax_code text PRIMARY KEY,
    name text NOT NULL,
    english_name text,
    legal_form text NOT NULL,
    address text,
    district text,
    industry_code text,
    charter_capital numeric,
    registered_on date NOT NULL,
    status text NOT NULL,
    legal_representative text,
    representative_phone text,
    updated_at timestamptz
);
CREATE TABLE {PLAIN_SCHEMA}.land_parcel (
    parcel_id text PRIMARY KEY,
    map_sheet integer NOT NULL,
    parcel_number integer NOT NULL,
    district text NOT NULL,
    commune text NOT NULL,
    area_m2 numeric NOT NULL,
    land_use text NOT NULL,
    holder_tax_code text,
    certificate_no text,
    valid_until date,
    updated_at timestamptz
);
"""

# Added after COPY. The same fields the hub indexes for these queries (its per-field
# expression indexes on records): district, registered_on, area_m2, holder_tax_code.
PLAIN_CONSTRAINTS = f"""
ALTER TABLE {PLAIN_SCHEMA}.land_parcel
    ADD CONSTRAINT land_parcel_holder_fkey FOREIGN KEY (holder_tax_code)
    REFERENCES {PLAIN_SCHEMA}.business (tax_code);
CREATE INDEX business_district_idx ON {PLAIN_SCHEMA}.business (district);
CREATE INDEX business_registered_on_idx ON {PLAIN_SCHEMA}.business (registered_on);
CREATE INDEX land_parcel_holder_idx ON {PLAIN_SCHEMA}.land_parcel (holder_tax_code);
CREATE INDEX land_parcel_district_idx ON {PLAIN_SCHEMA}.land_parcel (district);
CREATE INDEX land_parcel_area_idx ON {PLAIN_SCHEMA}.land_parcel (area_m2);
COMMENT ON TABLE {PLAIN_SCHEMA}.business IS 'A registered enterprise (benchmark copy).';
COMMENT ON TABLE {PLAIN_SCHEMA}.land_parcel IS 'A land parcel (benchmark copy).';
"""

# record_key is the hub's stored key of the record: citizen_id is encrypted in the hub, so its
# records are keyed (and listed in order of) the blind index of citizen_id, HMAC-SHA256 with the
# hub's blind key. The plain table carries that value so that PostGraphile can list citizens
# in the hub's order. Indexes as the hub's for Q4: its key, and (district, key).
CITIZEN_DDL = f"""
CREATE TABLE {PLAIN_SCHEMA}.citizen (
    citizen_id text PRIMARY KEY,
    full_name text NOT NULL,
    birth_date date NOT NULL,
    sex text NOT NULL,
    district text NOT NULL,
    commune text NOT NULL,
    address text,
    phone text,
    ethnicity text,
    record_key text COLLATE "C" NOT NULL
);
"""
CITIZEN_CONSTRAINTS = f"""
CREATE UNIQUE INDEX citizen_record_key_idx ON {PLAIN_SCHEMA}.citizen (record_key);
CREATE INDEX citizen_district_idx ON {PLAIN_SCHEMA}.citizen (district, record_key);
COMMENT ON TABLE {PLAIN_SCHEMA}.citizen IS 'A permanent resident (benchmark copy).';
COMMENT ON COLUMN {PLAIN_SCHEMA}.citizen.record_key IS
    'The hub''s stored key of this record: the blind index (HMAC-SHA256) of citizen_id.';
"""

BUSINESS_COLUMNS = (
    "tax_code",
    "name",
    "english_name",
    "legal_form",
    "address",
    "district",
    "industry_code",
    "charter_capital",
    "registered_on",
    "status",
    "legal_representative",
    "representative_phone",
    "updated_at",
)
CITIZEN_COLUMNS = (
    "citizen_id",
    "full_name",
    "birth_date",
    "sex",
    "district",
    "commune",
    "address",
    "phone",
    "ethnicity",
)
PARCEL_COLUMNS = (
    "parcel_id",
    "map_sheet",
    "parcel_number",
    "district",
    "commune",
    "area_m2",
    "land_use",
    "holder_tax_code",
    "certificate_no",
    "valid_until",
    "updated_at",
)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- databases ---------------------------------------------------------------------------------


async def ensure_databases(force: bool) -> None:
    conn = await asyncpg.connect(dsn("postgres"), timeout=10)
    try:
        for name in (HUB_DB, PLAIN_DB):
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if exists and force:
                say(f"dropping database {name} (--force)")
                await conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    name,
                )
                await conn.execute(f'DROP DATABASE "{name}"')
                exists = False
            if not exists:
                say(f"creating database {name}")
                await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def run_hub_cli(*args: str) -> str:
    HUB_DIR.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [str(HUB_CLI), *args],
        env=hub_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"hub {' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip()


# -- data ----------------------------------------------------------------------------------------


def generate_citizens(n_citizens: int = CITIZENS) -> list[dict[str, Any]]:
    from hub.demo import generate as gen

    started = time.perf_counter()
    citizens = gen.citizens(n_citizens)
    in_town = sum(1 for c in citizens if c["district"] == CITIZEN_DISTRICT)
    say(
        f"generated {len(citizens):,} citizens ({in_town:,} in {CITIZEN_DISTRICT}) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return citizens


def generate(
    n_businesses: int = BUSINESSES, n_parcels: int = PARCELS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from hub.demo import generate as gen

    started = time.perf_counter()
    businesses = gen.businesses(n_businesses)
    holders = sorted(str(b["tax_code"]) for b in businesses)[:HOLDERS]
    parcels = gen.land_parcels(n_parcels, holders)
    say(
        f"generated {len(businesses):,} businesses and {len(parcels):,} land parcels "
        f"({sum(1 for p in parcels if p['holder_tax_code']):,} held by the {HOLDERS:,} "
        f"businesses with the lowest tax codes) in {time.perf_counter() - started:.1f} s"
    )
    return businesses, parcels


# -- the hub's record store ------------------------------------------------------------------------


async def hub_counts(conn: asyncpg.Connection) -> dict[str, int]:
    has_table = await conn.fetchval("SELECT to_regclass('public.records') IS NOT NULL")
    if not has_table:
        return {}
    rows = await conn.fetch(
        "SELECT dataset_code, count(*) AS n FROM records WHERE NOT deleted "
        "AND dataset_code IN ('business', 'land_parcel', 'citizen') GROUP BY dataset_code"
    )
    return {r["dataset_code"]: r["n"] for r in rows}


async def load_hub(datasets: list[tuple[str, list[dict[str, Any]]]]) -> dict[str, float]:
    from sqlalchemy import text

    from catalog.models import Dataset
    from catalog.records import write_records
    from hub.runtime import hub_session
    from hub.settings import load_settings

    settings = load_settings(
        database_url=dsn(HUB_DB), data_dir=HUB_DIR, keys_file=HUB_DIR / "keys.json"
    )
    timings: dict[str, float] = {}
    async with hub_session(settings, migrate=False) as hub:
        keys = hub.keys.sealing_keys()
        for code, rows in datasets:
            started = time.perf_counter()
            written = unchanged = 0
            for start in range(0, len(rows), BATCH_ROWS):
                async with hub.db.sessions.begin() as session:
                    dataset = await session.get(Dataset, code)
                    assert dataset is not None, f"dataset {code} missing: did hub seed run?"
                    result = await write_records(
                        session,
                        dataset,
                        rows[start : start + BATCH_ROWS],
                        source="bench",
                        keys=keys,
                    )
                written += result.inserted + result.updated
                unchanged += result.unchanged
                done = min(start + BATCH_ROWS, len(rows))
                if done % ANALYZE_EVERY == 0 or done == BATCH_ROWS:
                    # autovacuum is off on this server: without fresh statistics the
                    # planner looks up each batch's keys by scanning the whole dataset.
                    async with hub.db.sessions.begin() as session:
                        await session.execute(text("ANALYZE records"))
                if done % 50_000 == 0 or done == len(rows):
                    elapsed = time.perf_counter() - started
                    say(
                        f"hub {code}: {done:,}/{len(rows):,} rows "
                        f"({written:,} written, {unchanged:,} unchanged) "
                        f"{elapsed:.0f} s, {done / elapsed:,.0f} rows/s"
                    )
            timings[code] = time.perf_counter() - started
    conn = await asyncpg.connect(dsn(HUB_DB), timeout=10)
    try:
        started = time.perf_counter()
        await conn.execute("VACUUM ANALYZE records", timeout=600)
        await conn.execute("VACUUM ANALYZE record_versions", timeout=600)
        timings["vacuum"] = time.perf_counter() - started
    finally:
        await conn.close()
    return timings


# -- plain tables for PostGraphile --------------------------------------------------------------


async def plain_counts(conn: asyncpg.Connection) -> dict[str, int]:
    out = {}
    for table in ("business", "land_parcel", "citizen"):
        if await conn.fetchval(f"SELECT to_regclass('{PLAIN_SCHEMA}.{table}') IS NOT NULL"):
            out[table] = await conn.fetchval(f"SELECT count(*) FROM {PLAIN_SCHEMA}.{table}")
    return out


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value.replace("Z", "+00:00"))


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


CONVERT = {"date": _date, "datetime": _moment, "decimal": _decimal}


def plain_rows(dataset: Any, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[tuple]:
    """Rows as the hub stores them (normalise_record), typed for the plain table's columns."""
    from catalog.values import normalise_record

    types = {f.name: f.type for f in dataset.fields}
    out = []
    for row in rows:
        values = normalise_record(dataset, row)
        out.append(
            tuple(
                CONVERT[types[c]](values.get(c)) if types[c] in CONVERT else values.get(c)
                for c in columns
            )
        )
    return out


async def hub_datasets(
    codes: tuple[str, ...] = ("business", "land_parcel"),
) -> dict[str, Any]:
    """The catalogue's dataset objects (with their fields) for normalisation."""
    from sqlalchemy import select

    from catalog.models import Dataset
    from hub.runtime import hub_session
    from hub.settings import load_settings

    settings = load_settings(
        database_url=dsn(HUB_DB), data_dir=HUB_DIR, keys_file=HUB_DIR / "keys.json"
    )
    async with hub_session(settings, migrate=False) as hub, hub.db.sessions() as session:
        found = await session.scalars(select(Dataset).where(Dataset.code.in_(codes)))
        return {d.code: d for d in found}


async def load_plain(
    businesses: list[dict[str, Any]], parcels: list[dict[str, Any]]
) -> dict[str, float]:
    datasets = await hub_datasets()
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(dsn(PLAIN_DB), timeout=10)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {PLAIN_SCHEMA} CASCADE")
        await conn.execute(PLAIN_DDL)
        for table, rows, columns in (
            ("business", businesses, BUSINESS_COLUMNS),
            ("land_parcel", parcels, PARCEL_COLUMNS),
        ):
            started = time.perf_counter()
            records = plain_rows(datasets[table], rows, columns)
            await conn.copy_records_to_table(
                table, records=records, columns=columns, schema_name=PLAIN_SCHEMA, timeout=600
            )
            timings[table] = time.perf_counter() - started
            say(f"plain {table}: {len(records):,} rows copied in {timings[table]:.1f} s")
        started = time.perf_counter()
        await conn.execute(PLAIN_CONSTRAINTS, timeout=600)
        await conn.execute(f"VACUUM ANALYZE {PLAIN_SCHEMA}.business", timeout=600)
        await conn.execute(f"VACUUM ANALYZE {PLAIN_SCHEMA}.land_parcel", timeout=600)
        timings["indexes+vacuum"] = time.perf_counter() - started
        say(f"plain: foreign key, indexes, VACUUM ANALYZE in {timings['indexes+vacuum']:.1f} s")
    finally:
        await conn.close()
    return timings


async def sealing_keys() -> Any:
    """The hub's field keys (bench/.work/hub/keys.json): the blind key for citizens' keys."""
    from hub.runtime import hub_session
    from hub.settings import load_settings

    settings = load_settings(
        database_url=dsn(HUB_DB), data_dir=HUB_DIR, keys_file=HUB_DIR / "keys.json"
    )
    async with hub_session(settings, migrate=False) as hub:
        return hub.keys.sealing_keys()


async def load_plain_citizens(citizens: list[dict[str, Any]]) -> dict[str, float]:
    """(Re)create ``citizen`` alone: the other tables stay as they are."""
    from catalog.records import stored_key

    dataset = (await hub_datasets(("citizen",)))["citizen"]
    keys = await sealing_keys()
    timings: dict[str, float] = {}
    conn = await asyncpg.connect(dsn(PLAIN_DB), timeout=10)
    try:
        await conn.execute(f"DROP TABLE IF EXISTS {PLAIN_SCHEMA}.citizen")
        await conn.execute(CITIZEN_DDL)
        started = time.perf_counter()
        records = [
            (*row, stored_key(dataset, row[0], keys))
            for row in plain_rows(dataset, citizens, CITIZEN_COLUMNS)
        ]
        await conn.copy_records_to_table(
            "citizen",
            records=records,
            columns=(*CITIZEN_COLUMNS, "record_key"),
            schema_name=PLAIN_SCHEMA,
            timeout=600,
        )
        timings["citizen"] = time.perf_counter() - started
        say(f"plain citizen: {len(records):,} rows copied in {timings['citizen']:.1f} s")
        started = time.perf_counter()
        await conn.execute(CITIZEN_CONSTRAINTS, timeout=600)
        await conn.execute(f"VACUUM ANALYZE {PLAIN_SCHEMA}.citizen", timeout=600)
        timings["indexes+vacuum"] = time.perf_counter() - started
    finally:
        await conn.close()
    return timings


# -- what Q4 and Q5 need besides the rows ----------------------------------------------------------


async def plain_sort_key() -> None:
    """The hub's ``hub_vi_sort_key`` (its definition read from hub_bench) in pg_bench, and
    ``business.name_sort``, a stored generated column of that key in hex, indexed with tax_code
    like the hub's sort key index (key, then record key): PostGraphile orders by
    NAME_SORT_ASC, TAX_CODE_ASC as the hub orders by NAME_ASC.

    Hex, as text in collation "C": it orders as the bytes do (two digits a byte, 0-9 before
    a-f), and PostGraphile 5.1.5 neither orders by a bytea column by default nor reads its own
    cursor back when one holds a bytea (it writes the value as a Node Buffer's JSON, and an
    ``after`` with it matches no row)."""
    hub_conn = await asyncpg.connect(dsn(HUB_DB), timeout=10)
    try:
        definition = await hub_conn.fetchval(
            "SELECT pg_get_functiondef('public.hub_vi_sort_key(text)'::regprocedure)"
        )
    finally:
        await hub_conn.close()
    conn = await asyncpg.connect(dsn(PLAIN_DB), timeout=10)
    try:
        current = await conn.fetchval(
            "SELECT pg_get_functiondef(p.oid) FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace "
            "WHERE n.nspname = 'public' AND p.proname = 'hub_vi_sort_key'"
        )
        if current != definition:
            if current is not None:
                # Changed in the hub: the column computed with the old one goes with it.
                say("plain: hub_vi_sort_key differs from the hub's; replacing it")
                await conn.execute("DROP FUNCTION public.hub_vi_sort_key(text) CASCADE")
            await conn.execute(definition)
        column = await conn.fetchrow(
            "SELECT data_type, collation_name FROM information_schema.columns "
            "WHERE table_schema = $1 AND table_name = 'business' AND column_name = 'name_sort'",
            PLAIN_SCHEMA,
        )
        if column is not None and tuple(column) != ("text", "C"):
            say("plain: business.name_sort is of an older form; adding it again")
            await conn.execute(f"ALTER TABLE {PLAIN_SCHEMA}.business DROP COLUMN name_sort")
            column = None
        if column is None:
            started = time.perf_counter()
            await conn.execute(
                f'ALTER TABLE {PLAIN_SCHEMA}.business ADD COLUMN name_sort text COLLATE "C" '
                "GENERATED ALWAYS AS (encode(public.hub_vi_sort_key(name), 'hex')) STORED",
                timeout=600,
            )
            await conn.execute(
                f"CREATE INDEX business_name_sort_idx ON {PLAIN_SCHEMA}.business "
                "(name_sort, tax_code)",
                timeout=600,
            )
            await conn.execute(
                f"COMMENT ON COLUMN {PLAIN_SCHEMA}.business.name_sort IS "
                "'encode(hub_vi_sort_key(name), ''hex''): the hub''s Vietnamese sort key of "
                "the name, in hex.'"
            )
            await conn.execute(f"VACUUM ANALYZE {PLAIN_SCHEMA}.business", timeout=600)
            say(
                "plain: business.name_sort (generated, hub_vi_sort_key(name) in hex) and its "
                f"index in {time.perf_counter() - started:.1f} s"
            )
    finally:
        await conn.close()


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def plain_citizen_role() -> None:
    """PostGraphile's peer of the hub's citizen grant: role PG_CITIZEN_ROLE may SELECT the
    grant's columns (and record_key, the hub's order) of the citizens of CITIZEN_DISTRICT."""
    columns = ", ".join((*CITIZEN_GRANT_FIELDS, "record_key"))
    table = f"{PLAIN_SCHEMA}.citizen"
    conn = await asyncpg.connect(dsn(PLAIN_DB), timeout=10)
    try:
        async with conn.transaction():
            await conn.execute(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = "
                f"{_literal(PG_CITIZEN_ROLE)}) THEN CREATE ROLE {PG_CITIZEN_ROLE} NOLOGIN; "
                "END IF; END $$"
            )
            await conn.execute(f"GRANT USAGE ON SCHEMA {PLAIN_SCHEMA} TO {PG_CITIZEN_ROLE}")
            # Revoking on the table revokes on its columns too: the grant below is the whole.
            await conn.execute(f"REVOKE ALL ON {table} FROM {PG_CITIZEN_ROLE}")
            await conn.execute(f"GRANT SELECT ({columns}) ON {table} TO {PG_CITIZEN_ROLE}")
            await conn.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            await conn.execute(f"DROP POLICY IF EXISTS citizen_grant ON {table}")
            await conn.execute(
                f"CREATE POLICY citizen_grant ON {table} FOR SELECT TO {PG_CITIZEN_ROLE} "
                f"USING (district = {_literal(CITIZEN_DISTRICT)})"
            )
    finally:
        await conn.close()
    say(
        f"plain: role {PG_CITIZEN_ROLE} reads {columns} of {table} where district = "
        f"{CITIZEN_DISTRICT!r} (row-level security)"
    )


async def hub_citizen_grant() -> None:
    """The agency CITIZEN_READER_AGENCY's grant on citizen (CITIZEN_GRANT_FIELDS, the rows of
    CITIZEN_DISTRICT), requested and approved by the owner agency, unless already in force."""
    from sqlalchemy import select

    from catalog.grants import GrantRequest, decide_grant, request_grant
    from catalog.models import Dataset, Grant
    from catalog.principal import Principal
    from hub.runtime import hub_session
    from hub.settings import load_settings

    settings = load_settings(
        database_url=dsn(HUB_DB), data_dir=HUB_DIR, keys_file=HUB_DIR / "keys.json"
    )
    row_filter = {"district": {"eq": CITIZEN_DISTRICT}}
    async with hub_session(settings, migrate=False) as hub, hub.db.sessions.begin() as session:
        approved = await session.scalars(
            select(Grant).where(
                Grant.dataset_code == "citizen",
                Grant.grantee_code == CITIZEN_READER_AGENCY,
                Grant.status == "APPROVED",
            )
        )
        for grant in approved:
            if (
                sorted(grant.fields) == sorted(CITIZEN_GRANT_FIELDS)
                and grant.row_filter == row_filter
                and grant.valid_to is None
            ):
                say(f"hub: citizen grant {grant.id} of {CITIZEN_READER_AGENCY} already approved")
                return
        dataset = await session.get(Dataset, "citizen")
        assert dataset is not None, "dataset citizen missing: did hub seed run?"
        reader = Principal("bench:citizen-reader", CITIZEN_READER_AGENCY, frozenset({"reader"}))
        owner = Principal("bench:citizen-owner", dataset.owner_code, frozenset({"owner"}))
        grant = await request_grant(
            session,
            reader,
            GrantRequest(
                dataset="citizen",
                fields=list(CITIZEN_GRANT_FIELDS),
                row_filter={"district": CITIZEN_DISTRICT},
                purpose=CITIZEN_PURPOSE,
                legal_basis="Nghị định 13/2023/NĐ-CP, Điều 17",
            ),
        )
        await decide_grant(session, owner, str(grant.id), True, "Đồng ý trong phạm vi thị xã")
        say(
            f"hub: citizen grant {grant.id} of {CITIZEN_READER_AGENCY} "
            f"({', '.join(CITIZEN_GRANT_FIELDS)}; district {CITIZEN_DISTRICT}) approved by "
            f"{dataset.owner_code}"
        )


# -- main -----------------------------------------------------------------------------------------


async def main(
    force: bool,
    n_businesses: int = BUSINESSES,
    n_parcels: int = PARCELS,
    n_citizens: int = CITIZENS,
) -> None:
    started = time.perf_counter()
    await ensure_databases(force)
    say(run_hub_cli("db", "upgrade"))
    say(run_hub_cli("seed"))

    hub_conn = await asyncpg.connect(dsn(HUB_DB), timeout=10)
    plain_conn = await asyncpg.connect(dsn(PLAIN_DB), timeout=10)
    try:
        have_hub = await hub_counts(hub_conn)
        have_plain = await plain_counts(plain_conn)
    finally:
        await hub_conn.close()
        await plain_conn.close()
    want = {"business": n_businesses, "land_parcel": n_parcels, "citizen": n_citizens}
    hub_missing = [code for code, n in want.items() if have_hub.get(code) != n]
    # load_plain re-creates the schema: the citizen table goes with it.
    plain_base = any(have_plain.get(t) != want[t] for t in ("business", "land_parcel"))
    plain_citizens = plain_base or have_plain.get("citizen") != n_citizens
    if not hub_missing and not plain_base and not plain_citizens:
        say(f"already loaded: hub {have_hub}, plain {have_plain} (--force reloads)")
    else:
        rows: dict[str, list[dict[str, Any]]] = {}
        if plain_base or {"business", "land_parcel"} & set(hub_missing):
            rows["business"], rows["land_parcel"] = generate(n_businesses, n_parcels)
        if plain_citizens or "citizen" in hub_missing:
            rows["citizen"] = generate_citizens(n_citizens)
        if hub_missing:
            timings = await load_hub([(code, rows[code]) for code in hub_missing])
            say("hub load: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()))
        else:
            say(f"hub already loaded: {have_hub}")
        if plain_base:
            timings = await load_plain(rows["business"], rows["land_parcel"])
            say("plain load: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        if plain_citizens:
            timings = await load_plain_citizens(rows["citizen"])
            say("plain citizens: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        if not plain_base and not plain_citizens:
            say(f"plain tables already loaded: {have_plain}")
    await plain_sort_key()
    await plain_citizen_role()
    await hub_citizen_grant()
    say(f"done in {time.perf_counter() - started:.0f} s")


# -- bulk-write benchmark ------------------------------------------------------------------------
#
# The writer runs in a child process that streams the rows from a JSON-lines file, so its peak
# RSS is the writer's own (the parent holds the generated rows for the plain COPY).


def rows_file(n_businesses: int) -> Path:
    return WORK / f"business-{n_businesses}.jsonl"


def peak_rss_mb() -> float:
    """This process's peak RSS since it started its program (VmHWM). Not ru_maxrss: Linux
    carries that across exec, so a child would report its parent's peak from before the fork
    (1,237 MB after the parent had generated 1,000,000 rows, against 125 MB measured here)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stream_rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


async def write_file(path: Path, code: str, txn_rows: int) -> dict[str, Any]:
    """Child mode: write every row of ``path`` into ``code`` through the record store, one
    transaction per ``txn_rows`` rows, and report counts, time and this process's peak RSS."""
    from sqlalchemy import text

    from catalog.models import Dataset
    from catalog.records import write_records
    from hub.runtime import hub_session
    from hub.settings import load_settings

    settings = load_settings(
        database_url=dsn(HUB_DB), data_dir=HUB_DIR, keys_file=HUB_DIR / "keys.json"
    )
    # The per-row writer this replaced had no such option; the same command measures both.
    options = (
        {"track_keys": False} if "track_keys" in inspect.signature(write_records).parameters else {}
    )
    totals = {"inserted": 0, "updated": 0, "unchanged": 0}
    rows = stream_rows(path)
    done = 0
    analyze_seconds = 0.0

    def transaction_rows() -> Iterator[dict[str, Any]]:
        # Streamed into the writer, never held as a list: its peak RSS is its own.
        nonlocal done
        for row in itertools.islice(rows, txn_rows):
            done += 1
            yield row

    async with hub_session(settings, migrate=False) as hub:
        keys = hub.keys.sealing_keys()
        started = time.perf_counter()
        while True:
            before = done
            async with hub.db.sessions.begin() as session:
                dataset = await session.get(Dataset, code)
                assert dataset is not None, f"dataset {code} missing: did hub seed run?"
                result = await write_records(
                    session, dataset, transaction_rows(), source="bench", keys=keys, **options
                )
            if done == before:
                break
            for name in totals:
                totals[name] += getattr(result, name)
            if before == 0 or done // ANALYZE_EVERY > before // ANALYZE_EVERY:
                # autovacuum is off on this server: keep the planner's row estimates fresh
                # (the per-row writer this replaced needed it; timed apart).
                analyze_started = time.perf_counter()
                async with hub.db.sessions.begin() as session:
                    await session.execute(text("ANALYZE records"))
                analyze_seconds += time.perf_counter() - analyze_started
        elapsed = time.perf_counter() - started
    return {
        "rows": done,
        "seconds": elapsed,
        "analyze_seconds": analyze_seconds,
        "peak_rss_mb": peak_rss_mb(),
        **totals,
    }


def run_writer(path: Path, txn_rows: int) -> dict[str, Any]:
    script = str(Path(__file__).resolve())
    command = [sys.executable, script, "--write-file", str(path), "--txn-rows", str(txn_rows)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=7200,
        check=False,
        env=os.environ,
    )
    if done.returncode != 0:
        raise SystemExit(f"writer failed ({done.returncode}):\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


async def bulk_bench(n_businesses: int, txn_rows: int) -> None:
    """Drop and re-create both bench databases, write ``n_businesses`` businesses through the
    record store (a child process streaming them from a file), write them again unchanged,
    then COPY the same rows into the plain table; print each rate and the writer's peak RSS."""
    from hub.demo import generate as gen

    await ensure_databases(force=True)
    say(run_hub_cli("db", "upgrade"))
    say(run_hub_cli("seed"))
    path = rows_file(n_businesses)
    if not path.exists():
        started = time.perf_counter()
        businesses = gen.businesses(n_businesses)
        scratch = path.with_suffix(".part")
        with scratch.open("w", encoding="utf-8") as out:
            for row in businesses:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
        scratch.rename(path)
        del businesses
        say(f"wrote {n_businesses:,} businesses to {path} in {time.perf_counter() - started:.0f} s")
    figures: dict[str, dict[str, Any]] = {}
    for label in ("first write", "unchanged re-write"):
        report = run_writer(path, txn_rows)
        figures[label] = report
        say(
            f"hub business, {label}: {report['rows']:,} rows in {report['seconds']:.1f} s, "
            f"{report['rows'] / report['seconds']:,.0f} rows/s (inserted {report['inserted']:,}, "
            f"updated {report['updated']:,}, unchanged {report['unchanged']:,}; of the time, "
            f"{report['analyze_seconds']:.1f} s in ANALYZE records); "
            f"writer peak RSS {report['peak_rss_mb']:.0f} MB"
        )
    businesses = list(stream_rows(path))
    datasets = await hub_datasets()
    conn = await asyncpg.connect(dsn(PLAIN_DB), timeout=10)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {PLAIN_SCHEMA} CASCADE")
        await conn.execute(PLAIN_DDL)
        started = time.perf_counter()
        records = plain_rows(datasets["business"], businesses, BUSINESS_COLUMNS)
        await conn.copy_records_to_table(
            "business",
            records=records,
            columns=BUSINESS_COLUMNS,
            schema_name=PLAIN_SCHEMA,
            timeout=3600,
        )
        copy_seconds = time.perf_counter() - started
    finally:
        await conn.close()
    copy_rate = len(records) / copy_seconds
    first = figures["first write"]
    hub_rate = first["rows"] / first["seconds"]
    say(
        f"plain COPY business (normalised in Python, as the hub's values): {len(records):,} "
        f"rows in {copy_seconds:.1f} s, {copy_rate:,.0f} rows/s; "
        f"hub first write = {hub_rate / copy_rate:.0%} of plain COPY's rows/s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--force", action="store_true", help="drop both bench databases and load again"
    )
    parser.add_argument("--businesses", type=int, default=BUSINESSES, help="how many businesses")
    parser.add_argument("--parcels", type=int, default=PARCELS, help="how many land parcels")
    parser.add_argument("--citizens", type=int, default=CITIZENS, help="how many citizens")
    parser.add_argument(
        "--bulk",
        action="store_true",
        help="bulk-write benchmark: drop and re-create the databases, write --businesses "
        "through the record store, again unchanged, then plain COPY (set BENCH_HUB_DB and "
        "BENCH_PLAIN_DB to keep the query benchmark's databases)",
    )
    parser.add_argument(
        "--txn-rows", type=int, default=50_000, help="rows per transaction in --bulk"
    )
    parser.add_argument("--write-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_file:
        report = asyncio.run(write_file(args.write_file, "business", args.txn_rows))
        print(json.dumps(report))
    elif args.bulk:
        asyncio.run(bulk_bench(args.businesses, args.txn_rows))
    else:
        asyncio.run(main(args.force, args.businesses, args.parcels, args.citizens))
