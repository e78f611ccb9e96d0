"""The generic record queries of the contract: ``records``, ``record``, ``recordHistory`` and
``correctRecord``, over any dataset, with ``values`` keyed by the catalogue's snake_case names.

Fetch (row filters in SQL), ask the caller's ``Access`` through ``View.shape``, shape, and
note what was served in the request's ledger; an unknown dataset, one the caller may not see
and a record outside its row filters all read as nothing (no existence oracle).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from catalog import models
from catalog.errors import NotFound
from catalog.records import correct_record, stored_key, view_hash
from schema.catalogue.types import Dataset, PageInfo
from schema.context import Context
from schema.pagination import page_size
from schema.records import store
from schema.records.reading import ReadLedger, Shaped, View, aware, ledger, view_of
from schema.records.record_cursors import cursor_for, decode_after, open_after
from schema.records.versions import seen_as_of, seen_versions

CtxInfo = Info[Context, None]
_BLIND = re.compile(r"^[0-9a-f]{64}$")


@strawberry.type
class Record:
    key: str
    version: int
    updated_at: datetime
    values: JSON = strawberry.field(description="Only the fields the caller may read.")
    dataset_row: strawberry.Private[models.Dataset]

    @strawberry.field
    def dataset(self) -> Dataset:
        return Dataset.of(self.dataset_row)


@strawberry.type
class RecordEdge:
    node: Record
    cursor: str


@strawberry.type
class RecordConnection:
    edges: list[RecordEdge]
    page_info: PageInfo
    counter: strawberry.Private[Callable[[], Awaitable[int]] | None]

    @strawberry.field(description="Records matching the filter that the caller may see.")
    async def total_count(self) -> int | None:
        return await self.counter() if self.counter is not None else None


@strawberry.type
class RecordVersion:
    version: int
    hash: str = strawberry.field(
        description="SHA-256 of the canonical JSON of exactly the values shown (see README)."
    )
    changed_at: datetime
    source: str | None
    reason: str | None
    values: JSON = strawberry.field(description="Only the fields readable in this version.")


@strawberry.type
class RecordQuery:
    # Each resolver joins the request's ledger before its first await, so the ledger knows
    # every sibling still running and writes one audit event per dataset when the last ends.

    @strawberry.field(description="Records of a dataset, in key order; filter as grant rowFilter.")
    async def records(
        self,
        info: CtxInfo,
        dataset: str,
        filter: JSON | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> RecordConnection:
        ctx = info.context
        size = page_size(first, ctx.max_page_size)
        after_key = decode_after(after)
        async with ledger(ctx).open(listed=(dataset, filter)) as reads:
            return await _records(ctx, reads, dataset, filter, size, after_key)

    @strawberry.field(description="One record by key; asOf: the version current at that time.")
    async def record(
        self, info: CtxInfo, dataset: str, key: str, as_of: datetime | None = None
    ) -> Record | None:
        ctx = info.context
        async with ledger(ctx).open(ask=(dataset, key)) as reads:
            return await _record_by_key(ctx, reads, dataset, key, as_of)

    @strawberry.field(
        description="Versions newest first as the caller sees them: versions its rules reject "
        "are left out, and consecutive ones that look alike to it are one entry."
    )
    async def record_history(self, info: CtxInfo, dataset: str, key: str) -> list[RecordVersion]:
        ctx = info.context
        async with ledger(ctx).open(ask=(dataset, key)) as reads:
            return await history_of(ctx, reads, dataset, key)


async def _records(
    ctx: Context,
    reads: ReadLedger,
    dataset: str,
    filter: object,
    size: int,
    after: str | dict[str, Any] | None,
) -> RecordConnection:
    view = await view_of(ctx, dataset)
    if view is None:
        return RecordConnection(
            edges=[], page_info=PageInfo(has_next_page=False, end_cursor=None), counter=None
        )
    user_filter = store.parse_user_filter(view, filter)
    pool = ctx.read_pool
    after_key = open_after(view, after)
    rows = await store.fetch_page(pool, view, user_filter, after_key, size + 1)
    page = rows[:size]
    edges = []
    for row in page:
        shaped = view.shape(row["key"], row["data"])
        if shaped is None:  # the SQL row filters already exclude it; belt and braces
            continue
        reads.served(view, row["key"], row["version"], shaped)
        node = _record(view, shaped, row["version"], row["updated_at"])
        edges.append(RecordEdge(node=node, cursor=cursor_for(view, row["key"], shaped)))

    async def counter() -> int:
        return await store.count(pool, view, user_filter)

    end = edges[-1].cursor if edges else None
    return RecordConnection(
        edges=edges,
        page_info=PageInfo(has_next_page=len(rows) > size, end_cursor=end),
        counter=counter,
    )


async def _record_by_key(
    ctx: Context, reads: ReadLedger, dataset: str, key: str, as_of: datetime | None
) -> Record | None:
    found = await _visible_now(ctx, reads, dataset, key)
    if found is None:
        return None
    view, row = found
    if as_of is not None:
        return await _record_as_of(ctx, reads, view, row["key"], aware(as_of))
    shaped = view.shape(row["key"], row["data"])
    if shaped is None:
        return None
    reads.served(view, row["key"], row["version"], shaped)
    return _record(view, shaped, row["version"], row["updated_at"])


async def _record_as_of(
    ctx: Context, reads: ReadLedger, view: View, stored_key: str, as_of: datetime
) -> Record | None:
    """The history entry holding the version current at ``as_of``, as ``recordHistory``
    shows it (same version, time and values), or None where history omits that version."""
    rows = await store.fetch_versions(ctx.read_pool, view, stored_key, as_of)
    seen = seen_as_of(view, stored_key, rows)
    if seen is None:
        return None
    reads.served(view, stored_key, seen.version, seen.shaped)
    return _record(view, seen.shaped, seen.version, seen.changed_at)


async def history_of(
    ctx: Context, reads: ReadLedger, dataset: str, key: str, *, stored: bool = False
) -> list[RecordVersion]:
    """Entries of a record the caller sees now, newest first (``schema.records.versions``);
    ``key`` as in ``_visible_now``."""
    found = await _visible_now(ctx, reads, dataset, key, stored=stored)
    if found is None:
        return []
    view, current = found
    stored_key = current["key"]
    rows = await store.fetch_versions(ctx.read_pool, view, stored_key)
    entries = seen_versions(view, stored_key, rows)[-store.HISTORY_LIMIT :]
    out = []
    for seen in reversed(entries):
        reads.served(view, stored_key, seen.version, seen.shaped)
        out.append(
            RecordVersion(
                version=seen.version,
                hash=seen.hash,
                changed_at=seen.changed_at,
                source=seen.source,
                reason=seen.reason,
                values=JSON(seen.shaped.values),
            )
        )
    return out


async def _visible_now(
    ctx: Context, reads: ReadLedger, dataset: str, key: str, *, stored: bool = False
) -> tuple[View, asyncpg.Record] | None:
    """The caller's view and the current record under ``key``, if the caller sees it now:
    not deleted and admitted by its rules (the gate of ``record``, ``asOf`` and history).

    ``key`` is the key's value, or the blind index shown in place of one; ``stored``: it is
    the stored key of a record the hub itself just served (the typed ``history`` field). A
    key's value finds a record only where the caller may read the key there: otherwise the
    answer would confirm a value it may not read."""
    view = await view_of(ctx, dataset)
    if view is None:
        return None
    by_value, by_token = ([], [key]) if stored else _stored_keys(view, key)
    if not by_value and not by_token:
        reads.withheld(view, frozenset({view.dataset.key_field}))
        return None
    current = await store.fetch_current(ctx.read_pool, view, [*by_value, *by_token])
    if current is None:
        return None
    shaped = view.shape(current["key"], current["data"])
    if shaped is None:
        return None
    if current["key"] not in by_token and view.dataset.key_field not in shaped.served:
        return None
    return view, current


@strawberry.type
class RecordMutation:
    @strawberry.mutation(description="Owner only: a new version with a reason, never an edit.")
    async def correct_record(
        self, info: CtxInfo, dataset: str, key: str, values: JSON, reason: str
    ) -> RecordVersion:
        ctx = info.context
        view = await view_of(ctx, dataset)
        row = ctx.services.snapshot.datasets.get(dataset)
        if row is None or await ctx.services.access_for(ctx, dataset) is None:
            raise NotFound(f"dataset '{dataset}' does not exist")
        async with ctx.sessions.begin() as session:
            version = await correct_record(
                session,
                ctx.principal,
                row,
                _plain(key),
                values,  # type: ignore[arg-type]  # the domain refuses a non-object
                reason,
                ctx.services.field_keys,
                ctx.request_id,
            )
        shaped = view.shape(version.key, version.data) if view is not None else None
        shown = shaped.values if shaped is not None else {}
        return RecordVersion(
            version=version.version,
            hash=view_hash(shown),  # the owner's view: equal to the stored content hash
            changed_at=version.changed_at,
            source=version.source,
            reason=version.reason,
            values=JSON(shown),
        )


def _record(view: View, shaped: Shaped, version: int, updated_at: datetime) -> Record:
    return Record(
        key=shaped.key,
        version=version,
        updated_at=updated_at,
        values=JSON(shaped.values),
        dataset_row=view.dataset,
    )


def _plain(key: str) -> str:
    return unicodedata.normalize("NFC", key).strip()


def _stored_keys(view: View, key: str) -> tuple[list[str], list[str]]:
    """The stored keys ``key`` may name: by its value, and as the blind index shown in place
    of an encrypted key the caller may not read (that reveals nothing it did not see). No
    value lookup when the key is RESTRICTED and no purpose is stated."""
    plain = _plain(key)
    by_value = stored_key(view.dataset, plain, view.ctx.services.field_keys)
    by_token = [plain] if by_value != plain and _BLIND.fullmatch(plain) else []
    if view.withheld_of(frozenset({view.dataset.key_field})):
        # Even "does this identifier exist?" is a read of the RESTRICTED value.
        return [], by_token
    return [by_value], by_token


__all__ = ["Record", "RecordConnection", "RecordEdge", "RecordMutation", "RecordQuery"]
