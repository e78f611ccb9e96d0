"""Rebuilding search indices from PostgreSQL (``hub search reindex``, and at the start of an
embedded hub).

A dataset's records are copied into a new concrete index ``{alias}-{n+1}`` while searches
and the indexer keep using the old one; then the alias moves in one atomic call, and every
record written since the copy began (``updated_at`` from ``since``, below) is indexed again
into the new index, so a change the indexer sent to the old index during the copy is not
lost. External versions make the overlap harmless: a copy never overwrites a newer version.

``since`` is the start of the oldest transaction open when the copy began (or now): a write
stamps ``updated_at = now()``, its transaction's start, so every write the copy may have
missed has ``updated_at >= since``.

One reindex of a dataset at a time (an advisory lock held by a transaction of its own);
catalogue rebuilds hold the indexer's catalogue lock, so catalogue entries wait for them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from opensearchpy import AsyncOpenSearch
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.errors import NotFound
from catalog.models import Dataset
from hub.search.documents import (
    catalogue_document,
    catalogue_mapping,
    has_record_index,
    record_document,
    record_mapping,
)
from hub.search.indices import Bulk, create_index, ensure_template, generations, send_bulk
from hub.search.indices import swap_alias as swap
from hub.search.names import catalogue_alias, concrete_index, generation_of, record_alias

log = logging.getLogger(__name__)

# Rows read (and documents sent) per round trip of a copy.
COPY_CHUNK = 2_000
CATALOGUE_LOCK = "SELECT pg_advisory_xact_lock(hashtext('hub-search-catalogue'))"
_DATASET_LOCK = "SELECT pg_advisory_xact_lock(hashtext('hub-search-reindex:' || :code))"
_SINCE = text(
    """
SELECT least(now(), (SELECT min(xact_start) FROM pg_stat_activity
                     WHERE datname = current_database() AND xact_start IS NOT NULL))
"""
)
_PAGE = text(
    """
SELECT key, version, data, deleted FROM records
WHERE dataset_code = :code AND NOT deleted AND key > :after
ORDER BY key LIMIT :limit
"""
)
_CHANGED_SINCE = text(
    """
SELECT key, version, data, deleted FROM records
WHERE dataset_code = :code AND updated_at >= :since AND key > :after
ORDER BY key LIMIT :limit
"""
)
_COUNT = text("SELECT count(*) FROM records WHERE dataset_code = :code AND NOT deleted")

# Called with the number of documents copied so far (the CLI's progress bar).
Progress = Callable[[int], None]


async def count_records(sessions: async_sessionmaker[AsyncSession], code: str) -> int:
    """Live records of ``code`` (the total a progress bar counts towards)."""
    async with sessions() as session:
        return int(await session.scalar(_COUNT, {"code": code}) or 0)


async def load_dataset(session: AsyncSession, code: str) -> Dataset | None:
    return await session.get(Dataset, code)


async def indexed_datasets(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    """Codes of the datasets whose records are indexed, in code order."""
    async with sessions() as session:
        datasets = (await session.scalars(select(Dataset).order_by(Dataset.code))).all()
    return [d.code for d in datasets if has_record_index(d)]


async def reindex_dataset(
    sessions: async_sessionmaker[AsyncSession],
    client: AsyncOpenSearch,
    prefix: str,
    code: str,
    progress: Progress | None = None,
    *,
    chunk_size: int = COPY_CHUNK,
) -> int:
    """Rebuild ``code``'s record index from PostgreSQL, ``chunk_size`` rows per round trip;
    the documents copied. NotFound for an unknown dataset."""
    async with sessions.begin() as lock:
        dataset = await load_dataset(lock, code)
        if dataset is None:
            raise NotFound(f"dataset '{code}' does not exist")
        await lock.execute(text(_DATASET_LOCK), {"code": code})
        await ensure_template(client, prefix)
        alias = record_alias(prefix, code)
        mapping = record_mapping(dataset)
        existing = await generations(client, alias)
        new_index = await _new_generation(client, alias, existing, mapping)
        async with sessions() as session:
            since: datetime = await session.scalar(_SINCE)
        copied = await _copy(
            sessions,
            client,
            dataset,
            new_index,
            _PAGE,
            {"limit": chunk_size},
            progress,
            is_alias=False,
        )
        await swap(client, alias, new_index, [i for i, aliased in existing.items() if aliased])
        # Writes since the copy began: the indexer may have sent them to the old index.
        changed = {"since": since, "limit": chunk_size}
        await _copy(sessions, client, dataset, alias, _CHANGED_SINCE, changed, None, is_alias=True)
        await _drop(client, existing)
        log.info("search: %s reindexed into %s (%d documents)", code, new_index, copied)
        return copied


async def reindex_catalogue(
    sessions: async_sessionmaker[AsyncSession], client: AsyncOpenSearch, prefix: str
) -> int:
    """Rebuild the catalogue index (every dataset); the documents written."""
    async with sessions.begin() as lock:
        await lock.execute(text(CATALOGUE_LOCK))  # catalogue entries of the indexer wait
        await ensure_template(client, prefix)
        alias = catalogue_alias(prefix)
        existing = await generations(client, alias)
        new_index = await _new_generation(client, alias, existing, catalogue_mapping())
        datasets = (await lock.scalars(select(Dataset).order_by(Dataset.code))).all()
        bulk = Bulk()
        for dataset in datasets:
            bulk.index(new_index, dataset.code, catalogue_document(dataset), None, is_alias=False)
        await send_bulk(client, bulk)
        await swap(client, alias, new_index, [i for i, aliased in existing.items() if aliased])
        await _drop(client, existing)
        return len(datasets)


async def reindex_all(
    sessions: async_sessionmaker[AsyncSession],
    client: AsyncOpenSearch,
    prefix: str,
    progress: Callable[[str, int], None] | None = None,
) -> dict[str, int]:
    """Rebuild the catalogue and every indexed dataset; documents per dataset."""
    counts = {"(catalogue)": await reindex_catalogue(sessions, client, prefix)}
    for code in await indexed_datasets(sessions):

        def step(done: int, code: str = code) -> None:
            if progress is not None:
                progress(code, done)

        counts[code] = await reindex_dataset(sessions, client, prefix, code, step)
    return counts


async def _new_generation(
    client: AsyncOpenSearch, alias: str, existing: dict[str, bool], mapping: dict[str, Any]
) -> str:
    numbers = [generation_of(alias, name) or 0 for name in existing]
    generation = max(numbers, default=0) + 1
    index = concrete_index(alias, generation)
    while not await create_index(client, index, mapping):
        # Left by a reindex that died before its swap: nothing points at it.
        generation += 1
        index = concrete_index(alias, generation)
    return index


async def _copy(
    sessions: async_sessionmaker[AsyncSession],
    client: AsyncOpenSearch,
    dataset: Dataset,
    index: str,
    page: Any,
    params: dict[str, Any],
    progress: Progress | None,
    *,
    is_alias: bool,
) -> int:
    """Send the rows ``page`` selects into ``index`` (an alias or a concrete index), in key
    order, a chunk at a time; the documents sent."""
    after = ""
    sent = 0
    while True:
        async with sessions() as session:
            rows = (
                await session.execute(page, {"code": dataset.code, "after": after, **params})
            ).mappings()
            rows_list = list(rows)
        if not rows_list:
            return sent
        bulk = Bulk()
        for row in rows_list:
            doc = record_document(dataset, dict(row))
            if doc is None:
                bulk.delete(index, row["key"], int(row["version"]))
            else:
                bulk.index(index, row["key"], doc, int(row["version"]), is_alias=is_alias)
        await send_bulk(client, bulk)
        sent += len(rows_list)
        after = rows_list[-1]["key"]
        if progress is not None:
            progress(sent)


async def _drop(client: AsyncOpenSearch, existing: dict[str, bool]) -> None:
    """Delete the concrete indices a swap left behind (unreferenced now)."""
    if existing:
        await client.indices.delete(index=",".join(sorted(existing)), ignore_unavailable=True)


__all__ = [
    "COPY_CHUNK",
    "count_records",
    "indexed_datasets",
    "reindex_all",
    "reindex_catalogue",
    "reindex_dataset",
]
