"""Record reads on PostgreSQL read replicas (``HUB_DATABASE_REPLICA_URLS``).

Writes, grants, the catalogue and the audit always go to the primary; record reads go to a
replica that answers and lags at most ``HUB_REPLICA_MAX_LAG_SECONDS``, else to the primary.
A caller that has just written reads from the primary for ``HUB_REPLICA_STICKY_SECONDS``, so
it always sees its own write: the write is announced on the primary (``NOTIFY hub_writes``)
and every hub process, on every host, pins that caller. The policy itself never comes from a
replica: compiled reads check the policy version they were planned under against the
database they run on, and a replica behind it sends the read to the primary.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from dataclasses import dataclass, field

import asyncpg

from catalog.principal import Principal

log = logging.getLogger(__name__)

WRITES_CHANNEL = "hub_writes"
POLL_SECONDS = 1.0
# Lag: zero when everything received is replayed, else the age of the last replayed commit
# (an idle primary sends nothing, and "now() - last replay" would grow while all is current).
_LAG = """
SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
            ELSE COALESCE(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 0)
       END
"""


def writer_key(principal: Principal) -> str | None:
    """Who "wrote": the client (or token subject); anonymous callers never write."""
    if principal.is_anonymous:
        return None
    return principal.client_id or principal.subject


@dataclass
class Replica:
    url: str
    pool: asyncpg.Pool | None = None
    lag: float | None = None  # None: not answering


@dataclass
class ReplicaRouter:
    replicas: list[Replica]
    max_lag: float
    sticky: float
    pinned: dict[str, float] = field(default_factory=dict)  # writer → until (monotonic)
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _task: asyncio.Task[None] | None = None

    @classmethod
    def from_urls(cls, urls: list[str], max_lag: float, sticky: float) -> ReplicaRouter:
        return cls([Replica(url) for url in urls], max_lag, sticky)

    async def start(self, pool_size: int, statement_timeout_ms: int) -> None:
        if self.replicas:
            self._task = asyncio.create_task(
                self._watch(pool_size, statement_timeout_ms), name="hub-replicas"
            )

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        for replica in self.replicas:
            if replica.pool is not None:
                await replica.pool.close()

    def choose(self, principal: Principal, primary: asyncpg.Pool) -> asyncpg.Pool:
        """The pool for this caller's record reads."""
        key = writer_key(principal)
        if key is not None and self.pinned.get(key, 0.0) > time.monotonic():
            return primary
        usable = [
            r.pool
            for r in self.replicas
            if r.pool is not None and r.lag is not None and r.lag <= self.max_lag
        ]
        if not usable:
            return primary
        return usable[next(self._turn) % len(usable)]

    def note_write(self, key: str) -> None:
        """``key`` wrote just now (here or, by notification, in another process)."""
        if self.replicas:
            self.pinned[key] = time.monotonic() + self.sticky
            if len(self.pinned) > 10_000:  # bounded: forget the expired
                now = time.monotonic()
                self.pinned = {k: t for k, t in self.pinned.items() if t > now}

    async def _watch(self, pool_size: int, statement_timeout_ms: int) -> None:
        while True:
            for replica in self.replicas:
                try:
                    if replica.pool is None:
                        replica.pool = await asyncpg.create_pool(
                            replica.url,
                            min_size=1,
                            max_size=pool_size,
                            statement_cache_size=1024,
                            server_settings={"statement_timeout": str(statement_timeout_ms)},
                            timeout=5,
                        )
                    async with asyncio.timeout(2):
                        replica.lag = float(await replica.pool.fetchval(_LAG))
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    if replica.lag is not None:
                        log.warning("read replica unavailable (%s)", type(error).__name__)
                    replica.lag = None
            await asyncio.sleep(POLL_SECONDS)


__all__ = ["WRITES_CHANNEL", "ReplicaRouter", "writer_key"]
