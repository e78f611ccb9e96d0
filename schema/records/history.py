"""``history`` on generated types: the same answer as ``recordHistory`` for the record the
compiled subtree served (its ``__ref``), audited through the same request ledger."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLResolveInfo

from schema.context import Context
from schema.records.compiler import PART_SEPARATOR
from schema.records.generic import RecordVersion, history_of
from schema.records.reading import ledger


async def resolve_history(source: Any, info: GraphQLResolveInfo) -> list[RecordVersion]:
    if not source or "__ref" not in source:
        return []
    code, _, stored_key = str(source["__ref"]).partition(PART_SEPARATOR)
    ctx: Context = info.context
    async with ledger(ctx).open() as reads:
        return await history_of(ctx, reads, code, stored_key, stored=True)


__all__ = ["resolve_history"]
