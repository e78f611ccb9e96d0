"""Listings of grants: bounded pages in a total order (``created_at`` then id, newest first),
so paging never skips or repeats a grant while new ones arrive, and a flood of requests can
push an approved grant onto a later page but never out of reach.

Invariant: a caller sees only grants on its agency's datasets or to its agency (stewards: all),
and a cursor that names any other grant is answered exactly like an unknown one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from catalog import policy
from catalog.errors import InvalidInput, QueryTooComplex
from catalog.models import Dataset, Grant
from catalog.principal import Principal

#: Largest page of grants.
MAX_LIST = 500


@dataclass(frozen=True, slots=True)
class GrantPage:
    """One page of grants, newest first; ``after`` the last one's id is the next page."""

    grants: list[Grant]
    has_next_page: bool
    total_count: int


async def list_grants(
    session: AsyncSession,
    principal: Principal,
    *,
    dataset: str | None = None,
    grantee: str | None = None,
    status: str | None = None,
    first: int = MAX_LIST,
    after: str | None = None,
) -> list[Grant]:
    """Grants the caller may see: on its agency's datasets, to its agency, or all (steward);
    newest first, at most ``first``, those after the grant with id ``after``."""
    page = await page_grants(
        session,
        principal,
        dataset=dataset,
        grantee=grantee,
        status=status,
        first=first,
        after=after,
        with_total=False,
    )
    return page.grants


async def page_grants(
    session: AsyncSession,
    principal: Principal,
    *,
    dataset: str | None = None,
    grantee: str | None = None,
    status: str | None = None,
    first: int = MAX_LIST,
    after: str | None = None,
    with_total: bool = True,
) -> GrantPage:
    """A page of the grants the caller may see, in a total order (``created_at`` then id,
    newest first), so paging never skips or repeats a grant while new ones arrive.

    Raises ``QueryTooComplex`` for ``first`` above ``MAX_LIST`` and ``InvalidInput`` for a
    negative ``first`` or an ``after`` that is not the id of a grant the caller may see.
    """
    policy.require_authenticated(principal, "grants")
    if first < 0:
        raise InvalidInput(f"grants: argument 'first' must be 0 or more, got {first}")
    if first > MAX_LIST:
        raise QueryTooComplex(
            f"grants: at most {MAX_LIST} grants per page, got first: {first}; page on with 'after'"
        )
    stmt = _visible_grants(principal, dataset, grantee, status)
    total = 0
    if with_total:
        counted = stmt.with_only_columns(func.count(Grant.id)).order_by(None)
        total = int(await session.scalar(counted) or 0)
    if after is not None:
        position = await session.execute(
            stmt.with_only_columns(Grant.created_at, Grant.id).where(
                Grant.id == _grant_id(after, "grants: argument 'after'")
            )
        )
        found = position.first()
        if found is None:  # unknown, or not the caller's to see: the same answer
            raise InvalidInput(f"grants: argument 'after': no grant {after} in this listing")
        stmt = stmt.where(tuple_(Grant.created_at, Grant.id) < tuple_(found[0], found[1]))
    ordered = stmt.order_by(Grant.created_at.desc(), Grant.id.desc()).limit(first + 1)
    rows = list(await session.scalars(ordered))
    return GrantPage(rows[:first], len(rows) > first, total)


def _visible_grants(
    principal: Principal, dataset: str | None, grantee: str | None, status: str | None
) -> Select[Any]:
    stmt = select(Grant).join(Dataset, Dataset.code == Grant.dataset_code)
    if not principal.is_steward:
        stmt = stmt.where(
            or_(Dataset.owner_code == principal.agency, Grant.grantee_code == principal.agency)
        )
    if dataset:
        stmt = stmt.where(Grant.dataset_code == dataset)
    if grantee:
        stmt = stmt.where(Grant.grantee_code == grantee)
    now = datetime.now(UTC)
    if status == "EXPIRED":
        stmt = stmt.where(Grant.status == "APPROVED", Grant.valid_to <= now)
    elif status == "APPROVED":
        stmt = stmt.where(
            Grant.status == "APPROVED", or_(Grant.valid_to.is_(None), Grant.valid_to > now)
        )
    elif status:
        stmt = stmt.where(Grant.status == status)
    return stmt


def _grant_id(value: str, place: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise InvalidInput(f"{place}: {value[:64]!r} is not a grant id") from None


__all__ = ["MAX_LIST", "GrantPage", "list_grants", "page_grants"]
