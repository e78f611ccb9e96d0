"""GraphQL types of ``search`` (names from api.graphql)."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from catalog import models
from schema.catalogue.types import Dataset, PageInfo


@strawberry.type
class SearchHit:
    key: str | None = strawberry.field(
        description="The record's key as the typed API shows it; null for a catalogue entry."
    )
    score: float = strawberry.field(
        description="Terms found (1 each) plus terms found with their diacritics (0.5 each)."
    )
    values: JSON = strawberry.field(description="Only the fields the caller may read.")
    highlights: JSON = strawberry.field(
        description="Field → fragments with <em> around words found (HTML-escaped); only "
        "fields the caller may read."
    )
    dataset_row: strawberry.Private[models.Dataset]

    @strawberry.field
    def dataset(self) -> Dataset:
        return Dataset.of(self.dataset_row)


@strawberry.type
class FacetBucket:
    value: str
    count: int


@strawberry.type
class Facet:
    field: str = strawberry.field(
        description='"dataset", "sector", and in a search of one dataset each enum field the '
        "caller may read on every record it sees."
    )
    buckets: list[FacetBucket]


@strawberry.type
class SearchResult:
    hits: list[SearchHit]
    total: int = strawberry.field(description="Hits the caller may see, all pages.")
    facets: list[Facet]
    page_info: PageInfo


@strawberry.input
class SearchFilter:
    datasets: list[str] | None = strawberry.field(
        default=None, description="Only these datasets (an unknown one adds nothing)."
    )
    sectors: list[str] | None = strawberry.field(default=None, description="Only these sectors.")


__all__ = ["Facet", "FacetBucket", "SearchFilter", "SearchHit", "SearchResult"]
