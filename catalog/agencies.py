"""Agencies: the state bodies that own and use shared data."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import Agency
from catalog.specs import AgencySpec


async def list_agencies(session: AsyncSession, limit: int = 1000) -> list[Agency]:
    result = await session.scalars(select(Agency).order_by(Agency.code).limit(limit))
    return list(result)


async def get_agency(session: AsyncSession, code: str) -> Agency | None:
    return await session.get(Agency, code)


async def upsert_agencies(session: AsyncSession, specs: Sequence[AgencySpec]) -> int:
    """Insert or refresh agencies; parents first so the foreign key holds."""
    for spec in specs:
        stmt = insert(Agency).values(
            code=spec.code, name=spec.name, level=spec.level, parent_code=spec.parent
        )
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=[Agency.code],
                set_={"name": spec.name, "level": spec.level, "parent_code": spec.parent},
            )
        )
    return len(specs)


__all__ = ["get_agency", "list_agencies", "upsert_agencies"]
