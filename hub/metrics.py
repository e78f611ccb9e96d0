"""Prometheus metrics, correct with several worker processes.

Counters and histograms are written by each process; with ``PROMETHEUS_MULTIPROC_DIR`` set
(``hub serve --workers N`` sets it before the workers start) each process writes its own files
and ``/metrics`` in any of them adds all up (prometheus_client's multiprocess mode). Values
that live in PostgreSQL (sync lag and counts, outbox backlog, audit lag) are read at scrape
time, at most once per ``_DB_TTL`` seconds, and are the same whichever process answers.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request

from hub.search.outbox import FAILURE_COUNTS_SQL
from hub.settings import Settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_DB_TTL = 5.0

REQUESTS = Counter(
    "hub_requests_total",
    "HTTP requests answered, by route, GraphQL operation type and outcome",
    ["route", "operation", "outcome"],
)
REQUEST_SECONDS = Histogram(
    "hub_request_seconds",
    "Time from a request's arrival to its last response byte, by route and operation type",
    ["route", "operation"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

# Routes are labelled by their template: a label per dataset or per path would be unbounded.
_ROUTES = ("/graphql", "/oauth/token", "/healthz", "/readyz", "/metrics")


def may_scrape(request: Request, settings: Settings) -> bool:
    """With ``HUB_METRICS_TOKEN``, a scrape must carry it as a bearer token; without, only
    this machine may scrape (behind a proxy, set the token: the proxy's requests are local)."""
    token = settings.metrics_token
    if token is None:
        host = request.client.host if request.client else ""
        return host in ("127.0.0.1", "::1", "localhost")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.encode(), expected.encode())


def route_label(path: str) -> str:
    if path in _ROUTES:
        return path
    if path.startswith("/ingest/"):
        return "/ingest"
    if path.startswith("/.well-known/"):
        return "/.well-known"
    return "other"


@dataclass
class DatabaseFigures:
    """What the scrape reads from PostgreSQL and the process's pools."""

    pool_size: int = 0
    pool_idle: int = 0
    audit_pending: int = 0
    outbox_backlog: int | None = None
    outbox_oldest_seconds: float | None = None
    outbox_retrying: int = 0
    outbox_parked: int = 0
    sync: list[tuple[str, str, float | None, dict[str, int]]] = field(default_factory=list)


class _Figures(Collector):
    """Turns the last ``DatabaseFigures`` into gauges at collection time."""

    def __init__(self, figures: DatabaseFigures) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        pool = GaugeMetricFamily(
            "hub_db_pool_connections", "Read pool connections of this process", labels=["state"]
        )
        pool.add_metric(["used"], f.pool_size - f.pool_idle)
        pool.add_metric(["idle"], f.pool_idle)
        yield pool
        yield GaugeMetricFamily(
            "hub_audit_pending_batches",
            "Read-audit batches of this process waiting for their group commit",
            value=f.audit_pending,
        )
        if f.outbox_backlog is not None:
            yield GaugeMetricFamily(
                "hub_search_outbox_backlog",
                "Record versions waiting to be indexed (counted up to 1,000,000)",
                value=f.outbox_backlog,
            )
            yield GaugeMetricFamily(
                "hub_search_outbox_oldest_seconds",
                "Age of the oldest record version waiting to be indexed (0: none waiting)",
                value=f.outbox_oldest_seconds or 0.0,
            )
            yield GaugeMetricFamily(
                "hub_search_outbox_retrying",
                "Entries set aside after the search index refused them, waiting for a retry",
                value=f.outbox_retrying,
            )
            yield GaugeMetricFamily(
                "hub_search_outbox_parked",
                "Entries the search index refused on every attempt, parked until retried "
                "(search_outbox_failures)",
                value=f.outbox_parked,
            )
        age = GaugeMetricFamily(
            "hub_sync_last_success_age_seconds",
            "Seconds since each connector's last successful run",
            labels=["connector"],
        )
        rows = GaugeMetricFamily(
            "hub_sync_last_run_rows",
            "Rows of each connector's last finished run, by kind",
            labels=["connector", "kind"],
        )
        status = GaugeMetricFamily(
            "hub_sync_last_run_status",
            "1 for the status of each connector's last run",
            labels=["connector", "status"],
        )
        for connector, last_status, success_age, counts in f.sync:
            if success_age is not None:
                age.add_metric([connector], success_age)
            status.add_metric([connector, last_status], 1)
            for kind, count in counts.items():
                rows.add_metric([connector, kind], count)
        yield age
        yield rows
        yield status


_SYNC = """
SELECT DISTINCT ON (connector) connector, status, read, inserted, updated, unchanged,
       deleted, rejected,
       (SELECT extract(epoch FROM now() - max(finished_at)) FROM sync_runs ok
         WHERE ok.connector = r.connector AND ok.status = 'SUCCEEDED') AS success_age
FROM sync_runs r WHERE status <> 'RUNNING' ORDER BY connector, id DESC LIMIT 1000
"""
_OUTBOX = f"""
SELECT (SELECT count(*) FROM (SELECT 1 FROM search_outbox LIMIT 1000000) AS waiting),
       (SELECT extract(epoch FROM now() - min(at)) FROM search_outbox),
       failures.*
FROM ({FAILURE_COUNTS_SQL}) AS failures
"""
_COUNTS = ("read", "inserted", "updated", "unchanged", "deleted", "rejected")


class Metrics:
    """The scrape of one process: its registry (all processes' files in multiprocess mode)
    plus the figures read from PostgreSQL."""

    def __init__(self) -> None:
        self.figures = DatabaseFigures()
        self._read_at = -_DB_TTL
        self.registry = CollectorRegistry()
        if os.environ.get(MULTIPROC_ENV):
            MultiProcessCollector(self.registry)
        else:
            from prometheus_client import REGISTRY

            self.registry = REGISTRY
        self._figures = _Figures(self.figures)
        self._own = CollectorRegistry()
        self._own.register(self._figures)

    async def scrape(self, pool: Any, audit_pending: int) -> bytes:
        if pool is not None:
            self.figures.pool_size = pool.get_size()
            self.figures.pool_idle = pool.get_idle_size()
            if time.monotonic() - self._read_at >= _DB_TTL:
                await self._read_database(pool)
        self.figures.audit_pending = audit_pending
        return bytes(generate_latest(self.registry)) + bytes(generate_latest(self._own))

    async def _read_database(self, pool: Any) -> None:
        self._read_at = time.monotonic()
        try:
            async with pool.acquire() as conn:
                backlog, oldest, retrying, parked = await conn.fetchrow(_OUTBOX)
                runs: Sequence[Any] = await conn.fetch(_SYNC)
        except Exception:  # a scrape must answer even while PostgreSQL is away
            self.figures.outbox_backlog = None
            return
        self.figures.outbox_backlog = int(backlog)
        self.figures.outbox_oldest_seconds = float(oldest) if oldest is not None else None
        self.figures.outbox_retrying = int(retrying)
        self.figures.outbox_parked = int(parked)
        self.figures.sync = [
            (
                run["connector"],
                run["status"],
                float(run["success_age"]) if run["success_age"] is not None else None,
                {kind: int(run[kind] or 0) for kind in _COUNTS},
            )
            for run in runs
        ]


__all__ = ["MULTIPROC_ENV", "REQUESTS", "REQUEST_SECONDS", "Metrics", "may_scrape", "route_label"]
