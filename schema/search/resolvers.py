"""``search(query, filter, first, after)``: catalogue entries and records, on the caller's view.

Fetch nothing before the policy: the datasets searched are those the caller may see
(``catalog.policy.can_see_dataset`` for catalogue entries, its ``Access`` for records), the
request carries its row filters and readable fields (``hub.search.query``), and every record
hit is shaped through ``View.shape`` (values and highlights of fields readable on that row)
and audited as a read (``schema.search.audit``) before the answer leaves. An unknown dataset
or sector in the filter, or one the caller may not see, adds nothing: the same empty answer
the typed API gives (no existence oracle).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from catalog import models
from catalog.errors import InvalidInput, QueryTooComplex, SearchUnavailable
from catalog.policy import can_see_dataset
from hub.search.client import UNAVAILABLE_MESSAGE, search_errors
from hub.search.documents import has_record_index
from hub.search.names import catalogue_alias, record_alias
from hub.search.query import (
    MAX_WINDOW,
    RecordScope,
    parse_terms,
    readable_text_fields,
    record_scope,
    search_body,
)
from hub.search.results import (
    catalogue_values,
    facets_of,
    highlights,
    query_words,
    raw_hits,
    total_of,
)
from schema.catalogue.types import PageInfo
from schema.context import Context, Services
from schema.pagination import decode_cursor, encode_cursor, page_size
from schema.records.reading import View, view_of
from schema.search.audit import SearchReads
from schema.search.types import Facet, FacetBucket, SearchFilter, SearchHit, SearchResult

CtxInfo = Info[Context, None]
log = logging.getLogger(__name__)

#: Most datasets or sectors one filter may name.
MAX_FILTER_ITEMS = 100
_CURSOR_TAG = "search"
_NOT_OURS = "argument 'after': not a cursor this hub issued"
_HIGHLIGHTED_ENTRY = ("title", "description")


@strawberry.type
class SearchQuery:
    @strawberry.field(
        description="Full-text search over catalogue entries and records the caller may read: "
        "Vietnamese text with or without diacritics, best matches first."
    )
    async def search(
        self,
        info: CtxInfo,
        query: str,
        filter: SearchFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> SearchResult:
        ctx = info.context
        terms = parse_terms(query)
        size = page_size(first, ctx.max_page_size)
        offset = decode_offset(after)
        if offset + size > MAX_WINDOW:
            raise InvalidInput(
                f"search reaches at most its first {MAX_WINDOW} hits (this page would end at "
                f"{offset + size}); narrow the query or the filter"
            )
        datasets = _names(filter.datasets if filter else None, "filter.datasets")
        sectors = _names(filter.sectors if filter else None, "filter.sectors")
        reads = SearchReads(ctx)
        result = await _search(ctx, reads, terms, datasets, sectors, offset, size)
        await reads.commit()  # the answer leaves only once its reads are audited
        return result


def decode_offset(after: str | None) -> int:
    """The offset an ``after`` cursor of a search page stands for (0 without one)."""
    if after is None:
        return 0
    decoded = decode_cursor(after)
    if (
        not isinstance(decoded, list)
        or len(decoded) != 2
        or decoded[0] != _CURSOR_TAG
        or not isinstance(decoded[1], int)
        or isinstance(decoded[1], bool)
        or not 0 <= decoded[1] <= MAX_WINDOW
    ):
        raise InvalidInput(_NOT_OURS)
    return decoded[1]


def encode_offset(offset: int) -> str:
    return encode_cursor([_CURSOR_TAG, offset])


async def _search(
    ctx: Context,
    reads: SearchReads,
    terms: list[str],
    datasets: frozenset[str] | None,
    sectors: frozenset[str] | None,
    offset: int,
    size: int,
) -> SearchResult:
    services = ctx.services
    await services.ensure_fresh()
    scopes: list[RecordScope] = []
    views: dict[str, View] = {}
    catalogue: list[str] = []
    rows: dict[str, models.Dataset] = {}
    for code, dataset in sorted(services.snapshot.datasets.items()):
        if datasets is not None and code not in datasets:
            continue
        if sectors is not None and dataset.sector not in sectors:
            continue
        if not can_see_dataset(ctx.principal, dataset):
            continue
        rows[code] = dataset
        catalogue.append(code)
        if not has_record_index(dataset):
            continue
        view = await view_of(ctx, code, refresh=False)
        scope = record_scope(dataset, view.access) if view is not None else None
        if scope is not None:
            scopes.append(scope)
            views[code] = View(ctx, dataset, scope.access)
    # A search gets the budget of a record read (HUB_STATEMENT_TIMEOUT_MS).
    settings = getattr(services, "settings", None)
    timeout_ms = int(settings.statement_timeout_ms) if settings is not None else 0
    body = search_body(scopes, catalogue, terms, offset, size, timeout_ms or None)
    if body is None:
        return _empty()
    response = await _ask(services, scopes, bool(catalogue), body)
    words = query_words(terms)
    searchable = {s.code: frozenset(readable_text_fields(s)) for s in scopes}
    hits: list[SearchHit] = []
    raw = raw_hits(response)
    for hit in raw:
        row = rows.get(hit.dataset)
        if row is None:
            continue
        if hit.key is None:
            entry = catalogue_values(row)
            hits.append(
                SearchHit(
                    key=None,
                    score=hit.score,
                    values=JSON(entry),
                    highlights=JSON(highlights(entry, _HIGHLIGHTED_ENTRY, words)),
                    dataset_row=row,
                )
            )
            continue
        view = views.get(hit.dataset)
        if view is None:
            continue
        values = dict(hit.values)
        key_field = next(f for f in row.fields if f.name == row.key_field)
        if key_field.name not in values and not key_field.encrypted:
            values[key_field.name] = hit.key  # the stored key is the key's value
        shaped = view.shape(hit.key, values)
        if shaped is None:  # the index selected it under the same rules: not expected
            log.warning("search hit %s/%s not visible on the caller's view", hit.dataset, hit.key)
            continue
        reads.served(view, hit.key, hit.version or 0, shaped)
        hits.append(
            SearchHit(
                key=shaped.key,
                score=hit.score,
                values=JSON(shaped.values),
                highlights=JSON(
                    highlights(shaped.values, searchable[hit.dataset] & shaped.served, words)
                ),
                dataset_row=row,
            )
        )
    total = total_of(response)
    reached = offset + len(raw)
    return SearchResult(
        hits=hits,
        total=total,
        facets=[
            Facet(field=name, buckets=[FacetBucket(value=v, count=n) for v, n in buckets])
            for name, buckets in facets_of(response, {c: r.sector for c, r in rows.items()})
        ],
        page_info=PageInfo(
            has_next_page=reached < min(total, MAX_WINDOW),
            end_cursor=encode_offset(reached) if raw else None,
        ),
    )


async def _ask(
    services: Services, scopes: Sequence[RecordScope], catalogue: bool, body: dict[str, Any]
) -> dict[str, Any]:
    client = services.search
    if client is None:
        raise SearchUnavailable(UNAVAILABLE_MESSAGE)
    prefix: str = services.search_prefix
    indices = [record_alias(prefix, s.code) for s in scopes]
    if catalogue:
        indices.append(catalogue_alias(prefix))
    response: dict[str, Any] | None = None
    refusal = UNAVAILABLE_MESSAGE
    try:
        with search_errors():
            # A dataset published a moment ago may have no index yet: it has no hits either.
            response = await client.search(
                index=",".join(indices), body=body, ignore_unavailable=True, allow_no_indices=True
            )
    except SearchUnavailable as error:
        log.warning("search unavailable: %s", error.__cause__ or error)
        refusal = error.message
    if response is None:
        # Raised outside the handler, with no driver error chained: the HTTP edge reads a
        # chained connection error as the database being away (schema.unavailable).
        raise SearchUnavailable(refusal)
    if response.get("timed_out"):
        raise QueryTooComplex(
            f"search ran longer than {body.get('timeout')} and was stopped; narrow the query"
        )
    return response


def _empty() -> SearchResult:
    return SearchResult(
        hits=[], total=0, facets=[], page_info=PageInfo(has_next_page=False, end_cursor=None)
    )


def _names(given: list[str] | None, argument: str) -> frozenset[str] | None:
    if given is None:
        return None
    if len(given) > MAX_FILTER_ITEMS:
        raise InvalidInput(f"argument '{argument}': at most {MAX_FILTER_ITEMS}, got {len(given)}")
    return frozenset(given)


__all__ = ["SearchQuery", "decode_offset", "encode_offset"]
