"""A mixed load on the hub for minutes, and the cost of its edge (rate limiter, access log).

    python bench/mixed_load.py                      # 5 minutes at 32 connections, then on/off
    python bench/mixed_load.py --minutes 1 --compare-seconds 10
    python bench/mixed_load.py --edge-only          # only the edge on/off comparison

Needs the bench databases (python bench/load.py) and wrk. Starts `hub serve --workers 2` on
127.0.0.1:8803 with the embedded search server (indexed from PostgreSQL at start; the run
waits until the index has the businesses), then drives it with wrk through a mix of request
bodies: keyed lookups (Q1), filtered pages with a reference (Q2), nested lists (Q3) and full-text
searches, 32 connections for `--minutes`. It prints requests/s, p50/p99, non-200 answers and
answers with GraphQL errors, and the hub's resident memory (all its processes) at minute 1
and at the end.

Then it measures the keyed lookup alone with the edge on (rate limits consulted on every
request with allowances too high to refuse, the JSON access line written) and off
(HUB_RATE_LIMIT_*=off, HUB_ACCESS_LOG=false), alternating on, off, on, off, and prints the
median latency of each and the difference.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import PLAIN_DB, PLAIN_SCHEMA, ROOT, WORK, hub_env, reexec_in_venv

reexec_in_venv()

import httpx  # noqa: E402
import psutil  # noqa: E402
from run import (  # noqa: E402
    HOST,
    HUB_CLI,
    QUERIES,
    Server,
    WrkResult,
    hub_token,
    parse_wrk,
    psql,
    run_wrk,
    samples,
    say,
    start_server,
    stop_server,
    wait_ready,
)

PORT = 8803
SEARCH_TERMS = ["cong ty", "thuong mai", "xay dung", "Quảng Ngãi", "dich vu", "san xuat"]
SEARCH = (
    "query S($q: String!) { search(query: $q, first: 10) { total hits { key score "
    "dataset { code } } } }"
)


def bodies_file(name: str, lines: Sequence[Mapping[str, object]]) -> Path:
    path = WORK / f"mixed-{name}.jsonl"
    path.write_text("".join(json.dumps(b, ensure_ascii=False) + "\n" for b in lines))
    return path


def mixed_bodies() -> tuple[Path, Path, str]:
    data = samples(["Q1", "Q2", "Q3"])
    by_name = {q.name: q for q in QUERIES}
    rng = random.Random(20261201)
    lookups = [
        {"query": by_name["Q1"].hub, "variables": by_name["Q1"].hub_vars(k)} for k in data["Q1"]
    ]
    pages = [
        {"query": by_name["Q2"].hub, "variables": by_name["Q2"].hub_vars(d)} for d in data["Q2"]
    ]
    nested = [{"query": by_name["Q3"].hub, "variables": {}}]
    searches = [{"query": SEARCH, "variables": {"q": term}} for term in SEARCH_TERMS]
    # Weights: 40 % lookups, 20 % pages, 20 % nested lists, 20 % searches.
    mixed = (
        rng.sample(lookups, min(400, len(lookups)))
        + [rng.choice(pages) for _ in range(200)]
        + nested * 200
        + [rng.choice(searches) for _ in range(200)]
    )
    rng.shuffle(mixed)
    parcel = psql(PLAIN_DB, f"SELECT parcel_id FROM {PLAIN_SCHEMA}.land_parcel LIMIT 1")[0]
    return bodies_file("all", mixed), bodies_file("lookups", lookups), parcel


@contextlib.contextmanager
def hub(**env: str) -> Iterator[Server]:
    server = start_server(
        "hub-mixed",
        PORT,
        [str(HUB_CLI), "serve", "--workers", "2", "--port", str(PORT)],
        hub_env(**env),
        ROOT,
    )
    server.listeners_expected = 2
    try:
        server.headers = {"stnmt": {"Authorization": "Bearer " + hub_token()}}
        wait_ready(server, 2, timeout=300)
        yield server
    finally:
        stop_server(server)


def wait_indexed(server: Server, probes: dict[str, str], timeout: float = 1800) -> None:
    """Until every dataset probed is in the index (its alias swaps in when its reindex is
    complete) and the outbox is drained: {dataset: a word its records hold}."""
    query = (
        "query S($q: String!, $d: [String!]) { search(query: $q, filter: {datasets: $d}, "
        "first: 1) { total } }"
    )
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=30) as http:
        while time.monotonic() < deadline:
            totals = {}
            for dataset, word in probes.items():
                found = http.post(
                    f"http://{HOST}:{server.port}/graphql",
                    json={"query": query, "variables": {"q": word, "d": [dataset]}},
                    headers=server.headers["stnmt"],
                ).json()
                totals[dataset] = ((found.get("data") or {}).get("search") or {}).get("total")
            ready = http.get(f"http://{HOST}:{server.port}/readyz").json()
            backlog = (ready.get("search") or {}).get("backlog")
            if all(totals.values()) and backlog == 0:
                say(f"  search ready: {totals}, outbox empty")
                return
            say(f"  waiting for the index: {totals}, backlog {backlog}")
            time.sleep(15)
    raise SystemExit("the search index was not ready in time")


def resident(server: Server) -> int:
    root = psutil.Process(server.process.pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


class MemorySampler(threading.Thread):
    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.samples: list[tuple[float, int]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        while not self.stopped.wait(5):
            self.samples.append((time.monotonic() - started, resident(self.server)))

    def at(self, second: float) -> int:
        return min(self.samples, key=lambda s: abs(s[0] - second))[1]


def wrk_once(server: Server, bodies: Path, seconds: int, connections: int) -> WrkResult:
    args = argparse.Namespace(threads=2, connections=connections)
    proc = run_wrk(server, bodies, seconds, args, "stnmt")
    out, _ = proc.communicate(timeout=seconds + 600)  # wrk waits for its last answers
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed:\n{out}")
    return parse_wrk(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="mixed load length (5)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--compare-seconds", type=int, default=20, help="each on/off lookup run (20)"
    )
    parser.add_argument(
        "--edge-only", action="store_true", help="only the on/off comparison of the edge"
    )
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    mixed, lookups, parcel = mixed_bodies()
    if not args.edge_only:
        mixed_load(args, mixed, parcel)
    compare_edge(args, lookups)


def mixed_load(args: argparse.Namespace, mixed: Path, parcel: str) -> None:
    seconds = int(args.minutes * 60)
    say(f"mixed load: {args.connections} connections for {seconds} s")
    with hub() as server:
        wait_indexed(server, {"business": "cong ty", "land_parcel": parcel})
        wrk_once(server, mixed, 10, args.connections)  # warm-up
        sampler = MemorySampler(server)
        sampler.start()
        result = wrk_once(server, mixed, seconds, args.connections)
        sampler.stopped.set()
        first, last = sampler.at(60), sampler.samples[-1][1]
    print(
        f"mixed: {result.rps:.0f} req/s, p50 {result.p50_ms:.1f} ms, p99 {result.p99_ms:.1f} ms, "
        f"non-200 {result.non200}, GraphQL errors {result.gql_errors}, "
        f"resident {first / 2**20:.0f} MB at minute 1 → {last / 2**20:.0f} MB at the end "
        f"({100 * (last - first) / first:+.1f} %)"
    )


def compare_edge(args: argparse.Namespace, lookups: Path) -> None:
    # Lookups only: the search server is not rebuilt for these runs.
    quiet = {"HUB_SEARCH_REINDEX_AT_START": "false", "HUB_SEARCH_INDEXER_IN_PROCESS": "false"}
    on = {**quiet, "HUB_LOG_LEVEL": "INFO", "HUB_ACCESS_LOG": "true"}
    off = {
        **quiet,
        "HUB_LOG_LEVEL": "INFO",
        "HUB_ACCESS_LOG": "false",
        "HUB_RATE_LIMIT_CLIENT": "off",
        "HUB_RATE_LIMIT_AGENCY": "off",
        "HUB_RATE_LIMIT_ANONYMOUS": "off",
    }
    medians: dict[str, list[float]] = {"on": [], "off": []}
    for name, env in (("on", on), ("off", off), ("on", on), ("off", off)):
        with hub(**env) as server:
            wrk_once(server, lookups, 5, 16)
            r = wrk_once(server, lookups, args.compare_seconds, 16)
            medians[name].append(r.p50_ms)
            say(f"  edge {name}: {r.rps:.0f} req/s, p50 {r.p50_ms:.2f} ms, p99 {r.p99_ms:.2f} ms")
    on_ms, off_ms = statistics.mean(medians["on"]), statistics.mean(medians["off"])
    print(
        f"keyed lookup p50 with the edge on {on_ms:.2f} ms, off {off_ms:.2f} ms: "
        f"{100 * (on_ms - off_ms) / off_ms:+.1f} %"
    )


if __name__ == "__main__":
    main()
