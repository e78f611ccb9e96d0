"""A record's versions as one caller sees them: the rule behind ``recordHistory``, the typed
``history`` field and ``record(asOf:)`` (DESIGN.md §5, "the caller's view").

Invariant: a version appears only as the caller would see it, only when that view passes the
caller's rules (a version outside its row filters, or a deletion, is omitted, never shown
empty), and a run of consecutive shown versions with the same view is one entry carrying the
earliest version of the run. So a change to values the caller may not read adds nothing to
its history; only the metadata (version, changedAt, source, reason) of the entry it sees is
shown, and its ``hash`` is ``catalog.records.view_hash`` of the values shown. Callers check
that the record is visible now before asking.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from catalog.records import view_hash
from schema.records.reading import Shaped, View


@dataclass(frozen=True, slots=True)
class SeenVersion:
    """One entry: the first stored version of a run the caller sees alike, and that view."""

    version: int
    changed_at: datetime
    source: str | None
    reason: str | None
    shaped: Shaped
    hash: str


def seen_versions(view: View, stored_key: str, rows: Iterable[Any]) -> list[SeenVersion]:
    """``rows``: stored versions oldest first (``store.fetch_versions``); the entries, oldest
    first. Omitted versions do not split a run: the caller cannot tell they were there."""
    out: list[SeenVersion] = []
    for row in rows:
        if row["deleted"]:
            continue
        shaped = view.shape(stored_key, row["data"])
        if shaped is None:
            continue
        digest = view_hash(shaped.values)
        if out and out[-1].hash == digest:
            continue
        out.append(
            SeenVersion(
                version=row["version"],
                changed_at=row["changed_at"],
                source=row["source"],
                reason=row["reason"],
                shaped=shaped,
                hash=digest,
            )
        )
    return out


def seen_as_of(view: View, stored_key: str, rows: list[Any]) -> SeenVersion | None:
    """``rows``: the versions changed up to a moment, oldest first; the entry holding the one
    current then, or None when that version was a deletion or the caller's rules reject it."""
    if not rows or rows[-1]["deleted"] or view.shape(stored_key, rows[-1]["data"]) is None:
        return None
    entries = seen_versions(view, stored_key, rows)
    return entries[-1] if entries else None


__all__ = ["SeenVersion", "seen_as_of", "seen_versions"]
