"""Catalogue types of the contract (``api.graphql``): Principal, Agency, Field, Dataset."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry
from strawberry.types import Info

from catalog import models, policy
from schema.context import Context


@strawberry.enum
class Sensitivity(enum.Enum):
    PUBLIC = "PUBLIC"
    INTERNAL = "INTERNAL"
    RESTRICTED = "RESTRICTED"
    SECRET = strawberry.enum_value(
        "SECRET",
        description="Never accepted: secret data is not exchanged electronically "
        "(Quyết định 002, Điều 12.7). Offered only so the refusal can say why.",
    )


@strawberry.enum
class DatasetStatus(enum.Enum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    PUBLISHED = "PUBLISHED"
    DEPRECATED = "DEPRECATED"


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Agency:
    code: str
    name: str
    level: str
    parent_code: strawberry.Private[str | None]

    @classmethod
    def of(cls, row: models.Agency) -> Agency:
        return cls(code=row.code, name=row.name, level=row.level, parent_code=row.parent_code)

    @strawberry.field
    async def parent(self, info: Info[Context, None]) -> Agency | None:
        if self.parent_code is None:
            return None
        from schema.catalogue.loaders import agency_loader

        row = await agency_loader(info.context).load(self.parent_code)
        return Agency.of(row) if row else None

    @strawberry.field(description="Datasets it owns that the caller may see.")
    async def datasets(self, info: Info[Context, None]) -> list[Dataset]:
        from schema.catalogue.loaders import datasets_by_owner_loader

        rows = await datasets_by_owner_loader(info.context).load(self.code)
        principal = info.context.principal
        return [Dataset.of(r) for r in rows if policy.can_see_dataset(principal, r)]


@strawberry.type
class Principal:
    subject: str | None
    roles: list[str]
    anonymous: bool
    agency_code: strawberry.Private[str | None]

    @strawberry.field
    async def agency(self, info: Info[Context, None]) -> Agency | None:
        if self.agency_code is None:
            return None
        from schema.catalogue.loaders import agency_loader

        row = await agency_loader(info.context).load(self.agency_code)
        return Agency.of(row) if row else None


@strawberry.type
class Field:
    name: str
    type: str
    required: bool
    description: str | None
    sensitivity: Sensitivity
    pii_kind: str | None
    searchable: bool
    filterable: bool
    encrypted: bool
    enum_values: list[str] | None
    references_code: strawberry.Private[str | None]
    dataset_code: strawberry.Private[str]

    @classmethod
    def of(cls, row: models.DatasetField) -> Field:
        return cls(
            name=row.name,
            type=row.type,
            required=row.required,
            description=row.description,
            sensitivity=Sensitivity(row.sensitivity),
            pii_kind=row.pii_kind,
            searchable=row.searchable,
            filterable=row.filterable,
            encrypted=row.encrypted,
            enum_values=list(row.enum_values) if row.enum_values else None,
            references_code=row.references,
            dataset_code=row.dataset_code,
        )

    @strawberry.field
    async def references(self, info: Info[Context, None]) -> Dataset | None:
        if self.references_code is None:
            return None
        from schema.catalogue.loaders import dataset_loader

        row = await dataset_loader(info.context).load(self.references_code)
        if row is None or not policy.can_see_dataset(info.context.principal, row):
            return None
        return Dataset.of(row)

    @strawberry.field(description="May the caller read this field's values?")
    async def readable(self, info: Info[Context, None]) -> bool:
        access = await info.context.services.access_for(info.context, self.dataset_code)
        return access is not None and access.may_read_field(self.name)


@strawberry.type
class Dataset:
    code: str
    title: str
    description: str | None
    sector: str
    status: DatasetStatus
    sensitivity: Sensitivity
    entity_kind: str
    key_field: str
    version: int
    update_frequency: str | None
    licence: str | None
    legal_basis: str | None
    reference_of: str | None
    last_synced_at: datetime | None
    graphql_list: str = strawberry.field(
        description='Root field of its typed list, e.g. "businessList".'
    )
    graphql_single: str = strawberry.field(description='e.g. "business".')
    owner_code: strawberry.Private[str]
    row: strawberry.Private[models.Dataset]

    @classmethod
    def of(cls, row: models.Dataset) -> Dataset:
        return cls(
            code=row.code,
            title=row.title,
            description=row.description,
            sector=row.sector,
            status=DatasetStatus(row.status),
            sensitivity=Sensitivity(row.sensitivity),
            entity_kind=row.entity_kind,
            key_field=row.key_field,
            version=row.version,
            update_frequency=row.update_frequency,
            licence=row.licence,
            legal_basis=row.legal_basis,
            reference_of=row.reference_of,
            last_synced_at=row.last_synced_at,
            graphql_list=row.graphql_list,
            graphql_single=row.graphql_single,
            owner_code=row.owner_code,
            row=row,
        )

    @strawberry.field
    async def owner(self, info: Info[Context, None]) -> Agency:
        from schema.catalogue.loaders import agency_loader

        row = await agency_loader(info.context).load(self.owner_code)
        assert row is not None  # foreign key
        return Agency.of(row)

    @strawberry.field
    def fields(self) -> list[Field]:
        return [Field.of(f) for f in self.row.fields]

    @strawberry.field(description="Null where the caller may not count its records.")
    async def record_count(self, info: Info[Context, None]) -> int | None:
        return await info.context.services.count_records(info.context, self.code)


@strawberry.type
class DatasetEdge:
    node: Dataset
    cursor: str


@strawberry.type
class DatasetConnection:
    edges: list[DatasetEdge]
    page_info: PageInfo
    total_count: int


@strawberry.input
class DatasetFilter:
    sector: str | None = None
    owner: str | None = None
    status: DatasetStatus | None = None
    text: str | None = None


@strawberry.input
class FieldInput:
    name: str
    type: str
    required: bool | None = False
    description: str | None = None
    sensitivity: Sensitivity | None = Sensitivity.INTERNAL
    pii_kind: str | None = None
    searchable: bool | None = False
    filterable: bool | None = False
    encrypted: bool | None = False
    references: str | None = None
    enum_values: list[str] | None = None


@strawberry.input
class DatasetInput:
    code: str
    title: str
    sector: str
    key_field: str
    fields: list[FieldInput]
    description: str | None = None
    sensitivity: Sensitivity | None = Sensitivity.INTERNAL
    entity_kind: str | None = "other"
    update_frequency: str | None = None
    licence: str | None = None
    legal_basis: str | None = None
    owner: str | None = strawberry.field(
        default=None,
        description="Owner agency code; default the caller's agency (stewards may name any).",
    )
    reference_of: str | None = strawberry.field(
        default=None,
        description="Declares this dataset a reference to the authoritative dataset "
        "of the same entities.",
    )


__all__ = [
    "Agency",
    "Dataset",
    "DatasetConnection",
    "DatasetEdge",
    "DatasetFilter",
    "DatasetInput",
    "DatasetStatus",
    "Field",
    "FieldInput",
    "PageInfo",
    "Principal",
    "Sensitivity",
]
