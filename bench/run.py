"""Benchmark the hub against PostGraphile v5 on the same data (run bench/load.py first).

    python bench/run.py                   # 2 rounds of Q1..Q5 on both servers (~8 min)
    python bench/run.py --rounds 3 --queries Q2,Q3 --profile Q2

Starts `hub serve --workers 2` on 127.0.0.1:8801 and PostGraphile (2 Node processes) on
127.0.0.1:8802, checks that both answer each query with the same data, then drives each with
wrk (16 connections, 2 threads, 3 s warm-up, then 10 s measured) and prints requests/s, p50,
p99 and the ratio hub ÷ PostGraphile, with the CPU each process used during the measured
10 s. Both servers are stopped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    BENCH,
    CITIZEN_PURPOSE,
    CITIZEN_READER_AGENCY,
    HUB_CLI,
    HUB_DB,
    HUB_DIR,
    PG_CITIZEN_ROLE,
    PLAIN_DB,
    PLAIN_SCHEMA,
    ROOT,
    VENV_BIN,
    WORK,
    dsn,
    hub_env,
    reexec_in_venv,
)

reexec_in_venv()

import httpx  # noqa: E402
import psutil  # noqa: E402

HOST = "127.0.0.1"
HUB_PORT = 8801
PG_PORT = 8802
PG_DIR = BENCH / "postgraphile"
NODE = PG_DIR / "node_modules" / ".bin" / "node"
LUA = BENCH / "wrk" / "graphql.lua"
CLIENT_FILE = HUB_DIR / "bench-client.json"
CITIZEN_CLIENT_FILE = HUB_DIR / "bench-citizen-client.json"
KEY_SAMPLE = 10_000  # tax codes Q1 picks from
CHECK_Q1 = 200  # random keys whose answers are compared before the load

# -- the queries ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    name: str
    title: str
    hub: str
    pg: str
    # variables for one request, from the sample value (a tax code, a district, or None)
    hub_vars: Callable[[Any], dict[str, Any]]
    pg_vars: Callable[[Any], dict[str, Any]]
    # the answer's data as comparable plain values
    hub_norm: Callable[[dict[str, Any]], Any]
    pg_norm: Callable[[dict[str, Any]], Any]
    # whose credentials: "stnmt" (the STNMT reader; PostGraphile without authentication) or
    # "citizen" (the UBND-TX-TUSON reader under its citizen grant; PostGraphile as the role
    # PG_CITIZEN_ROLE)
    reader: str = "stnmt"


def _dec(value: Any) -> str | None:
    return None if value is None else format(Decimal(str(value)).normalize(), "f")


def _edges(connection: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"] for e in connection["edges"]]


def _business(b: dict[str, Any] | None) -> tuple | None:
    return None if b is None else (b["taxCode"], b["name"], b.get("address"), b.get("district"))


def _citizens(connection: dict[str, Any]) -> list[tuple]:
    return [
        (c["citizenId"], c["fullName"], c["birthDate"], c["sex"], c["commune"])
        for c in _edges(connection)
    ]


def _names(connection: dict[str, Any]) -> list[tuple]:
    return [(b["taxCode"], b["name"]) for b in _edges(connection)]


# Q5 reads the second page: `after` is the end cursor of the first 100 (each server's own,
# asked once before the load; the request bodies then carry it).
Q5_HUB = (
    "query Q5($after: String) { businessList(orderBy: NAME_ASC, first: 100, after: $after) "
    "{ edges { node { taxCode name } } PAGE } }"
)
Q5_PG = (
    "query Q5($after: Cursor) { allBusinesses(orderBy: [NAME_SORT_ASC, TAX_CODE_ASC], "
    "first: 100, after: $after) { edges { node { taxCode name } } PAGE } }"
)
PAGE_INFO = "pageInfo { endCursor }"

QUERIES = [
    Query(
        "Q1",
        "one business by tax code (random key from 10,000)",
        "query Q1($key: String!) { business(key: $key) { taxCode name address district } }",
        "query Q1($taxCode: String!) { businessByTaxCode(taxCode: $taxCode) "
        "{ taxCode name address district } }",
        lambda key: {"key": key},
        lambda key: {"taxCode": key},
        lambda d: _business(d["business"]),
        lambda d: _business(d["businessByTaxCode"]),
    ),
    Query(
        "Q2",
        "50 land parcels of a random district by area, each with its holder",
        "query Q2($district: String!) { landParcelList(filter: {district: {eq: $district}}, "
        "orderBy: AREA_M2_DESC, first: 50) { edges { node { parcelId areaM2 "
        "holder { taxCode name } } } } }",
        "query Q2($district: String!) { allLandParcels(condition: {district: $district}, "
        "orderBy: [AREA_M2_DESC, PARCEL_ID_DESC], first: 50) { edges { node { parcelId areaM2 "
        "businessByHolderTaxCode { taxCode name } } } } }",
        lambda district: {"district": district},
        lambda district: {"district": district},
        lambda d: [
            (p["parcelId"], _dec(p["areaM2"]), _business(p["holder"]))
            for p in _edges(d["landParcelList"])
        ],
        lambda d: [
            (p["parcelId"], _dec(p["areaM2"]), _business(p["businessByHolderTaxCode"]))
            for p in _edges(d["allLandParcels"])
        ],
    ),
    Query(
        "Q3",
        "10 businesses, each with 20 of its land parcels",
        "query Q3 { businessList(first: 10) { edges { node { taxCode name "
        "landParcelList(first: 20) { edges { node { parcelId areaM2 } } } } } } }",
        "query Q3 { allBusinesses(first: 10, orderBy: TAX_CODE_ASC) { edges { node { taxCode "
        "name landParcelsByHolderTaxCode(first: 20, orderBy: PARCEL_ID_ASC) "
        "{ edges { node { parcelId areaM2 } } } } } } }",
        lambda _: {},
        lambda _: {},
        lambda d: [
            (
                b["taxCode"],
                b["name"],
                [(p["parcelId"], _dec(p["areaM2"])) for p in _edges(b["landParcelList"])],
            )
            for b in _edges(d["businessList"])
        ],
        lambda d: [
            (
                b["taxCode"],
                b["name"],
                [
                    (p["parcelId"], _dec(p["areaM2"]))
                    for p in _edges(b["landParcelsByHolderTaxCode"])
                ],
            )
            for b in _edges(d["allBusinesses"])
        ],
    ),
    Query(
        "Q4",
        "50 citizens under a grant with a row filter and RESTRICTED fields, with a purpose",
        "query Q4 { citizenList(first: 50, purpose: "
        + json.dumps(CITIZEN_PURPOSE, ensure_ascii=False)
        + ") { edges { node { citizenId fullName birthDate sex commune } } } }",
        "query Q4 { allCitizens(orderBy: RECORD_KEY_ASC, first: 50) "
        "{ edges { node { citizenId fullName birthDate sex commune } } } }",
        lambda _: {},
        lambda _: {},
        lambda d: _citizens(d["citizenList"]),
        lambda d: _citizens(d["allCitizens"]),
        reader="citizen",
    ),
    Query(
        "Q5",
        "the second page of 100 businesses by name (Vietnamese order)",
        Q5_HUB.replace(" PAGE", ""),
        Q5_PG.replace(" PAGE", ""),
        lambda cursors: {"after": cursors["hub"]},
        lambda cursors: {"after": cursors["pg"]},
        lambda d: _names(d["businessList"]),
        lambda d: _names(d["allBusinesses"]),
    ),
]


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- servers --------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    # request headers per reader (Query.reader): the hub's bearer tokens, PostGraphile's role
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    listeners_expected: int = 1

    def listeners(self) -> list[psutil.Process]:
        """The processes holding a listening socket on the port."""
        root = psutil.Process(self.process.pid)
        found = []
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                for conn in proc.net_connections(kind="tcp"):
                    if conn.status == psutil.CONN_LISTEN and conn.laddr.port == self.port:
                        found.append(proc)
                        break
        return found

    def workers(self) -> list[psutil.Process]:
        """The serving processes: the children of `hub serve` or of Node's cluster primary
        (the process itself when it has none)."""
        root = psutil.Process(self.process.pid)
        children = []
        for proc in root.children():
            with contextlib.suppress(psutil.Error):
                command = " ".join(proc.cmdline())
                # multiprocessing's tracker and the embedded search server are helpers.
                if "resource_tracker" not in command and "osmem-server" not in command:
                    children.append(proc)
        return children or [root]

    def helpers(self) -> list[psutil.Process]:
        """The server's other processes (hub's parent, Node's cluster primary)."""
        root = psutil.Process(self.process.pid)
        serving = {p.pid for p in self.workers()}
        return [p for p in [root, *root.children(recursive=True)] if p.pid not in serving]


def _port_free(port: int) -> bool:
    for conn in psutil.net_connections(kind="tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN:
            return False
    return True


def start_server(name: str, port: int, argv: list[str], env: dict[str, str], cwd: Path) -> Server:
    if not _port_free(port):
        raise SystemExit(f"port {port} is already in use; stop whatever listens there first")
    log = WORK / f"{name}.log"
    handle = log.open("wb")
    # Own session, so that stopping it takes every worker process with it.
    process = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    handle.close()
    return Server(name, port, process, log)


def stop_server(server: Server) -> None:
    if server.process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=5)
    # Workers of the same session that outlived their parent.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        alive = [
            p for p in psutil.process_iter(["pid"]) if _session_of(p.pid) == server.process.pid
        ]
        if not alive:
            return
        for p in alive:
            with contextlib.suppress(psutil.Error):
                p.kill()
        time.sleep(0.2)


def _session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except OSError:
        return None


def wait_ready(server: Server, workers: int, timeout: float = 120) -> None:
    """Until `workers` processes listen on the port and 20 fresh connections in a row answer."""
    deadline = time.monotonic() + timeout
    ok = 0
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(
                f"{server.name} exited ({server.process.returncode}); see {server.log}:\n"
                + server.log.read_text(errors="replace")[-3000:]
            )
        if len(server.workers()) >= workers and (
            len(server.listeners()) >= server.listeners_expected
        ):
            try:
                response = httpx.post(
                    f"http://{HOST}:{server.port}/graphql",
                    json={"query": "{ __typename }"},
                    headers=server.headers.get("stnmt", {}),
                    timeout=5,
                )
                ok = ok + 1 if response.status_code == 200 else 0
            except httpx.HTTPError:
                ok = 0
            if ok >= 20:
                return
        time.sleep(0.25)
    raise SystemExit(f"{server.name} was not ready after {timeout:.0f} s; see {server.log}")


def hub_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HUB_CLI), *args],
        env=hub_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def hub_token(
    path: Path = CLIENT_FILE, name: str = "bench-stnmt-reader", agency: str = "STNMT"
) -> str:
    """A token for a client of `agency` with role reader (registered once, then reused)."""
    if path.exists():
        saved = json.loads(path.read_text())
        done = hub_cli(
            "token", "--client-id", saved["client_id"], "--client-secret", saved["client_secret"]
        )
        if done.returncode == 0:
            return done.stdout.strip()
        say(f"saved bench client no longer works ({done.stderr.strip()}); registering anew")
    done = hub_cli("clients", "add", name, "--agency", agency, "--roles", "reader", "--json")
    if done.returncode != 0:
        raise SystemExit(f"hub clients add failed: {done.stderr.strip()}")
    saved = json.loads(done.stdout)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(saved, fh)
    done = hub_cli(
        "token", "--client-id", saved["client_id"], "--client-secret", saved["client_secret"]
    )
    if done.returncode != 0:
        raise SystemExit(f"hub token failed: {done.stderr.strip()}")
    return done.stdout.strip()


# -- data from the databases ---------------------------------------------------------------------


def psql(database: str, sql: str) -> list[str]:
    done = subprocess.run(
        ["psql", dsn(database), "-XAtc", sql],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if line]


def _hub_count(dataset: str) -> int:
    sql = f"SELECT count(*) FROM records WHERE dataset_code = '{dataset}' AND NOT deleted"
    return int(psql(HUB_DB, sql)[0])


def samples(chosen: list[str]) -> dict[str, list[Any]]:
    keys = psql(PLAIN_DB, f"SELECT tax_code FROM {PLAIN_SCHEMA}.business ORDER BY tax_code")
    hub_count = _hub_count("business")
    if len(keys) != hub_count or not keys:
        raise SystemExit(
            f"the databases differ or are empty ({len(keys)} plain businesses, {hub_count} in "
            "the hub): run python bench/load.py"
        )
    if "Q4" in chosen:
        has_table = psql(PLAIN_DB, f"SELECT to_regclass('{PLAIN_SCHEMA}.citizen') IS NOT NULL")
        plain = (
            int(psql(PLAIN_DB, f"SELECT count(*) FROM {PLAIN_SCHEMA}.citizen")[0])
            if has_table == ["t"]
            else 0
        )
        hub_citizens = _hub_count("citizen")
        if plain != hub_citizens or not plain:
            raise SystemExit(
                f"citizens differ or are missing ({plain} plain, {hub_citizens} in the hub): "
                "run python bench/load.py"
            )
    if "Q5" in chosen and not psql(
        PLAIN_DB,
        "SELECT 1 FROM information_schema.columns WHERE table_schema = "
        f"'{PLAIN_SCHEMA}' AND table_name = 'business' AND column_name = 'name_sort'",
    ):
        raise SystemExit("business.name_sort is missing: run python bench/load.py")
    districts = psql(PLAIN_DB, f"SELECT DISTINCT district FROM {PLAIN_SCHEMA}.land_parcel")
    rng = random.Random(20261123)
    return {
        "Q1": rng.sample(keys, KEY_SAMPLE),
        "Q2": sorted(districts),
        "Q3": [None],
        "Q4": [None],
        "Q5": [],  # the cursors, from first_pages() once the servers run
    }


def audit_counts() -> tuple[int, int]:
    row = psql(
        HUB_DB,
        "SELECT (SELECT count(*) FROM audit_events), "
        "(SELECT CASE WHEN to_regclass('record_reads') IS NULL THEN -1 "
        "ELSE (SELECT count(*) FROM record_reads) END)",
    )[0].split("|")
    return int(row[0]), int(row[1])


# -- answers must match --------------------------------------------------------------------------


def ask(
    client: httpx.Client,
    server: Server,
    query: str,
    variables: dict[str, Any],
    reader: str = "stnmt",
) -> Any:
    response = client.post(
        f"http://{HOST}:{server.port}/graphql",
        json={"query": query, "variables": variables},
        headers=server.headers.get(reader, {}),
        timeout=30,
    )
    body = response.json()
    if response.status_code != 200 or body.get("errors") or body.get("data") is None:
        raise AnswerError(server.name, response.status_code, response.text[:2000])
    return body["data"]


class AnswerError(Exception):
    def __init__(self, server: str, status: int, text: str) -> None:
        super().__init__(f"{server} answered {status}: {text}")


def check_answers(
    hub: Server, pg: Server, queries: list[Query], pool: dict[str, list[Any]], per_query: int
) -> dict[str, str]:
    """Compare the data of both answers for a sample of each query; name what differs."""
    report = {}
    with httpx.Client() as client:
        for q in queries:
            values = pool[q.name]
            chosen = values if len(values) <= per_query else random.sample(values, per_query)
            rows = 0
            for value in chosen:
                try:
                    h = q.hub_norm(ask(client, hub, q.hub, q.hub_vars(value), q.reader))
                    p = q.pg_norm(ask(client, pg, q.pg, q.pg_vars(value), q.reader))
                except AnswerError as exc:
                    report[q.name] = f"ERROR {exc}"
                    break
                if h != p:
                    shown_h = json.dumps(h, ensure_ascii=False)[:800]
                    shown_p = json.dumps(p, ensure_ascii=False)[:800]
                    report[q.name] = f"DIFFERENT for {value!r}:\n  hub: {shown_h}\n  pg:  {shown_p}"
                    break
                rows += _count_rows(h)
            else:
                report[q.name] = f"equal ({len(chosen)} requests, {rows} values compared)"
    return report


def first_pages(hub: Server, pg: Server) -> tuple[dict[str, str], str | None]:
    """Q5's cursors: the end cursor of each server's first page of 100 businesses by name;
    and what differs between those first pages (None when they are equal)."""
    cursors: dict[str, str] = {}
    pages = {}
    with httpx.Client() as client:
        for server, text, root in (
            (hub, Q5_HUB, "businessList"),
            (pg, Q5_PG, "allBusinesses"),
        ):
            key = "hub" if server is hub else "pg"
            data = ask(client, server, text.replace("PAGE", PAGE_INFO), {"after": None})
            cursors[key] = data[root]["pageInfo"]["endCursor"]
            pages[key] = _names(data[root])
    if pages["hub"] != pages["pg"]:
        shown_h = json.dumps(pages["hub"], ensure_ascii=False)[:800]
        shown_p = json.dumps(pages["pg"], ensure_ascii=False)[:800]
        return cursors, f"first pages DIFFERENT:\n  hub: {shown_h}\n  pg:  {shown_p}"
    return cursors, None


def _count_rows(value: Any) -> int:
    if isinstance(value, list | tuple):
        return sum(_count_rows(v) for v in value) if value else 0
    return 1


def write_bodies(q: Query, server: str, values: list[Any]) -> Path:
    path = WORK / "bodies" / f"{q.name}-{server}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    text, make = (q.hub, q.hub_vars) if server == "hub" else (q.pg, q.pg_vars)
    with path.open("w", encoding="utf-8") as fh:
        for value in values:
            body = {"query": text, "variables": make(value)}
            fh.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")
    return path


# -- CPU accounting ------------------------------------------------------------------------------


def _cpu(proc: psutil.Process) -> float | None:
    try:
        t = proc.cpu_times()
        return t.user + t.system
    except psutil.Error:
        return None


def _group_of(proc: psutil.Process, groups: dict[int, str]) -> str | None:
    if proc.pid in groups:
        return groups[proc.pid]
    try:
        if proc.username() == "postgres" and proc.name() == "postgres":
            cmd = " ".join(proc.cmdline())
            if f" {HUB_DB} " in cmd:
                return "postgres: hub_bench backends"
            if f" {PLAIN_DB} " in cmd:
                return "postgres: pg_bench backends"
            return "postgres: other (writer, wal, checkpointer, other DBs)"
    except psutil.Error:
        return None
    return None


def _system_times() -> tuple[float, float, float]:
    t = psutil.cpu_times()
    busy = t.user + t.system + t.nice + getattr(t, "irq", 0) + getattr(t, "softirq", 0)
    return busy, getattr(t, "steal", 0.0), t.idle


@dataclass
class CpuWindow:
    seconds: float
    per_process: dict[str, float]  # label → % of one core
    groups: dict[str, float]  # postgres groups, wrk, others → % of one core
    steal: float
    busy_total: float


class CpuSampler:
    """CPU seconds of the servers' processes, postgres, wrk and everything else, between
    start() and stop(), as % of one core (200 % = both cores)."""

    def __init__(self, labels: dict[int, str]) -> None:
        self.labels = labels  # pid → label for the servers' processes and wrk

    def _snapshot(self) -> dict[int, tuple[str, float]]:
        snap = {}
        for proc in psutil.process_iter(["pid"]):
            label = self.labels.get(proc.pid) or _group_of(proc, {})
            cpu = _cpu(proc)
            if cpu is not None:
                snap[proc.pid] = (label or "other processes", cpu)
        return snap

    def start(self) -> None:
        self.t0 = time.monotonic()
        self.sys0 = _system_times()
        self.s0 = self._snapshot()

    def stop(self) -> CpuWindow:
        s1 = self._snapshot()
        seconds = time.monotonic() - self.t0
        sys1 = _system_times()
        per_label: dict[str, float] = {}
        for pid, (label, cpu) in s1.items():
            before = self.s0.get(pid, (label, 0.0))[1]
            per_label[label] = per_label.get(label, 0.0) + max(0.0, cpu - before)
        pct = {k: 100 * v / seconds for k, v in per_label.items()}
        named = {k: v for k, v in pct.items() if k in self.labels.values()}
        groups = {k: v for k, v in pct.items() if k not in named}
        return CpuWindow(
            seconds=seconds,
            per_process=named,
            groups=groups,
            steal=100 * (sys1[1] - self.sys0[1]) / seconds,
            busy_total=100 * (sys1[0] - self.sys0[0]) / seconds,
        )


# -- wrk ------------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    responses: int
    non200: int
    gql_errors: int
    socket_errors: str
    first_error: str
    cpu: CpuWindow | None = None
    audit_events: int | None = None
    record_reads: int | None = None
    raw: str = ""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unexpected latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(out: str) -> WrkResult:
    def find(pattern: str, default: str | None = None) -> str:
        match = re.search(pattern, out, re.MULTILINE)
        if match:
            return match.group(1)
        if default is None:
            raise ValueError(f"wrk output lacks {pattern!r}:\n{out}")
        return default

    bench = re.search(r"^bench: responses (\d+) non200 (\d+) graphql_errors (\d+)", out, re.M)
    return WrkResult(
        rps=float(find(r"^Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(find(r"^\s+50%\s+(\S+)")),
        p99_ms=_ms(find(r"^\s+99%\s+(\S+)")),
        requests=int(find(r"^\s+(\d+) requests in")),
        responses=int(bench.group(1)) if bench else -1,
        non200=int(bench.group(2)) if bench else -1,
        gql_errors=int(bench.group(3)) if bench else -1,
        socket_errors=find(r"^\s+Socket errors: (.*)$", "none"),
        first_error=find(r"^bench: first_error (.*)$", ""),
        raw=out,
    )


def run_wrk(
    server: Server, bodies: Path, seconds: int, args: argparse.Namespace, reader: str
) -> subprocess.Popen[str]:
    headers = server.headers.get(reader, {})
    env = {
        **os.environ,
        "BENCH_BODIES": str(bodies),
        "BENCH_HEADERS": "\n".join(f"{k}: {v}" for k, v in headers.items()),
    }
    env.pop("BENCH_AUTH", None)
    argv = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(LUA),
        f"http://{HOST}:{server.port}/graphql",
    ]
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def foreign_cpu(ours: set[int], seconds: float = 1.0) -> float:
    """% of one core used over `seconds` by processes that are neither ours nor postgres
    backends of the bench databases (other people's tests on a shared machine)."""

    def snap() -> dict[int, float]:
        out = {}
        for proc in psutil.process_iter(["pid"]):
            if proc.pid in ours or proc.pid == os.getpid():
                continue
            group = _group_of(proc, {})
            if group and ("hub_bench" in group or "pg_bench" in group):
                continue
            cpu = _cpu(proc)
            if cpu is not None:
                out[proc.pid] = cpu
        return out

    before = snap()
    time.sleep(seconds)
    after = snap()
    used = sum(max(0.0, cpu - before.get(pid, 0.0)) for pid, cpu in after.items())
    return 100 * used / seconds


def wait_quiet(servers_: list[Server], limit: float, patience: float) -> float:
    """Wait (at most `patience` s) until other processes use under `limit` % of one core."""
    ours: set[int] = set()
    for server in servers_:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(server.process.pid)
            ours |= {root.pid, *(p.pid for p in root.children(recursive=True))}
    deadline = time.monotonic() + patience
    while True:
        busy = foreign_cpu(ours)
        if busy < limit:
            return busy
        if time.monotonic() > deadline:
            say(
                f"  machine still busy ({busy:.0f} % of a core used by other processes); "
                "measuring anyway"
            )
            return busy
        say(f"  waiting: other processes use {busy:.0f} % of a core")
        time.sleep(2)


def measure(
    server: Server,
    bodies: Path,
    args: argparse.Namespace,
    reader: str = "stnmt",
    profile_to: Path | None = None,
) -> WrkResult:
    if args.quiet_limit > 0:
        wait_quiet(args.all_servers, args.quiet_limit, args.quiet_patience)
    warm = run_wrk(server, bodies, args.warmup, args, reader)
    out, _ = warm.communicate(timeout=args.warmup + 30)
    if warm.returncode != 0:
        raise SystemExit(f"wrk warm-up against {server.name} failed:\n{out}")
    labels: dict[int, str] = {}
    for i, p in enumerate(sorted(server.workers(), key=lambda p: p.pid)):
        labels[p.pid] = f"{server.name} worker {i + 1} (pid {p.pid})"
    for p in server.helpers():
        labels[p.pid] = f"{server.name} parent/helper (pid {p.pid})"
    audit_before = audit_counts() if server.name == "hub" else None
    proc = run_wrk(server, bodies, args.duration, args, reader)
    labels[proc.pid] = "wrk"
    sampler = CpuSampler(labels)
    spy = None
    if profile_to is not None:
        worker = min(server.workers(), key=lambda p: p.pid)
        spy = subprocess.Popen(
            [
                str(VENV_BIN / "py-spy"),
                "record",
                "-d",
                str(max(1, args.duration - 2)),
                "-r",
                "200",
                "-p",
                str(worker.pid),
                "--format",
                "raw",
                "-o",
                str(profile_to),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    time.sleep(0.5)  # wrk has connected
    sampler.start()
    time.sleep(max(1.0, args.duration - 1.0))
    cpu = sampler.stop()
    out, _ = proc.communicate(timeout=args.duration + 30)
    if spy is not None:
        spy_out, _ = spy.communicate(timeout=60)
        if spy.returncode != 0:
            say(f"py-spy failed: {spy_out.strip()}")
    if proc.returncode != 0:
        raise SystemExit(f"wrk against {server.name} failed:\n{out}")
    result = parse_wrk(out)
    result.cpu = cpu
    if audit_before is not None:
        after = audit_counts()
        result.audit_events = after[0] - audit_before[0]
        result.record_reads = after[1] - audit_before[1] if after[1] >= 0 else None
    return result


# -- reporting -------------------------------------------------------------------------------------


def fmt_ms(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def print_table(rows: list[tuple[str, int, WrkResult, WrkResult]]) -> None:
    head = (
        f"{'query':<6}{'round':>6}{'hub req/s':>11}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'PG req/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'hub÷PG':>9}"
    )
    print(head)
    print("-" * len(head))
    for name, rnd, h, p in rows:
        print(
            f"{name:<6}{rnd:>6}{h.rps:>11,.0f}{fmt_ms(h.p50_ms):>9}{fmt_ms(h.p99_ms):>9}"
            f"{p.rps:>11,.0f}{fmt_ms(p.p50_ms):>9}{fmt_ms(p.p99_ms):>9}{h.rps / p.rps:>8.2f}×"
        )


def describe_cpu(result: WrkResult) -> list[str]:
    cpu = result.cpu
    assert cpu is not None
    lines = []
    for label, value in sorted(cpu.per_process.items()):
        if label == "wrk":
            continue
        lines.append(f"    {label:<44}{value:6.0f} %")
    for label in ("wrk", *sorted(cpu.groups)):
        share = cpu.per_process.get(label, cpu.groups.get(label))
        if share is not None and share >= 0.5:
            lines.append(f"    {label:<44}{share:6.0f} %")
    served = result.rps * cpu.seconds
    server_cpu = sum(v for k, v in cpu.per_process.items() if k != "wrk")
    db_cpu = sum(
        v
        for k, v in cpu.groups.items()
        if k.startswith("postgres: h") or k.startswith("postgres: pg")
    )
    lines.append(
        f"    machine busy {cpu.busy_total:.0f} % of 200 %, steal {cpu.steal:.0f} %; "
        f"CPU per request: server {10 * server_cpu * cpu.seconds / served:.2f} ms, "
        f"its DB backends {10 * db_cpu * cpu.seconds / served:.2f} ms"
    )
    return lines


BORING_FRAMES = (
    "asyncio/",
    "uvicorn/server",
    "<module>",
    "multiprocessing/",
    "_serve_worker",
    "selectors.py",
)


def summarise_profile(path: Path, top: int = 25) -> list[str]:
    """Top frames of a py-spy raw (collapsed) profile: by own samples and inclusive."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for frame in set(frames):
            incl[frame] = incl.get(frame, 0) + count
    if not total:
        return ["    (no samples)"]
    out = [f"    {total} samples; by own time:"]
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"    {100 * n / total:5.1f} %  {frame}")
    out.append("    inclusive (frames under this one), skipping the event loop:")
    shown = 0
    for frame, n in sorted(incl.items(), key=lambda kv: -kv[1]):
        if any(s in frame for s in BORING_FRAMES):
            continue
        out.append(f"    {100 * n / total:5.1f} %  {frame}")
        shown += 1
        if shown >= top:
            break
    return out


# -- main -----------------------------------------------------------------------------------------


def preflight() -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    if not NODE.exists():
        raise SystemExit(f"PostGraphile is not installed: cd {PG_DIR} && npm ci")
    if not HUB_CLI.exists():
        raise SystemExit(f"{HUB_CLI} missing: install the project into .venv first")


def hub_command(args: argparse.Namespace) -> list[str]:
    return [str(HUB_CLI)]


@contextlib.contextmanager
def servers(args: argparse.Namespace) -> Iterator[tuple[Server, Server]]:
    started: list[Server] = []
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        say("starting PostGraphile (2 Node processes) and the hub (hub serve --workers 2)")
        pg = start_server(
            "postgraphile",
            PG_PORT,
            [str(NODE), "server.mjs"],
            {
                **os.environ,
                "HOST": HOST,
                "PORT": str(PG_PORT),
                "WORKERS": str(args.workers),
                "BALANCE": args.pg_balance,
                "DATABASE_URL": dsn(PLAIN_DB),
                "NODE_ENV": "production",
            },
            PG_DIR,
        )
        pg.listeners_expected = args.workers if args.pg_balance == "reuseport" else 1
        started.append(pg)
        hub = start_server(
            "hub",
            HUB_PORT,
            [*hub_command(args), "serve", "--workers", str(args.workers), "--port", str(HUB_PORT)],
            # The embedded search server would otherwise spend the whole run rebuilding its
            # index of the 500,000 records at start (PostGraphile has nothing like it); the
            # outbox indexer still runs, as in any hub, and idles as nothing is written.
            hub_env(HUB_SEARCH_REINDEX_AT_START="false"),
            ROOT,
        )
        hub.listeners_expected = args.workers
        started.append(hub)
        hub.headers = {
            "stnmt": {"Authorization": "Bearer " + hub_token()},
            "citizen": {
                "Authorization": "Bearer "
                + hub_token(CITIZEN_CLIENT_FILE, "bench-tuson-reader", CITIZEN_READER_AGENCY)
            },
        }
        # server.mjs takes on the role named by X-Bench-Role (for this role only).
        pg.headers = {"citizen": {"X-Bench-Role": PG_CITIZEN_ROLE}}
        wait_ready(pg, args.workers)
        wait_ready(hub, args.workers)
        say(
            f"ready: hub workers {[p.pid for p in hub.workers()]}, "
            f"PostGraphile workers {[p.pid for p in pg.workers()]}"
        )
        yield hub, pg
    finally:
        for server in reversed(started):
            stop_server(server)
        signal.signal(signal.SIGTERM, previous)
        if started:
            say("servers stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", default="Q1,Q2,Q3,Q4,Q5", help="which queries (default all)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every query (2)")
    parser.add_argument("--duration", type=int, default=10, help="measured seconds (10)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up seconds (3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--workers", type=int, default=2, help="processes per server (2)")
    parser.add_argument(
        "--pg-balance",
        choices=("reuseport", "cluster"),
        default="reuseport",
        help="how PostGraphile's processes share the port: SO_REUSEPORT like the hub "
        "(default) or Node's cluster round-robin",
    )
    parser.add_argument(
        "--profile",
        default="",
        help="queries (e.g. Q2,Q3) to run once more while py-spy samples hub worker 1; the "
        "profile goes to bench/.work/profile-Qn.txt and its top frames are printed",
    )
    parser.add_argument(
        "--quiet-limit",
        type=float,
        default=15,
        help="before each run wait until other processes use less than this %% of one core "
        "(15; 0 = never wait): the machine may be shared",
    )
    parser.add_argument(
        "--quiet-patience", type=float, default=90, help="longest wait for quiet, s (90)"
    )
    parser.add_argument("--no-check", action="store_true", help="skip the answer comparison")
    args = parser.parse_args()
    chosen = [q for q in QUERIES if q.name in args.queries.split(",")]
    profiled = [q for q in QUERIES if q.name in args.profile.split(",")]

    preflight()
    WORK.mkdir(parents=True, exist_ok=True)
    HUB_DIR.mkdir(parents=True, exist_ok=True)
    say(
        f"cores {os.cpu_count()}, wrk -t{args.threads} -c{args.connections}, warm-up "
        f"{args.warmup} s, measured {args.duration} s, {args.rounds} round(s)"
    )
    pool = samples([q.name for q in chosen])
    say(f"{len(pool['Q1']):,} sample tax codes, {len(pool['Q2'])} districts")
    rows: list[tuple[str, int, WrkResult, WrkResult]] = []
    cpu_lines: list[str] = []
    problems: list[str] = []
    with servers(args) as (hub, pg):
        args.all_servers = [hub, pg]
        if any(q.name == "Q5" for q in chosen + profiled):
            try:
                cursors, differs = first_pages(hub, pg)
            except AnswerError as exc:
                # No cursor, no second page: Q5 is left out of this run.
                differs = f"first page: ERROR {exc}"
                chosen = [q for q in chosen if q.name != "Q5"]
                profiled = [q for q in profiled if q.name != "Q5"]
            else:
                pool["Q5"] = [cursors]
                if not differs:
                    say("answers Q5 first page (for the cursors): equal")
            if differs:
                say(f"answers Q5: {differs}")
                problems.append(f"Q5: {differs}")
        if not args.no_check:
            check_pool = {**pool, "Q1": pool["Q1"][:CHECK_Q1]}
            for name, verdict in check_answers(hub, pg, chosen, check_pool, CHECK_Q1).items():
                say(f"answers {name}: {verdict}")
                if not verdict.startswith("equal"):
                    problems.append(f"{name}: {verdict}")
        bodies = {
            (q.name, s): write_bodies(q, s, pool[q.name]) for q in chosen for s in ("hub", "pg")
        }
        for rnd in range(1, args.rounds + 1):
            for q in chosen:
                # Alternate which server goes first, so neither always gets the warmer cache.
                order = [(hub, "hub"), (pg, "pg")]
                if rnd % 2 == 0:
                    order.reverse()
                results: dict[str, WrkResult] = {}
                for server, key in order:
                    say(f"round {rnd} {q.name} {server.name} …")
                    results[key] = measure(server, bodies[(q.name, key)], args, q.reader)
                    r = results[key]
                    if r.non200 or r.gql_errors or r.socket_errors != "none":
                        problems.append(
                            f"round {rnd} {q.name} {server.name}: {r.non200} non-200, "
                            f"{r.gql_errors} GraphQL errors, socket errors: {r.socket_errors}; "
                            f"first: {r.first_error}"
                        )
                h, p = results["hub"], results["pg"]
                rows.append((q.name, rnd, h, p))
                say(
                    f"round {rnd} {q.name}: hub {h.rps:,.0f} req/s, PostGraphile "
                    f"{p.rps:,.0f} req/s, ratio {h.rps / p.rps:.2f}"
                )
                cpu_lines.append(
                    f"  round {rnd} {q.name} hub ({h.rps:,.0f} req/s"
                    + (
                        f", {h.audit_events:,} audit events, "
                        f"{h.record_reads:,} new record_reads rows"
                        if h.audit_events is not None
                        else ""
                    )
                    + "):"
                )
                cpu_lines.extend(describe_cpu(h))
                cpu_lines.append(f"  round {rnd} {q.name} PostGraphile ({p.rps:,.0f} req/s):")
                cpu_lines.extend(describe_cpu(p))
        if not args.no_check:
            check_pool = {**pool, "Q1": pool["Q1"][:50]}
            for name, verdict in check_answers(hub, pg, chosen, check_pool, 50).items():
                say(f"answers after the load {name}: {verdict}")
                if not verdict.startswith("equal"):
                    problems.append(f"after the load {name}: {verdict}")
        profile_lines: list[str] = []
        for q in profiled:
            path = WORK / f"profile-{q.name}.txt"
            say(f"profiling hub worker 1 during {q.name} (py-spy, not counted) …")
            r = measure(
                hub,
                bodies.get((q.name, "hub")) or write_bodies(q, "hub", pool[q.name]),
                args,
                q.reader,
                profile_to=path,
            )
            profile_lines.append(f"  {q.name} under py-spy: {r.rps:,.0f} req/s; {path}")
            if path.exists():
                profile_lines.extend(summarise_profile(path))

    print()
    launcher = "hub serve"
    print(
        f"hub ({launcher} --workers {args.workers}) vs PostGraphile v5 ({args.workers} Node "
        f"processes, {args.pg_balance}); wrk -t{args.threads} -c{args.connections} "
        f"-d{args.duration}s after {args.warmup} s warm-up"
    )
    print()
    print_table(rows)
    if args.rounds > 1:
        print()
        print("median over rounds:")
        for q in chosen:
            mine = [(h, p) for n, _, h, p in rows if n == q.name]
            hr = statistics.median(h.rps for h, _ in mine)
            pr = statistics.median(p.rps for _, p in mine)
            ratios = [h.rps / p.rps for h, p in mine]
            print(
                f"  {q.name}: hub {hr:,.0f} req/s, PostGraphile {pr:,.0f} req/s, ratio "
                f"{hr / pr:.2f} (rounds {min(ratios):.2f}–{max(ratios):.2f})"
            )
    print()
    print("CPU during the measured window (% of one core; the machine has 200 %):")
    for line in cpu_lines:
        print(line)
    if profile_lines:
        print()
        print("profiles:")
        for line in profile_lines:
            print(line)
    if problems:
        print()
        print("PROBLEMS:")
        for line in problems:
            print("  " + line)
        sys.exit(1)


if __name__ == "__main__":
    main()
