"""Reading ``search_outbox``: claiming a batch, its backlog, and the entries set aside.

A batch is claimed by deleting its rows inside the caller's transaction (``FOR UPDATE SKIP
LOCKED``, so indexers in several processes take disjoint batches); the transaction commits
only once the index has the batch, so a crash or an unreachable server re-delivers it.

An entry whose own item fails (the index refuses its document, the document cannot be built)
is set aside in ``search_outbox_failures`` in that same transaction, so the rest of the batch
commits: one row per record with the reason, the attempts and when it failed. It is claimed
again (``claim_due``) after a delay that grows with each attempt; after the last one it is
parked (``retry_at`` NULL) until the index it failed against is replaced by a rebuild or an
operator retries it (``retry_parked``). A record indexed since (a later version, a retry that
passed) loses its row (``forget``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


# Id of an entry claimed from ``search_outbox_failures`` (a retry): below every outbox id, so
# an outbox entry of the same record in the batch is the one kept (``latest_per_record``).
RETRY_ID = 0
# The failure reason kept (characters).
REASON_LIMIT = 500

_CLAIM_DUE = text(
    """
SELECT dataset_code, key, version FROM search_outbox_failures
WHERE retry_at <= now() ORDER BY retry_at LIMIT :limit FOR UPDATE SKIP LOCKED
"""
)
# A new version of the record starts its attempts again; the delay after attempt n is
# delays[n], and past the last delay the entry is parked (retry_at NULL).
_SET_ASIDE = text(
    """
INSERT INTO search_outbox_failures AS f
    (dataset_code, key, version, attempts, reason, index_name, retry_at)
SELECT code, key, version, 1, reason, index_name,
       now() + make_interval(secs => (CAST(:delays AS float8[]))[1])
FROM unnest(CAST(:codes AS text[]), CAST(:keys AS text[]), CAST(:versions AS int[]),
            CAST(:reasons AS text[]), CAST(:indices AS text[]))
     AS n(code, key, version, reason, index_name)
ON CONFLICT (dataset_code, key) DO UPDATE SET
    attempts = CASE WHEN excluded.version > f.version THEN 1 ELSE f.attempts + 1 END,
    version = greatest(f.version, excluded.version),
    reason = excluded.reason,
    index_name = excluded.index_name,
    failed_at = now(),
    retry_at = now() + make_interval(secs => (CAST(:delays AS float8[]))[
        CASE WHEN excluded.version > f.version THEN 1 ELSE f.attempts + 1 END])
RETURNING dataset_code, key, attempts, retry_at IS NULL
"""
)
# Rows another indexer holds (it is retrying them) are left to it.
_FORGET = text(
    """
DELETE FROM search_outbox_failures WHERE (dataset_code, key) IN (
    SELECT f.dataset_code, f.key FROM search_outbox_failures f
    JOIN unnest(CAST(:codes AS text[]), CAST(:keys AS text[])) AS d(code, key)
      ON f.dataset_code = d.code AND f.key = d.key
    FOR UPDATE OF f SKIP LOCKED
)
"""
)
_RETRY_PARKED = text(
    """
UPDATE search_outbox_failures SET attempts = 0, retry_at = now()
WHERE retry_at IS NULL
  AND (CAST(:codes AS text[]) IS NULL OR dataset_code = ANY(CAST(:codes AS text[])))
  AND (CAST(:indices AS text[]) IS NULL OR index_name = ANY(CAST(:indices AS text[])))
"""
)
_PARKED_INDICES = text(
    """
SELECT DISTINCT dataset_code, key = '', index_name FROM search_outbox_failures
WHERE retry_at IS NULL AND index_name IS NOT NULL LIMIT :limit
"""
)
#: Entries set aside: (waiting for a retry, parked); also read by each /metrics scrape.
FAILURE_COUNTS_SQL = """
SELECT count(*) FILTER (WHERE retry_at IS NOT NULL), count(*) FILTER (WHERE retry_at IS NULL)
FROM search_outbox_failures
"""


@dataclass(frozen=True, slots=True)
class Entry:
    """One outbox row: a record version, or a catalogue change (``key == ''``); a retry of an
    entry set aside has the id ``RETRY_ID``."""

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


@dataclass(frozen=True, slots=True)
class Failure:
    """An entry whose own item failed, and why (no field value in it: it is stored and
    logged)."""

    entry: Entry
    reason: str
    index: str | None = None  # the concrete index it failed against, when known


@dataclass(frozen=True, slots=True)
class SetAside:
    """The row an entry set aside has now."""

    dataset_code: str
    key: str
    attempts: int
    parked: bool


async def claim_due(session: AsyncSession, limit: int) -> list[Entry]:
    """Up to ``limit`` entries set aside whose retry is due, locked in the session's
    transaction (rows another indexer holds are skipped), as entries with ``RETRY_ID``."""
    rows = (await session.execute(_CLAIM_DUE, {"limit": limit})).all()
    return [Entry(RETRY_ID, r[0], r[1], int(r[2])) for r in rows]


async def set_aside(
    session: AsyncSession, failures: Sequence[Failure], delays: Sequence[float]
) -> list[SetAside]:
    """Record ``failures``: a first failure (or one of a newer version) is attempt 1, each
    later one adds an attempt; after attempt n the entry is due again ``delays[n - 1]``
    seconds later, and after attempt ``len(delays) + 1`` it is parked."""
    unique = {(f.entry.dataset_code, f.entry.key): f for f in failures}
    failures = list(unique.values())
    if not failures:
        return []
    params = {
        "codes": [f.entry.dataset_code for f in failures],
        "keys": [f.entry.key for f in failures],
        "versions": [f.entry.version for f in failures],
        "reasons": [f.reason[:REASON_LIMIT] for f in failures],
        "indices": [f.index for f in failures],
        "delays": [float(d) for d in delays],
    }
    rows = (await session.execute(_SET_ASIDE, params)).all()
    return [SetAside(r[0], r[1], int(r[2]), bool(r[3])) for r in rows]


async def forget(session: AsyncSession, entries: Iterable[Entry]) -> None:
    """Remove the rows set aside for the records of ``entries`` (indexed now)."""
    pairs = sorted({(e.dataset_code, e.key) for e in entries})
    if pairs:
        await session.execute(
            _FORGET, {"codes": [p[0] for p in pairs], "keys": [p[1] for p in pairs]}
        )


async def retry_parked(
    session: AsyncSession,
    codes: Sequence[str] | None = None,
    indices: Sequence[str] | None = None,
) -> int:
    """Make the parked entries of ``codes`` (all datasets when None) that failed against one
    of ``indices`` (whichever when None) due now, with their attempts from the start; the
    entries made due."""
    params = {
        "codes": list(codes) if codes is not None else None,
        "indices": list(indices) if indices is not None else None,
    }
    result = await session.execute(_RETRY_PARKED, params)
    return int(getattr(result, "rowcount", 0) or 0)


async def parked_indices(session: AsyncSession, limit: int = 1_000) -> list[tuple[str, bool, str]]:
    """(dataset code, whether a catalogue entry, concrete index) of parked entries that
    failed against a known index."""
    rows = (await session.execute(_PARKED_INDICES, {"limit": limit})).all()
    return [(r[0], bool(r[1]), r[2]) for r in rows]


async def failure_counts(session: AsyncSession) -> tuple[int, int]:
    """Entries set aside: (waiting for a retry, parked)."""
    row = (await session.execute(text(FAILURE_COUNTS_SQL))).one()
    return int(row[0]), int(row[1])


__all__ = [
    "BACKLOG_COUNT_LIMIT",
    "FAILURE_COUNTS_SQL",
    "RETRY_ID",
    "Entry",
    "Failure",
    "SetAside",
    "backlog",
    "claim",
    "claim_due",
    "failure_counts",
    "forget",
    "latest_per_record",
    "parked_indices",
    "retry_parked",
    "set_aside",
]
