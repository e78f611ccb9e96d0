"""One batch of source rows into the record store, in one transaction: the versions, their
search outbox rows, the quarantined rows, the tombstones of rows the source marked deleted,
and (by the caller, before it commits) the cursor and the run's counts.

Rows are first reduced to the last one per stored key. With digests on (connectors), each
row's key and raw-value digest are copied to a temporary table and compared in one statement
with what the connector last read for that key and the record's current hash: a row whose
digest is the same and whose record is still the one it produced is unchanged, without being
validated again. Every other row goes through ``catalog.records.write_records`` (validation
and normalisation exactly as the store does them, content hash, new versions only for changed
rows); the digests of the rows it accepted are then recorded.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.bulk_write import STAGE, PreparedRows, prepare_rows, write_prepared
from catalog.models import Dataset
from catalog.records import WriteResult, write_records
from connectors.mapping import Digester, RowPlan, is_deleted, jsonable, key_normaliser, record_of
from connectors.sources.base import SourceRow
from connectors.tombstones import tombstone_keys

BATCH_TABLE = "hub_sync_batch"
SEEN_TABLE = "hub_sync_seen"

# Made once per run connection. The batch table empties itself at each commit; the seen keys
# outlive the per-batch commits and die with the connection (a killed run starts afresh).
CREATE_BATCH = (
    f"CREATE TEMP TABLE IF NOT EXISTS {BATCH_TABLE} "
    '(idx int NOT NULL, key text COLLATE "C" NOT NULL, raw bytea NOT NULL) '
    "ON COMMIT DELETE ROWS"
)
# No index: filled once per batch, read once by an anti-join after ANALYZE.
CREATE_SEEN = f'CREATE TEMP TABLE IF NOT EXISTS {SEEN_TABLE} (key text COLLATE "C" NOT NULL)'

# Writers of one dataset take turns per batch: two at once could both claim version n + 1.
DATASET_LOCK = "SELECT pg_advisory_xact_lock(hashtext('hub-dataset-write'), hashtext(:code))"

# The batch staged from arrays, then the rows that need the full path, in one statement.
# A data-modifying CTE is not visible to the rest of its statement, so the check reads the
# arrays themselves; the staged rows serve the statements after it.
_STAGE_AND_CHECK = f"""
WITH input AS (
    SELECT * FROM unnest($3::int[], $4::text[], $5::bytea[]) AS t(idx, key, raw)
),
staged AS (INSERT INTO {BATCH_TABLE} (idx, key, raw) SELECT idx, key, raw FROM input)
SELECT b.idx FROM input b
LEFT JOIN LATERAL (
    SELECT h.raw, h.record_hash FROM sync_row_hashes h
    WHERE h.connector = $1 AND h.key = b.key COLLATE "C" LIMIT 1
) h ON true
LEFT JOIN LATERAL (
    SELECT c.hash, c.deleted FROM records c
    WHERE c.dataset_code = $2 AND c.key = b.key COLLATE "C" LIMIT 1
) c ON true
WHERE h.raw IS DISTINCT FROM b.raw OR c.hash IS DISTINCT FROM h.record_hash OR c.deleted
"""

_STAGE = (
    f"INSERT INTO {BATCH_TABLE} (idx, key, raw) "
    "SELECT * FROM unnest($1::int[], $2::text[], $3::bytea[])"
)

# The digests of the rows the store accepted, with the hash it gave each: its staging table
# (``catalog.bulk_write.STAGE``, one chunk per batch here) still holds them in this
# transaction, so no probe of ``records`` is needed.
_REMEMBER = f"""
INSERT INTO sync_row_hashes AS h (connector, key, raw, record_hash)
SELECT $1, b.key, b.raw, s.hash FROM {STAGE} s JOIN {BATCH_TABLE} b ON b.key = s.key
WHERE b.idx >= 0
ON CONFLICT (connector, key) DO UPDATE SET raw = excluded.raw, record_hash = excluded.record_hash
"""

_SEEN = f"INSERT INTO {SEEN_TABLE} SELECT key FROM {BATCH_TABLE}"

_QUARANTINE = (
    "INSERT INTO sync_quarantine (run_id, connector, dataset_code, position, reason, row) "
    "SELECT $1, $2, $3, p, r, w::jsonb FROM unnest($4::text[], $5::text[], $6::text[]) "
    "AS t(p, r, w)"
)


@dataclass
class Counts:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0

    def add(self, other: Counts) -> None:
        for name in ("read", "inserted", "updated", "unchanged", "deleted", "rejected"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class BatchContext:
    """What every batch of one run shares."""

    dataset: Dataset  # the ORM row, for write_records
    plan: RowPlan
    label: str  # record_versions.source of what this run writes
    run_id: int
    run_name: str  # sync_runs.connector: the connector, or push:<dataset>
    connector: str | None  # for digests; None: every row through the full path
    snapshot: bool  # keep the keys seen, for tombstones at the end
    quarantine_limit: int
    quarantined: int = 0
    nothing_recorded: bool = False  # no digest of the connector's when the run began
    digester: Digester | None = None
    key_of: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.key_of = key_normaliser(self.plan)
        if self.connector is not None:
            self.digester = Digester(self.plan)


async def driver_of(session: AsyncSession) -> Any:
    raw = await (await session.connection()).get_raw_connection()
    return raw.driver_connection


@dataclass
class PlannedBatch:
    """What one batch needs before the database is asked anything (``plan_batch``): pure
    Python, so the engine works it out for the next batch while the current one is written."""

    rows: Sequence[SourceRow]
    latest: dict[str, int]  # stored key -> index of its last row
    keyless: list[int]  # rows without a valid key (validation gives the reason)
    deleted_keys: list[str]  # keys the source marked deleted (soft-delete column)
    indexes: list[int]  # staged rows: index, or -1 for a deleted key
    stored_keys: list[str]
    raws: list[bytes]  # digests of the staged rows
    # Every row's record made ready to write, when every row goes the full way (nothing
    # recorded for the connector when the run began): validation runs here, ahead.
    prepared: PreparedRows | None = None


def plan_batch(ctx: BatchContext, batch: Sequence[SourceRow]) -> PlannedBatch:
    """Keys, dedupe (the last row of a key wins), soft deletes and digests of one batch."""
    plan = ctx.plan
    key_column = plan.key_column
    key_of = ctx.key_of
    latest: dict[str, int] = {}
    keyless: list[int] = []
    for index, row in enumerate(batch):
        skey = key_of(row.values.get(key_column))
        if skey is None:
            keyless.append(index)
        else:
            latest.pop(skey, None)
            latest[skey] = index
    deleted_keys: list[str] = []
    if plan.soft_delete is not None:
        column = plan.soft_delete
        for skey, index in list(latest.items()):
            if is_deleted(batch[index].values.get(column)):
                deleted_keys.append(skey)
                del latest[skey]
    indexes: list[int] = []
    stored_keys: list[str] = []
    raws: list[bytes] = []
    if ctx.digester is not None or ctx.snapshot:
        digest = ctx.digester
        indexes = [*latest.values(), *([-1] * len(deleted_keys))]
        stored_keys = [*latest.keys(), *deleted_keys]
        raws = [_digest_of(batch[i], digest) if i >= 0 else b"" for i in indexes]
    planned = PlannedBatch(batch, latest, keyless, deleted_keys, indexes, stored_keys, raws)
    if ctx.nothing_recorded:
        order = sorted([*latest.values(), *keyless])
        planned.prepared = prepare_rows(
            plan.dataset,
            [record_of(plan, batch[i].values) for i in order],
            plan.keys,
            reject_invalid=True,
        )
    return planned


async def apply_batch(
    session: AsyncSession, ctx: BatchContext, batch: Sequence[SourceRow] | PlannedBatch
) -> Counts:
    """Write one batch (or one planned by ``plan_batch``) in the session's open transaction
    (the caller commits)."""
    planned = batch if isinstance(batch, PlannedBatch) else plan_batch(ctx, batch)
    rows, latest, keyless = planned.rows, planned.latest, planned.keyless
    counts = Counts(read=len(rows))
    plan = ctx.plan
    await session.execute(text(DATASET_LOCK), {"code": ctx.dataset.code})
    driver = await driver_of(session)
    staged = bool(ctx.digester is not None or ctx.snapshot)
    needed: list[int] = sorted(latest.values())
    if staged:
        args = (planned.indexes, planned.stored_keys, planned.raws)
        if planned.prepared is not None:
            # No digest recorded for the connector when the run began: no row can be known
            # unchanged, so the two probes per row are skipped (the store still compares
            # content hashes, so a key seen twice is still written once).
            await driver.execute(_STAGE, *args)
        else:
            # Staged and checked in one round trip (arrays encode faster than a COPY here).
            found = await driver.fetch(_STAGE_AND_CHECK, ctx.connector, ctx.dataset.code, *args)
            if ctx.digester is not None:
                needed = sorted(row["idx"] for row in found if row["idx"] >= 0)
    counts.unchanged += len(latest) - len(needed)
    order = sorted([*needed, *keyless])
    result = WriteResult()
    if planned.prepared is not None:
        result = await write_prepared(
            session, ctx.dataset.code, planned.prepared, source=ctx.label, outbox=True
        )
    elif order:  # a batch read again unchanged costs no statement of the store's
        result = await write_records(
            session,
            ctx.dataset,
            [record_of(plan, rows[i].values) for i in order],
            source=ctx.label,
            keys=plan.keys,
            reject_invalid=True,
            chunk_size=len(order),
            track_keys=False,
            outbox=True,
        )
    counts.inserted += result.inserted
    counts.updated += result.updated
    counts.unchanged += result.unchanged
    counts.rejected += len(result.rejected)
    rejected = {order[r.position] for r in result.rejected}
    if ctx.digester is not None and len(needed) > len(rejected & set(needed)):
        await driver.execute(_REMEMBER, ctx.connector)
    if planned.deleted_keys:
        counts.deleted += await tombstone_keys(
            driver, ctx.dataset.code, ctx.label, planned.deleted_keys
        )
    if ctx.snapshot and staged:
        await driver.execute(_SEEN)
    if result.rejected:
        await _quarantine(
            driver, ctx, [(rows[order[r.position]], r.reason) for r in result.rejected]
        )
    return counts


def _digest_of(row: SourceRow, digester: Digester | None) -> bytes:
    if row.digest is not None:
        return row.digest  # computed by the source server
    return digester(row.values) if digester is not None else b""


async def _quarantine(driver: Any, ctx: BatchContext, rows: list[tuple[SourceRow, str]]) -> None:
    """Keep the rejected rows (the first ``quarantine_limit`` of a run; all are counted)."""
    room = max(0, ctx.quarantine_limit - ctx.quarantined)
    kept = rows[:room]
    if not kept:
        return
    ctx.quarantined += len(kept)
    await driver.execute(
        _QUARANTINE,
        ctx.run_id,
        ctx.run_name,
        ctx.dataset.code,
        [row.position[:200] for row, _ in kept],
        [reason[:2000] for _, reason in kept],
        [json.dumps(jsonable(row.values), ensure_ascii=False) for row, _ in kept],
    )


__all__ = [
    "BATCH_TABLE",
    "CREATE_BATCH",
    "CREATE_SEEN",
    "DATASET_LOCK",
    "SEEN_TABLE",
    "BatchContext",
    "Counts",
    "PlannedBatch",
    "apply_batch",
    "driver_of",
    "plan_batch",
]
