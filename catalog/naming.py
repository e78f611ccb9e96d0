"""Names the catalogue gives to GraphQL (DESIGN.md §10): ``land_parcel`` → ``LandParcel``,
``landParcel``, ``landParcelList``; ``tax_code`` → ``taxCode``; reference fields drop their key
suffix (``holder_tax_code`` → ``holder``)."""

from __future__ import annotations

import re

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
    "RESERVED_ROOT_FIELDS",
    "RESERVED_TYPE_NAMES",
    "SNAKE_CASE",
    "camel",
    "default_list",
    "default_single",
    "pascal",
    "reference_name",
]
