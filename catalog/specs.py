"""Plain-value definitions of datasets and fields, as submitted by owners or shipped as the
baseline. Validation of these lives in ``catalog.fields`` and ``catalog.datasets``."""

from __future__ import annotations

from dataclasses import dataclass, field

FIELD_TYPES = ("string", "int", "decimal", "bool", "date", "datetime", "enum", "reference", "json")
SENSITIVITIES = ("PUBLIC", "INTERNAL", "RESTRICTED")
ENTITY_KINDS = ("business", "person", "land_parcel", "document", "other")
PII_KINDS = (
    "citizen_id",
    "tax_code",
    "phone",
    "email",
    "address",
    "health",
    "name",
    "birth_date",
    "card_no",
    "parcel_id",
    "document_number",
)
LEVELS = ("province", "department", "district", "commune")
STATUSES = ("DRAFT", "SUBMITTED", "PUBLISHED", "DEPRECATED")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    name: str
    type: str
    required: bool = False
    description: str | None = None
    sensitivity: str = "INTERNAL"
    pii_kind: str | None = None
    searchable: bool = False
    filterable: bool = False
    encrypted: bool = False
    references: str | None = None
    enum_values: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    code: str
    title: str
    sector: str
    key_field: str
    fields: tuple[FieldSpec, ...]
    description: str | None = None
    sensitivity: str = "INTERNAL"
    entity_kind: str = "other"
    update_frequency: str | None = None
    licence: str | None = None
    legal_basis: str | None = None
    reference_of: str | None = None
    steward: str | None = None
    graphql_single: str | None = None
    graphql_list: str | None = None


@dataclass(frozen=True, slots=True)
class AgencySpec:
    code: str
    name: str
    level: str
    parent: str | None = None
    datasets: tuple[str, ...] = field(default_factory=tuple)


__all__ = [
    "ENTITY_KINDS",
    "FIELD_TYPES",
    "LEVELS",
    "PII_KINDS",
    "SENSITIVITIES",
    "STATUSES",
    "AgencySpec",
    "DatasetSpec",
    "FieldSpec",
]
