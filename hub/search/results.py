"""An OpenSearch answer read back into plain values: hits, total, facets and highlights.

Nothing here decides access: the resolver shapes each record hit through the caller's view
and passes the fields it may read on that row to ``shown_highlights``, which keeps only
those. Highlights come back whole (``query.search_body``) and are cut here to a window around
the first highlighted word, the same way for every caller, then HTML-escaped with the marks
turned into ``<em>`` tags.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from catalog.models import Dataset
from hub.search.query import HIGHLIGHT_CLOSE, HIGHLIGHT_OPEN, MAX_FACET_BUCKETS

#: Characters of a highlighted value kept around its first highlighted word.
HIGHLIGHT_WINDOW = 300
#: Most fragments kept per field (a field holding a list, such as a catalogue entry's fields).
MAX_FRAGMENTS = 5
_BEFORE = 80  # of the window, characters kept before the first highlighted word


@dataclass(frozen=True)
class RawHit:
    """One hit as the index returned it. ``key`` is the stored key (None: a catalogue entry);
    ``values`` the indexed values (records) or nothing (catalogue); ``highlights`` by field
    name (``v.`` dropped), each fragment still marked."""

    dataset: str
    key: str | None
    version: int | None
    score: float
    values: dict[str, Any] = field(default_factory=dict)
    highlights: dict[str, list[str]] = field(default_factory=dict)


def raw_hits(response: Mapping[str, Any]) -> list[RawHit]:
    out = []
    for hit in response.get("hits", {}).get("hits", []):
        source = hit.get("_source") or {}
        is_record = "_key" in source
        highlights: dict[str, list[str]] = {}
        for path, fragments in (hit.get("highlight") or {}).items():
            name = path[2:] if is_record and path.startswith("v.") else path
            if is_record != path.startswith("v."):
                continue  # a record's fields are under v., a catalogue entry's are not
            highlights[name] = [str(f) for f in fragments][:MAX_FRAGMENTS]
        version = source.get("_record_version")
        out.append(
            RawHit(
                dataset=str(source.get("_dataset")),
                key=str(source["_key"]) if is_record else None,
                version=int(version) if version is not None else None,
                score=float(hit.get("_score") or 0.0),
                values=dict(source.get("v") or {}) if is_record else {},
                highlights=highlights,
            )
        )
    return out


def total_of(response: Mapping[str, Any]) -> int:
    total = response.get("hits", {}).get("total", 0)
    return int(total.get("value", 0) if isinstance(total, Mapping) else total)


def facets_of(response: Mapping[str, Any]) -> list[tuple[str, list[tuple[str, int]]]]:
    """(facet, [(value, count)]) in the order the index ranks buckets (count, then value)."""
    out = []
    for name, agg in sorted((response.get("aggregations") or {}).items()):
        buckets = [
            (str(b["key"]), int(b["doc_count"])) for b in agg.get("buckets", [])[:MAX_FACET_BUCKETS]
        ]
        out.append((name, buckets))
    return out


def shown_highlights(hit: RawHit, readable: frozenset[str]) -> dict[str, list[str]]:
    """The hit's highlights of ``readable`` fields only, each cut and escaped."""
    return {
        name: [present(f) for f in fragments]
        for name, fragments in sorted(hit.highlights.items())
        if name in readable
    }


def present(fragment: str) -> str:
    """A marked fragment cut to ``HIGHLIGHT_WINDOW`` characters around its first mark,
    HTML-escaped, marks as ``<em>`` tags."""
    first = fragment.find(HIGHLIGHT_OPEN)
    start = max(0, first - _BEFORE) if first >= 0 else 0
    end = start + HIGHLIGHT_WINDOW
    piece = fragment[start:end]
    if piece.count(HIGHLIGHT_OPEN) > piece.count(HIGHLIGHT_CLOSE):
        piece += HIGHLIGHT_CLOSE  # the window ended inside a highlighted word
    text = html.escape(piece, quote=False)
    text = text.replace(HIGHLIGHT_OPEN, "<em>").replace(HIGHLIGHT_CLOSE, "</em>")
    return ("…" if start > 0 else "") + text + ("…" if end < len(fragment) else "")


def catalogue_values(dataset: Dataset) -> dict[str, Any]:
    """What a catalogue hit shows: the entry as the catalogue API shows it to anyone who may
    see the dataset."""
    return {
        "code": dataset.code,
        "title": dataset.title,
        "description": dataset.description,
        "sector": dataset.sector,
        "owner": dataset.owner_code,
        "status": dataset.status,
        "sensitivity": dataset.sensitivity,
    }


__all__ = [
    "HIGHLIGHT_WINDOW",
    "MAX_FRAGMENTS",
    "RawHit",
    "catalogue_values",
    "facets_of",
    "present",
    "raw_hits",
    "shown_highlights",
    "total_of",
]
