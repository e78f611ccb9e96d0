"""Who used whose data: the audit trail as owners and the province read it (DESIGN.md §6).

Two questions, one scope rule. ``list_audit_events`` answers "who read my data" event by event;
``usage_report`` sums a month of ``record.read`` events per (agency, dataset) for the monthly
report (002 Điều 15.11). Scope: an admin sees everything; an agency sees the events its own
callers caused, and its ``owner`` role also those on the datasets its agency owns. The usage
report is also open in full to stewards, who compile the province's report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import policy
from catalog.errors import InvalidInput
from catalog.models import AuditEvent, Dataset
from catalog.principal import Principal
from catalog.reads import READ_ACTION
from catalog.values import VIETNAM

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
ANONYMOUS_AGENCY = "anonymous"


@dataclass(frozen=True, slots=True)
class AuditQuery:
    dataset: str | None = None
    agency: str | None = None
    since: datetime | None = None
    before_pos: int | None = None
    first: int = 50


@dataclass(frozen=True, slots=True)
class UsageRow:
    agency: str
    dataset: str
    requests: int
    records_served: int
    refused: int


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The first instant of ``YYYY-MM`` and of the month after, in Vietnam time (UTC+7).

    Raises InvalidInput naming the bad value."""
    match = _MONTH.fullmatch(month.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise InvalidInput(f"argument 'month': expected YYYY-MM (e.g. 2025-06), got {month!r}")
    year, number = int(match.group(1)), int(match.group(2))
    if year < 2000 or year > 9998:
        raise InvalidInput(f"argument 'month': year {year} is out of range")
    start = datetime(year, number, 1, tzinfo=VIETNAM)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=VIETNAM)
    return start, end


async def list_audit_events(
    session: AsyncSession, principal: Principal, query: AuditQuery
) -> tuple[list[AuditEvent], bool]:
    """Chained events in the caller's scope, newest first; returns (page, has_more).

    Events wait for the chainer before they are listed, so every one shows its hash.
    Raises Unauthenticated for anonymous callers, Forbidden for a token without an agency."""
    scope = _scope(principal, "auditEvents", allow_steward=False)
    stmt = select(AuditEvent).where(AuditEvent.hash.is_not(None))
    if scope is not None:
        stmt = stmt.where(scope)
    if query.dataset:
        stmt = stmt.where(AuditEvent.dataset == query.dataset)
    if query.agency:
        stmt = stmt.where(AuditEvent.agency == query.agency)
    if query.since is not None:
        stmt = stmt.where(AuditEvent.at >= query.since)
    if query.before_pos is not None:
        stmt = stmt.where(AuditEvent.chain_pos < query.before_pos)
    # Chain order: each month's partition has its own index on the position.
    stmt = stmt.order_by(AuditEvent.chain_pos.desc()).limit(query.first + 1)
    rows = list(await session.scalars(stmt))
    return rows[: query.first], len(rows) > query.first


async def usage_report(session: AsyncSession, principal: Principal, month: str) -> list[UsageRow]:
    """``record.read`` events of ``month`` summed per (agency, dataset), in the caller's scope:
    requests (events), records served (``detail.count``, else the keys listed) and refused
    (events that withheld fields or served nothing for a key asked: no grant, outside the
    row filter, unknown key)."""
    start, end = month_bounds(month)
    scope = _scope(principal, "usageReport", allow_steward=True)
    served = func.coalesce(
        AuditEvent.detail["count"].as_integer(), func.cardinality(AuditEvent.keys), 0
    )
    was_refused = _non_empty(AuditEvent.detail["refused"]) | _non_empty(AuditEvent.detail["missed"])
    agency = func.coalesce(AuditEvent.agency, ANONYMOUS_AGENCY)
    stmt = (
        select(
            agency.label("agency"),
            AuditEvent.dataset,
            func.count().label("requests"),
            func.coalesce(func.sum(served), 0).label("served"),
            func.count().filter(was_refused).label("refused"),
        )
        .where(
            AuditEvent.action == READ_ACTION,
            AuditEvent.dataset.is_not(None),
            AuditEvent.at >= start,
            AuditEvent.at < end,
        )
        .group_by(agency, AuditEvent.dataset)
        .order_by(agency, AuditEvent.dataset)
    )
    if scope is not None:
        stmt = stmt.where(scope)
    return [
        UsageRow(str(r.agency), str(r.dataset), int(r.requests), int(r.served), int(r.refused))
        for r in await session.execute(stmt)
    ]


def _non_empty(array: Any) -> ColumnElement[bool]:
    """``detail.<name>`` is a non-empty JSON array (absent or null: false)."""
    # CASE, not AND: jsonb_array_length fails on a non-array and AND may evaluate it first.
    return case(
        (func.jsonb_typeof(array) == "array", func.jsonb_array_length(array) > 0), else_=False
    )


def _scope(principal: Principal, action: str, *, allow_steward: bool) -> ColumnElement[Any] | None:
    """None for everything; else the condition on ``audit_events`` the caller may see."""
    scope = policy.audit_scope(principal, action, allow_steward=allow_steward)
    if scope.everything:
        return None
    own: ColumnElement[Any] = AuditEvent.agency == scope.agency
    if scope.owned_datasets:
        owned = select(Dataset.code).where(Dataset.owner_code == scope.agency)
        return or_(own, AuditEvent.dataset.in_(owned))
    return own


__all__ = [
    "ANONYMOUS_AGENCY",
    "AuditQuery",
    "UsageRow",
    "list_audit_events",
    "month_bounds",
    "usage_report",
]
