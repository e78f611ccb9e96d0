"""``search`` latency through HTTP + GraphQL, with the policy's filters, at N concurrent clients.

    python bench/search_query.py                         # 200,000 records, 16 clients, 20 s
    python bench/search_query.py --records 50000 --seconds 10

What it does, each step timed and printed:
1. a database of its own (``hub_search_bench`` on the machine's PostgreSQL, BENCH_PG_* as in
   bench/common.py), migrated and seeded, dropped and made again on every run;
2. records written through the record store: businesses (PUBLIC, an INTERNAL searchable
   field) and health-insurance cards (a RESTRICTED dataset, read through a row-filtered grant),
   half each;
3. an osmem-server of its own, filled by ``hub.search.reindex.reindex_all``;
4. ``hub serve`` (one process) on that database and search server;
5. clients sending ``search`` for words taken from the data, as three callers in turn: the
   anonymous portal (PUBLIC fields of PUBLIC datasets), an agency reading businesses (its
   INTERNAL field too) and an agency whose grant on health insurance is cut to two districts
   and two fields. Every answer is checked (no errors, hits present for most queries).

Prints p50, p90, p99 and the mean of request latency, requests per second, and hits per answer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HUB_CLI, WORK, dsn, hub_env, reexec_in_venv

reexec_in_venv()

import asyncpg  # noqa: E402
import httpx  # noqa: E402
from osmem_server import OsmemServer  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from catalog.models import ApiClient, Dataset  # noqa: E402
from catalog.records import write_records  # noqa: E402
from catalog.seed import seed_baseline  # noqa: E402
from hub.auth.issuer import issue_token  # noqa: E402
from hub.db import make_database  # noqa: E402
from hub.demo import generate  # noqa: E402
from hub.keys import KeyStore  # noqa: E402
from hub.migrate import upgrade  # noqa: E402
from hub.search.client import open_search  # noqa: E402
from hub.search.reindex import reindex_all  # noqa: E402
from hub.settings import Settings  # noqa: E402

DATABASE = os.environ.get("BENCH_SEARCH_DB", "hub_search_bench")
DIR = WORK / "search"
BATCH = 5_000
SEARCH = """query($q: String!, $first: Int) {
  search(query: $q, first: $first) {
    total
    hits { dataset { code } key score values highlights }
    facets { field buckets { value count } }
  }
}"""
GRANT = """mutation($input: GrantRequestInput!) { requestGrant(input: $input) { id } }"""
DECIDE = """mutation($id: ID!) { decideGrant(id: $id, approve: true) { status } }"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _fresh_database() -> str:
    admin = await asyncpg.connect(dsn("postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await admin.close()
    url = dsn(DATABASE)
    database = make_database(url, pool_size=4)
    await upgrade(database.engine)
    async with database.sessions.begin() as session:
        await seed_baseline(session)
    await database.close()
    return url


async def _load(url: str, keys: KeyStore, records: int) -> dict[str, list[dict[str, Any]]]:
    database = make_database(url, pool_size=4)
    half = records // 2
    citizens = generate.citizens(half)
    data = {
        "business": generate.businesses(records - half),
        "health_insurance": generate.health_insurance(citizens)[:half],
    }
    sealing = keys.sealing_keys()
    try:
        for code, rows in data.items():
            for start in range(0, len(rows), BATCH):
                async with database.sessions.begin() as session:
                    dataset = await session.get(Dataset, code)
                    assert dataset is not None
                    await write_records(
                        session, dataset, rows[start : start + BATCH], source="bench", keys=sealing
                    )
    finally:
        await database.close()
    return data


async def _register(url: str, client_id: str, agency: str, roles: list[str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "INSERT INTO api_clients (client_id, name, agency_code, roles, secret_hash) "
            "VALUES ($1, 'bench', $2, $3, 'none') ON CONFLICT (client_id) DO NOTHING",
            client_id,
            agency,
            roles,
        )
        await conn.execute("UPDATE hub_state SET policy_version = policy_version + 1 WHERE id = 1")
    finally:
        await conn.close()


def _token(
    settings: Settings, keys: KeyStore, client_id: str, agency: str, roles: list[str]
) -> str:
    client = ApiClient(client_id=client_id, name="bench", agency_code=agency, roles=roles)
    value, _ = issue_token(settings, keys, client)
    return str(value)


def _words(data: dict[str, list[dict[str, Any]]], rng: random.Random, mix: str) -> list[str]:
    """Queries a person would type. ``narrow``: a tax code, a person's full name, a card's
    hospital code and district; ``mixed``: also names, places and hospitals, folded or not,
    some found in a third of all records."""
    narrow = [str(row["tax_code"]) for row in rng.sample(data["business"], 40)]
    narrow += [str(row["legal_representative"]) for row in rng.sample(data["business"], 40)]
    if mix == "narrow":
        return narrow
    out = ["Công ty TNHH", "cong ty co phan", "Bắc Ninh", "Trung tâm Y tế", "benh vien"]
    for row in rng.sample(data["business"], 40):
        out.append(" ".join(str(row["name"]).split()[-2:]))
    out += narrow
    for row in rng.sample(data["health_insurance"], 20):
        out.append(str(row["hospital_name"]))
    districts = sorted({str(r["district"]) for r in data["business"]})
    out += [d.split(" ", 1)[-1] for d in districts]
    return out


async def _client(
    http: httpx.AsyncClient,
    callers: list[dict[str, str]],
    words: list[str],
    until: float,
    seed: int,
    latencies: list[float],
    hits: list[int],
) -> None:
    rng = random.Random(seed)
    while time.perf_counter() < until:
        headers = rng.choice(callers)
        query = {"query": SEARCH, "variables": {"q": rng.choice(words), "first": 20}}
        started = time.perf_counter()
        response = await http.post("/graphql", json=query, headers=headers)
        latencies.append(time.perf_counter() - started)
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise SystemExit(f"search failed: {response.status_code} {body}")
        hits.append(len(body["data"]["search"]["hits"]))


def _start_hub(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(HUB_CLI), "serve", "--port", str(port)], env=env, start_new_session=True
    )


async def _wait_ready(base: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(base_url=base) as http:
        while time.monotonic() < deadline:
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    raise SystemExit("hub serve did not become ready")


async def main(records: int, clients: int, seconds: float, mix: str) -> None:
    DIR.mkdir(parents=True, exist_ok=True)
    keys_file = DIR / "keys.json"
    keys_file.unlink(missing_ok=True)
    keys = KeyStore.load_or_create(keys_file)
    started = time.perf_counter()
    url = await _fresh_database()
    data = await _load(url, keys, records)
    print(f"loaded {records:,} records in {time.perf_counter() - started:.1f} s")

    server = OsmemServer.start(japanese=False)
    port = _free_port()
    settings = Settings(
        database_url=url,
        data_dir=DIR,
        keys_file=keys_file,
        public_url=f"http://127.0.0.1:{port}",
        opensearch_url=server.url,
        token_ttl=7200,
    )
    search = open_search(settings)
    started = time.perf_counter()
    counts = await reindex_all(make_database(url, pool_size=2).sessions, search, "hub-")
    await search.close()
    print(f"indexed {sum(counts.values()):,} documents in {time.perf_counter() - started:.1f} s")

    env = hub_env(
        HUB_DATABASE_URL=url,
        HUB_DATA_DIR=str(DIR),
        HUB_KEYS_FILE=str(keys_file),
        HUB_OPENSEARCH_URL=server.url,
        HUB_SEARCH_REINDEX_AT_START="false",
        HUB_SEARCH_INDEXER_IN_PROCESS="false",
        HUB_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    hub = _start_hub(env, port)
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_ready(base)
        for client_id, agency, roles in (
            ("bench-stc", "STC", ["reader"]),
            ("bench-bhxh", "BHXH", ["reader"]),
            ("bench-syt", "SYT", ["owner", "reader"]),
        ):
            await _register(url, client_id, agency, roles)
        tokens = {
            name: _token(settings, keys, f"bench-{name}", agency, roles)
            for name, agency, roles in (
                ("stc", "STC", ["reader"]),
                ("bhxh", "BHXH", ["reader"]),
                ("syt", "SYT", ["owner", "reader"]),
            )
        }
        districts = sorted({str(r["district"]) for r in data["health_insurance"]})[:2]
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            auth = {"Authorization": f"Bearer {tokens['bhxh']}"}
            requested = await http.post(
                "/graphql",
                headers=auth,
                json={
                    "query": GRANT,
                    "variables": {
                        "input": {
                            "dataset": "health_insurance",
                            "fields": ["hospital_name", "district"],
                            "rowFilter": {"district": districts},
                            "purpose": "Đối soát thẻ bảo hiểm y tế",
                        }
                    },
                },
            )
            grant = requested.json()["data"]["requestGrant"]["id"]
            decided = await http.post(
                "/graphql",
                headers={"Authorization": f"Bearer {tokens['syt']}"},
                json={"query": DECIDE, "variables": {"id": grant}},
            )
            assert decided.json()["data"]["decideGrant"]["status"] == "APPROVED", decided.text
        callers = [
            {},
            {"Authorization": f"Bearer {tokens['stc']}"},
            {"Authorization": f"Bearer {tokens['bhxh']}"},
        ]
        words = _words(data, random.Random(7), mix)
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
            warm: list[float] = []
            await _client(http, callers, words, time.perf_counter() + 2, 0, warm, [])
            latencies: list[float] = []
            hits: list[int] = []
            until = time.perf_counter() + seconds
            began = time.perf_counter()
            await asyncio.gather(
                *(
                    _client(http, callers, words, until, seed, latencies, hits)
                    for seed in range(clients)
                )
            )
            elapsed = time.perf_counter() - began
        ordered = sorted(latencies)

        def pct(p: float) -> float:
            return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000

        print(
            f"search ({mix} queries), {records:,} records, {clients} clients, {seconds:.0f} s: "
            f"{len(ordered):,} requests, {len(ordered) / elapsed:.0f} req/s, "
            f"p50 {pct(0.50):.1f} ms, p90 {pct(0.90):.1f} ms, p99 {pct(0.99):.1f} ms, "
            f"mean {statistics.mean(ordered) * 1000:.1f} ms, "
            f"hits per answer {statistics.mean(hits):.1f} "
            f"(answers with hits {sum(1 for h in hits if h) / len(hits):.0%})"
        )
    finally:
        os.killpg(hub.pid, signal.SIGTERM)
        hub.wait(timeout=20)
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=200_000, help="records (default 200000)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds (default 20)")
    parser.add_argument(
        "--queries",
        choices=("mixed", "narrow"),
        default="mixed",
        help="mixed: some words found in a third of all records; narrow: tax codes and "
        "full names (default mixed)",
    )
    arguments = parser.parse_args()
    asyncio.run(main(arguments.records, arguments.clients, arguments.seconds, arguments.queries))
