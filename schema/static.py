"""The contract's static root fields beyond the catalogue: grants, generic records, holders
and corrections, audit. ``build_schema`` merges them with the catalogue's and the generated."""

from __future__ import annotations

from typing import Any

from schema.audit.resolvers import AuditQueries
from schema.connectors.resolvers import ConnectorMutation, ConnectorQuery
from schema.grants.resolvers import GrantMutation, GrantQuery
from schema.push.resolvers import PushMutation
from schema.records.generic import RecordMutation, RecordQuery
from schema.records.holdings import HoldingQuery
from schema.search.resolvers import SearchQuery

STATIC_QUERIES: list[type[Any]] = [
    GrantQuery,
    RecordQuery,
    HoldingQuery,
    AuditQueries,
    ConnectorQuery,
    SearchQuery,
]
STATIC_MUTATIONS: list[type[Any]] = [
    GrantMutation,
    RecordMutation,
    ConnectorMutation,
    PushMutation,
]

__all__ = ["STATIC_MUTATIONS", "STATIC_QUERIES"]
