"""Names the catalogue gives to GraphQL (DESIGN.md §10): ``land_parcel`` → ``LandParcel``,
``landParcel``, ``landParcelList``; ``tax_code`` → ``taxCode``; reference fields drop their key
suffix (``holder_tax_code`` → ``holder``)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")

# Root fields of the fixed contract: a dataset may not take one of these names.
RESERVED_ROOT_FIELDS = frozenset(
    {
        "me",
        "agencies",
        "agency",
        "datasets",
        "dataset",
        "records",
        "record",
        "recordHistory",
        "search",
        "holders",
        "grants",
        "auditEvents",
        "connectors",
        "syncRuns",
        "usageReport",
        "corrections",
        "node",
        "__schema",
        "__type",
        "__typename",
    }
)
RESERVED_TYPE_NAMES = frozenset(
    {
        "Query",
        "Mutation",
        "Subscription",
        "Principal",
        "Agency",
        "Field",
        "Dataset",
        "DatasetEdge",
        "DatasetConnection",
        "Record",
        "RecordEdge",
        "RecordConnection",
        "RecordVersion",
        "SearchHit",
        "Facet",
        "FacetBucket",
        "SearchResult",
        "Holding",
        "Grant",
        "GrantEdge",
        "GrantConnection",
        "AuditEvent",
        "AuditEventEdge",
        "AuditEventConnection",
        "Connector",
        "SyncRun",
        "Correction",
        "UsageRow",
        "UsageReport",
        "PageInfo",
        "JSON",
        "Date",
        "DateTime",
        "Decimal",
        "String",
        "Int",
        "Float",
        "Boolean",
        "ID",
    }
)


# Types of the contract beyond its object types: inputs and enums.
RESERVED_TYPE_NAMES = RESERVED_TYPE_NAMES | frozenset(
    {
        "DatasetFilter",
        "DatasetInput",
        "FieldInput",
        "GrantRequestInput",
        "SearchFilter",
        "Sensitivity",
        "DatasetStatus",
        "GrantStatus",
        "SyncStatus",
    }
)

# Types generated per dataset (DESIGN.md §10): LandParcel, LandParcelEdge, its connection,
# LandParcelFilter and LandParcelOrderBy.
GENERATED_TYPE_SUFFIXES = ("", "Edge", "Connection", "Filter", "OrderBy")

# The filter inputs the hub shares between datasets, one per scalar and operator set
# (StringFilter, StringExactFilter, IntRangeFilter…). Every combination is reserved, not just
# those built today, so a new operator set can never meet a dataset already named like it.
_FILTER_SCALARS = ("String", "Int", "Float", "Boolean", "ID", "Date", "DateTime", "Decimal", "JSON")
_OPERATOR_SUFFIXES = ("", "Exact", "Range")
HUB_HELPER_TYPE_NAMES = frozenset(
    scalar + suffix + "Filter" for scalar in _FILTER_SCALARS for suffix in _OPERATOR_SUFFIXES
)

# Fields the hub adds to every generated object type, beside the catalogue's own fields.
GENERATED_OBJECT_FIELDS = frozenset({"history", "__typename"})

GRAPHQL_NAME = re.compile(r"^[A-Za-z][_0-9A-Za-z]*$")


@dataclass(frozen=True, slots=True)
class HubNames:
    """The names the hub's own API takes: types (static, and its shared helper inputs) and
    root fields. ``with_schema`` adds those of the running build, so a type or root field
    added to the contract later is reserved even before it is listed here."""

    types: frozenset[str] = RESERVED_TYPE_NAMES | HUB_HELPER_TYPE_NAMES
    root_fields: frozenset[str] = RESERVED_ROOT_FIELDS

    def with_schema(self, types: Iterable[str], root_fields: Iterable[str]) -> HubNames:
        return HubNames(self.types | frozenset(types), self.root_fields | frozenset(root_fields))


HUB_NAMES = HubNames()


def generated_type_names(code: str) -> frozenset[str]:
    """Every GraphQL type a dataset coded ``code`` generates."""
    base = pascal(code)
    return frozenset(base + suffix for suffix in GENERATED_TYPE_SUFFIXES)


def root_field_names(code: str, single: str | None, plural: str | None) -> frozenset[str]:
    """The root fields a dataset generates (its defaults when it names none)."""
    return frozenset({single or default_single(code), plural or default_list(code)})


def camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def pascal(snake: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in snake.split("_"))


def default_single(code: str) -> str:
    return camel(code)


def default_list(code: str) -> str:
    return camel(code) + "List"


def reference_name(field_name: str, target_key: str) -> str:
    """``holder_tax_code`` referencing a dataset keyed by ``tax_code`` → ``holder``; a field
    named exactly like the target key (``citizen_id``) keeps the target's name without ``_id``."""
    suffix = "_" + target_key
    if field_name.endswith(suffix) and len(field_name) > len(suffix):
        return camel(field_name[: -len(suffix)])
    if field_name == target_key and field_name.endswith("_id"):
        return camel(field_name[:-3])
    if field_name.endswith("_id") and len(field_name) > 3:
        return camel(field_name[:-3])
    return camel(field_name) + "Ref"


__all__ = [
    "GENERATED_OBJECT_FIELDS",
    "GENERATED_TYPE_SUFFIXES",
    "GRAPHQL_NAME",
    "HUB_HELPER_TYPE_NAMES",
    "HUB_NAMES",
    "RESERVED_ROOT_FIELDS",
    "RESERVED_TYPE_NAMES",
    "SNAKE_CASE",
    "HubNames",
    "camel",
    "default_list",
    "default_single",
    "generated_type_names",
    "pascal",
    "reference_name",
    "root_field_names",
]
