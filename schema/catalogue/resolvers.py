"""Catalogue queries and mutations: fetch, ask the domain (which asks the policy), shape."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from catalog import agencies as agency_domain
from catalog import datasets as dataset_domain
from catalog.dataset_rules import typed_neighbours
from catalog.errors import NotFound
from catalog.specs import DatasetSpec, FieldSpec
from catalog.text import is_clean_line
from schema.catalogue.buildcheck import check_builds, hub_names
from schema.catalogue.types import (
    Agency,
    Dataset,
    DatasetConnection,
    DatasetEdge,
    DatasetFilter,
    DatasetInput,
    FieldInput,
    PageInfo,
    Principal,
)
from schema.context import Context
from schema.pagination import decode_cursor, encode_cursor, page_size

CtxInfo = Info[Context, None]


@strawberry.type
class CatalogueQuery:
    @strawberry.field
    def me(self, info: CtxInfo) -> Principal:
        p = info.context.principal
        return Principal(
            subject=p.subject,
            roles=sorted(p.roles),
            anonymous=p.is_anonymous,
            agency_code=p.agency,
        )

    @strawberry.field
    async def agencies(self, info: CtxInfo) -> list[Agency]:
        async with info.context.sessions() as session:
            return [Agency.of(a) for a in await agency_domain.list_agencies(session)]

    @strawberry.field
    async def agency(self, info: CtxInfo, code: str) -> Agency | None:
        if not is_clean_line(code):
            return None  # no agency code holds a control character (nor could PostgreSQL)
        async with info.context.sessions() as session:
            row = await agency_domain.get_agency(session, code)
        return Agency.of(row) if row else None

    @strawberry.field
    async def datasets(
        self,
        info: CtxInfo,
        filter: DatasetFilter | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> DatasetConnection:
        ctx = info.context
        size = page_size(first, ctx.max_page_size)
        after_code = None
        if after is not None:
            decoded = decode_cursor(after)
            if not isinstance(decoded, str):
                decode_cursor("!", "after")
            after_code = str(decoded)
        query = dataset_domain.DatasetQuery(
            sector=filter.sector if filter else None,
            owner=filter.owner if filter else None,
            status=filter.status.value if filter and filter.status else None,
            text=filter.text if filter else None,
        )
        async with ctx.sessions() as session:
            rows, more, total = await dataset_domain.list_visible_datasets(
                session, ctx.principal, query, after=after_code, first=size
            )
        edges = [DatasetEdge(node=Dataset.of(r), cursor=encode_cursor(r.code)) for r in rows]
        return DatasetConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=more, end_cursor=edges[-1].cursor if edges else None),
            total_count=total,
        )

    @strawberry.field
    async def dataset(self, info: CtxInfo, code: str) -> Dataset | None:
        async with info.context.sessions() as session:
            try:
                row = await dataset_domain.visible_dataset(session, info.context.principal, code)
            except NotFound:
                return None
        return Dataset.of(row)


@strawberry.type
class CatalogueMutation:
    @strawberry.mutation(description="Owner of the caller's agency, or steward.")
    async def create_dataset(self, info: CtxInfo, input: DatasetInput) -> Dataset:
        ctx = info.context
        async with ctx.sessions.begin() as session:
            row = await dataset_domain.create_dataset(
                session,
                ctx.principal,
                to_spec(input),
                input.owner,
                ctx.request_id,
                hub_names=hub_names(),
            )
        await ctx.services.catalogue_changed()
        return Dataset.of(row)

    @strawberry.mutation(description="Owner or steward: change a definition (see DESIGN §3).")
    async def revise_dataset(
        self, info: CtxInfo, input: DatasetInput, new_version: bool = False
    ) -> Dataset:
        ctx = info.context
        async with ctx.sessions.begin() as session:
            row = await dataset_domain.revise_dataset(
                session,
                ctx.principal,
                to_spec(input),
                new_version=new_version,
                request_id=ctx.request_id,
                hub_names=hub_names(),
            )
            if row.status == "PUBLISHED":  # applied at once: it must still build
                check_builds(row, await typed_neighbours(session, row), "reviseDataset")
        await ctx.services.catalogue_changed()
        return Dataset.of(row)

    @strawberry.mutation(description="Owner.")
    async def submit_dataset(self, info: CtxInfo, code: str) -> Dataset:
        ctx = info.context
        async with ctx.sessions.begin() as session:
            row = await dataset_domain.submit_dataset(session, ctx.principal, code, ctx.request_id)
        await ctx.services.catalogue_changed()
        return Dataset.of(row)

    @strawberry.mutation(description="Steward.")
    async def publish_dataset(self, info: CtxInfo, code: str) -> Dataset:
        ctx = info.context
        async with ctx.sessions.begin() as session:
            row = await dataset_domain.publish_dataset(
                session, ctx.principal, code, ctx.request_id, hub_names=hub_names()
            )
            # Before the commit: a row that cannot be built never becomes PUBLISHED.
            check_builds(row, await typed_neighbours(session, row), "publishDataset")
        await ctx.services.catalogue_changed()
        return Dataset.of(row)

    @strawberry.mutation
    async def deprecate_dataset(self, info: CtxInfo, code: str, reason: str) -> Dataset:
        ctx = info.context
        async with ctx.sessions.begin() as session:
            row = await dataset_domain.deprecate_dataset(
                session, ctx.principal, code, reason, ctx.request_id
            )
        await ctx.services.catalogue_changed()
        return Dataset.of(row)


def to_spec(value: DatasetInput) -> DatasetSpec:
    return DatasetSpec(
        code=value.code,
        title=value.title,
        description=value.description,
        sector=value.sector,
        sensitivity=(value.sensitivity.value if value.sensitivity else "INTERNAL"),
        entity_kind=value.entity_kind or "other",
        key_field=value.key_field,
        update_frequency=value.update_frequency,
        licence=value.licence,
        legal_basis=value.legal_basis,
        reference_of=value.reference_of,
        fields=tuple(_field_spec(f) for f in value.fields),
    )


def _field_spec(value: FieldInput) -> FieldSpec:
    return FieldSpec(
        name=value.name,
        type=value.type,
        required=bool(value.required),
        description=value.description,
        sensitivity=value.sensitivity.value if value.sensitivity else "INTERNAL",
        pii_kind=value.pii_kind,
        searchable=bool(value.searchable),
        filterable=bool(value.filterable),
        encrypted=bool(value.encrypted),
        references=value.references,
        enum_values=tuple(value.enum_values) if value.enum_values else None,
    )


__all__ = ["CatalogueMutation", "CatalogueQuery", "to_spec"]
