"""A snapshot's unchanged rows found set-based, before any row is read into Python.

For a source that computes row digests itself (``DigestingSource``: PostgreSQL, MySQL and
MariaDB), the (key, digest) pair of every source row is copied into a temporary table on the
run's connection (from PostgreSQL by ``COPY`` piped straight through) and joined once with
the digests this connector last recorded (``sync_row_hashes``) and the records they produced.
A row is unchanged when its digest is one the connector recorded, the record it produced is
still live with the hash recorded, and no other row of the source has its key with another
digest. Only the other rows are then read, by key, and go through the batch path
(validation, normalisation, versions, outbox, quarantine) exactly as before.

Nothing but the run's counts is committed here, and the seen keys go to the run connection's
temporary table: a run killed after the scan reads everything again on its next start.
The comparison is exact: digests are 16 bytes of MD5 over a salt naming the mapping and the
field rules and the row's text form, so a row matches only the digest of the very same row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.batches import SEEN_TABLE
from connectors.sources.base import DigestingSource

DIGESTS_TABLE = "hub_sync_digests"
CHANGED_TABLE = "hub_sync_changed"

#: Most changed keys read back by key; above this (or ``MAX_CHANGED_SHARE`` of the rows) the
#: whole source is read instead, which is cheaper than that many key lookups.
MAX_CHANGED_KEYS = 100_000
MAX_CHANGED_SHARE = 0.25
WORK_MEM = "128MB"

CREATE_DIGESTS = (
    f"CREATE TEMP TABLE IF NOT EXISTS {DIGESTS_TABLE} "
    '(k text COLLATE "C", d bytea) ON COMMIT DELETE ROWS'
)

_HAS_HASHES = "SELECT EXISTS (SELECT 1 FROM sync_row_hashes WHERE connector = $1)"

CREATE_CHANGED = (
    f'CREATE TEMP TABLE IF NOT EXISTS {CHANGED_TABLE} (k text COLLATE "C") ON COMMIT DELETE ROWS'
)

# One pass over the snapshot's digests: each row either matches a digest this connector
# recorded whose record is still live with the hash recorded (unchanged: its stored key joins
# the seen keys), or it is changed (its source key is kept, to be read). A key that also has a
# changed row in the source is changed altogether: the batch path decides which row wins.
# Returns the counts.
_SPLIT = f"""
WITH m AS MATERIALIZED (
    SELECT t.k, x.key AS matched FROM {DIGESTS_TABLE} t
    LEFT JOIN (
        SELECT h.key, h.raw FROM sync_row_hashes h
        JOIN records c ON c.dataset_code = $2 AND c.key = h.key COLLATE "C"
            AND c.hash = h.record_hash AND NOT c.deleted
        WHERE h.connector = $1
    ) x ON x.raw = t.d
),
flagged AS MATERIALIZED (
    SELECT k, CASE WHEN k NOT IN (
        SELECT k FROM m WHERE matched IS NULL AND k IS NOT NULL
    ) THEN matched END AS unchanged FROM m
),
seen AS (
    INSERT INTO {SEEN_TABLE} SELECT unchanged FROM flagged WHERE unchanged IS NOT NULL
),
changed AS (
    INSERT INTO {CHANGED_TABLE} SELECT k FROM flagged WHERE unchanged IS NULL
)
SELECT count(*) AS total, count(unchanged) AS unchanged, coalesce(bool_or(k IS NULL), false)
    AS keyless FROM flagged
"""

_CHANGED_KEYS = f"SELECT DISTINCT k FROM {CHANGED_TABLE} LIMIT $1"


@dataclass(frozen=True, slots=True)
class Unchanged:
    """What the scan found: how many rows are unchanged (already in the seen keys) and the
    source keys (as text) of the rest, to be read and written."""

    unchanged: int
    changed_keys: list[str]


async def find_unchanged(
    driver: Any, source: DigestingSource, connector: str, dataset_code: str
) -> Unchanged | None:
    """Scan ``source``'s digests in the caller's transaction (the caller commits). ``None``
    when the whole source should be read instead: nothing recorded yet for the connector, a
    row without a key (it must be quarantined again), or too many changed rows."""
    if not await driver.fetchval(_HAS_HASHES, connector):
        return None
    # The joins below hash every row of the snapshot once; with the default work_mem they
    # spill to disk. Local to the scan's transaction.
    await driver.execute(f"SET LOCAL work_mem = '{WORK_MEM}'")
    await driver.execute(CREATE_DIGESTS)
    await driver.execute(CREATE_CHANGED)
    await source.copy_digests(driver, DIGESTS_TABLE)
    await driver.execute(f"ANALYZE {DIGESTS_TABLE}")
    # The seen keys it adds are harmless when the whole source is read after all: a read
    # adds each key it sees again, and the seen keys only decide what is not deleted.
    counts = await driver.fetchrow(_SPLIT, connector, dataset_code)
    total, unchanged = int(counts["total"]), int(counts["unchanged"])
    changed = total - unchanged
    if counts["keyless"] or changed > min(MAX_CHANGED_KEYS, max(1000, total * MAX_CHANGED_SHARE)):
        return None
    keys = [row["k"] for row in await driver.fetch(_CHANGED_KEYS, MAX_CHANGED_KEYS)]
    return Unchanged(unchanged, keys)


__all__ = ["CREATE_DIGESTS", "MAX_CHANGED_KEYS", "Unchanged", "find_unchanged"]
