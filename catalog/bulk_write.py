"""Set-based writes into the record store: validate and seal in Python, COPY into a staging
table, then one statement that skips unchanged rows and writes versions and current rows.

Invariants (the same as the per-row path it replaces):
- every row is validated and normalised as ``catalog.values.normalise_record`` does it; an
  invalid row is never dropped silently: it raises (the default) or comes back in
  ``rejected`` with its position in the input and the reason;
- within a chunk, rows with the same key collapse to the last one (counted in ``duplicates``);
- a row whose content hash equals the current, not deleted, version is left alone; any other
  becomes version n + 1 (``supersedes`` n) in ``record_versions`` and the current row in
  ``records``, in the caller's transaction (nothing here commits);
- encrypted fields are sealed before any byte reaches PostgreSQL (``catalog.records.seal``).

Input is consumed in chunks of ``chunk_size`` rows, so the writer's memory does not grow with
the input. Keys repeated across chunks are written in order (the later chunk makes a new
version when its values differ). Two writers of the same dataset at once may fail on a version
key (the sync engine holds an advisory lock per connector); the caller's transaction then
rolls back whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from types import SimpleNamespace
from typing import Any, cast

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.crypto import FieldKeys
from catalog.errors import InvalidInput
from catalog.models import Dataset, DatasetField
from catalog.records import Rejected, WriteResult, canonical_plain, seal
from catalog.values import RecordNormaliser, record_normaliser

CHUNK = 5_000
STAGE = "hub_bulk_stage"

# ON COMMIT DROP: nothing outlives the caller's transaction on a pooled connection.
_CREATE_STAGE = (
    f"CREATE TEMP TABLE IF NOT EXISTS {STAGE} "
    '(key text COLLATE "C" NOT NULL, data text NOT NULL, blind text, hash text NOT NULL) '
    "ON COMMIT DROP"
)
_STAGE_COLUMNS = ("key", "data", "blind", "hash")
# With no statistics on the staging table the planner prices a chunk's write above
# ``jit_above_cost``; compiling its expressions took 5-10 % of the statement and saved nothing
# (EXPLAIN ANALYZE of 5,000 new businesses: 1.07-1.17 s with JIT, 0.99-1.11 s without).
_NO_JIT = "SET LOCAL jit = off"

# One statement per chunk. ``changed`` is materialised once and feeds both inserts; a row is
# changed when it is new, its hash differs, or the current row is a deletion (re-creating it).
# Data is staged as text and parsed as JSON only for changed rows: an unchanged re-write
# costs PostgreSQL a key lookup and a hash comparison per row. The lookup is a LATERAL
# subquery with LIMIT (the key is unique, so it changes nothing) so that it stays one primary
# key probe per staged row: as a plain join, with no statistics on the staging table, the
# planner hashed the whole dataset's partition for every chunk (135 ms per 5,000 rows at
# 200,000 records, growing with the dataset).
_CHANGED = f"""
WITH changed AS MATERIALIZED (
    SELECT s.key, s.data::jsonb AS data, s.blind::jsonb AS blind, s.hash, r.version AS before
    FROM {STAGE} s
    LEFT JOIN LATERAL (
        SELECT c.version, c.hash, c.deleted FROM records c
        WHERE c.dataset_code = $1 AND c.key = s.key
        LIMIT 1
    ) r ON true
    WHERE r.version IS NULL OR r.hash <> s.hash OR r.deleted
),
versions AS (
    INSERT INTO record_versions (dataset_code, key, version, data, blind, hash, source, supersedes)
    SELECT $1, key, coalesce(before, 0) + 1, data, blind, hash, $2, before FROM changed
),
current_rows AS (
    INSERT INTO records AS r (dataset_code, key, version, data, blind, hash, deleted)
    SELECT $1, key, coalesce(before, 0) + 1, data, blind, hash, false FROM changed
    ON CONFLICT (dataset_code, key) DO UPDATE SET
        version = excluded.version, data = excluded.data, blind = excluded.blind,
        hash = excluded.hash, deleted = false, updated_at = now()
)
"""
_COUNT = (
    "SELECT count(*) FILTER (WHERE before IS NULL) AS inserted, count(*) AS written FROM changed"
)
_LIST = "SELECT key, coalesce(before, 0) + 1 AS version, before FROM changed"
# With ``outbox``: each new version is announced to the search indexer in the same statement.
_OUTBOX = """, outbox AS (
    INSERT INTO search_outbox (dataset_code, key, version)
    SELECT $1, key, coalesce(before, 0) + 1 FROM changed
)
"""
_WRITE_COUNTING = _CHANGED + _COUNT
_WRITE_LISTING = _CHANGED + _LIST
_STATEMENTS = {
    (False, False): _WRITE_COUNTING,
    (True, False): _WRITE_LISTING,
    (False, True): _CHANGED.rstrip() + _OUTBOX + _COUNT,
    (True, True): _CHANGED.rstrip() + _OUTBOX + _LIST,
}

StageRow = tuple[str, str, str | None, str]

# ``catalog.records.canonical_json``'s encoder, made once: ``json.dumps`` with these options
# builds a new encoder per call, a third of the cost of encoding a narrow record.
_CANONICAL = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class _Plan:
    """What sealing needs to know about a dataset, looked up once per call, not per row."""

    key_field: str
    key_encrypted: bool
    any_encrypted: bool
    normalise: RecordNormaliser
    plain: bool  # no json field: every stored value is text, a whole number or a bool


def _plan(dataset: Dataset) -> _Plan:
    encrypted = {f.name for f in dataset.fields if f.encrypted}
    return _Plan(
        dataset.key_field,
        dataset.key_field in encrypted,
        bool(encrypted),
        record_normaliser(dataset),
        all(f.type != "json" for f in dataset.fields),
    )


def detached_view(dataset: Dataset) -> Dataset:
    """A plain copy of ``dataset`` and its fields (every mapped column) for the per-row work.

    ``normalise_record`` and ``seal`` read a dozen field attributes per value; through the
    ORM's instrumented attributes that was over half of their time. The same functions run on
    the copy, so validation is exactly as strict; only attribute access is cheaper."""
    field_columns = [c.key for c in sa_inspect(DatasetField).column_attrs]
    dataset_columns = [c.key for c in sa_inspect(Dataset).column_attrs]
    fields = [SimpleNamespace(**{k: getattr(f, k) for k in field_columns}) for f in dataset.fields]
    view = SimpleNamespace(**{k: getattr(dataset, k) for k in dataset_columns}, fields=fields)
    return cast(Dataset, view)


def stage_row(
    dataset: Dataset, plan: _Plan, values: Mapping[str, Any], keys: FieldKeys
) -> StageRow:
    """(stored key, data JSON, blind JSON, content hash) of one normalised record.

    Without encrypted fields the stored data is the values themselves, so their canonical JSON
    serves as both the hashed text and the data sent to PostgreSQL (one serialisation)."""
    if plan.any_encrypted:
        sealed = seal(dataset, values, keys)
        blind = None if sealed.blind is None else json.dumps(sealed.blind)
        return sealed.key, json.dumps(sealed.data, ensure_ascii=False), blind, sealed.hash
    if plan.plain:
        encoded = canonical_plain(values)
        return str(values[plan.key_field]), encoded.decode(), None, sha256(encoded).hexdigest()
    canonical = _CANONICAL.encode(values)
    digest = sha256(canonical.encode("utf-8")).hexdigest()
    return str(values[plan.key_field]), canonical, None, digest


async def _chunks(
    rows: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]], size: int
) -> AsyncIterable[list[Mapping[str, Any]]]:
    chunk: list[Mapping[str, Any]] = []
    if isinstance(rows, AsyncIterable):
        async for row in rows:
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    else:
        for row in rows:
            chunk.append(row)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


async def bulk_write(
    session: AsyncSession,
    dataset: Dataset,
    rows: Iterable[Mapping[str, Any]] | AsyncIterable[Mapping[str, Any]],
    *,
    source: str,
    keys: FieldKeys,
    reject_invalid: bool = False,
    chunk_size: int = CHUNK,
    track_keys: bool = True,
    outbox: bool = False,
) -> WriteResult:
    """Write ``rows`` into ``dataset`` in the caller's transaction; see the module docstring.

    ``reject_invalid=False`` raises InvalidInput naming the row's position on the first invalid
    row (the caller's transaction must then roll back); ``True`` returns invalid rows in
    ``result.rejected`` and writes the rest. ``track_keys`` fills ``result.keys_written``
    (stored key, new version) for search updates; a large load can turn it off. ``outbox``
    writes a ``search_outbox`` row for every new version, in the same statement."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    view = detached_view(dataset)
    plan = _plan(view)
    result = WriteResult()
    # Through the session, so SQLAlchemy has begun the transaction before the raw COPY runs.
    await session.execute(text(_CREATE_STAGE))
    await session.execute(text(f"TRUNCATE {STAGE}"))
    await session.execute(text(_NO_JIT))
    raw = await (await session.connection()).get_raw_connection()
    driver: Any = raw.driver_connection
    position = 0
    staged_before = False
    pending: asyncio.Task[None] | None = None
    try:
        async for chunk in _chunks(rows, chunk_size):
            # Python validates and seals this chunk while PostgreSQL applies the previous one.
            latest = _prepare(view, plan, chunk, position, keys, reject_invalid, result)
            position += len(chunk)
            if pending is not None:
                task, pending = pending, None
                await task
            if not latest:
                continue
            if staged_before:
                await driver.execute(f"TRUNCATE {STAGE}")
            staged_before = True
            await driver.copy_records_to_table(STAGE, records=latest, columns=_STAGE_COLUMNS)
            pending = asyncio.ensure_future(
                _apply(driver, dataset.code, source, len(latest), track_keys, outbox, result)
            )
            await asyncio.sleep(0)  # let the task send its statement before the next chunk
        if pending is not None:
            task, pending = pending, None
            await task
    finally:
        if pending is not None:
            # Preparing a chunk failed while a statement was in flight: let it finish so the
            # caller's rollback finds the connection idle; the preparation's error propagates.
            with contextlib.suppress(Exception):
                await pending
    return result


@dataclass
class PreparedRows:
    """Rows validated, normalised and sealed ahead of their write (``prepare_rows``): what
    ``bulk_write`` does to a chunk before it reaches PostgreSQL, done where the caller likes
    (the sync engine does it for the next batch while the database writes the current one)."""

    staged: list[StageRow]
    result: WriteResult  # read, rejected (positions in the rows given), duplicates


def prepare_rows(
    view: Dataset, rows: Sequence[Mapping[str, Any]], keys: FieldKeys, *, reject_invalid: bool
) -> PreparedRows:
    """``rows`` of the detached ``view`` (``detached_view``) made ready to write, exactly as
    ``bulk_write`` makes one chunk ready: same validation, normalisation, sealing and hash."""
    result = WriteResult()
    staged = _prepare(view, _plan(view), rows, 0, keys, reject_invalid, result)
    return PreparedRows(staged, result)


async def write_prepared(
    session: AsyncSession,
    dataset_code: str,
    prepared: PreparedRows,
    *,
    source: str,
    track_keys: bool = False,
    outbox: bool = False,
) -> WriteResult:
    """Store ``prepared`` rows in the caller's transaction, as ``bulk_write`` stores a chunk
    (the same staging table and statement); returns the result with the write's counts."""
    result = prepared.result
    if not prepared.staged:
        return result
    await session.execute(text(_CREATE_STAGE))
    await session.execute(text(f"TRUNCATE {STAGE}"))
    await session.execute(text(_NO_JIT))
    raw = await (await session.connection()).get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.copy_records_to_table(STAGE, records=prepared.staged, columns=_STAGE_COLUMNS)
    await _apply(driver, dataset_code, source, len(prepared.staged), track_keys, outbox, result)
    return result


def _prepare(
    view: Dataset,
    plan: _Plan,
    chunk: Sequence[Mapping[str, Any]],
    first_position: int,
    keys: FieldKeys,
    reject_invalid: bool,
    result: WriteResult,
) -> list[StageRow]:
    """The chunk's rows ready to stage, one per key (the last one given)."""
    latest: dict[str, StageRow] = {}
    normalise = plan.normalise
    for offset, row in enumerate(chunk):
        try:
            values = normalise(row)
        except InvalidInput as error:
            if not reject_invalid:
                raise InvalidInput(f"row {first_position + offset}: {error}") from None
            result.rejected.append(Rejected(first_position + offset, str(error), row))
            continue
        staged = stage_row(view, plan, values, keys)
        if staged[0] in latest:
            result.duplicates += 1
        latest[staged[0]] = staged
    result.read += len(chunk)
    return list(latest.values())


async def _apply(
    driver: Any,
    code: str,
    source: str,
    staged: int,
    track_keys: bool,
    outbox: bool,
    result: WriteResult,
) -> None:
    statement = _STATEMENTS[(track_keys, outbox)]
    if track_keys:
        written = await driver.fetch(statement, code, source)
        inserted = sum(1 for row in written if row["before"] is None)
        result.keys_written.extend((row["key"], row["version"]) for row in written)
        count = len(written)
    else:
        counts = await driver.fetchrow(statement, code, source)
        inserted, count = counts["inserted"], counts["written"]
    result.inserted += inserted
    result.updated += count - inserted
    result.unchanged += staged - count


__all__ = ["CHUNK", "PreparedRows", "bulk_write", "prepare_rows", "stage_row", "write_prepared"]
