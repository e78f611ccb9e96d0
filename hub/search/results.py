"""An OpenSearch answer read back into plain values: hits, total, facets; and highlights.

Nothing here decides access: the resolver shapes each record hit through the caller's view
and hands ``highlights`` only the values it serves, so a highlight shows nothing the values
do not. Highlights are made here, not by the index: the words of the value that fold
(diacritics, đ, case) to a query word, as ``hub_vi_folded`` folds them, marked ``<em>`` in a
window of the value around the first one, HTML-escaped. Measured on osmem-server, the index's
highlighter cost more than the search itself, and choosing fragments there would rank them
with statistics of the whole index.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from catalog.models import Dataset
from hub.search.query import MAX_FACET_BUCKETS, fold

#: Characters of a highlighted value kept around its first highlighted word.
HIGHLIGHT_WINDOW = 300
_BEFORE = 80  # of the window, characters kept before the first highlighted word
_OPEN, _CLOSE = "\ue000", "\ue001"  # marks, turned into tags after escaping
_WORDS = re.compile(r"\w+")


@dataclass(frozen=True)
class RawHit:
    """One hit as the index returned it. ``key`` is the stored key (None: a catalogue entry);
    ``values`` the indexed values of a record."""

    dataset: str
    key: str | None
    version: int | None
    score: float
    values: dict[str, Any] = field(default_factory=dict)


def raw_hits(response: Mapping[str, Any]) -> list[RawHit]:
    out = []
    for hit in response.get("hits", {}).get("hits", []):
        source = hit.get("_source") or {}
        is_record = "_key" in source
        version = source.get("_record_version")
        out.append(
            RawHit(
                dataset=str(source.get("_dataset")),
                key=str(source["_key"]) if is_record else None,
                version=int(version) if version is not None else None,
                score=float(hit.get("_score") or 0.0),
                values=dict(source.get("v") or {}) if is_record else {},
            )
        )
    return out


def total_of(response: Mapping[str, Any]) -> int:
    total = response.get("hits", {}).get("total", 0)
    return int(total.get("value", 0) if isinstance(total, Mapping) else total)


def facets_of(
    response: Mapping[str, Any], sector_of: Mapping[str, str]
) -> list[tuple[str, list[tuple[str, int]]]]:
    """(facet, [(value, count)]) for ``dataset`` and ``sector`` (summed from the datasets'
    counts), and for a search of one dataset its enum fields (``query.enum_facets``), most
    hits first, then by value."""
    agg = (response.get("aggregations") or {}).get("dataset") or {}
    by_dataset: dict[str, int] = {}
    for bucket in agg.get("buckets", []):
        code = str(bucket["key"])
        if code in sector_of:
            by_dataset[code] = int(bucket["doc_count"])
    by_sector: dict[str, int] = {}
    for code, count in by_dataset.items():
        by_sector[sector_of[code]] = by_sector.get(sector_of[code], 0) + count
    out = [("dataset", _ranked(by_dataset)), ("sector", _ranked(by_sector))]
    values = (response.get("aggregations") or {}).get("values") or {}
    for name, sub in sorted(values.items()):
        if isinstance(sub, Mapping) and "buckets" in sub:
            counts = {str(b["key"]): int(b["doc_count"]) for b in sub["buckets"]}
            out.append((name, _ranked(counts)))
    return out


def _ranked(counts: Mapping[str, int]) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:MAX_FACET_BUCKETS]


def query_words(terms: Sequence[str]) -> frozenset[str]:
    """The folded words of the query's terms (a term such as ``Quảng-Ngãi`` gives two)."""
    return frozenset(fold(w) for term in terms for w in _WORDS.findall(term))


def highlights(
    values: Mapping[str, Any], names: Iterable[str], words: frozenset[str]
) -> dict[str, list[str]]:
    """Field → [fragment] for the fields of ``names`` whose value holds a query word."""
    out: dict[str, list[str]] = {}
    for name in sorted(set(names)):
        value = values.get(name)
        texts = value if isinstance(value, list) else [value]
        fragments = [f for f in (_highlight(t, words) for t in texts if isinstance(t, str)) if f]
        if fragments:
            out[name] = fragments
    return out


def _highlight(text: str, words: frozenset[str]) -> str | None:
    spans = [m.span() for m in _WORDS.finditer(text) if fold(m.group()) in words]
    if not spans:
        return None
    start = max(0, spans[0][0] - _BEFORE)
    end = min(len(text), start + HIGHLIGHT_WINDOW)
    marked = []
    at = start
    for left, right in spans:
        if left >= end:
            break
        right = min(right, end)
        marked += [text[at:left], _OPEN, text[left:right], _CLOSE]
        at = right
    marked.append(text[at:end])
    escaped = html.escape("".join(marked), quote=False)
    shown = escaped.replace(_OPEN, "<em>").replace(_CLOSE, "</em>")
    return ("…" if start > 0 else "") + shown + ("…" if end < len(text) else "")


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
    "RawHit",
    "catalogue_values",
    "facets_of",
    "highlights",
    "query_words",
    "raw_hits",
    "total_of",
]
