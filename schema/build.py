"""Builds the executable schema: the contract's static types plus the types generated from the
published catalogue. Rebuilt when the catalogue changes; each build is immutable and shares
the static part (``static_schema``)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.tools import merge_types

from schema.catalogue.resolvers import CatalogueMutation, CatalogueQuery
from schema.static import STATIC_MUTATIONS, STATIC_QUERIES


def build_schema(
    extra_queries: Sequence[type[Any]] = (), extra_mutations: Sequence[type[Any]] = ()
) -> strawberry.Schema:
    queries = _unique((CatalogueQuery, *STATIC_QUERIES, *extra_queries))
    mutations = _unique((CatalogueMutation, *STATIC_MUTATIONS, *extra_mutations))
    query = merge_types("Query", queries)
    mutation = merge_types("Mutation", mutations)
    return strawberry.Schema(query=query, mutation=mutation)


@functools.cache
def static_schema() -> strawberry.Schema:
    """The contract's static part, built once per process and shared by every catalogue build
    (its types never change; rebuilding it on each publish cost time and left garbage)."""
    return build_schema()


def _unique(types: Sequence[type[Any]]) -> tuple[type[Any], ...]:
    """Callers may pass the static types too; each is merged once."""
    return tuple(dict.fromkeys(types))


__all__ = ["build_schema", "static_schema"]
