"""``auditEvents`` and ``usageReport``: who used whose data (DESIGN.md §6). Scope and sums are
the domain's (``catalog.usage``); these resolvers bound pages and shape."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from catalog import models
from catalog.audit import previous_hashes
from catalog.errors import InvalidInput
from catalog.reads import READ_ACTION
from catalog.usage import AuditQuery, list_audit_events, usage_report
from schema.catalogue.types import PageInfo
from schema.context import Context
from schema.pagination import decode_cursor, encode_cursor, page_size
from schema.records.reading import aware

CtxInfo = Info[Context, None]


@strawberry.type
class AuditEvent:
    seq: int
    at: datetime
    subject: str | None
    agency: str | None
    client_id: str | None
    action: str
    dataset: str | None
    keys: list[str] | None
    fields: list[str] | None
    purpose: str | None
    request_id: str | None
    records_served: int | None = strawberry.field(
        description="record.read: how many records were served (0: a read of nothing)."
    )
    missed_keys: list[str] | None = strawberry.field(
        description="record.read: keys asked that served no record (no grant, outside the "
        "row filter, unknown key); blind indexes where the key field is encrypted."
    )
    chain_pos: int = strawberry.field(description="Position in the hash chain.")
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, row: models.AuditEvent, prev_hash: str) -> AuditEvent:
        return cls(
            seq=row.seq,
            at=row.at,
            subject=row.subject,
            agency=row.agency,
            client_id=row.client_id,
            action=row.action,
            dataset=row.dataset,
            keys=row.key_list,
            fields=row.fields,
            purpose=row.purpose,
            request_id=row.request_id,
            records_served=_detail_int(row, "count"),
            missed_keys=_detail_strings(row, "missed"),
            chain_pos=row.chain_pos,
            prev_hash=prev_hash,
            hash=row.hash,
        )


def _detail_int(row: models.AuditEvent, name: str) -> int | None:
    if row.action != READ_ACTION or not isinstance(row.detail, dict):
        return None
    value = row.detail.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _detail_strings(row: models.AuditEvent, name: str) -> list[str] | None:
    if row.action != READ_ACTION or not isinstance(row.detail, dict):
        return None
    value = row.detail.get(name, [])
    return [str(v) for v in value] if isinstance(value, list) else None


@strawberry.type
class AuditEventEdge:
    node: AuditEvent
    cursor: str


@strawberry.type
class AuditEventConnection:
    edges: list[AuditEventEdge]
    page_info: PageInfo


@strawberry.type
class UsageRow:
    agency: str
    dataset: str
    requests: int
    records_served: int
    refused: int


@strawberry.type
class UsageReport:
    month: str
    rows: list[UsageRow]


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="Newest first. Owners: events on their agency's datasets; any agency: "
        "events of its own callers; admins: all. Listed once chained (about a second)."
    )
    async def audit_events(
        self,
        info: CtxInfo,
        dataset: str | None = None,
        agency: str | None = None,
        since: datetime | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> AuditEventConnection:
        ctx = info.context
        size = page_size(first, ctx.max_page_size, default=50)
        before = None
        if after is not None:
            decoded = decode_cursor(after)
            if not isinstance(decoded, int) or isinstance(decoded, bool):
                raise InvalidInput("argument 'after': not a cursor this hub issued")
            before = decoded
        query = AuditQuery(
            dataset=dataset,
            agency=agency,
            since=aware(since) if since is not None else None,
            before_pos=before,
            first=size,
        )
        async with ctx.sessions() as session:
            rows, more = await list_audit_events(session, ctx.principal, query)
            prev = await previous_hashes(session, [r.chain_pos for r in rows])
        # The cursor is the chain position: the order of the listing (newest first).
        edges = [
            AuditEventEdge(
                node=AuditEvent.of(r, prev[r.chain_pos]), cursor=encode_cursor(r.chain_pos)
            )
            for r in rows
        ]
        return AuditEventConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
        )

    @strawberry.field(
        description="record.read events of a month (YYYY-MM, Vietnam time) per agency and "
        "dataset. Admins and stewards: all rows; owners: rows on their datasets; any agency: "
        "its own rows."
    )
    async def usage_report(self, info: CtxInfo, month: str) -> UsageReport:
        ctx = info.context
        async with ctx.sessions() as session:
            rows = await usage_report(session, ctx.principal, month)
        return UsageReport(
            month=month.strip(),
            rows=[
                UsageRow(
                    agency=r.agency,
                    dataset=r.dataset,
                    requests=r.requests,
                    records_served=r.records_served,
                    refused=r.refused,
                )
                for r in rows
            ],
        )


__all__ = ["AuditQueries"]
