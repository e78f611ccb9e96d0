"""Builds the executable schema: the contract's static types plus the types generated from the
published catalogue. Rebuilt when the catalogue changes; each build is immutable."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import strawberry
from strawberry.tools import merge_types

from schema.catalogue.resolvers import CatalogueMutation, CatalogueQuery


def build_schema(
    extra_queries: Sequence[type[Any]] = (), extra_mutations: Sequence[type[Any]] = ()
) -> strawberry.Schema:
    query = merge_types("Query", (CatalogueQuery, *extra_queries))
    mutation = merge_types("Mutation", (CatalogueMutation, *extra_mutations))
    return strawberry.Schema(query=query, mutation=mutation)


__all__ = ["build_schema"]
