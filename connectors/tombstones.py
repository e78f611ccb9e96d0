"""Tombstones: a record deleted at its source becomes a new version marked deleted, in one
statement per call, with its search outbox row, in the caller's transaction.

A tombstone version keeps the data and hash of the version it ends (the history shows what
was deleted); ``records.deleted`` hides the record from reads; a later write of the key makes
a new live version (``catalog.bulk_write`` treats a deleted current row as changed).

Label scheme: every version a connector writes carries ``source = 'connector:<name>'``
(``label_of``); a snapshot run tombstones only live records whose current version carries
its own label, so it never deletes what a correction, a push or another connector wrote.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# ``gone`` is materialised once and feeds the version, the current row and the outbox row.
_TOMBSTONE = """
, versions AS (
    INSERT INTO record_versions
        (dataset_code, key, version, data, blind, hash, source, supersedes, deleted)
    SELECT $1, key, version + 1, data, blind, hash, $2, version, true FROM gone
),
current_rows AS (
    UPDATE records r SET version = g.version + 1, deleted = true, updated_at = now()
    FROM gone g WHERE r.dataset_code = $1 AND r.key = g.key
),
outbox AS (
    INSERT INTO search_outbox (dataset_code, key, version)
    SELECT $1, key, version + 1 FROM gone
)
SELECT count(*) FROM gone
"""

# Keys the source marked deleted (its soft-delete column): whoever wrote the record last.
_BY_KEYS = (
    """
WITH gone AS MATERIALIZED (
    SELECT r.key, r.version, r.data, r.blind, r.hash FROM records r
    WHERE r.dataset_code = $1 AND r.key = ANY($3::text[]) AND NOT r.deleted
)"""
    + _TOMBSTONE
)

# A complete snapshot run: live records last written by this connector that it did not see.
_GONE_FROM_SNAPSHOT = (
    """
WITH unseen AS MATERIALIZED (
    SELECT r.key, r.version, r.data, r.blind, r.hash FROM records r
    WHERE r.dataset_code = $1 AND NOT r.deleted
      AND NOT EXISTS (SELECT 1 FROM {seen} s WHERE s.key = r.key)
),
gone AS MATERIALIZED (
    SELECT u.* FROM unseen u
    WHERE EXISTS (
        SELECT 1 FROM record_versions v
        WHERE v.dataset_code = $1 AND v.key = u.key AND v.version = u.version AND v.source = $2
    )
)"""
    + _TOMBSTONE
)


# Live records ``label`` wrote last that a snapshot did not see: the unseen ones first (a
# hashed anti-join with the seen keys, after ANALYZE), then the label checked on those only.
_COUNT_GONE = """
WITH unseen AS MATERIALIZED (
    SELECT r.key, r.version FROM records r
    WHERE r.dataset_code = $1 AND NOT r.deleted
      AND NOT EXISTS (SELECT 1 FROM {seen} s WHERE s.key = r.key)
)
SELECT count(*) FROM unseen u
WHERE EXISTS (
    SELECT 1 FROM record_versions v
    WHERE v.dataset_code = $1 AND v.key = u.key AND v.version = u.version AND v.source = $2
)
"""

# How many live records ``label`` wrote last (a probe of record_versions per record: only
# asked when some are gone).
_COUNT_OWNED = """
SELECT count(*) FROM records r
JOIN record_versions v ON v.dataset_code = r.dataset_code AND v.key = r.key
    AND v.version = r.version
WHERE r.dataset_code = $1 AND NOT r.deleted AND v.source = $2
"""


def label_of(connector: str) -> str:
    """The ``record_versions.source`` of every version written by ``connector``."""
    return f"connector:{connector}"


async def tombstone_keys(driver: Any, dataset: str, label: str, keys: Sequence[str]) -> int:
    """Tombstone the live records of ``keys``; returns how many were live."""
    if not keys:
        return 0
    return int(await driver.fetchval(_BY_KEYS, dataset, label, list(keys)))


async def tombstone_unseen(driver: Any, dataset: str, label: str, seen_table: str) -> int:
    """Tombstone the live records last written under ``label`` whose keys are not in the
    temporary table ``seen_table`` (one ``key`` column, filled during the run)."""
    return int(await driver.fetchval(_GONE_FROM_SNAPSHOT.format(seen=seen_table), dataset, label))


async def count_unseen(driver: Any, dataset: str, label: str, seen_table: str) -> tuple[int, int]:
    """(live records last written under ``label``, those of them not in ``seen_table``); the
    first is 0 when the second is (a snapshot that deletes nothing needs no share of it)."""
    gone = int(await driver.fetchval(_COUNT_GONE.format(seen=seen_table), dataset, label))
    if not gone:
        return 0, 0
    return int(await driver.fetchval(_COUNT_OWNED, dataset, label)), gone


__all__ = ["count_unseen", "label_of", "tombstone_keys", "tombstone_unseen"]
