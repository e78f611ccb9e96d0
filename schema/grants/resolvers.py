"""Grant queries and mutations: open a transaction, call the domain, refresh the policy.

Every listing is a bounded page in a total order (newest first, then id): ``grants`` keeps the
contract's list shape and pages with ``first``/``after`` (the last grant's id); ``grantsPage``
is the same listing as a connection with ``pageInfo`` and ``totalCount``.
"""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry.types import Info

from catalog import grant_pages
from catalog import grants as grant_domain
from schema.catalogue.types import PageInfo
from schema.context import Context
from schema.grants.types import (
    Grant,
    GrantConnection,
    GrantEdge,
    GrantRequestInput,
    GrantStatus,
)

CtxInfo = Info[Context, None]


@strawberry.type
class GrantQuery:
    @strawberry.field(
        description="Grants on the caller's agency's datasets or to its agency (stewards: all)."
    )
    async def grants(
        self,
        info: CtxInfo,
        dataset: str | None = None,
        grantee: str | None = None,
        status: GrantStatus | None = None,
        first: int = grant_pages.MAX_LIST,
        after: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The id of the last grant of the previous page."),
        ] = None,
    ) -> list[Grant]:
        ctx = info.context
        async with ctx.sessions() as session:
            rows = await grant_pages.list_grants(
                session,
                ctx.principal,
                dataset=dataset,
                grantee=grantee,
                status=status.value if status else None,
                first=first,
                after=str(after) if after is not None else None,
            )
        return [Grant.of(r) for r in rows]

    @strawberry.field(
        description="The grants listing as pages: newest first, then by id; the cursor is the "
        f"last grant's id. At most {grant_pages.MAX_LIST} per page."
    )
    async def grants_page(
        self,
        info: CtxInfo,
        dataset: str | None = None,
        grantee: str | None = None,
        status: GrantStatus | None = None,
        first: int = 20,
        after: str | None = None,
    ) -> GrantConnection:
        ctx = info.context
        async with ctx.sessions() as session:
            page = await grant_pages.page_grants(
                session,
                ctx.principal,
                dataset=dataset,
                grantee=grantee,
                status=status.value if status else None,
                first=first,
                after=after,
            )
        edges = [GrantEdge(node=Grant.of(r), cursor=str(r.id)) for r in page.grants]
        return GrantConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=page.total_count,
        )


@strawberry.type
class GrantMutation:
    @strawberry.mutation(description="Any authenticated agency, for a dataset it does not own.")
    async def request_grant(self, info: CtxInfo, input: GrantRequestInput) -> Grant:
        ctx = info.context
        request = grant_domain.GrantRequest(
            dataset=input.dataset,
            fields=list(input.fields),
            purpose=input.purpose,
            row_filter=input.row_filter,
            legal_basis=input.legal_basis,
            valid_to=input.valid_to,
        )
        async with ctx.sessions.begin() as session:
            row = await grant_domain.request_grant(
                session,
                ctx.principal,
                request,
                ctx.request_id,
                max_open=ctx.services.max_open_grant_requests,
            )
            grant = Grant.of(row)
        await ctx.services.catalogue_changed()
        return grant

    @strawberry.mutation(description="The 'owner' role of the dataset's agency.")
    async def decide_grant(
        self, info: CtxInfo, id: strawberry.ID, approve: bool, note: str | None = None
    ) -> Grant:
        ctx = info.context
        async with ctx.sessions.begin() as session:
            row = await grant_domain.decide_grant(
                session, ctx.principal, str(id), approve, note, ctx.request_id
            )
            grant = Grant.of(row)
        await ctx.services.catalogue_changed()
        return grant

    @strawberry.mutation(description="The 'owner' role of the dataset's agency.")
    async def revoke_grant(self, info: CtxInfo, id: strawberry.ID, reason: str) -> Grant:
        ctx = info.context
        async with ctx.sessions.begin() as session:
            row = await grant_domain.revoke_grant(
                session, ctx.principal, str(id), reason, ctx.request_id
            )
            grant = Grant.of(row)
        await ctx.services.catalogue_changed()
        return grant


__all__ = ["GrantMutation", "GrantQuery"]
