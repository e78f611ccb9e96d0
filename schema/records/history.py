"""``history`` on generated types: every version of a record, each cut to what the caller may
read in that version. Served by normal execution (it is not on the hot path)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import GraphQLResolveInfo

from catalog.audit import EventDraft, append_event
from catalog.records import unseal, versions_of
from schema.context import Context

US = "\x1f"


@dataclass(frozen=True, slots=True)
class VersionView:
    """Shaped like the contract's RecordVersion (Strawberry reads attributes)."""

    version: int
    hash: str
    changed_at: datetime
    source: str | None
    reason: str | None
    values: dict[str, Any]


async def resolve_history(source: Any, info: GraphQLResolveInfo) -> list[VersionView]:
    if not source or "__ref" not in source:
        return []
    code, _, skey = str(source["__ref"]).partition(US)
    ctx: Context = info.context
    services = ctx.services
    access = services.snapshot.access(ctx.principal, code)
    dataset = services.snapshot.datasets.get(code)
    if access is None or dataset is None or not access.allowed:
        return []
    withhold = access.restricted if access.purpose_required and ctx.purpose is None else frozenset()
    async with ctx.sessions.begin() as session:
        rows = await versions_of(session, dataset, skey)
        out = []
        for row in rows:
            values = unseal(dataset, row.data, services.field_keys)
            allowed = access.fields_for(values) - withhold
            out.append(
                VersionView(
                    version=row.version,
                    hash=row.hash,
                    changed_at=row.changed_at,
                    source=row.source,
                    reason=row.reason,
                    values={k: v for k, v in values.items() if k in allowed},
                )
            )
        await append_event(
            session,
            ctx.principal,
            EventDraft(
                "record.history",
                dataset=code,
                keys=[skey],
                purpose=ctx.purpose,
                detail={"versions": [v.version for v in out]},
            ),
            ctx.request_id,
        )
    return out


__all__ = ["VersionView", "resolve_history"]
