"""``holders(identifier)``: "is this already collected, and where?" (001 Điều 4.4, 10.5), and
``corrections(since:)``: records the caller's agency read that were corrected since, in a way
it can see (a correction of values it may not read is not listed).

Both answer under the caller's access exactly as ``records`` does: a dataset the caller may
not see, a record outside its row filters and a field it may not read (or may read only with
a purpose it did not state) never match, so neither is an existence oracle.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime

import asyncpg
import strawberry
from strawberry.types import Info

from catalog import models, policy
from catalog.errors import InvalidInput
from catalog.record_sql import Params, sql_param_value, typed_value
from catalog.records import stored_key, view_hash
from schema.catalogue.types import Dataset
from schema.context import Context
from schema.pagination import page_size
from schema.records import store
from schema.records.reading import ReadLedger, Shaped, View, aware, ledger, view_of

CtxInfo = Info[Context, None]
IDENTITY_KINDS = frozenset({"tax_code", "citizen_id", "parcel_id", "document_number", "card_no"})
MAX_HOLDINGS = 50
MAX_CORRECTIONS = 500
CORRECTIONS_SLACK = 4
MAX_IDENTIFIER = 200

CORRECTIONS_SQL = """
SELECT c.* FROM (
  SELECT DISTINCT ON (rr.dataset_code, rr.key)
         rr.dataset_code, rr.key, rr.version AS version_read, r.version AS current_version,
         r.data, rv.data AS data_read, v.reason, v.changed_at
  FROM record_reads rr
  JOIN records r ON r.dataset_code = rr.dataset_code AND r.key = rr.key
  JOIN record_versions v ON v.dataset_code = rr.dataset_code AND v.key = rr.key
  JOIN record_versions rv ON rv.dataset_code = rr.dataset_code AND rv.key = rr.key
                         AND rv.version = rr.version
  WHERE rr.agency = $1 AND v.reason IS NOT NULL AND v.supersedes >= rr.version
    AND v.changed_at >= $2 AND r.version > rr.version AND NOT r.deleted
    AND NOT EXISTS (SELECT 1 FROM record_reads x WHERE x.agency = rr.agency
                    AND x.dataset_code = rr.dataset_code AND x.key = rr.key
                    AND x.version >= v.version)
  ORDER BY rr.dataset_code, rr.key, v.version DESC, rr.version DESC
) c ORDER BY c.changed_at DESC, c.dataset_code, c.key LIMIT $3
"""


@strawberry.type
class Holding:
    key: str
    can_read: bool = strawberry.field(description="May the caller read more of it than its key?")
    dataset_row: strawberry.Private[models.Dataset]

    @strawberry.field
    def dataset(self) -> Dataset:
        return Dataset.of(self.dataset_row)


@strawberry.type
class Correction:
    key: str
    version_read: int
    current_version: int
    reason: str
    corrected_at: datetime
    dataset_row: strawberry.Private[models.Dataset]

    @strawberry.field
    def dataset(self) -> Dataset:
        return Dataset.of(self.dataset_row)


@strawberry.type
class HoldingQuery:
    @strawberry.field(description="Datasets holding a record under this identifier, as visible.")
    async def holders(self, info: CtxInfo, identifier: str) -> list[Holding]:
        ctx = info.context
        ident = unicodedata.normalize("NFC", identifier).strip()
        if not ident or len(ident) > MAX_IDENTIFIER:
            raise InvalidInput(f"argument 'identifier': expected 1 to {MAX_IDENTIFIER} characters")
        async with ledger(ctx).open() as reads:  # before any await: see RecordQuery
            return await _holders(ctx, reads, ident)

    @strawberry.field(description="Records the caller's agency read that were corrected since.")
    async def corrections(
        self, info: CtxInfo, since: datetime, first: int | None = 50
    ) -> list[Correction]:
        ctx = info.context
        policy.require_authenticated(ctx.principal, "corrections")
        size = page_size(first, MAX_CORRECTIONS, default=50)
        if ctx.principal.agency is None or size == 0:
            return []
        await ctx.services.ensure_fresh()
        pool: asyncpg.Pool = ctx.read_pool
        # Room for corrections the caller cannot see (hidden fields only), dropped below.
        fetch = min(size * CORRECTIONS_SLACK, MAX_CORRECTIONS * CORRECTIONS_SLACK)
        rows = await pool.fetch(CORRECTIONS_SQL, ctx.principal.agency, aware(since), fetch)
        views: dict[str, View | None] = {}
        out = []
        for row in rows:
            code = row["dataset_code"]
            if code not in views:
                views[code] = await view_of(ctx, code, refresh=False)
            view = views[code]
            # Metadata only, yet still under today's access: a revoked grant hides it.
            shaped = view.shape(row["key"], row["data"]) if view is not None else None
            if view is None or shaped is None or not _changed_for(view, row):
                continue
            out.append(
                Correction(
                    key=shaped.key,
                    version_read=row["version_read"],
                    current_version=row["current_version"],
                    reason=row["reason"],
                    corrected_at=row["changed_at"],
                    dataset_row=view.dataset,
                )
            )
            if len(out) >= size:
                break
        return out


async def _holders(ctx: Context, reads: ReadLedger, ident: str) -> list[Holding]:
    await ctx.services.ensure_fresh()
    views: dict[str, View] = {}
    for dataset in sorted(ctx.services.snapshot.typed(), key=lambda d: d.code):
        view = await view_of(ctx, dataset.code, refresh=False)
        if view is not None:
            views[dataset.code] = view
    params = Params()
    branches = []
    names: dict[str, set[str]] = {}
    for view in views.values():
        fields, withheld = _match_fields(view)
        reads.withheld(view, withheld)
        if fields:
            names[view.code] = {f.name for f in fields}
            branches.append(_holder_branch(view, fields, ident, params))
    if not branches:
        return []
    sql = " UNION ALL ".join(branches) + " ORDER BY 1, 2"
    pool: asyncpg.Pool = ctx.read_pool
    out: list[Holding] = []
    for row in await pool.fetch(sql, *params.values(None)):
        view = views[row["dataset_code"]]
        shaped = view.shape(row["key"], row["data"])
        if shaped is None or not _matches(view, shaped, row["key"], ident, names[view.code]):
            continue
        key_field = view.dataset.key_field
        # A holding shows the dataset and the key: that is what was read.
        reads.served(view, row["key"], row["version"], shaped, frozenset({key_field}))
        out.append(
            Holding(
                key=shaped.key,
                can_read=bool(shaped.served - {key_field}),
                dataset_row=view.dataset,
            )
        )
        if len(out) >= MAX_HOLDINGS:
            break
    return out


def _changed_for(view: View, row: asyncpg.Record) -> bool:
    """Did the corrections since the version read change what the caller may read (with a
    purpose, if it states none now)? One that touched only values it may not read is not
    news to it, and listing it would leak that they changed."""
    before, now = view.readable(row["data_read"]), view.readable(row["data"])
    return before is None or now is None or view_hash(before) != view_hash(now)


def _match_fields(view: View) -> tuple[list[models.DatasetField], frozenset[str]]:
    """Fields an identifier may match: the key and filterable identifier fields, those the
    caller may read; RESTRICTED ones without a stated purpose are withheld instead."""
    dataset = view.dataset
    candidates = [
        f
        for f in dataset.fields
        if f.name == dataset.key_field
        or (f.filterable and f.pii_kind in IDENTITY_KINDS and f.type in store.TEXT_TYPES)
    ]
    fields, withheld = [], set()
    for f in candidates:
        if view.access.filters_for_field(f.name) == ():
            continue
        if view.withheld_of(frozenset({f.name})):
            withheld.add(f.name)
            continue
        fields.append(f)
    return fields, frozenset(withheld)


def _holder_branch(
    view: View, fields: list[models.DatasetField], ident: str, params: Params
) -> str:
    keys = view.ctx.services.field_keys
    code = params.literal(view.code)
    matches = []
    for f in fields:
        if f.name == view.dataset.key_field:
            condition = f"r.key = {params.literal(stored_key(view.dataset, ident, keys))}"
        else:
            value = params.literal(sql_param_value(f, ident, keys.blind))
            condition = f"{typed_value('r', f)} = {value}::text"
        readable = store.readable_where(view, f.name, params)
        matches.append("(" + " AND ".join([condition, *readable]) + ")")
    where = [
        f"r.dataset_code = {code}",
        "NOT r.deleted",
        *store.visibility(view, params),
        "(" + " OR ".join(matches) + ")",
    ]
    return (
        f"(SELECT {code}::text AS dataset_code, r.key, r.version, r.data FROM records r "
        f"WHERE {' AND '.join(where)} ORDER BY r.key LIMIT {MAX_HOLDINGS + 1})"
    )


def _matches(view: View, shaped: Shaped, row_key: str, ident: str, names: set[str]) -> bool:
    """Re-check in Python that a readable field the lookup may match holds the identifier."""
    key_field = view.dataset.key_field
    keys = view.ctx.services.field_keys
    for name in shaped.served & names:
        if name == key_field:
            if row_key == stored_key(view.dataset, ident, keys):
                return True
            continue
        value = shaped.values.get(name)
        if value is not None and unicodedata.normalize("NFC", str(value)).strip() == ident:
            return True
    return False


__all__ = ["Correction", "Holding", "HoldingQuery"]
