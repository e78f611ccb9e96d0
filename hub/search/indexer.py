"""The outbox indexer: drains ``search_outbox`` into OpenSearch in bulk (DESIGN.md §8).

Each round claims the oldest entries (``hub.search.outbox.claim``), keeps the last entry per
record, loads those records' *current* rows in one query per dataset and sends one bulk
request: a document per live record (external version = record version), a delete per
deleted or absent one. The claim commits only after the bulk request succeeded, so an
unreachable server or a crash leaves the entries to be delivered again; external versions
mean no order of deliveries, across batches or processes, lets an older version win.

An entry that fails for a reason of its own does not hold back the others: an item the index
refuses (a 4xx status other than a version conflict, which means a newer version is there, and
other than a missing index, which is made again), a document that cannot be built, a record
index that cannot be made for its dataset. It is set aside in ``search_outbox_failures`` with
the reason (``hub.search.outbox``) while the rest of the batch commits, retried after
``RETRY_DELAYS_SECONDS`` and parked after the last attempt; a parked entry is retried once
the index it failed against has been replaced (``hub search reindex``, a definition change).
A batch that fails as a whole because the server is unavailable (no connection, 5xx, 429,
also as an item's status) sets nothing aside: it is delivered again after a back-off.

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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import NotFoundError
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
from hub.search.indices import (
    RETRY,
    Bulk,
    BulkRetry,
    current_mapping,
    ensure_alias,
    ensure_template,
    item_outcome,
)
from hub.search.names import catalogue_alias, record_alias
from hub.search.outbox import (
    Entry,
    Failure,
    SetAside,
    claim,
    claim_due,
    forget,
    latest_per_record,
    parked_indices,
    retry_parked,
    set_aside,
)
from hub.search.reindex import CATALOGUE_LOCK, reindex_dataset
from hub.settings import Settings

log = logging.getLogger(__name__)

# Longest wait between attempts while the search server is down, seconds.
MAX_BACKOFF_SECONDS = 30.0
FIRST_BACKOFF_SECONDS = 0.5
# Delays before the retries of an entry set aside, seconds: attempt n failing waits the n-th;
# the attempt after the last delay is the last one (5 attempts over about 2.5 hours), then
# the entry is parked.
RETRY_DELAYS_SECONDS: tuple[float, ...] = (60.0, 300.0, 1_800.0, 7_200.0)
# How often an indexer looks whether the index a parked entry failed against was replaced.
REBUILT_CHECK_SECONDS = 60.0

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
        self.retry_delays: tuple[float, ...] = RETRY_DELAYS_SECONDS
        self.set_aside = 0  # entries this indexer set aside (retried or parked)
        self.rebuilt_check_seconds = REBUILT_CHECK_SECONDS
        self._rebuilt_checked = -REBUILT_CHECK_SECONDS

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
        """Index until the outbox is empty and no entry set aside is due (errors propagate);
        the entries handled."""
        total = 0
        while handled := await self.drain_once():
            total += handled
        return total

    async def drain_once(self) -> int:
        """One batch: claim, index, set aside the entries that failed on their own, commit;
        the number of entries it handled (outbox entries and retries due)."""
        if not self._template:
            await ensure_template(self.client, self.prefix)
            self._template = True
        async with self.sessions.begin() as session:
            await self._retry_rebuilt(session)
            entries = await claim(session, self.batch_size)
            room = max(self.batch_size - len(entries), self.batch_size // 10, 1)
            retries = await claim_due(session, room)
            if not entries and not retries:
                return 0
            # Retries first: an outbox entry of the same record supersedes its retry.
            latest = latest_per_record([*retries, *entries])
            codes = sorted({e.dataset_code for e in latest})
            found = await session.scalars(select(Dataset).where(Dataset.code.in_(codes)))
            datasets = {d.code: d for d in found}
            batch = _Batch()
            catalogue = [e for e in latest if e.is_catalogue]
            if catalogue:
                await self._catalogue(session, catalogue, datasets, batch)
            by_dataset: dict[str, list[Entry]] = defaultdict(list)
            for entry in latest:
                if not entry.is_catalogue:
                    by_dataset[entry.dataset_code].append(entry)
            for code, group in by_dataset.items():
                dataset = datasets.get(code)
                if dataset is None:  # removed meanwhile: nothing left to index
                    continue
                await self._records(session, dataset, group, batch)
            await self._send(batch)
            failed = set(batch.failed)
            await forget(session, [e for e in latest if e not in failed])
            kept = await set_aside(session, list(batch.failed.values()), self.retry_delays)
        handled = len(entries) + len(retries)
        self.indexed += handled
        self.set_aside += len(kept)
        _report(list(batch.failed.values()), kept)
        return handled

    async def _records(
        self, session: AsyncSession, dataset: Dataset, entries: Sequence[Entry], batch: _Batch
    ) -> None:
        alias = record_alias(self.prefix, dataset.code)
        try:
            await self._ensure(alias, dataset)
        except Exception as error:
            if is_unavailable(error):
                raise
            for entry in entries:  # this dataset's index cannot be made: its entries wait
                batch.fail(entry, f"index: {_reason(error)}")
            return
        keys = [e.key for e in entries]
        rows = (await session.execute(_ROWS, {"code": dataset.code, "keys": keys})).mappings()
        current = {row["key"]: row for row in rows}
        unbuilt: list[tuple[Entry, str]] = []
        for entry in entries:
            row = current.get(entry.key)
            if row is None:  # gone from the store altogether: its document goes too
                batch.delete(entry, alias, entry.key, entry.version)
                continue
            try:
                doc = record_document(dataset, dict(row))
            except Exception as error:
                unbuilt.append((entry, f"document: {_reason(error)}"))
                continue
            if doc is None:
                batch.delete(entry, alias, entry.key, int(row["version"]))
            else:
                batch.index(entry, alias, entry.key, doc, int(row["version"]))
        if unbuilt:  # a rebuild of the index retries them once parked
            target = await self._target(alias)
            for entry, reason in unbuilt:
                batch.fail(entry, reason, target)

    async def _send(self, batch: _Batch) -> None:
        """Send the batch's bulk request(s); an item refused for a reason of its own fails
        its entry. Raises BulkRetry when an item failed because the server could not take
        it (overload, server error, an index gone missing): the batch is delivered again."""
        offset = 0
        retry = 0
        for body, actions in batch.bulk.requests():
            response = await self.client.bulk(body=body)
            if response.get("errors"):
                items = response.get("items", [])
                if len(items) != actions:
                    raise BulkRetry(f"bulk response has {len(items)} items for {actions}")
                for item, entry in zip(items, batch.items[offset : offset + actions], strict=True):
                    outcome = item_outcome(item)
                    if outcome == RETRY:
                        retry += 1
                    elif outcome is not None:
                        index = next(iter(item.values())).get("_index")
                        batch.fail(entry, outcome, str(index) if index else None)
            offset += actions
        if retry:
            raise BulkRetry(f"{retry} bulk item(s) failed; the batch is sent again")

    async def _catalogue(
        self,
        session: AsyncSession,
        entries: Sequence[Entry],
        datasets: dict[str, Dataset],
        batch: _Batch,
    ) -> None:
        # Taken in the claim's transaction: held until this batch's bulk request is sent.
        await session.execute(text(CATALOGUE_LOCK))
        alias = catalogue_alias(self.prefix)
        if alias not in self._aliases:
            try:
                await ensure_alias(self.client, alias, catalogue_mapping())
            except Exception as error:
                if is_unavailable(error):
                    raise
                for entry in entries:
                    batch.fail(entry, f"index: {_reason(error)}")
                return
            self._aliases.add(alias)
        for entry in entries:
            # Read again under the lock: the state this batch sends is the latest committed.
            dataset = await session.get(Dataset, entry.dataset_code, populate_existing=True)
            if dataset is None:
                batch.delete(entry, alias, entry.dataset_code, None)
                continue
            datasets[dataset.code] = dataset
            try:
                doc = catalogue_document(dataset)
            except Exception as error:
                batch.fail(entry, f"document: {_reason(error)}")
                continue
            batch.index(entry, alias, dataset.code, doc, None)
            if has_record_index(dataset):
                try:
                    await self._follow_definition(session, dataset)
                except Exception as error:
                    if is_unavailable(error):
                        raise
                    batch.fail(entry, f"record index: {_reason(error)}")

    async def _follow_definition(self, session: AsyncSession, dataset: Dataset) -> None:
        """Create the record index of a newly published dataset; rebuild one whose mapping
        no longer matches the dataset's definition (and retry its parked entries: the new
        mapping may take them)."""
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
            await retry_parked(session, [dataset.code])

    async def _retry_rebuilt(self, session: AsyncSession) -> None:
        """Make parked entries due again whose index has been replaced since they failed (a
        reindex rebuilt it, perhaps with a mapping that takes them); at most once every
        ``rebuilt_check_seconds``."""
        now = asyncio.get_running_loop().time()
        if now - self._rebuilt_checked < self.rebuilt_check_seconds:
            return
        self._rebuilt_checked = now
        stale: dict[str, list[str]] = defaultdict(list)
        targets: dict[str, str | None] = {}
        for code, is_catalogue, index in await parked_indices(session):
            prefix = self.prefix
            alias = catalogue_alias(prefix) if is_catalogue else record_alias(prefix, code)
            if alias not in targets:
                targets[alias] = await self._target(alias)
            if targets[alias] != index:
                stale[code].append(index)
        for code, indices in sorted(stale.items()):
            retried = await retry_parked(session, [code], indices)
            if retried:
                log.info("search: %s was rebuilt; retrying %d parked entries", code, retried)

    async def _target(self, alias: str) -> str | None:
        """The concrete index ``alias`` points at (None: no alias, or not known)."""
        try:
            found = await self.client.indices.get_alias(name=alias)
        except NotFoundError:
            return None
        except Exception as error:
            if is_unavailable(error):
                raise
            return None
        return next(iter(sorted(found)), None)

    async def _ensure(self, alias: str, dataset: Dataset) -> None:
        if alias not in self._aliases:
            await ensure_alias(self.client, alias, record_mapping(dataset))
            self._aliases.add(alias)


@dataclass(slots=True)
class _Batch:
    """One batch's bulk request, the entry each of its actions serves, and the entries
    that failed on their own (with the reason)."""

    bulk: Bulk = field(default_factory=Bulk)
    items: list[Entry] = field(default_factory=list)  # the entry of each action, in order
    failed: dict[Entry, Failure] = field(default_factory=dict)

    # Actions are added only here, so ``items`` stays aligned with the bulk response's items.
    def index(
        self, entry: Entry, alias: str, key: str, doc: Mapping[str, Any], version: int | None
    ) -> None:
        self.bulk.index(alias, key, doc, version)
        self.items.append(entry)

    def delete(self, entry: Entry, alias: str, key: str, version: int | None) -> None:
        self.bulk.delete(alias, key, version)
        self.items.append(entry)

    def fail(self, entry: Entry, reason: str, index: str | None = None) -> None:
        if entry not in self.failed:
            self.failed[entry] = Failure(entry, reason, index)


def _reason(error: BaseException) -> str:
    """What is kept of an error an entry failed with: its kind and message."""
    message = str(error).strip()
    return f"{_kind(error)}: {message}" if message else _kind(error)


def _report(failures: Sequence[Failure], kept: Sequence[SetAside]) -> None:
    """One line per dataset of entries set aside, and one per dataset of entries parked (by
    key only: reasons may quote values, and are read from search_outbox_failures)."""
    if not failures:
        return
    by_dataset: dict[str, list[Failure]] = defaultdict(list)
    for failure in failures:
        by_dataset[failure.entry.dataset_code].append(failure)
    for code, group in sorted(by_dataset.items()):
        first = group[0]
        log.warning(
            "search: %d entr%s of %s set aside to retry later (first: key %r, %s)",
            len(group),
            "y" if len(group) == 1 else "ies",
            code,
            first.entry.key,
            ":".join(first.reason.split(":")[:2]),  # the kind, no message
        )
    parked: dict[str, list[str]] = defaultdict(list)
    for row in kept:
        if row.parked:
            parked[row.dataset_code].append(row.key)
    for code, keys in sorted(parked.items()):
        log.error(
            "search: %d entr%s of %s parked after their last attempt (first: key %r); "
            "see search_outbox_failures",
            len(keys),
            "y" if len(keys) == 1 else "ies",
            code,
            keys[0],
        )


def _kind(error: BaseException) -> str:
    return type(error).__name__


__all__ = ["Indexer"]
