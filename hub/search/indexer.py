"""The outbox indexer: drains ``search_outbox`` into OpenSearch in bulk (DESIGN.md §8).

Each round claims the oldest entries (``hub.search.outbox.claim``), keeps the last entry per
record, loads those records' *current* rows in one query per dataset and sends one bulk
request: a document per live record (external version = record version), a delete per
deleted or absent one. The claim commits only after the bulk request succeeded, so an
unreachable server or a crash leaves the entries to be delivered again; external versions
mean no order of deliveries, across batches or processes, lets an older version win.

Catalogue entries (key ``''``) re-index the dataset's catalogue document under an advisory
lock (catalogue documents have no version to compare, so their writers take turns, each
sending the state it read under the lock); a published dataset gets its record index and
alias, and a definition whose mapping no longer matches the index (a field added, made
RESTRICTED or encrypted, retyped) is reindexed from PostgreSQL, which also purges values of
fields that may no longer be indexed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence

from opensearchpy import AsyncOpenSearch
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.models import Dataset
from hub.search.client import is_unavailable
from hub.search.documents import (
    catalogue_document,
    catalogue_mapping,
    has_record_index,
    mapped_fields,
    record_document,
    record_mapping,
)
from hub.search.indices import Bulk, current_mapping, ensure_alias, ensure_template, send_bulk
from hub.search.names import catalogue_alias, record_alias
from hub.search.outbox import Entry, claim, latest_per_record
from hub.search.reindex import CATALOGUE_LOCK, reindex_dataset
from hub.settings import Settings

log = logging.getLogger(__name__)

# Longest wait between attempts while the search server is down, seconds.
MAX_BACKOFF_SECONDS = 30.0
FIRST_BACKOFF_SECONDS = 0.5

_ROWS = text(
    """
SELECT key, version, data, deleted FROM records
WHERE dataset_code = :code AND key = ANY(:keys)
"""
)


class Indexer:
    """Drains the outbox of one database into one search server; any number may run."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: AsyncOpenSearch,
        settings: Settings,
    ) -> None:
        self.sessions = sessions
        self.client = client
        self.prefix = settings.search_index_prefix
        self.batch_size = settings.search_batch_size
        self.poll_seconds = settings.search_poll_seconds
        self._aliases: set[str] = set()  # known to exist (a reindex never removes one)
        self._template = False
        self.indexed = 0  # outbox entries handled by this indexer (bench, logs)

    async def run(self) -> None:
        """Drain forever: at once while entries wait, every HUB_SEARCH_POLL_SECONDS when the
        outbox is empty, backing off (up to MAX_BACKOFF_SECONDS) while indexing fails."""
        backoff = FIRST_BACKOFF_SECONDS
        while True:
            try:
                handled = await self.drain_once()
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if is_unavailable(error):
                    log.warning("search unavailable (%s); retrying in %.1fs", _kind(error), backoff)
                else:
                    log.warning("search indexing failed; retrying in %.1fs", backoff, exc_info=True)
                self._aliases.clear()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            backoff = FIRST_BACKOFF_SECONDS
            if handled < self.batch_size:
                await asyncio.sleep(self.poll_seconds)

    async def drain(self) -> int:
        """Index until the outbox is empty (errors propagate); the entries handled."""
        total = 0
        while handled := await self.drain_once():
            total += handled
        return total

    async def drain_once(self) -> int:
        """One batch: claim, index, commit; the number of outbox entries it handled."""
        if not self._template:
            await ensure_template(self.client, self.prefix)
            self._template = True
        async with self.sessions.begin() as session:
            entries = await claim(session, self.batch_size)
            if not entries:
                return 0
            latest = latest_per_record(entries)
            codes = sorted({e.dataset_code for e in latest})
            found = await session.scalars(select(Dataset).where(Dataset.code.in_(codes)))
            datasets = {d.code: d for d in found}
            bulk = Bulk()
            catalogue = [e for e in latest if e.is_catalogue]
            if catalogue:
                await self._catalogue(session, catalogue, datasets, bulk)
            by_dataset: dict[str, list[Entry]] = defaultdict(list)
            for entry in latest:
                if not entry.is_catalogue:
                    by_dataset[entry.dataset_code].append(entry)
            for code, group in by_dataset.items():
                dataset = datasets.get(code)
                if dataset is None:  # removed meanwhile: nothing left to index
                    continue
                await self._records(session, dataset, group, bulk)
            await send_bulk(self.client, bulk)
        self.indexed += len(entries)
        return len(entries)

    async def _records(
        self, session: AsyncSession, dataset: Dataset, entries: Sequence[Entry], bulk: Bulk
    ) -> None:
        alias = record_alias(self.prefix, dataset.code)
        await self._ensure(alias, dataset)
        keys = [e.key for e in entries]
        rows = (await session.execute(_ROWS, {"code": dataset.code, "keys": keys})).mappings()
        current = {row["key"]: row for row in rows}
        for entry in entries:
            row = current.get(entry.key)
            if row is None:  # gone from the store altogether: its document goes too
                bulk.delete(alias, entry.key, entry.version)
                continue
            doc = record_document(dataset, dict(row))
            if doc is None:
                bulk.delete(alias, entry.key, int(row["version"]))
            else:
                bulk.index(alias, entry.key, doc, int(row["version"]))

    async def _catalogue(
        self,
        session: AsyncSession,
        entries: Sequence[Entry],
        datasets: dict[str, Dataset],
        bulk: Bulk,
    ) -> None:
        # Taken in the claim's transaction: held until this batch's bulk request is sent.
        await session.execute(text(CATALOGUE_LOCK))
        alias = catalogue_alias(self.prefix)
        if alias not in self._aliases:
            await ensure_alias(self.client, alias, catalogue_mapping())
            self._aliases.add(alias)
        for entry in entries:
            # Read again under the lock: the state this batch sends is the latest committed.
            dataset = await session.get(Dataset, entry.dataset_code, populate_existing=True)
            if dataset is None:
                bulk.delete(alias, entry.dataset_code, None)
                continue
            datasets[dataset.code] = dataset
            bulk.index(alias, dataset.code, catalogue_document(dataset), None)
            if has_record_index(dataset):
                await self._follow_definition(dataset)

    async def _follow_definition(self, dataset: Dataset) -> None:
        """Create the record index of a newly published dataset; rebuild one whose mapping
        no longer matches the dataset's definition."""
        alias = record_alias(self.prefix, dataset.code)
        wanted = record_mapping(dataset)
        mapping = await current_mapping(self.client, alias)
        if mapping is None:
            await ensure_alias(self.client, alias, wanted)
            self._aliases.add(alias)
            return
        if mapped_fields(mapping) != mapped_fields(wanted):
            log.info("search: the definition of %s changed; reindexing it", dataset.code)
            await reindex_dataset(self.sessions, self.client, self.prefix, dataset.code)

    async def _ensure(self, alias: str, dataset: Dataset) -> None:
        if alias not in self._aliases:
            await ensure_alias(self.client, alias, record_mapping(dataset))
            self._aliases.add(alias)


def _kind(error: BaseException) -> str:
    return type(error).__name__


__all__ = ["Indexer"]
