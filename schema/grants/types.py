"""Grant types of the contract (``api.graphql``): Grant, GrantStatus, GrantRequestInput, and
the ``grantsPage`` connection added to it (GrantConnection, GrantEdge)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from catalog import models
from catalog.grants import effective_status
from schema.catalogue.types import Agency, Dataset, PageInfo
from schema.context import Context


@strawberry.enum
class GrantStatus(enum.Enum):
    REQUESTED = "REQUESTED"
    APPROVED = "APPROVED"
    DENIED = "DENIED"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


@strawberry.type
class Grant:
    id: strawberry.ID
    fields: list[str]
    row_filter: JSON | None
    purpose: str
    legal_basis: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    status: GrantStatus = strawberry.field(
        description="EXPIRED where an approved grant is past its validTo."
    )
    decided_by: str | None
    decided_at: datetime | None
    note: str | None = strawberry.field(description="The owner's note, or the revocation reason.")
    requested_by: str | None
    created_at: datetime
    dataset_code: strawberry.Private[str]
    grantee_code: strawberry.Private[str]

    @classmethod
    def of(cls, row: models.Grant) -> Grant:
        row_filter: Any = row.row_filter
        return cls(
            id=strawberry.ID(str(row.id)),
            fields=list(row.fields),
            row_filter=row_filter,
            purpose=row.purpose,
            legal_basis=row.legal_basis,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            status=GrantStatus(effective_status(row)),
            decided_by=row.decided_by,
            decided_at=row.decided_at,
            note=row.note,
            requested_by=row.requested_by,
            created_at=row.created_at,
            dataset_code=row.dataset_code,
            grantee_code=row.grantee_code,
        )

    @strawberry.field
    async def dataset(self, info: Info[Context, None]) -> Dataset:
        from schema.catalogue.loaders import dataset_loader

        row = await dataset_loader(info.context).load(self.dataset_code)
        assert row is not None  # foreign key
        return Dataset.of(row)

    @strawberry.field
    async def grantee(self, info: Info[Context, None]) -> Agency:
        from schema.catalogue.loaders import agency_loader

        row = await agency_loader(info.context).load(self.grantee_code)
        assert row is not None  # foreign key
        return Agency.of(row)


@strawberry.type
class GrantEdge:
    node: Grant
    cursor: str


@strawberry.type
class GrantConnection:
    edges: list[GrantEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class GrantRequestInput:
    dataset: str
    fields: list[str] = strawberry.field(
        description='Field names, or "*" for all fields that are not RESTRICTED.'
    )
    purpose: str
    row_filter: JSON | None = strawberry.field(
        default=None,
        description='Rows the grant covers, e.g. {"district": "Thị xã Từ Sơn"}; '
        "filterable fields only.",
    )
    legal_basis: str | None = None
    valid_to: datetime | None = None


__all__ = ["Grant", "GrantConnection", "GrantEdge", "GrantRequestInput", "GrantStatus"]
