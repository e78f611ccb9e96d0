"""Group commit for the audit of compiled reads.

A request hands over its audit events and ledger entries and waits; one writer transaction
stores everything handed over in the meantime (one statement: the events, chained by their
insert, then the ledger).
A response leaves only after its events are committed, so nothing served goes unaudited and
nothing is lost if the process dies; the commit and its WAL flush are shared by every request
of the batch instead of paid by each.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

from catalog.reads import ReadItem

_EVENT_COLUMNS = (
    "subject",
    "agency",
    "client_id",
    "action",
    "dataset",
    "fields",
    "lists",
    "purpose",
    "request_id",
    "detail",
)
# One statement, so one round trip and one implicit transaction: events and ledger rows are
# committed together or not at all. Keys travel packed (``catalog.audit_lists``); fields, an
# array of unequal length, as JSON.
# The events' insert chains them (catalog.audit): it takes the chain head's row lock, so it
# must run before the ledger insert, which may wait on another batch's uncommitted ledger
# rows (that batch holding the head would wait on ours: a deadlock). The ledger's one-time
# filter reads the events' RETURNING, which runs that insert to completion first.
_STORE_SQL = """
WITH events AS (
  INSERT INTO audit_events
    (subject, agency, client_id, action, dataset, fields, lists, purpose, request_id, detail)
  SELECT e.subject, e.agency, e.client_id, e.action, e.dataset,
         ARRAY(SELECT jsonb_array_elements_text(e.fields::jsonb)), e.lists, e.purpose,
         e.request_id, e.detail::jsonb
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
              $7::bytea[], $8::text[], $9::text[], $10::text[])
       AS e(subject, agency, client_id, action, dataset, fields, lists, purpose, request_id,
            detail)
  RETURNING 1
)
INSERT INTO record_reads (agency, dataset_code, key, version)
SELECT * FROM unnest($11::text[], $12::text[], $13::text[], $14::int[])
WHERE (SELECT count(*) FROM events) >= 0
ON CONFLICT DO NOTHING
"""
_JSON_COLUMNS = frozenset({"fields", "detail"})

_Pending = tuple[list[dict[str, Any]], str | None, list[ReadItem], "asyncio.Future[None]"]


class ReadAuditWriter:
    def __init__(self, pool: asyncpg.Pool, remember: int = 200_000) -> None:
        self._pool = pool
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None
        # Ledger rows this process has committed: the ledger only grows, so a row seen once
        # never needs writing again (other processes' duplicates meet ON CONFLICT).
        self._committed: OrderedDict[tuple[str, str, str, int], None] = OrderedDict()
        self._remember = remember

    @property
    def pending(self) -> int:
        """Batches waiting for the next group commit (a metric of audit write lag)."""
        return len(self._queue)

    async def write(
        self, events: list[dict[str, Any]], agency: str | None, ledger: list[ReadItem]
    ) -> None:
        """Return once these events are committed; raise if they could not be."""
        if agency is not None:
            ledger = [item for item in ledger if (agency, *item) not in self._committed]
        if not events and not ledger:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((events, agency, ledger, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        await done

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                await self._store(batch)
            except Exception as exc:
                for *_rest, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            for *_rest, done in batch:
                if not done.done():
                    done.set_result(None)

    async def _store(self, batch: Sequence[_Pending]) -> None:
        events = [e for events_of_request, *_ in batch for e in events_of_request]
        columns = [[_column_value(e[name], name) for e in events] for name in _EVENT_COLUMNS]
        ledger = sorted(
            {(agency, *item) for _e, agency, items, _d in batch if agency for item in items}
        )
        ledger_columns = (
            [list(column) for column in zip(*ledger, strict=True)] if ledger else [[]] * 4
        )
        async with self._pool.acquire() as conn:
            await conn.execute(_STORE_SQL, *columns, *ledger_columns)
        for row in ledger:
            self._committed[row] = None
        while len(self._committed) > self._remember:
            self._committed.popitem(last=False)


def _column_value(value: Any, name: str) -> Any:
    if name in _JSON_COLUMNS and value is not None:
        return orjson.dumps(value).decode()
    return value


__all__ = ["ReadAuditWriter"]
