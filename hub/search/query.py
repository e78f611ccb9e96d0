"""The search request one caller's view allows (DESIGN.md §5, §8): the policy decides before
OpenSearch is asked.

Invariant: every part of the request that selects, scores, orders or counts reads only values
the caller may read on that row (highlights are made from the values served, in
``results``). A record document is a candidate only under the caller's rules (``_dataset``
and each rule's row filter, ``row_filters``); each query term must match a searchable field
readable *on that row* (the field's clause carries the filters of the rules that name it);
and the score is a sum of fixed boosts, one per (term, field) found (plus one if found with
its diacritics), never BM25: its IDF and average length would come from every document of the
index, rows and fields the caller may not see included. Ties are broken by dataset code,
then stored key, as the typed API orders records.

A rule the index cannot decide (its filter names a field the index does not hold) is dropped:
search then shows less than the typed API, never more. ``RecordScope.access`` is the access
with only the rules kept, and results are cut with it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from catalog.access import Access, AccessRule
from catalog.errors import InvalidInput
from catalog.models import Dataset, DatasetField
from hub.search.documents import field_mapping, is_indexable
from hub.search.row_filters import Dsl, row_filter_dsl

#: Longest query accepted, in characters (after NFC).
MAX_QUERY_CHARS = 256
#: Most words one query may hold.
MAX_TERMS = 16
#: Deepest a page may reach (``after`` offset + ``first``).
MAX_WINDOW = 1000
#: Most (word, field) clauses one request may hold: OpenSearch refuses a query of more than
#: 1,024 clauses (indices.query.bool.max_clause_count).
MAX_CLAUSES = 1000
#: Most buckets one facet lists.
MAX_FACET_BUCKETS = 100
FOLDED_BOOST = 1.0  # a term found, diacritics folded
EXACT_BOOST = 0.5  # the same term found as typed, diacritics kept
CATALOGUE_FIELDS = ("title", "description", "fields")

_WORD = re.compile(r"\w")


def parse_terms(query: str) -> list[str]:
    """The words of ``query``: NFC, split on white space, those with a letter or digit,
    duplicates dropped. Query syntax characters are plain text: each word is analysed as
    text by the index, never parsed as query syntax. Raises InvalidInput naming the limit."""
    text = unicodedata.normalize("NFC", query).strip()
    if not text:
        raise InvalidInput("argument 'query': expected words to search for, got an empty query")
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(
            f"argument 'query': at most {MAX_QUERY_CHARS} characters, got {len(text)}"
        )
    terms: list[str] = []
    for chunk in text.split():
        if _WORD.search(chunk) and chunk not in terms:
            terms.append(chunk)
    if not terms:
        raise InvalidInput("argument 'query': no words to search for (letters or digits)")
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"argument 'query': at most {MAX_TERMS} words, got {len(terms)}")
    return terms


@dataclass(frozen=True)
class RecordScope:
    """What one caller may search in one dataset's records: the rules the index can decide,
    each with its filter translated (None: every row)."""

    dataset: Dataset
    access: Access
    filters: tuple[Dsl | None, ...]

    @property
    def code(self) -> str:
        return self.dataset.code


def record_scope(dataset: Dataset, access: Access) -> RecordScope | None:
    """The caller's searchable view of ``dataset``; None when no rule is left."""
    fields = {f.name: f for f in dataset.fields}
    rules: list[AccessRule] = []
    filters: list[Dsl | None] = []
    for rule in access.rules:
        if rule.row_filter is None:
            dsl = None
        else:
            dsl = row_filter_dsl(rule.row_filter, fields)
            if dsl is None:
                continue  # never widened: the rule's rows stay out of search
        rules.append(rule)
        filters.append(dsl)
    if not rules:
        return None
    kept = Access(access.dataset, tuple(rules), access.restricted, access.is_owner, access.reason)
    return RecordScope(dataset, kept, tuple(filters))


def searchable_fields(dataset: Dataset) -> list[DatasetField]:
    """Fields indexed as analysed text (folded, with the ``exact`` subfield)."""
    return [f for f in dataset.fields if is_indexable(f) and field_mapping(f)["type"] == "text"]


def readable_text_fields(scope: RecordScope) -> list[str]:
    readable = scope.access.readable_fields
    return [f.name for f in searchable_fields(scope.dataset) if f.name in readable]


def record_clause(scope: RecordScope, terms: Sequence[str]) -> Dsl | None:
    """Documents of ``scope`` the caller sees where every term matches a field readable on
    that row; None when no searchable field is readable."""
    names = readable_text_fields(scope)
    if not names:
        return None
    where = {name: _where_readable(scope, name) for name in names}
    must = [
        _any_field(
            [_scored(f"v.{n}", term, where[n], FOLDED_BOOST) for n in names]
            + [_scored(f"v.{n}.exact", term, where[n], EXACT_BOOST) for n in names if _marked(term)]
        )
        for term in terms
    ]
    filters: list[Dsl] = [{"term": {"_dataset": scope.code}}]
    visible = _any_of(scope.filters)
    if visible is not None:
        filters.append(visible)
    return {"bool": {"filter": filters, "must": must}}


def catalogue_clause(codes: Sequence[str], terms: Sequence[str]) -> Dsl | None:
    """Catalogue entries of ``codes`` (the datasets the caller may see) matching every term
    in their title, description or field list."""
    if not codes:
        return None
    must = [
        _any_field(
            [_scored(n, term, None, FOLDED_BOOST) for n in CATALOGUE_FIELDS]
            + [
                _scored(f"{n}.exact", term, None, EXACT_BOOST)
                for n in CATALOGUE_FIELDS
                if _marked(term)
            ]
        )
        for term in terms
    ]
    return {"bool": {"filter": [{"terms": {"_dataset": sorted(codes)}}], "must": must}}


def search_body(
    scopes: Sequence[RecordScope],
    catalogue_codes: Sequence[str],
    terms: Sequence[str],
    offset: int,
    size: int,
    timeout_ms: int | None = None,
) -> Dsl | None:
    """The whole request; None when nothing the caller may see could match."""
    _check_clauses(scopes, bool(catalogue_codes), terms)
    clauses = [c for c in (record_clause(s, terms) for s in scopes) if c is not None]
    catalogue = catalogue_clause(catalogue_codes, terms)
    if catalogue is not None:
        clauses.append(catalogue)
    if not clauses:
        return None
    # Buckets for every dataset searched; ``results`` cuts the facets it shows.
    buckets = max(1, len(scopes) + len(catalogue_codes))
    body: Dsl = {
        "query": {"bool": {"should": clauses, "minimum_should_match": 1}},
        "from": offset,
        "size": size,
        "sort": [
            {"_score": {"order": "desc"}},
            {"_dataset": {"order": "asc"}},
            # Catalogue entries have no key: first among their dataset's ties.
            {"_key": {"order": "asc", "missing": "_first", "unmapped_type": "keyword"}},
        ],
        "track_scores": True,
        "track_total_hits": True,
        # One aggregation: the sector facet is summed from it (a dataset has one sector),
        # and each aggregation costs a pass over every hit.
        "aggs": {"dataset": {"terms": {"field": "_dataset", "size": buckets}}},
    }
    if len(scopes) == 1:
        fields = enum_facets(scopes[0])
        if fields:
            body["aggs"]["values"] = {
                "filter": {"term": {"_dataset": scopes[0].code}},
                "aggs": {
                    name: {"terms": {"field": path, "size": MAX_FACET_BUCKETS}}
                    for name, path in fields.items()
                },
            }
    if timeout_ms:
        body["timeout"] = f"{timeout_ms}ms"
    return body


def _check_clauses(scopes: Sequence[RecordScope], catalogue: bool, terms: Sequence[str]) -> None:
    fields = sum(len(readable_text_fields(s)) for s in scopes) + (
        len(CATALOGUE_FIELDS) if catalogue else 0
    )
    count = sum(fields * (2 if _marked(t) else 1) for t in terms)
    if count > MAX_CLAUSES:
        raise InvalidInput(
            f"argument 'query': {len(terms)} words over {fields} searchable fields make "
            f"{count} clauses, more than the {MAX_CLAUSES} a search may hold; use fewer words "
            "or filter by dataset"
        )


def enum_facets(scope: RecordScope) -> dict[str, str]:
    """Enum field → keyword path, for the enum fields of ``scope`` readable on every row the
    caller sees (a facet over a field readable on some rows only would count the others)."""
    readable = scope.access.unconditional_fields
    out = {}
    for field in scope.dataset.fields:
        if field.type == "enum" and field.name in readable and is_indexable(field):
            text = field_mapping(field)["type"] == "text"
            out[field.name] = f"v.{field.name}.kw" if text else f"v.{field.name}"
    return out


def _marked(term: str) -> bool:
    """Does ``term`` carry diacritics (or đ)? Only then is there an exact form to rank first:
    a word typed without them asks for folded matching, and its exact clauses would double
    the index's work (measured: the index's cost grows with the clauses per word)."""
    return term.casefold() != fold(term)


def fold(text: str) -> str:
    """``text`` as ``hub_vi_folded`` compares it: no diacritics, đ as d, case folded."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _where_readable(scope: RecordScope, name: str) -> Dsl | None:
    """The rows on which field ``name`` is readable: None for every row the caller sees."""
    filters = [
        f for rule, f in zip(scope.access.rules, scope.filters, strict=True) if name in rule.fields
    ]
    return _any_of(filters)


def _any_of(filters: Sequence[Dsl | None]) -> Dsl | None:
    if any(f is None for f in filters):
        return None
    present = [f for f in filters if f is not None]
    if len(present) == 1:
        return present[0]
    return {"bool": {"should": present, "minimum_should_match": 1}}


def _scored(path: str, term: str, readable: Dsl | None, boost: float) -> Dsl:
    match: Dsl = {"match": {path: {"query": term, "operator": "and"}}}
    condition = match if readable is None else {"bool": {"filter": [match, readable]}}
    return {"constant_score": {"filter": condition, "boost": boost}}


def _any_field(clauses: list[Dsl]) -> Dsl:
    """At least one clause must match; the score is the sum of those that do. A sum of
    ``should`` clauses, not ``dis_max``: measured on osmem-server, dis_max cost 3x."""
    return {"bool": {"should": clauses, "minimum_should_match": 1}}


__all__ = [
    "CATALOGUE_FIELDS",
    "EXACT_BOOST",
    "FOLDED_BOOST",
    "MAX_CLAUSES",
    "MAX_FACET_BUCKETS",
    "MAX_QUERY_CHARS",
    "MAX_TERMS",
    "MAX_WINDOW",
    "RecordScope",
    "catalogue_clause",
    "enum_facets",
    "fold",
    "parse_terms",
    "readable_text_fields",
    "record_clause",
    "record_scope",
    "search_body",
    "searchable_fields",
]
