"""Per-request binding of a compiled plan: argument values read from the document and the
variables, checked (page bounds, cursors, text), and the *shape* of those arguments, which
together with the caller's access fingerprint selects the cached SQL.

Every text argument is checked and normalised here, once, at the edge: a control character
(such as NUL, which PostgreSQL text cannot hold) is BAD_USER_INPUT naming the argument, and
text is NFC, as stored (so ``contains`` and ``eq`` agree on Vietnamese input)."""

from __future__ import annotations

import base64
import binascii
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from graphql import FieldNode, GraphQLField
from graphql.execution.values import get_argument_values

from catalog.errors import InvalidInput
from catalog.principal import Principal
from catalog.values import check_text, has_control
from schema.pagination import page_size

MAX_PURPOSE = 500  # characters of a purpose argument (logged with every read)


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
    purpose: str | None = None  # the root field's purpose argument


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
    purpose = _purpose(raw.get("purpose"), f"{where}.purpose") if "purpose" in raw else None
    if site.kind == "single":
        as_of = raw.get("asOf")
        key = _text(str(raw["key"]), f"{where}.key")
        args = SiteArgs(key=key, as_of=as_of, purpose=purpose)
        return args, ("single", as_of is not None, purpose is not None)
    first = page_size(raw.get("first"), max_page, argument=f"{where}.first")
    order = raw.get("order_by", raw.get("orderBy"))
    names = dict(site.filter_names)
    conditions: dict[str, dict[str, Any]] = {}
    for gql_name, ops in (raw.get("filter") or {}).items():
        name = names[gql_name]
        kept: dict[str, Any] = {}
        for op, value in (ops or {}).items():
            if value is None:
                continue
            place = f"{where}.filter.{gql_name}.{op}"
            if op == "in":
                if not value or len(value) > 1000:
                    raise InvalidInput(f"{place}: give 1 to 1000 values")
                kept[op] = [_text(v, place) if isinstance(v, str) else v for v in value]
            else:
                kept[op] = _text(value, place) if isinstance(value, str) else value
        if kept:
            conditions[name] = kept
    tag = f"{order[0]}:{order[1]}" if order else f"{site.key_field}:ASC"
    after = _decode_cursor(raw.get("after"), tag, f"{where}.after")
    args = SiteArgs(first=first, after=after, filter=conditions, order=order, purpose=purpose)
    filter_shape = tuple(sorted((n, op) for n, ops in conditions.items() for op in ops))
    return args, ("list", after is not None, filter_shape, order, first, purpose is not None)


def shape_dict(shape: tuple[Any, ...]) -> dict[str, Any]:
    if shape[0] == "single":
        return {"as_of": shape[1], "purpose": shape[2]}
    return {
        "after": shape[1],
        "filter": shape[2],
        "order": shape[3],
        "first": shape[4],
        "purpose": shape[5],
    }


def _text(value: str, place: str) -> str:
    """A text argument as stored text compares: NFC, without control characters."""
    check_text(value, place)
    return unicodedata.normalize("NFC", value)


def _purpose(value: Any, place: str) -> str | None:
    """The purpose argument: when given, non-empty text that the audit can store."""
    if value is None:
        return None
    text = _text(str(value), place).strip()
    if not text:
        raise InvalidInput(f"{place}: state the purpose, or leave the argument out")
    if len(text) > MAX_PURPOSE:
        raise InvalidInput(f"{place}: at most {MAX_PURPOSE} characters, got {len(text)}")
    return text


def _decode_cursor(cursor: str | None, tag: str, where: str) -> Cursor | None:
    if cursor is None:
        return None
    try:
        decoded = orjson.loads(base64.b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidInput(f"{where}: not a cursor this hub issued") from None
    if (
        not isinstance(decoded, list)
        or len(decoded) != 3
        or not isinstance(decoded[0], str)
        or not isinstance(decoded[2], str)
        or not isinstance(decoded[1], str | int | float | bool | None)
        or any(isinstance(part, str) and has_control(part) for part in decoded)
    ):
        raise InvalidInput(f"{where}: not a cursor this hub issued")
    if decoded[0] != tag:
        raise InvalidInput(
            f"{where}: the cursor belongs to ordering {decoded[0]}, not {tag}; "
            "keep orderBy the same while paging"
        )
    return Cursor(tag=tag, value=decoded[1], key=decoded[2])


__all__ = ["ArgSite", "Bound", "Cursor", "SiteArgs", "bind_site", "shape_dict"]
