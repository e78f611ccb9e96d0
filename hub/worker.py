"""Scheduled connector runs, coordinated through PostgreSQL only (DESIGN.md §7).

Any number of workers (``hub worker`` processes, or the one inside ``hub serve``) may poll
the same database. Each poll:

1. takes over runs left RUNNING by a crashed worker: a run whose heartbeat is older than
   HUB_WORKER_STALE_SECONDS *and* whose connector's advisory lock is free (a live run holds
   it, however slow its batch) is marked FAILED "interrupted" and its connector made due; a
   push run (``push:<dataset>``) left RUNNING by a process that died, told apart from a slow
   one by the lock each push run holds on its own connection, is marked the same way (the
   owner system pushes again);
2. claims due connectors (``next_run_at <= now()``) with ``FOR UPDATE SKIP LOCKED`` and moves
   each one's ``next_run_at`` to its next time in the same transaction, so two workers never
   claim one due time;
3. runs each claimed connector through ``connectors.engine.run_connector``, whose advisory
   lock keeps one run per connector at a time across workers and manual runs.

Between polls a worker LISTENs on ``hub_worker``: ``hub connectors add`` and every
connector made due (a takeover, an abandoned run) notify it, so it polls at once; a missed
notification only costs one poll interval.

Invariant: nothing is queued in memory that PostgreSQL does not also know; a worker killed at
any moment leaves at worst a RUNNING run that the next poll of any worker takes over.
``SyncLauncher`` starts API-triggered runs in the background of a serving process.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import asyncpg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.crypto import FieldKeys
from catalog.errors import Conflict, HubError
from connectors.spec import parse_schedule
from connectors.store import PUSH_XACT_LOCK_SQL, XACT_LOCK_SQL

if TYPE_CHECKING:
    from hub.backup_schedule import BackupSchedule

log = logging.getLogger(__name__)

# Most stale runs looked at, and most connectors claimed, per poll: bounded work per query.
MAX_TAKEOVERS = 50
# How long runSync waits for its run to be recorded before answering.
START_TIMEOUT_SECONDS = 15.0
START_POLL_SECONDS = 0.05

_STALE_RUNS = """
SELECT r.id, r.connector FROM sync_runs r JOIN connectors c ON c.name = r.connector
WHERE r.status = 'RUNNING' AND r.heartbeat_at < now() - make_interval(secs => :stale)
ORDER BY r.id LIMIT :limit
FOR UPDATE OF r SKIP LOCKED
"""
# Pushes have no connector row: their runs are found by name and tested by their own lock.
_STALE_PUSHES = """
SELECT r.id, r.connector FROM sync_runs r
WHERE r.status = 'RUNNING' AND r.connector LIKE 'push:%'
  AND r.heartbeat_at < now() - make_interval(secs => :stale)
ORDER BY r.id LIMIT :limit
FOR UPDATE OF r SKIP LOCKED
"""
_MARK_INTERRUPTED = """
UPDATE sync_runs SET status = 'FAILED', finished_at = now(), error = :error
WHERE id = :id AND status = 'RUNNING'
"""
# Made due now, and workers listening woken (the notification is sent at commit).
_MAKE_DUE = (
    "WITH due AS (UPDATE connectors SET next_run_at = now() WHERE name = :name RETURNING name) "
    "SELECT pg_notify('hub_worker', name) FROM due"
)
WAKE_CHANNEL = "hub_worker"
_DUE = """
SELECT name, schedule, now() AS now FROM connectors
WHERE next_run_at <= now()
ORDER BY next_run_at, name LIMIT :limit
FOR UPDATE SKIP LOCKED
"""
_SET_NEXT = "UPDATE connectors SET next_run_at = :next WHERE name = :name"
_MY_RUNNING = """
UPDATE sync_runs SET status = 'FAILED', finished_at = now(), error = :error
WHERE worker = :worker AND status = 'RUNNING'
RETURNING connector
"""
_RUN_OF_WORKER = "SELECT id FROM sync_runs WHERE worker = :worker ORDER BY id LIMIT 1"


async def wake_workers(session: AsyncSession, connector: str) -> None:
    """Tell listening workers, at the commit of ``session``'s transaction, that ``connector``
    may be due now (a new connector), so they poll without waiting for their interval."""
    await session.execute(text("SELECT pg_notify('hub_worker', :name)"), {"name": connector})


def worker_name(prefix: str = "worker") -> str:
    """An id for the ``worker`` column of runs: host, process, and a random part."""
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def take_over_stale(
    sessions: async_sessionmaker[AsyncSession], stale_seconds: int, worker: str
) -> list[str]:
    """Mark dead RUNNING runs FAILED "interrupted" and make their connectors due; the names."""
    taken: list[str] = []
    async with sessions.begin() as session:
        rows = (
            await session.execute(
                text(_STALE_RUNS), {"stale": float(stale_seconds), "limit": MAX_TAKEOVERS}
            )
        ).all()
        for run_id, connector in rows:
            # A live run holds its connector's advisory lock on its own connection: a free
            # lock proves the run's process is gone (the lock is released again at commit).
            if not await session.scalar(text(XACT_LOCK_SQL), {"name": connector}):
                continue
            error = f"interrupted: no heartbeat for {stale_seconds}s; taken over by {worker}"
            await session.execute(text(_MARK_INTERRUPTED), {"id": run_id, "error": error})
            await session.execute(text(_MAKE_DUE), {"name": connector})
            taken.append(connector)
        pushes = (
            await session.execute(
                text(_STALE_PUSHES), {"stale": float(stale_seconds), "limit": MAX_TAKEOVERS}
            )
        ).all()
        for run_id, name in pushes:
            if not await session.scalar(text(PUSH_XACT_LOCK_SQL), {"run_id": run_id}):
                continue  # its pushing process is alive, only slow between batches
            error = f"interrupted: no heartbeat for {stale_seconds}s; closed by {worker}"
            await session.execute(text(_MARK_INTERRUPTED), {"id": run_id, "error": error})
            # The owner system pushes again; nothing here runs it.
            log.warning("%s: run %s left RUNNING by a process that died; closed", name, run_id)
    for connector in taken:
        log.warning("connector %s: stale run taken over; it runs again", connector)
    return taken


async def claim_due(sessions: async_sessionmaker[AsyncSession], limit: int) -> list[str]:
    """Claim up to ``limit`` due connectors, moving each one's next run time (NULL for a
    connector without a schedule: it ran once, as asked). Skips rows other workers hold."""
    if limit <= 0:
        return []
    claimed: list[str] = []
    async with sessions.begin() as session:
        rows = (await session.execute(text(_DUE), {"limit": limit})).all()
        for name, schedule, now in rows:
            following = _next_time(schedule, now)
            await session.execute(text(_SET_NEXT), {"name": name, "next": following})
            claimed.append(name)
    return claimed


def _next_time(schedule: str | None, now: datetime) -> datetime | None:
    if not schedule:
        return None
    try:
        return parse_schedule(schedule).next_after(now)
    except HubError:
        # Checked at add; a schedule no longer understood must not make the connector run
        # at every poll.
        log.warning("schedule %r no longer parses; connector not rescheduled", schedule)
        return None


async def interrupt_runs(
    sessions: async_sessionmaker[AsyncSession], worker: str, connectors: Iterable[str]
) -> None:
    """After cancelling a worker's runs of ``connectors``: mark those still RUNNING FAILED
    (the engine marks the ones it could) and make the connectors due, so that another worker
    runs them again at once rather than after the stale bound."""
    error = f"interrupted: worker {worker} stopped"
    async with sessions.begin() as session:
        rows = await session.execute(text(_MY_RUNNING), {"worker": worker, "error": error})
        for connector in sorted({row[0] for row in rows} | set(connectors)):
            await session.execute(text(_MAKE_DUE), {"name": connector})


class Worker:
    """Polls for due connectors and runs up to ``concurrency`` at once."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keys: Callable[[], FieldKeys],
        environ: Mapping[str, str],
        *,
        poll_seconds: float = 5.0,
        stale_seconds: int = 300,
        concurrency: int = 2,
        name: str | None = None,
        listen_url: str | None = None,
        backups: BackupSchedule | None = None,
    ) -> None:
        self.sessions = sessions
        self.backups = backups  # scheduled backups (HUB_BACKUP_DIR), taken beside the runs
        # libpq URL of a connection that LISTENs for WAKE_CHANNEL; None: polling only.
        self.listen_url = listen_url
        self._wake = asyncio.Event()
        self.keys = keys  # read at each run: a key rotation swaps them in a serving process
        self.environ = environ
        self.poll_seconds = poll_seconds
        self.stale_seconds = stale_seconds
        self.concurrency = concurrency
        self.name = name or worker_name()
        self._running: dict[str, asyncio.Task[None]] = {}

    @property
    def running(self) -> list[str]:
        return sorted(self._running)

    async def tick(self) -> list[str]:
        """One poll: take over stale runs, claim what is due and start it; the names started."""
        await take_over_stale(self.sessions, self.stale_seconds, self.name)
        if self.backups is not None:
            self.backups.poll()
        started: list[str] = []
        for name in await claim_due(self.sessions, self.concurrency - len(self._running)):
            if name in self._running:  # its previous run outlasted the interval: one at a time
                log.info("connector %s: still running here; this due time skipped", name)
                continue
            task = asyncio.create_task(self._run(name), name=f"connector-{name}")
            self._running[name] = task
            task.add_done_callback(self._forget)
            started.append(name)
        return started

    def _forget(self, task: asyncio.Task[None]) -> None:
        for name, running in list(self._running.items()):
            if running is task:
                del self._running[name]

    async def drain(self) -> None:
        """Wait for the runs in flight (and a scheduled backup) to end."""
        while self._running:
            await asyncio.wait(list(self._running.values()))
        if self.backups is not None:
            await self.backups.wait()

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until ``stop`` is set (or the task is cancelled); then abandon the runs in
        flight: their open batch rolls back, their runs are marked FAILED and made due again
        for the next worker."""
        log.info("worker %s polling every %ss", self.name, self.poll_seconds)
        stopping = asyncio.create_task(stop.wait())
        listening = asyncio.create_task(self._listen()) if self.listen_url else None
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    await self.tick()
                except Exception as error:  # a lost connection: try again at the next poll
                    log.warning("worker poll failed (%s); retrying", type(error).__name__)
                woken = asyncio.create_task(self._wake.wait())
                waiting = {stopping, woken, *self._running.values()}
                await asyncio.wait(
                    waiting, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED
                )
                woken.cancel()
        finally:
            stopping.cancel()
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listening
            if self.backups is not None:
                await self.backups.stop()
            await self.abandon()

    async def _listen(self) -> None:
        """Wake the loop on WAKE_CHANNEL; on a lost connection retry after a poll interval
        (polling goes on meanwhile, so a missed notification only costs that interval)."""
        assert self.listen_url is not None
        while True:
            connection: asyncpg.Connection | None = None
            try:
                lost = asyncio.Event()
                connection = await asyncpg.connect(self.listen_url)
                connection.add_termination_listener(functools.partial(_set, lost))
                await connection.add_listener(WAKE_CHANNEL, functools.partial(_set, self._wake))
                self._wake.set()  # anything made due while not listening
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("worker listener lost (%s); retrying", type(error).__name__)
            finally:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
            await asyncio.sleep(self.poll_seconds)

    async def abandon(self) -> None:
        running = dict(self._running)
        for task in running.values():
            task.cancel()
        for task in running.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if running:
            await interrupt_runs(self.sessions, self.name, running)
            log.info("worker %s stopped; %d run(s) abandoned", self.name, len(running))

    async def _run(self, name: str) -> None:
        from connectors.engine import ConnectorBusy, run_connector

        try:
            outcome = await run_connector(
                self.sessions,
                self.keys(),
                name,
                trigger="schedule",
                environ=self.environ,
                worker=self.name,
            )
        except ConnectorBusy:
            log.info("connector %s: already running elsewhere; this due time skipped", name)
            return
        except HubError as error:  # removed meanwhile, its dataset gone: logged by class only
            log.warning("connector %s: not run (%s)", name, error.code)
            return
        except Exception as error:
            log.error("connector %s: run failed (%s)", name, type(error).__name__)
            return
        log.info(
            "connector %s: run %s %s (read %d, inserted %d, updated %d, unchanged %d, "
            "deleted %d, rejected %d)",
            name,
            outcome.run_id,
            outcome.status,
            outcome.read,
            outcome.inserted,
            outcome.updated,
            outcome.unchanged,
            outcome.deleted,
            outcome.rejected,
        )


def _set(event: asyncio.Event, *_: object) -> None:
    event.set()


class SyncLauncher:
    """Starts connector runs in the background of a serving process (``runSync``) and answers
    with the run's id as soon as the run is recorded; ``stop`` abandons those in flight."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        keys: Callable[[], FieldKeys],
        environ: Mapping[str, str],
    ) -> None:
        self.sessions = sessions
        self.keys = keys
        self.environ = environ
        # task -> (its run's worker name, the connector)
        self._tasks: dict[asyncio.Task[object], tuple[str, str]] = {}

    async def start(self, connector: str, *, started_by: str | None) -> int:
        """The id of the RUNNING run just started; ConnectorBusy (CONFLICT) when another run
        of the connector holds its lock, the engine's error when it could not start."""
        from connectors.engine import run_connector

        name = worker_name("api")
        task: asyncio.Task[object] = asyncio.create_task(
            run_connector(
                self.sessions,
                self.keys(),
                connector,
                trigger="api",
                started_by=started_by,
                environ=self.environ,
                worker=name,
            ),
            name=f"runSync-{connector}",
        )
        self._tasks[task] = (name, connector)
        task.add_done_callback(self._finished)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_SECONDS
        while True:
            async with self.sessions() as session:
                run_id = await session.scalar(text(_RUN_OF_WORKER), {"worker": name})
            if run_id is not None:
                return int(run_id)
            if task.done():
                outcome = task.result()  # raises the engine's error, e.g. ConnectorBusy
                return int(outcome.run_id)  # type: ignore[attr-defined]
            if loop.time() > deadline:
                raise Conflict(
                    f"runSync(connector: '{connector}'): the run did not start within "
                    f"{START_TIMEOUT_SECONDS:.0f}s; see syncRuns for its outcome"
                )
            await asyncio.wait({task}, timeout=START_POLL_SECONDS)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._tasks.pop(task, None)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and not isinstance(error, HubError):
            log.error("%s failed (%s)", task.get_name(), type(error).__name__)

    async def stop(self) -> None:
        tasks = dict(self._tasks)
        for task in tasks:
            task.cancel()
        for task, (name, connector) in tasks.items():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            with contextlib.suppress(Exception):
                await interrupt_runs(self.sessions, name, [connector])


__all__ = [
    "WAKE_CHANNEL",
    "SyncLauncher",
    "Worker",
    "claim_due",
    "interrupt_runs",
    "take_over_stale",
    "wake_workers",
    "worker_name",
]
