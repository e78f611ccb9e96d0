"""Reading ``search_outbox``: claiming a batch, its backlog, and waking the indexer.

A batch is claimed by deleting its rows inside the caller's transaction (``FOR UPDATE SKIP
LOCKED``, so indexers in several processes take disjoint batches); the transaction commits
only once the index has the batch, so a crash or an unreachable server re-delivers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hub.search.documents import CATALOGUE_KEY

_CLAIM = text(
    """
DELETE FROM search_outbox WHERE id IN (
    SELECT id FROM search_outbox ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
)
RETURNING id, dataset_code, key, version
"""
)
# The exact count scans the backlog: /readyz asks often, so it stops counting here.
BACKLOG_COUNT_LIMIT = 100_000
_BACKLOG = text("SELECT count(*) FROM (SELECT 1 FROM search_outbox LIMIT :limit) AS b")


@dataclass(frozen=True, slots=True)
class Entry:
    """One outbox row: a record version, or a catalogue change (``key == ''``)."""

    id: int
    dataset_code: str
    key: str
    version: int

    @property
    def is_catalogue(self) -> bool:
        return self.key == CATALOGUE_KEY


async def claim(session: AsyncSession, limit: int) -> list[Entry]:
    """Up to ``limit`` of the oldest unclaimed entries, in id order, deleted in the session's
    transaction (rolled back: they are delivered again)."""
    rows = (await session.execute(_CLAIM, {"limit": limit})).all()
    entries = [Entry(int(r[0]), r[1], r[2], int(r[3])) for r in rows]
    entries.sort(key=lambda e: e.id)  # RETURNING order is not guaranteed
    return entries


def latest_per_record(entries: Sequence[Entry]) -> list[Entry]:
    """The last entry of each (dataset, key), in the order of those last entries: the index
    is given each record's *current* row, so earlier versions in the batch add nothing."""
    last: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        last[(entry.dataset_code, entry.key)] = entry
    return sorted(last.values(), key=lambda e: e.id)


async def backlog(session: AsyncSession) -> int:
    """Outbox entries waiting to be indexed (capped at BACKLOG_COUNT_LIMIT)."""
    return int(await session.scalar(_BACKLOG, {"limit": BACKLOG_COUNT_LIMIT}) or 0)


__all__ = [
    "BACKLOG_COUNT_LIMIT",
    "Entry",
    "backlog",
    "claim",
    "latest_per_record",
]
