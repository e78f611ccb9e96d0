"""Per-request context: who is calling, why, and the handles resolvers may use.

Resolvers open short sessions from ``sessions``; an AsyncSession is unsafe across the
concurrent tasks in which sibling fields resolve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from opensearchpy import AsyncOpenSearch
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.access import Access
from catalog.crypto import FieldKeys
from catalog.models import Dataset
from catalog.principal import Principal
from schema.records.read_audit import ReadAuditWriter


class CatalogView(Protocol):
    """The process's copy of the catalogue and grants (``hub.snapshot.Snapshot``)."""

    @property
    def policy_version(self) -> int: ...

    @property
    def datasets(self) -> dict[str, Dataset]: ...

    @property
    def text_order(self) -> str: ...

    def typed(self) -> list[Dataset]: ...

    def access(self, principal: Principal, code: str) -> Access | None: ...


class Services(Protocol):
    """What resolvers may use of the running hub (``hub.services.Services``)."""

    # Read-only members, so the concrete attributes may be narrower types.
    @property
    def snapshot(self) -> CatalogView: ...

    @property
    def field_keys(self) -> FieldKeys: ...

    @property
    def pool(self) -> asyncpg.Pool | None: ...

    @property
    def generated(self) -> Any: ...

    @property
    def read_audit(self) -> ReadAuditWriter: ...

    @property
    def search(self) -> AsyncOpenSearch | None: ...  # None: search not configured

    @property
    def search_prefix(self) -> str: ...  # of the names in hub.search.names

    async def access_for(self, ctx: Context, code: str) -> Access | None: ...

    async def count_records(self, ctx: Context, code: str) -> int | None: ...

    async def catalogue_changed(self) -> None: ...

    async def ensure_fresh(self) -> None: ...

    async def admit(self, principal: Principal) -> Principal: ...

    @property
    def max_open_grant_requests(self) -> int: ...

    async def refresh(self, force: bool = False) -> None: ...

    async def start_sync(self, connector: str, *, started_by: str | None) -> int:
        """Start a run of ``connector`` in the background; the RUNNING run's id."""
        ...


@dataclass
class Context:
    principal: Principal
    sessions: async_sessionmaker[AsyncSession]
    request_id: str
    purpose: str | None = None
    max_page_size: int = 100
    services: Services = None  # type: ignore[assignment]  # always set by the endpoint
    loaders: dict[str, Any] = field(default_factory=dict)
    # Errors found outside graphql-core's execution (e.g. fields cut by policy in compiled
    # results), appended to the response's errors.
    extra_errors: list[dict[str, Any]] = field(default_factory=list)
    # Set when the answer is a request error (the document, its variables or its price were
    # refused before execution): GraphQL over HTTP answers those 400 to graphql-response+json.
    request_error: bool = False
    # Set when nothing was served because PostgreSQL was unavailable (answered 503).
    database_unavailable: bool = False
    # The pool this request's record reads use: a read replica, or the primary's (None).
    pool: asyncpg.Pool | None = None

    @property
    def read_pool(self) -> asyncpg.Pool:
        pool = self.pool or self.services.pool
        assert pool is not None, "the read pool opens with the app"
        return pool

    def loader(self, name: str, factory: Any) -> Any:
        """One dataloader of each kind per request, made on first use."""
        if name not in self.loaders:
            self.loaders[name] = factory(self)
        return self.loaders[name]


__all__ = ["Context"]
