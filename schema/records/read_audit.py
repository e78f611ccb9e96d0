"""Group commit for the audit of compiled reads.

A request hands over its audit events and ledger entries and waits; one writer transaction
stores everything handed over in the meantime (COPY for the events, one INSERT for the ledger).
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
    "keys",
    "fields",
    "purpose",
    "request_id",
    "detail",
)
_LEDGER_SQL = (
    "INSERT INTO record_reads (agency, dataset_code, key, version) "
    "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[]) "
    "ON CONFLICT DO NOTHING"
)

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
        events = [
            tuple(
                orjson.dumps(e["detail"]).decode()
                if c == "detail" and e["detail"] is not None
                else e[c]
                for c in _EVENT_COLUMNS
            )
            for events_of_request, *_ in batch
            for e in events_of_request
        ]
        ledger = sorted(
            {(agency, *item) for _e, agency, items, _d in batch if agency for item in items}
        )
        async with self._pool.acquire() as conn, conn.transaction():
            if events:
                await conn.copy_records_to_table(
                    "audit_events", records=events, columns=list(_EVENT_COLUMNS)
                )
            if ledger:
                columns = [list(column) for column in zip(*ledger, strict=True)]
                await conn.execute(_LEDGER_SQL, *columns)
        for row in ledger:
            self._committed[row] = None
        while len(self._committed) > self._remember:
            self._committed.popitem(last=False)


__all__ = ["ReadAuditWriter"]
