"""What a serving hub process holds: the catalogue snapshot, the executable schemas built from
it (one for signed-in callers, one of what anonymous callers may read), the token verifier,
and the background tasks (change listener, audit checkpoints)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
from graphql import assert_valid_schema
from opensearchpy import AsyncOpenSearch
from sqlalchemy import text

from catalog.access import Access
from catalog.checkpoints import SigningKeys, write_checkpoint
from catalog.errors import Unauthenticated
from catalog.models import Dataset, DatasetField
from catalog.policy import can_see_dataset
from catalog.principal import Principal
from catalog.record_sql import Params, visibility_sql
from hub.auth.registry import admit
from hub.auth.tokens import TokenVerifier
from hub.background import cancel_tasks
from hub.backup_schedule import BackupSchedule
from hub.embedded_postgres import to_asyncpg_url, to_libpq_url
from hub.keys import KeyStore
from hub.persisted_queries import PersistedQueries
from hub.rate_limits import RateLimiter
from hub.replicas import WRITES_CHANNEL, ReplicaRouter, writer_key
from hub.runtime import Hub
from hub.search.service import SearchService
from hub.snapshot import Snapshot, build_inputs, load_snapshot, read_versions
from hub.worker import SyncLauncher, Worker
from schema.build import static_schema
from schema.catalogue.buildcheck import build_skipping
from schema.context import Context
from schema.executor import Executor, PreparedDocument
from schema.records.generated import GeneratedSchema
from schema.records.read_audit import ReadAuditWriter
from schema.records.types import FieldShown

log = logging.getLogger(__name__)

CHANNEL = "hub_changes"
# Seconds from a schema rebuild to the collection that frees the previous one: the request
# that caused it is answered first; longer would let garbage of several builds pile up.
COLLECT_DELAY = 0.1
# After a change that rebuilt nothing (a grant, a draft): little garbage, so at most one full
# pass a minute however often such changes come.
COLLECT_IDLE_DELAY = 60.0


class Services:
    def __init__(self, hub: Hub, verifier: TokenVerifier | None = None) -> None:
        self.hub = hub
        self.settings = hub.settings
        self.sessions = hub.db.sessions
        self.verifier = verifier or TokenVerifier(hub.settings, hub.keys)
        self.field_keys = hub.keys.sealing_keys()
        self.snapshot = Snapshot()
        self.executor: Executor | None = None
        self.public_executor: Executor | None = None  # anonymous callers' schema
        # Per variant (anonymous or not): what the last build was built from, and the build.
        self._builds: dict[bool, tuple[tuple[Any, ...], Executor]] = {}
        self._collect_handle: asyncio.TimerHandle | None = None
        self.last_collection_seconds = 0.0  # how long the last one took (bench, logs)
        self.generated: GeneratedSchema | None = None
        self.read_audit: ReadAuditWriter
        self.pool: asyncpg.Pool | None = None
        self._dirty = True
        self._refresh_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._listener: asyncpg.Connection | None = None
        # Connector runs started by runSync; ${VAR}s of connector files expand from here.
        self.sync_launcher = SyncLauncher(self.sessions, lambda: self.field_keys, os.environ)
        # The search client (None: no search configured) and the outbox indexer.
        self.searching = SearchService(hub.settings, self.sessions)
        self.rate_limiter = RateLimiter.from_settings(hub.settings)
        self.persisted_queries = PersistedQueries()  # automatic persisted queries, by hash
        # Record reads on read replicas when HUB_DATABASE_REPLICA_URLS names some.
        self.replicas = ReplicaRouter.from_urls(
            [to_libpq_url(to_asyncpg_url(url)) for url in hub.settings.replica_urls],
            hub.settings.replica_max_lag_seconds,
            hub.settings.replica_sticky_seconds,
        )

    async def start(self) -> None:
        self.pool = await self.hub.db.open_pool(
            self.settings.db_pool_size, self.settings.statement_timeout_ms
        )
        # Audit writes go through their own pool: the read pool's statement timeout is for reads.
        self.read_audit = ReadAuditWriter(await self.hub.db.open_write_pool())
        await self.refresh(force=True)
        await self.searching.start()
        await self.replicas.start(self.settings.db_pool_size, self.settings.statement_timeout_ms)
        self._tasks.append(asyncio.create_task(self._listen(), name="hub-listen"))
        self._tasks.append(
            asyncio.create_task(self._checkpoint_forever(), name="hub-audit-checkpoint")
        )
        if self.settings.runs_worker_in_process:  # HUB_WORKER_IN_PROCESS
            worker = Worker(
                self.sessions,
                lambda: self.field_keys,
                os.environ,
                poll_seconds=self.settings.worker_poll_seconds,
                stale_seconds=self.settings.worker_stale_seconds,
                concurrency=self.settings.worker_concurrency,
                listen_url=to_libpq_url(self.hub.db.url),
                backups=BackupSchedule.from_settings(
                    self.settings, self.hub.db.url, self.hub.keys.backup_key
                ),
            )
            stop = asyncio.Event()  # never set: cancelling the task stops it
            self._tasks.append(asyncio.create_task(worker.run(stop), name="hub-worker"))

    async def stop(self) -> None:
        await self.sync_launcher.stop()
        await self.replicas.stop()
        await self.searching.stop()
        await cancel_tasks(self._tasks)
        if self._collect_handle is not None:  # the loop may end before it would run
            self._collect_handle.cancel()
            self._collect_handle = None
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
        await self.verifier.aclose()

    # -- freshness ---------------------------------------------------------------------------

    async def ensure_fresh(self) -> None:
        """Cheap when nothing changed: one counter read, so revocations bite at once."""
        async with self.sessions() as session:
            versions = await read_versions(session)
        if versions != (self.snapshot.catalog_version, self.snapshot.policy_version):
            await self.refresh()

    @property
    def search(self) -> AsyncOpenSearch | None:
        """The OpenSearch client, or None when search is not configured."""
        return self.searching.client

    @property
    def search_prefix(self) -> str:
        """Prefix of the index and alias names (``hub.search.names``)."""
        return self.searching.prefix

    @property
    def max_open_grant_requests(self) -> int:
        """REQUESTED grants one agency may hold open per dataset (``requestGrant``)."""
        return self.settings.max_open_grant_requests

    @property
    def push_max_records(self) -> int:
        """Most records one ``upsertRecords`` batch may carry."""
        return self.settings.push_max_records

    async def admit(self, principal: Principal) -> Principal:
        """The principal, if its client is still registered as its token says (embedded
        issuer only; an external IdP revokes its own tokens); else ``Unauthenticated``.

        Checked on this process's snapshot; a refusal is confirmed on a fresh one first, so
        a client added a moment ago in another process is not refused. An admission on a
        stale snapshot is checked again once the request sees the counters (``fresh_for``,
        and the compiled path's freshness column)."""
        if principal.is_anonymous or not self.settings.uses_embedded_issuer:
            return principal
        try:
            return admit(principal, self.snapshot.clients)
        except Unauthenticated:
            await self.ensure_fresh()
            return admit(principal, self.snapshot.clients)

    async def fresh_for(self, ctx: Context) -> None:
        """Before executing a request: refresh if the counters moved, then admit its caller
        again on the fresh snapshot."""
        await self.ensure_fresh()
        ctx.principal = await self.admit(ctx.principal)

    async def start_sync(self, connector: str, *, started_by: str | None) -> int:
        """``runSync``: a run of ``connector`` in this process's background; its id."""
        return await self.sync_launcher.start(connector, started_by=started_by)

    async def refresh(self, force: bool = False) -> None:
        async with self._refresh_lock:
            async with self.sessions() as session:
                versions = await read_versions(session)
                current = (self.snapshot.catalog_version, self.snapshot.policy_version)
                if not force and versions == current:
                    return
                snapshot = await load_snapshot(session, None if force else self.snapshot)
            rebuild = force or snapshot.catalog_version != self.snapshot.catalog_version
            self.snapshot = snapshot
            if rebuild or self.executor is None:
                try:
                    executor = self._current_executor(snapshot)
                    public_executor = self._current_executor(snapshot, anonymous=True)
                except Exception:
                    if self.executor is None:
                        raise
                    # Keep serving the last good schema; the failing datasets are logged.
                    log.exception("schema rebuild failed; serving the previous schema")
                    self._dirty = False
                    return
                rebuilt = (executor, public_executor) != (self.executor, self.public_executor)
                self.executor, self.public_executor = executor, public_executor
                del executor, public_executor
                self._freeze_and_collect_soon(COLLECT_DELAY if rebuilt else COLLECT_IDLE_DELAY)
            else:  # a policy change: the previous snapshot may be frozen garbage now
                self._freeze_and_collect_soon(COLLECT_IDLE_DELAY)
            self._dirty = False

    def _freeze_and_collect_soon(self, delay: float) -> None:
        """The schema and catalogue are large, long-lived object graphs: frozen at once, they
        stay out of the collector's full passes, which otherwise stall requests (p99 halved).
        Frozen objects are never collected, though, and the previous build and snapshot are
        cyclic garbage now: a full collection after thawing frees them (else every publish
        leaks a whole schema). It runs ``delay`` seconds later (or earlier, if one is due
        sooner), once for a burst of changes, so the request that caused it does not wait
        for a pass over the whole heap. With ``schema_gc_freeze`` off nothing is frozen and
        the collector frees old builds as it frees anything else."""
        if not self.settings.schema_gc_freeze:
            return
        gc.freeze()
        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        if self._collect_handle is not None:
            if self._collect_handle.when() <= due:
                return
            self._collect_handle.cancel()
        self._collect_handle = loop.call_at(due, self.collect_old_schemas)

    @property
    def collection_pending(self) -> bool:
        return self._collect_handle is not None

    def collect_old_schemas(self) -> None:
        """Free what earlier builds left behind (see ``_freeze_and_collect_soon``)."""
        if self._collect_handle is not None:
            self._collect_handle.cancel()
            self._collect_handle = None
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.last_collection_seconds = time.perf_counter() - started
        log.debug("old schemas collected in %.3f s", self.last_collection_seconds)

    def _current_executor(self, snapshot: Snapshot, anonymous: bool = False) -> Executor:
        """The previous build of this variant when what it is built from is unchanged (see
        ``build_inputs``), else a new one: an edit that touches no typed dataset, or none the
        anonymous schema shows, rebuilds nothing (and keeps that variant's caches)."""
        shown: FieldShown | None = None
        if anonymous:
            datasets, readable = snapshot.anonymous_view()
            inputs = build_inputs(datasets, readable)

            def shown(f: DatasetField) -> bool:
                return f.name in readable[f.dataset_code]
        else:
            datasets = snapshot.typed()
            inputs = build_inputs(datasets)
        kept = self._builds.get(anonymous)
        if kept is not None and kept[0] == inputs:
            return kept[1]
        # A build allocates a whole object graph at once: the collector's passes meanwhile
        # find nothing to free and cost 40 % of the build; the collection after it does.
        collecting = gc.isenabled()
        gc.disable()
        try:
            executor = self._build_executor(datasets, shown, anonymous)
        finally:
            if collecting:
                gc.enable()
        self._builds[anonymous] = (inputs, executor)
        return executor

    def executor_for(self, principal: Principal) -> Executor:
        """Anonymous callers get the schema of what they may read (DESIGN.md §5): PUBLIC
        fields of PUBLIC datasets; signed-in callers every published type."""
        executor = self.public_executor if principal.is_anonymous else self.executor
        assert executor is not None
        return executor

    def _build_executor(
        self, datasets: Sequence[Dataset], shown: FieldShown | None, anonymous: bool
    ) -> Executor:
        """One executable schema with its own document and plan caches (plans are compiled
        against the schema's types, so each variant keeps its own)."""
        # A dataset whose types cannot be built is left out (and logged), never the schema.
        generated = build_skipping(
            lambda kept: GeneratedSchema.build(
                static_schema(), kept, self, self.settings.max_page_size, shown=shown
            ),
            lambda built: built.schema,
            datasets,
        )
        if not anonymous:
            self.generated = generated
        # Checked now, not on the first request: a build costs its whole time at publish.
        assert_valid_schema(generated.schema)
        runner = generated.runner
        assert runner is not None

        async def fast_path(
            prepared: PreparedDocument,
            operation: str | None,
            variables: dict[str, Any],
            ctx: Context,
        ) -> bytes | None:
            return await runner.run_document(prepared.plan, operation, variables, ctx)

        return Executor(
            generated.schema,
            max_depth=self.settings.max_query_depth,
            max_nodes=self.settings.max_query_nodes,
            max_document_bytes=self.settings.max_document_bytes,
            max_document_tokens=self.settings.max_document_tokens,
            max_cost=self.settings.max_query_cost,
            max_page=self.settings.max_page_size,
            statement_timeout_ms=self.settings.statement_timeout_ms,
            cache_size=self.settings.plan_cache_size,
            fast_path=fast_path,
            planner=generated.planner,
            before_execute=self.fresh_for,
        )

    async def catalogue_changed(self) -> None:
        await self.refresh()

    # -- access ------------------------------------------------------------------------------

    async def access_for(self, ctx: Context, code: str) -> Access | None:
        dataset = self.snapshot.datasets.get(code)
        if dataset is None or not can_see_dataset(ctx.principal, dataset):
            return None
        return self.snapshot.access(ctx.principal, code)

    async def count_records(self, ctx: Context, code: str) -> int | None:
        access = await self.access_for(ctx, code)
        dataset = self.snapshot.datasets.get(code)
        if access is None or dataset is None or not access.allowed:
            return None
        params = Params()
        fields = {f.name: f for f in dataset.fields}
        where = [
            f"r.dataset_code = {params.literal(code)}",
            "NOT r.deleted",
            *visibility_sql("r", access, fields, params, self.field_keys.blind),
        ]
        assert self.pool is not None
        sql = "SELECT count(*) FROM records r WHERE " + " AND ".join(where)
        return int(await self.pool.fetchval(sql, *params.values({})))

    # -- background --------------------------------------------------------------------------

    async def _listen(self) -> None:
        url = to_libpq_url(self.hub.db.url)
        while True:
            try:
                self._listener = await asyncpg.connect(url)
                await self._listener.add_listener(CHANNEL, self._on_notify)
                await self._listener.add_listener(WRITES_CHANNEL, self._on_write)
                while not self._listener.is_closed():
                    await asyncio.sleep(5)
                    if self._dirty:
                        await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("change listener lost its connection; retrying", exc_info=True)
                await asyncio.sleep(2)

    def _on_write(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.replicas.note_write(payload)

    def read_pool_for(self, principal: Principal) -> asyncpg.Pool:
        """Where this caller's record reads go: a replica, or the primary right after it
        wrote (every process hears of the write through ``NOTIFY hub_writes``)."""
        assert self.pool is not None
        return self.replicas.choose(principal, self.pool)

    async def note_write(self, principal: Principal) -> None:
        """The caller just wrote: its reads go to the primary for a while, in every process."""
        key = writer_key(principal)
        if key is None or not self.replicas.replicas:
            return
        self.replicas.note_write(key)
        assert self.pool is not None
        await self.pool.execute("SELECT pg_notify($1, $2)", WRITES_CHANNEL, key)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == "keys":
            self.reload_keys()
            return
        self._dirty = True
        asyncio.get_running_loop().create_task(self.refresh())

    def reload_keys(self) -> None:
        """After ``hub keys rotate`` in another process: adopt the new keys file in place (the
        token verifier sees new signing keys through the same KeyStore)."""
        fresh = KeyStore.load_or_create(self.hub.keys.path)
        store = self.hub.keys
        store.field_keys = fresh.field_keys
        store.active_field_kid = fresh.active_field_kid
        store.signing_keys = fresh.signing_keys
        store.active_signing_kid = fresh.active_signing_kid
        self.field_keys = store.sealing_keys()

    async def _checkpoint_forever(self) -> None:
        """Sign the audit chain head every HUB_AUDIT_CHECKPOINT_SECONDS while events flow:
        every process offers, the database lets one write (catalog.checkpoints)."""
        interval = self.settings.audit_checkpoint_seconds
        tick = max(1.0, interval / 6)
        while True:
            await asyncio.sleep(tick)
            try:
                store = self.hub.keys  # read each time: `hub keys rotate` swaps the keys
                keys = SigningKeys(tuple(store.signing_keys), store.active_signing_kid)
                async with self.sessions.begin() as session:
                    await write_checkpoint(session, keys, min_interval=interval - tick)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("audit checkpoint failed; retrying", exc_info=True)

    async def ping_database(self) -> bool:
        async with self.sessions() as session:
            return bool(await session.scalar(text("SELECT 1")))


__all__ = ["Services"]
