"""The sync engine: a connector's source, batch by batch, into its dataset; and the same
batch path for rows pushed by an owner system (``ingest``).

A run, in order:
1. on a connection of its own, ``pg_try_advisory_lock`` on the connector's name (held until
   the run ends; a second run gets ``ConnectorBusy``); a RUNNING row left by a killed
   process is marked FAILED ("interrupted"); the run's row is committed RUNNING;
2. each batch read from the source commits in one transaction: its record versions, their
   search outbox rows, its quarantined rows, tombstones of rows the source marked deleted,
   the connector's cursor (the last row's cursor value) and the run's counts and heartbeat;
3. a snapshot connector (no cursor) keeps the keys it saw in a temporary table on the run's
   connection; after the last batch, live records it last wrote and did not see become
   tombstones. A killed run loses the table with its connection and the next run reads the
   whole source again: committed batches are then unchanged rows, nothing is written twice.
   A snapshot of a source that digests its rows (PostgreSQL, MySQL, MariaDB) first finds its
   unchanged rows set-based and reads only the changed ones (``connectors.unchanged``);
4. reconciliation with master data, the run's final counts and status, and its audit event
   commit together.

A failure (the source dropping its connection, an unreadable file, the database) ends the run
FAILED with a one-line reason; the batches committed before it stay, and the next run carries
on from the committed cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from catalog.audit import EventDraft, append_event
from catalog.bulk_write import detached_view
from catalog.crypto import FieldKeys
from catalog.errors import Conflict, Forbidden, HubError, NotFound
from catalog.models import Dataset
from catalog.principal import Principal
from catalog.sync_models import SyncRun
from connectors.batches import (
    CREATE_BATCH,
    CREATE_SEEN,
    DATASET_LOCK,
    SEEN_TABLE,
    BatchContext,
    Counts,
    PlannedBatch,
    apply_batch,
    driver_of,
    plan_batch,
)
from connectors.mapping import cursor_json, digest_columns, make_plan, source_salt
from connectors.reconcile import Totals, reconcile
from connectors.sources.base import DigestingSource, SourceError, SourceRow
from connectors.spec import SECRET_KEYS, ConnectorSpec, source_config
from connectors.store import LOCK_SQL, PUSH_LOCK_SQL, get_connector
from connectors.tombstones import count_unseen, label_of, tombstone_unseen
from connectors.unchanged import find_unchanged

QUARANTINE_LIMIT = 10_000
MAX_ERROR = 500
INTERRUPTED = "interrupted: the process running it stopped before the run ended"

T = TypeVar("T")


class ConnectorBusy(Conflict):
    """Another run of the connector holds its lock."""


class DeletionGuard(Conflict):
    """A snapshot run would delete more of the connector's records than its file allows."""


@dataclass(frozen=True, slots=True)
class RunProgress:
    """Counts so far, after each committed batch."""

    run_id: int
    connector: str
    read: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    rejected: int
    elapsed: float


@dataclass(frozen=True, slots=True)
class RunOutcome:
    run_id: int
    connector: str
    dataset: str
    status: str  # SUCCEEDED | FAILED
    read: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    rejected: int
    error: str | None
    started_at: datetime
    finished_at: datetime
    unresolved: int = 0
    disagreeing: int = 0

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "connector": self.connector,
            "dataset": self.dataset,
            "status": self.status,
            "read": self.read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "rejected": self.rejected,
            "unresolved": self.unresolved,
            "disagreeing": self.disagreeing,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "seconds": round(self.seconds, 3),
        }


Progress = Callable[[RunProgress], None]


def engine_of(sessions: async_sessionmaker[AsyncSession]) -> AsyncEngine:
    bind = sessions.kw.get("bind")
    if not isinstance(bind, AsyncEngine):
        raise TypeError("the session factory must be bound to an AsyncEngine")
    return bind


async def run_connector(
    sessions: async_sessionmaker[AsyncSession],
    keys: FieldKeys,
    name: str,
    *,
    trigger: str = "manual",
    started_by: str | None = None,
    environ: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    worker: str | None = None,
) -> RunOutcome:
    """Run connector ``name`` once; see the module docstring. Raises ``NotFound`` for an
    unknown connector and ``ConnectorBusy`` when it is running; any other failure ends the
    run FAILED and comes back in the outcome."""
    conn = await engine_of(sessions).connect()
    try:
        locked = await conn.scalar(text(LOCK_SQL), {"name": name})
        await conn.commit()
        if not locked:
            running = await conn.scalar(
                text(
                    "SELECT id FROM sync_runs WHERE connector = :name AND status = 'RUNNING' "
                    "ORDER BY id DESC LIMIT 1"
                ),
                {"name": name},
            )
            await conn.commit()
            which = f"run {running}" if running is not None else "a run that is starting"
            raise ConnectorBusy(f"connector '{name}' is already running ({which})")
        session = AsyncSession(bind=conn, expire_on_commit=False)
        stored = await get_connector(session, keys, name)
        dataset = await session.get(Dataset, stored.row.dataset_code)
        if dataset is None:
            raise NotFound(f"connector '{name}': dataset '{stored.row.dataset_code}' is gone")
        await session.execute(
            text(
                "UPDATE sync_runs SET status = 'FAILED', error = :error, "
                "finished_at = heartbeat_at WHERE connector = :name AND status = 'RUNNING'"
            ),
            {"name": name, "error": INTERRUPTED},
        )
        spec = stored.spec
        runner = _Runner(
            session,
            conn,
            dataset,
            keys,
            run_name=name,
            label=label_of(name),
            connector=name,
            spec=spec,
            progress=progress,
        )
        await runner.start(
            trigger=trigger, started_by=started_by, worker=worker, cursor=stored.row.cursor
        )
        env = os.environ if environ is None else environ
        secrets = _secret_texts(spec, env)
        since = stored.row.cursor if spec.cursor else None
        return await runner.run(_source_batches(spec, env, since, runner), secrets)
    finally:
        # Closing the connection (not returning it to the pool) drops the lock and the
        # temporary tables with it.
        await conn.invalidate()
        await conn.close()


async def ingest(
    sessions: async_sessionmaker[AsyncSession],
    keys: FieldKeys,
    dataset_code: str,
    batches: AsyncIterator[list[SourceRow]],
    *,
    label: str,
    trigger: str = "push",
    started_by: str | None,
    agency: str | None,
) -> RunOutcome:
    """Rows pushed by an owner system (keys are field names) through the same batch path:
    validation, quarantine, versions, outbox, a SyncRun ``push:<dataset>``, audit. ``agency``
    (the caller's, when given) must own the dataset. A failure while reading ``batches``
    ends the run FAILED; the batches committed before it stay."""
    conn = await engine_of(sessions).connect()
    try:
        session = AsyncSession(bind=conn, expire_on_commit=False)
        dataset = await session.get(Dataset, dataset_code)
        if dataset is None:
            raise NotFound(f"dataset '{dataset_code}' does not exist")
        if agency is not None and agency != dataset.owner_code:
            raise Forbidden(
                f"dataset '{dataset_code}' is owned by agency '{dataset.owner_code}'; "
                f"agency '{agency}' may not write it"
            )
        runner = _Runner(
            session,
            conn,
            dataset,
            keys,
            run_name=f"push:{dataset_code}",
            label=label,
            connector=None,
            spec=None,
            progress=None,
        )
        await runner.start(trigger=trigger, started_by=started_by, worker=None, cursor=None)
        return await runner.run(batches, [])
    finally:
        await conn.invalidate()
        await conn.close()


class _Runner:
    """One run's state and steps, on the run's own connection and session."""

    def __init__(
        self,
        session: AsyncSession,
        conn: AsyncConnection,
        dataset: Dataset,
        keys: FieldKeys,
        *,
        run_name: str,
        label: str,
        connector: str | None,
        spec: ConnectorSpec | None,
        progress: Progress | None,
    ) -> None:
        self.session = session
        self.conn = conn
        self.dataset = dataset
        # Kept apart: a rollback expires the ORM row, and a failed run still needs its code.
        self.dataset_code = dataset.code
        self.keys = keys
        self.run_name = run_name
        self.label = label
        self.connector = connector
        self.spec = spec
        self.progress = progress
        self.counts = Counts()
        self.totals = Totals()
        self.run_id = 0
        self.started_at: datetime | None = None
        self.trigger = "manual"
        self.started_by: str | None = None
        self.snapshot = spec is not None and spec.cursor is None
        self.ctx: BatchContext | None = None
        self.began = 0.0

    async def start(
        self, *, trigger: str, started_by: str | None, worker: str | None, cursor: Any
    ) -> None:
        """Commit the run's RUNNING row and make the run connection's temporary tables."""
        self.trigger, self.started_by = trigger, started_by
        run = SyncRun(
            connector=self.run_name,
            dataset_code=self.dataset.code,
            trigger=trigger,
            status="RUNNING",
            worker=worker,
            started_by=started_by,
            cursor_from=cursor,
        )
        self.session.add(run)
        await self.session.flush()
        await self.session.refresh(run, ["id", "started_at"])
        self.run_id, self.started_at = run.id, run.started_at
        if self.connector is None:  # a push: see PUSH_LOCK_SQL (released with the connection)
            await self.session.execute(text(PUSH_LOCK_SQL), {"run_id": self.run_id})
        await self.session.execute(text(CREATE_BATCH))
        if self.snapshot:
            await self.session.execute(text(CREATE_SEEN))
            await self.session.execute(text(f"TRUNCATE {SEEN_TABLE}"))
        await self.session.commit()

    def _context(self) -> BatchContext:
        spec = self.spec
        plan = make_plan(
            detached_view(self.dataset),
            spec.mapping if spec is not None else None,
            self.keys,
            cursor=spec.cursor if spec is not None else None,
            soft_delete=spec.soft_delete if spec is not None else None,
        )
        return BatchContext(
            dataset=self.dataset,
            plan=plan,
            label=self.label,
            run_id=self.run_id,
            run_name=self.run_name,
            connector=self.connector,
            snapshot=self.snapshot,
            quarantine_limit=QUARANTINE_LIMIT,
        )

    async def skip_unchanged(self, source: DigestingSource) -> list[str] | None:
        """Count and mark seen a snapshot's unchanged rows without reading them (one commit
        of the run's counts); the source keys of the other rows, or ``None``: read it all."""
        assert self.connector is not None
        # The driver's statements below must run in the session's transaction, which the
        # adapter opens with its first statement.
        await self.session.execute(text("SELECT 1"))
        driver = await driver_of(self.session)
        found = await find_unchanged(driver, source, self.connector, self.dataset_code)
        counts = Counts()
        if found is not None:
            counts = Counts(read=found.unchanged, unchanged=found.unchanged)
        await self._commit_batch(counts, None)
        self.counts.add(counts)
        if self.progress is not None and found is not None:
            self.progress(self._progress(asyncio.get_running_loop().time() - self.began))
        return None if found is None else found.changed_keys

    async def run(self, batches: AsyncIterator[list[SourceRow]], secrets: list[str]) -> RunOutcome:
        ctx = self.ctx = self._context()
        clock = asyncio.get_running_loop().time
        began = self.began = clock()
        try:
            if self.connector is not None:
                ctx.nothing_recorded = not await self.session.scalar(
                    text("SELECT EXISTS (SELECT 1 FROM sync_row_hashes WHERE connector = :c)"),
                    {"c": self.connector},
                )
                await self.session.commit()
            # The next batch is read and planned (keys, digests and, on a first run, its
            # validation) while the database writes the current one.
            async for planned in _prefetched(_planned(batches, ctx)):
                counts = await apply_batch(self.session, ctx, planned)
                await self._commit_batch(counts, self._cursor_of(planned.rows))
                self.counts.add(counts)
                if self.progress is not None:
                    self.progress(self._progress(clock() - began))
            await self._finish()
        except Exception as exc:  # every failure ends the run FAILED, with its reason
            await self._fail(_one_line(exc, secrets))
        except BaseException:
            await asyncio.shield(self._fail("cancelled before the run ended"))
            raise
        return await self._outcome()

    def _cursor_of(self, batch: Sequence[SourceRow]) -> Any:
        column = self.spec.cursor if self.spec is not None else None
        if column is None:
            return None
        for row in reversed(batch):
            value = row.values.get(column)
            if value is not None:
                return cursor_json(value)
        return None

    async def _commit_batch(self, counts: Counts, cursor: Any) -> None:
        if cursor is not None:
            await self.session.execute(
                text("UPDATE connectors SET cursor = CAST(:cursor AS jsonb) WHERE name = :name"),
                {"cursor": json.dumps(cursor), "name": self.connector},
            )
        await self.session.execute(
            text(
                "UPDATE sync_runs SET read = read + :read, inserted = inserted + :inserted, "
                "updated = updated + :updated, unchanged = unchanged + :unchanged, "
                "deleted = deleted + :deleted, rejected = rejected + :rejected, "
                "heartbeat_at = now(), "
                "cursor_to = coalesce(CAST(:cursor AS jsonb), cursor_to) WHERE id = :id"
            ),
            {
                **_count_params(counts),
                "cursor": None if cursor is None else json.dumps(cursor),
                "id": self.run_id,
            },
        )
        await self.session.commit()

    async def _finish(self) -> None:
        """Tombstones of a complete snapshot, reconciliation, status and audit: one commit."""
        deleted = 0
        if self.snapshot and self.connector is not None:
            await self.session.execute(text(DATASET_LOCK), {"code": self.dataset.code})
            driver = await driver_of(self.session)
            # Statistics, so that the anti-join hashes the seen keys instead of probing them.
            await driver.execute(f"ANALYZE {SEEN_TABLE}")
            if await self._check_deletions(driver):
                deleted = await tombstone_unseen(driver, self.dataset.code, self.label, SEEN_TABLE)
        self.counts.deleted += deleted
        self.totals = await reconcile(
            self.session, self.dataset, self.run_id, self.run_name, self.keys
        )
        await self.session.execute(
            text(
                "UPDATE sync_runs SET status = 'SUCCEEDED', finished_at = now(), "
                "heartbeat_at = now(), deleted = deleted + :deleted, "
                "unresolved = :unresolved, disagreeing = :disagreeing WHERE id = :id"
            ),
            {
                "deleted": deleted,
                "unresolved": self.totals.unresolved,
                "disagreeing": self.totals.disagreeing,
                "id": self.run_id,
            },
        )
        await self._audit("SUCCEEDED", None)
        await self.session.commit()

    async def _check_deletions(self, driver: Any) -> int:
        """Refuse a snapshot that would delete more than ``max_delete_percent`` of what this
        connector holds: an export cut short, a header-only file or a query that suddenly
        matches nothing looks exactly like mass deletion at the source. Returns how many
        records the snapshot deletes."""
        assert self.spec is not None
        owned, gone = await count_unseen(driver, self.dataset.code, self.label, SEEN_TABLE)
        limit = self.spec.max_delete_percent
        if gone and gone * 100 > limit * owned:
            raise DeletionGuard(
                f"the source gave {self.counts.read} rows, so {gone} of the {owned} records "
                f"this connector holds would be deleted, more than max_delete_percent = "
                f"{limit:g}; nothing was deleted (raise max_delete_percent in the connector "
                "file if the source really lost them)"
            )
        return gone

    async def _fail(self, reason: str) -> None:
        """Mark the run FAILED; on a lost connection, through a fresh one; if that fails too,
        the row stays RUNNING and the next run marks it interrupted."""
        try:
            await self.session.rollback()
            await self._mark_failed(self.session, reason)
            await self.session.commit()
            return
        except Exception:
            # The run connection is broken: release whatever it still holds, try another.
            with contextlib.suppress(Exception):
                await self.session.rollback()
            with contextlib.suppress(Exception):
                await self.conn.invalidate()
        try:
            async with AsyncSession(bind=self.conn.engine) as fresh, fresh.begin():
                await self._mark_failed(fresh, reason)
        except Exception:  # noqa: S110  (the database is unreachable: the next run cleans up)
            pass

    async def _mark_failed(self, session: AsyncSession, reason: str) -> None:
        await session.execute(
            text(
                "UPDATE sync_runs SET status = 'FAILED', finished_at = now(), "
                "heartbeat_at = now(), error = :error WHERE id = :id"
            ),
            {"error": reason, "id": self.run_id},
        )
        await self._audit("FAILED", reason, session)

    async def _audit(
        self, status: str, error: str | None, session: AsyncSession | None = None
    ) -> None:
        actor = Principal(subject=self.started_by or f"system:{self.trigger}")
        detail: dict[str, Any] = {
            "connector": self.run_name,
            "run": self.run_id,
            "trigger": self.trigger,
            "status": status,
            **_count_params(self.counts),
            "unresolved": self.totals.unresolved,
            "disagreeing": self.totals.disagreeing,
        }
        if error is not None:
            detail["error"] = error
        await append_event(
            session or self.session,
            actor,
            EventDraft("sync.run", dataset=self.dataset_code, detail=detail),
        )

    def _progress(self, elapsed: float) -> RunProgress:
        c = self.counts
        return RunProgress(
            self.run_id,
            self.run_name,
            c.read,
            c.inserted,
            c.updated,
            c.unchanged,
            c.deleted,
            c.rejected,
            elapsed,
        )

    async def _outcome(self) -> RunOutcome:
        async with AsyncSession(bind=self.conn.engine) as fresh:
            run = await fresh.get(SyncRun, self.run_id)
        if run is None:  # the database went away: report what this process knows
            raise HubError(f"run {self.run_id} of '{self.run_name}': its row could not be read")
        return RunOutcome(
            run_id=run.id,
            connector=run.connector,
            dataset=run.dataset_code,
            status=run.status,
            read=run.read,
            inserted=run.inserted,
            updated=run.updated,
            unchanged=run.unchanged,
            deleted=run.deleted,
            rejected=run.rejected,
            error=run.error,
            started_at=run.started_at,
            finished_at=run.finished_at or run.heartbeat_at,
            unresolved=run.unresolved,
            disagreeing=run.disagreeing,
        )


def _count_params(counts: Counts) -> dict[str, int]:
    return {
        "read": counts.read,
        "inserted": counts.inserted,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "deleted": counts.deleted,
        "rejected": counts.rejected,
    }


async def _source_batches(
    spec: ConnectorSpec, environ: Mapping[str, str], since: Any, runner: _Runner
) -> AsyncIterator[list[SourceRow]]:
    """The source's batches; the source is opened here so that opening it fails the run.

    A source that digests rows itself does so; a snapshot of such a source first finds its
    unchanged rows set-based (``connectors.unchanged``) and reads only the changed ones."""
    from connectors.sources import open_source

    async with open_source(spec.kind, source_config(spec, environ)) as source:
        if isinstance(source, DigestingSource) and runner.ctx is not None:
            plan = runner.ctx.plan
            source.use_digests(source_salt(plan), digest_columns(plan), plan.key_column)
            if runner.snapshot:
                changed = await runner.skip_unchanged(source)
                if changed is not None:
                    async for batch in source.batches_for_keys(changed, spec.batch_size):
                        yield batch
                    return
        async for batch in source.batches(since=since, size=spec.batch_size):
            yield batch


async def _planned(
    batches: AsyncIterator[list[SourceRow]], ctx: BatchContext
) -> AsyncIterator[PlannedBatch]:
    """Each non-empty batch planned (``plan_batch``: pure Python, no database). Closing it
    closes ``batches``, and with them the source."""
    try:
        async for batch in batches:
            if batch:
                yield plan_batch(ctx, batch)
    finally:
        closer = getattr(batches, "aclose", None)
        if closer is not None:
            await closer()


async def _prefetched(batches: AsyncIterator[T]) -> AsyncIterator[T]:
    """``batches`` with the next item read while the caller works on the current one."""
    pending: asyncio.Future[T] = asyncio.ensure_future(anext(batches))
    try:
        while True:
            try:
                item = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(anext(batches))
            yield item
    finally:
        if not pending.done():
            pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pending
        closer = getattr(batches, "aclose", None)
        if closer is not None:
            # The run's own error is the one reported.
            with contextlib.suppress(Exception):
                await closer()


_USERINFO = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def _secret_texts(spec: ConnectorSpec, environ: Mapping[str, str]) -> list[str]:
    """Expanded secret values of the source (kept out of error messages)."""
    try:
        config = source_config(spec, environ)
    except HubError:
        return []
    found: list[str] = []

    def collect(value: Any) -> None:
        if isinstance(value, str) and len(value) >= 4:
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                collect(item)
        elif isinstance(value, list):
            for item in value:
                collect(item)

    for key, value in config.items():
        if key in SECRET_KEYS:
            collect(value)
    return found


def _one_line(exc: BaseException, secrets: list[str]) -> str:
    """A failure as one line for the run row: no stack trace, no secret."""
    if isinstance(exc, HubError):
        message = exc.message
    elif isinstance(exc, SourceError):
        message = str(exc)
    else:
        message = f"{type(exc).__name__}: {exc}"
    for secret in secrets:
        message = message.replace(secret, "<secret>")
    message = _USERINFO.sub(r"\1***@", message)
    line = " ".join(message.split()) or type(exc).__name__
    return line if len(line) <= MAX_ERROR else line[: MAX_ERROR - 3] + "..."


__all__ = [
    "INTERRUPTED",
    "ConnectorBusy",
    "RunOutcome",
    "RunProgress",
    "engine_of",
    "ingest",
    "run_connector",
]
