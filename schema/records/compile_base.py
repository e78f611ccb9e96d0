"""Shared state of the typed-query compiler (see ``schema.records.compiler``): the context it
compiles for, bind parameters, aliases, and the caller's view of each field.

The invariant kept here (DESIGN.md §5, "the caller's view"): a field is used in a value, a
filter or an ordering only on the rows where the caller may read it; elsewhere it is absent
(SQL NULL), and a field readable on no row may not be filtered or ordered on at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    SelectionSetNode,
)

from catalog.access import Access
from catalog.collation import SORT_KEY
from catalog.crypto import FieldKeys
from catalog.errors import Forbidden, InvalidInput
from catalog.models import Dataset, DatasetField
from catalog.record_sql import (
    Params,
    any_filter_sql,
    sql_param_value,
    typed_value,
    visibility_sql,
)
from catalog.values import normalise_value
from schema.records.jsonsql import concat_reads, lit
from schema.records.selection import NotCompilable, Selected, collect


@dataclass
class CompiledQuery:
    sql: str
    params: Params
    needs_post: bool
    datasets: dict[str, dict[str, list[str]]]  # code → {"fields": served, "refused": cut}


@dataclass
class ObjectSQL:
    """One JSON object under construction: its pairs, reads, joins and denial markers."""

    pairs: list[tuple[str, str]] = field(default_factory=list)  # (response key, SQL json expr)
    reads: list[str] = field(default_factory=list)
    joins: list[str] = field(default_factory=list)
    deny: list[str] = field(default_factory=list)  # SQL text expressions, NULL when allowed


@dataclass
class CompileContext:
    schema: GraphQLSchema
    datasets: Mapping[str, Dataset]
    access: Mapping[str, Access]
    fragments: Mapping[str, FragmentDefinitionNode]
    keys: FieldKeys
    has_purpose: bool  # the request's X-Purpose header
    arg_index: Mapping[int, int]  # id(FieldNode) → position in Bound.args
    shapes: Sequence[Mapping[str, Any]]  # per argument site: what the SQL depends on
    with_refs: bool = False  # normal execution: objects carry "__ref" for Python resolvers
    skipped: frozenset[int] = frozenset()  # selection nodes @skip/@include leave out
    text_order: str = SORT_KEY  # how text orders (catalog.collation.TEXT_ORDERS)


class CompilerBase:
    """Parameters, aliases, usage and the caller's view of fields, for one statement."""

    def __init__(self, cc: CompileContext) -> None:
        self.cc = cc
        self.params = Params()
        self._aliases = 0
        self.needs_post = False
        self.usage: dict[str, dict[str, set[str]]] = {}
        self._root_purpose = False  # the root field being compiled has a purpose argument

    def _collect(
        self, selection_sets: Sequence[SelectionSetNode], type_name: str
    ) -> list[Selected]:
        return collect(selection_sets, self.cc.fragments, type_name, self.cc.skipped)

    @property
    def _has_purpose(self) -> bool:
        return self.cc.has_purpose or self._root_purpose

    def _as_of_param(self, arg_pos: int) -> str | None:
        shape = self._shape_of(arg_pos)
        if not shape.get("as_of"):
            return None
        return self.params.dynamic(lambda b: b.args[arg_pos].as_of)

    def _shape_of(self, arg_pos: int) -> Mapping[str, Any]:
        return self.cc.shapes[arg_pos]

    def _view_condition(
        self,
        dataset: Dataset,
        access: Access,
        alias: str,
        f: DatasetField,
        place: str,
        what: str,
    ) -> str | None:
        """Rows on which the caller may use ``f`` in a filter or ordering: None for every row it
        sees. Raises Forbidden when it may read ``f`` on no row, InvalidInput when only a
        purpose is missing (DESIGN §5: never computed on values the caller cannot read)."""
        if not access.allowed:
            return None  # the list is empty for this caller whatever it asks
        filters = access.filters_within_view(f.name)
        if filters == ():
            raise Forbidden(
                f"{place}: field '{f.name}' of dataset '{dataset.code}' is not readable by the "
                "caller"
            )
        if f.name in access.restricted and access.purpose_required and not self._has_purpose:
            raise InvalidInput(
                f"{place}: {what} on RESTRICTED field '{f.name}' of dataset '{dataset.code}' "
                "needs a purpose: send the X-Purpose header or give the root field a purpose "
                "argument"
            )
        if filters is None:
            return None
        fields = {x.name: x for x in dataset.fields}
        return any_filter_sql(alias, filters, fields, self.params, self.cc.keys.blind)

    def _readable(
        self,
        obj: ObjectSQL,
        dataset: Dataset,
        access: Access,
        alias: str,
        key: str,
        f: DatasetField,
    ) -> str | bool:
        """True, False, or an SQL condition on the row; records denial markers."""
        usage = self.usage.setdefault(dataset.code, {"fields": set(), "refused": set()})
        place = f"{dataset.code}.{f.name}"
        filters = access.filters_within_view(f.name)
        if filters is not None and not filters:
            obj.deny.append(lit(f"F|{key}|{place}"))
            usage["refused"].add(f.name)
            self.needs_post = True
            return False
        if f.name in access.restricted and access.purpose_required and not self._has_purpose:
            obj.deny.append(lit(f"P|{key}|{place}"))
            usage["refused"].add(f.name)
            self.needs_post = True
            return False
        if filters is None:
            usage["fields"].add(f.name)
            return True
        fields = {x.name: x for x in dataset.fields}
        condition = any_filter_sql(alias, filters, fields, self.params, self.cc.keys.blind)
        obj.deny.append(f"CASE WHEN NOT {condition} THEN {lit(f'F|{key}|{place}')} END")
        usage["fields"].add(f.name)
        self.needs_post = True
        return condition

    def _visibility(self, dataset: Dataset, access: Access, alias: str) -> list[str]:
        fields = {f.name: f for f in dataset.fields}
        return visibility_sql(alias, access, fields, self.params, self.cc.keys.blind)

    def _use(self, code: str) -> None:
        self.usage.setdefault(code, {"fields": set(), "refused": set()})

    def _alias(self, prefix: str) -> str:
        self._aliases += 1
        return f"{prefix}{self._aliases}"


def filter_value(dataset: Dataset, f: DatasetField, raw: Any, keys: FieldKeys) -> Any:
    stored = raw if f.encrypted else normalise_value(f, raw, dataset.code)
    return sql_param_value(f, stored, keys.blind)


def reference_expr(alias: str, f: DatasetField) -> str:
    """The referenced key as indexed (blind index when encrypted), comparable with ``key``."""
    return typed_value(alias, f)


def field_of(dataset: Dataset, name: str) -> DatasetField:
    for f in dataset.fields:
        if f.name == name:
            return f
    raise NotCompilable(f"{dataset.code}.{name}")


def named_type(gtype: Any) -> GraphQLObjectType:
    while isinstance(gtype, GraphQLNonNull) or hasattr(gtype, "of_type"):
        gtype = gtype.of_type
    assert isinstance(gtype, GraphQLObjectType)
    return gtype


def reads_of(obj: ObjectSQL) -> str:
    return concat_reads(obj.reads)


__all__ = [
    "CompileContext",
    "CompiledQuery",
    "CompilerBase",
    "ObjectSQL",
    "field_of",
    "filter_value",
    "named_type",
    "reads_of",
    "reference_expr",
]
