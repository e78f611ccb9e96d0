"""Connector queries and the ``runSync`` mutation: fetch, ask ``catalog.policy``, shape.

Who sees what (``catalog.policy``):
- ``connectors``, ``syncRuns``, ``syncRun``, ``reconciliationTotals`` and ``runSync``: the
  owning agency's 'owner' role, and stewards (as for managing its datasets). Others get an
  empty list (anonymous callers too); a run or connector they may not see is NOT_FOUND.
- ``quarantinedRows`` and ``reconciliationFindings`` hold rows and values as the source sent
  them, outside any grant: only the owning agency's own 'owner' or 'steward' callers; a
  steward of another agency is FORBIDDEN there and reads the totals instead.

``runSync`` does not wait for the run: it starts it in the background of this process (the
runs of a large source outlast any request) and answers the RUNNING run; poll ``syncRun``.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from catalog import policy
from catalog.audit import EventDraft, append_event
from catalog.errors import Forbidden, InvalidInput, NotFound
from catalog.sync_models import Connector as ConnectorRow
from connectors.store import list_connectors
from schema.catalogue.types import PageInfo
from schema.connectors import queries
from schema.connectors.types import (
    Connector,
    QuarantinedRow,
    QuarantinedRowConnection,
    QuarantinedRowEdge,
    ReconciliationFinding,
    ReconciliationFindingConnection,
    ReconciliationFindingEdge,
    ReconciliationTotal,
    SyncRun,
)
from schema.context import Context
from schema.pagination import decode_cursor, encode_cursor, page_size

CtxInfo = Info[Context, None]

_AFTER_RUN = "The id of the last run of the previous page (runs are newest first)."


@strawberry.type
class ConnectorQuery:
    @strawberry.field(
        description="Connectors the caller manages, by name: its agency's (the 'owner' role), "
        "every agency's (stewards); none for others. At most HUB_MAX_PAGE_SIZE (100) per "
        "call; pass after: the last name to page on."
    )
    async def connectors(
        self,
        info: CtxInfo,
        first: Annotated[
            int | None, strawberry.argument(description="Default: a full page (100).")
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="The last name of the previous page.")
        ] = None,
    ) -> list[Connector]:
        ctx = info.context
        scope = policy.connector_scope(ctx.principal)
        size = page_size(first, ctx.max_page_size, default=ctx.max_page_size)
        if scope.is_empty or size == 0:
            return []
        async with ctx.sessions() as session:
            rows = await list_connectors(
                session, agency=None if scope.everything else scope.agency, limit=size, after=after
            )
        return [Connector.of(row) for row in rows]

    @strawberry.field(
        description="A connector's runs, newest first (push batches: connector "
        '"push:<dataset>"); empty where the caller manages no such connector.'
    )
    async def sync_runs(
        self,
        info: CtxInfo,
        connector: str,
        first: int = 20,
        after: Annotated[strawberry.ID | None, strawberry.argument(description=_AFTER_RUN)] = None,
    ) -> list[SyncRun]:
        ctx = info.context
        size = page_size(first, ctx.max_page_size)
        before = _run_id(after, "after") if after is not None else None
        scope = policy.connector_scope(ctx.principal)
        if scope.is_empty or size == 0:
            return []
        async with ctx.sessions() as session:
            owner = await queries.connector_owner(session, connector)
            if owner is None or not scope.covers(owner[0]):
                return []
            runs, _ = await queries.list_runs(session, connector, size, before)
        return [SyncRun.of(row) for row in runs]

    @strawberry.field(description="One run, e.g. to follow the one runSync started.")
    async def sync_run(self, info: CtxInfo, id: strawberry.ID) -> SyncRun | None:
        ctx = info.context
        run_id = _run_id(id, "id")
        async with ctx.sessions() as session:
            owner = await queries.run_owner(session, run_id)
            if owner is None or not policy.connector_scope(ctx.principal).covers(owner):
                return None
            row = await queries.run_by_id(session, run_id)
        return SyncRun.of(row) if row is not None else None

    @strawberry.field(
        description="Rows a run set aside with the reason and where the source holds them, "
        "in source order. The owning agency's 'owner' or 'steward' callers only."
    )
    async def quarantined_rows(
        self, info: CtxInfo, run: strawberry.ID, first: int = 20, after: str | None = None
    ) -> QuarantinedRowConnection:
        ctx = info.context
        run_id = _run_id(run, "run")
        size = page_size(first, ctx.max_page_size)
        start = _cursor_id(after)
        async with ctx.sessions.begin() as session:
            dataset = await _source_rows_dataset(session, ctx, run_id, "quarantinedRows")
            rows, more = await queries.quarantine_page(session, run_id, size, start)
            await _audit_read(session, ctx, "sync.quarantine.read", dataset, run_id, len(rows))
        edges = [
            QuarantinedRowEdge(node=QuarantinedRow.of(r), cursor=encode_cursor(r.id)) for r in rows
        ]
        return QuarantinedRowConnection(edges=edges, page_info=_page_info(edges, more))

    @strawberry.field(
        description="References of a run resolving to nothing in their authoritative dataset, "
        "and copied values that disagree with it. The owning agency's 'owner' or 'steward' "
        "callers only; others managing it read reconciliationTotals."
    )
    async def reconciliation_findings(
        self, info: CtxInfo, run: strawberry.ID, first: int = 20, after: str | None = None
    ) -> ReconciliationFindingConnection:
        ctx = info.context
        run_id = _run_id(run, "run")
        size = page_size(first, ctx.max_page_size)
        start = _cursor_id(after)
        async with ctx.sessions.begin() as session:
            dataset = await _source_rows_dataset(session, ctx, run_id, "reconciliationFindings")
            rows, more = await queries.findings_page(session, run_id, size, start)
            await _audit_read(session, ctx, "sync.findings.read", dataset, run_id, len(rows))
        edges = [
            ReconciliationFindingEdge(node=ReconciliationFinding.of(r), cursor=encode_cursor(r.id))
            for r in rows
        ]
        return ReconciliationFindingConnection(edges=edges, page_info=_page_info(edges, more))

    @strawberry.field(
        description="A run's reconciliation report without values: findings counted by field, "
        "kind and authoritative dataset. Whoever sees the run."
    )
    async def reconciliation_totals(
        self, info: CtxInfo, run: strawberry.ID
    ) -> list[ReconciliationTotal]:
        ctx = info.context
        run_id = _run_id(run, "run")
        async with ctx.sessions() as session:
            owner = await queries.run_owner(session, run_id)
            if owner is None or not policy.connector_scope(ctx.principal).covers(owner):
                raise NotFound(f"reconciliationTotals: no run {run_id}")
            totals = await queries.findings_totals(session, run_id)
        return [ReconciliationTotal(**t) for t in totals]


@strawberry.type
class ConnectorMutation:
    @strawberry.mutation(
        description="Start a run of the connector now (the owning agency's 'owner' role, or a "
        "steward) and answer the RUNNING run at once; CONFLICT while another run holds it."
    )
    async def run_sync(self, info: CtxInfo, connector: str) -> SyncRun:
        ctx = info.context
        action = f"runSync(connector: '{connector}')"
        policy.require_authenticated(ctx.principal, action)
        async with ctx.sessions() as session:
            row = await session.get(ConnectorRow, connector)
            if row is None:
                raise NotFound(f"{action}: no such connector")
            agency, dataset = row.agency_code, row.dataset_code
        policy.require_connector_manager(ctx.principal, agency, action)
        run_id = await ctx.services.start_sync(connector, started_by=ctx.principal.subject)
        async with ctx.sessions.begin() as session:
            run = await queries.run_by_id(session, run_id)
            await append_event(
                session,
                ctx.principal,
                EventDraft(
                    "sync.start", dataset=dataset, detail={"connector": connector, "run": run_id}
                ),
                ctx.request_id,
            )
        assert run is not None  # the launcher saw it
        return SyncRun.of(run)


async def _source_rows_dataset(
    session: AsyncSession, ctx: Context, run_id: int, action: str
) -> str:
    """The run's dataset, when the caller may read what the run set aside; else an error."""
    policy.require_authenticated(ctx.principal, action)
    owner = await queries.run_owner(session, run_id)
    if owner is None:
        raise NotFound(f"{action}: no run {run_id}")
    if not policy.can_read_source_rows(ctx.principal, owner):
        if not policy.connector_scope(ctx.principal).covers(owner):
            raise NotFound(f"{action}: no run {run_id}")
        raise Forbidden(
            f"{action}: rows as the source sent them are shown only to the 'owner' or "
            f"'steward' callers of agency '{owner}'; use reconciliationTotals and the counts"
        )
    row = await queries.run_by_id(session, run_id)
    assert row is not None
    return row.dataset_code


async def _audit_read(
    session: AsyncSession, ctx: Context, action: str, dataset: str, run_id: int, count: int
) -> None:
    """Reads of source rows are audited like reads of records (DESIGN.md §6)."""
    draft = EventDraft(action, dataset=dataset, detail={"run": run_id, "rows": count})
    await append_event(session, ctx.principal, draft, ctx.request_id)


def _run_id(value: object, argument: str) -> int:
    text = str(value)
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput(f"argument '{argument}': not a run id, got {text[:40]!r}")
    return int(text)


def _cursor_id(after: str | None) -> int | None:
    if after is None:
        return None
    value = decode_cursor(after)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidInput("argument 'after': not a cursor this hub issued")
    return value


def _page_info(
    edges: list[QuarantinedRowEdge] | list[ReconciliationFindingEdge], more: bool
) -> PageInfo:
    return PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None)


__all__ = ["ConnectorMutation", "ConnectorQuery"]
