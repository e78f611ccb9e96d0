"""Per-request binding of a compiled plan: argument values read from the document and the
variables, checked (page bounds, cursors), and the *shape* of those arguments, which together
with the caller's access fingerprint selects the cached SQL."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from graphql import FieldNode, GraphQLField
from graphql.execution.values import get_argument_values

from catalog.errors import InvalidInput
from catalog.principal import Principal
from schema.pagination import page_size


@dataclass(frozen=True, slots=True)
class Cursor:
    tag: str
    value: Any
    key: str


@dataclass(slots=True)
class SiteArgs:
    key: str | None = None
    as_of: datetime | None = None
    first: int = 20
    after: Cursor | None = None
    filter: dict[str, dict[str, Any]] = field(default_factory=dict)
    order: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ArgSite:
    """A field with arguments that the compiled SQL reads: a single lookup or a list."""

    node: FieldNode
    field_def: GraphQLField
    kind: str  # "single" | "list"
    dataset: str
    key_field: str
    filter_names: tuple[tuple[str, str], ...] = ()  # (GraphQL name, catalogue name)


@dataclass(slots=True)
class Bound:
    args: list[SiteArgs]
    principal: Principal
    purpose: str | None
    request_id: str
    policy_version: int


def bind_site(site: ArgSite, variables: Any, max_page: int) -> tuple[SiteArgs, tuple[Any, ...]]:
    """Argument values of one site and its shape; raises InvalidInput / QueryTooComplex."""
    raw = get_argument_values(site.field_def, site.node, variables)
    where = site.node.name.value
    if site.kind == "single":
        as_of = raw.get("asOf")
        args = SiteArgs(key=str(raw["key"]), as_of=as_of)
        return args, ("single", as_of is not None)
    first = page_size(raw.get("first"), max_page, argument=f"{where}.first")
    order = raw.get("order_by", raw.get("orderBy"))
    names = dict(site.filter_names)
    conditions: dict[str, dict[str, Any]] = {}
    for gql_name, ops in (raw.get("filter") or {}).items():
        name = names[gql_name]
        kept = {op: v for op, v in (ops or {}).items() if v is not None}
        for op, value in kept.items():
            if op == "in" and (not value or len(value) > 1000):
                raise InvalidInput(f"{where}.filter.{gql_name}.in: give 1 to 1000 values")
        if kept:
            conditions[name] = kept
    tag = f"{order[0]}:{order[1]}" if order else f"{site.key_field}:ASC"
    after = _decode_cursor(raw.get("after"), tag, f"{where}.after")
    args = SiteArgs(first=first, after=after, filter=conditions, order=order)
    filter_shape = tuple(sorted((n, op) for n, ops in conditions.items() for op in ops))
    return args, ("list", after is not None, filter_shape, order, first)


def shape_dict(shape: tuple[Any, ...]) -> dict[str, Any]:
    if shape[0] == "single":
        return {"as_of": shape[1]}
    return {"after": shape[1], "filter": shape[2], "order": shape[3], "first": shape[4]}


def _decode_cursor(cursor: str | None, tag: str, where: str) -> Cursor | None:
    if cursor is None:
        return None
    try:
        decoded = orjson.loads(base64.b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidInput(f"{where}: not a cursor this hub issued") from None
    if not isinstance(decoded, list) or len(decoded) != 3 or not isinstance(decoded[2], str):
        raise InvalidInput(f"{where}: not a cursor this hub issued")
    if decoded[0] != tag:
        raise InvalidInput(
            f"{where}: the cursor belongs to ordering {decoded[0]}, not {tag}; "
            "keep orderBy the same while paging"
        )
    return Cursor(tag=tag, value=decoded[1], key=decoded[2])


__all__ = ["ArgSite", "Bound", "Cursor", "SiteArgs", "bind_site", "shape_dict"]
