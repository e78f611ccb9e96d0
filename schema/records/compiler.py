"""Compiles a typed record query, with the caller's access rules, into one SQL statement that
builds the response JSON inside PostgreSQL (as Hasura and PostGraphile do).

Shape of the statement::

    SELECT <policy counter> = $n AS fresh, json_build_object(...)::text AS data, <reads>
    FROM (SELECT 1) one LEFT JOIN LATERAL (<root field>) q0 ON true ...

Every object also yields its *reads* (dataset, stored key, version of every record served),
which the runner hands to the group-commit audit writer before the response leaves. Allowed
fields and row filters are inside the SQL: a field the caller may not read is never selected;
a record outside its row filters is never produced. Fields cut by policy leave a ``__deny``
marker that the post-processing step turns into GraphQL errors; encrypted values come out
wrapped for decryption in Python.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FragmentDefinitionNode,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    SelectionSetNode,
)

from catalog.access import Access
from catalog.crypto import FieldKeys
from catalog.errors import Forbidden, InvalidInput
from catalog.models import Dataset, DatasetField
from catalog.naming import camel
from catalog.records import stored_key
from catalog.rowfilter import escape_like
from catalog.values import normalise_value
from schema.records.bind import Bound
from schema.records.jsonsql import RS, build_object, concat_reads, lit, text_lit
from schema.records.keyset import Ordering, cursor_value_reader, sql_cast
from schema.records.selection import NotCompilable, Selected, collect
from schema.records.sqlgen import (
    NUMERIC_TYPES,
    Params,
    any_filter_sql,
    condition_sql,
    json_value,
    sql_param_value,
    text_value,
    typed_value,
    visibility_sql,
)
from schema.records.types import FieldRole, RootRole

# Reads come back as text: records separated by READ_SEPARATOR, each "dataset US key US
# version". The SQL spells the same characters as chr() calls (jsonsql.RS, US).
READ_SEPARATOR = "\x1e"
PART_SEPARATOR = "\x1f"
US = "chr(31)"


@dataclass
class CompiledQuery:
    sql: str
    params: Params
    needs_post: bool
    datasets: dict[str, dict[str, list[str]]]  # code → {"fields": served, "refused": cut}


@dataclass
class _Object:
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


class Compiler:
    def __init__(self, cc: CompileContext) -> None:
        self.cc = cc
        self.params = Params()
        self._aliases = 0
        self.needs_post = False
        self.usage: dict[str, dict[str, set[str]]] = {}
        self._root_purpose = False  # the root field being compiled has a purpose argument

    # -- entry ------------------------------------------------------------------------------

    def compile_root(
        self, roots: Sequence[Selected], query_type: GraphQLObjectType
    ) -> CompiledQuery:
        policy = self.params.dynamic(lambda b: b.policy_version)
        pairs: list[tuple[str, str]] = []
        joins: list[str] = []
        reads: list[str] = []
        for sel in roots:
            if sel.name == "__typename":
                pairs.append((sel.key, text_lit(query_type.name)))
                continue
            gfield = query_type.fields[sel.name]
            role = (gfield.extensions or {}).get("hub")
            if not isinstance(role, RootRole):
                raise NotCompilable(sel.name)
            alias = self._alias("q")
            # DESIGN §5: a purpose argument on the root field counts for its whole subtree.
            self._root_purpose = bool(
                self._shape_of(self.cc.arg_index[id(sel.node)]).get("purpose")
            )
            if role.kind == "single":
                body = self._single(role.dataset, sel, gfield)
            else:
                body = self._connection(role.dataset, sel, gfield, lambda _alias: [])
            self._root_purpose = False
            joins.append(f"LEFT JOIN LATERAL ({body}) {alias} ON true")
            pairs.append((sel.key, f"{alias}.obj"))
            reads.append(f"{alias}.reads")
        data = build_object(pairs)
        result = (
            f"SELECT (SELECT policy_version FROM hub_state WHERE id = 1) = {policy} AS fresh, "
            f"{data}::text AS data, {concat_reads(reads)} AS reads "
            f"FROM (SELECT 1) one {' '.join(joins)}"
        )
        usage = {
            code: {"fields": sorted(u["fields"]), "refused": sorted(u["refused"])}
            for code, u in self.usage.items()
        }
        sql, params = _compact(result, self.params)
        return CompiledQuery(sql, params, self.needs_post, usage)

    def _collect(
        self, selection_sets: Sequence[SelectionSetNode], type_name: str
    ) -> list[Selected]:
        return collect(selection_sets, self.cc.fragments, type_name, self.cc.skipped)

    @property
    def _has_purpose(self) -> bool:
        return self.cc.has_purpose or self._root_purpose

    # -- root fields --------------------------------------------------------------------------

    def _single(self, code: str, sel: Selected, gfield: GraphQLField) -> str:
        dataset = self.cc.datasets[code]
        access = self.cc.access[code]
        object_type = _named(gfield.type)
        self._use(code)
        arg_pos = self.cc.arg_index[id(sel.node)]
        keys = self.cc.keys
        key_param = self.params.dynamic(lambda b: stored_key(dataset, b.args[arg_pos].key, keys))
        ds = lit(code)
        alias = self._alias("r")
        if not access.allowed:
            return "SELECT NULL::json AS obj, NULL::text AS reads WHERE false"
        obj = self._object(dataset, access, alias, sel.sub_selections(), object_type)
        as_of = self._as_of_param(arg_pos)
        where = [
            f"{alias}.dataset_code = {ds}",
            f"{alias}.key = {key_param}",
            f"NOT {alias}.deleted",
            # For asOf: the version as the caller would see it passes its row filters (field
            # conditions in ``obj`` read the same alias, so the version's own data).
            *self._visibility(dataset, access, alias),
        ]
        if as_of:
            source = (
                f"(SELECT v.dataset_code, v.key, v.version, v.data, v.blind, v.deleted "
                f"FROM record_versions v WHERE v.dataset_code = {ds} AND v.key = {key_param} "
                f"AND v.changed_at <= {as_of} ORDER BY v.version DESC LIMIT 1) {alias}"
            )
            # DESIGN §5: an old version shows only while the record is visible now.
            now = self._alias("n")
            visible_now = [
                f"{now}.dataset_code = {ds}",
                f"{now}.key = {key_param}",
                f"NOT {now}.deleted",
                *self._visibility(dataset, access, now),
            ]
            where.append(f"EXISTS (SELECT 1 FROM records {now} WHERE {' AND '.join(visible_now)})")
        else:
            source = f"records {alias}"
        # LIMIT 1: see _reference (many aliased lookups are planned in linear time).
        return (
            f"SELECT {build_object(obj.pairs, obj.deny)} AS obj, {_reads(obj)} AS reads "
            f"FROM {source} {' '.join(obj.joins)} WHERE {' AND '.join(where)} LIMIT 1"
        )

    def _as_of_param(self, arg_pos: int) -> str | None:
        shape = self._shape_of(arg_pos)
        if not shape.get("as_of"):
            return None
        return self.params.dynamic(lambda b: b.args[arg_pos].as_of)

    def _shape_of(self, arg_pos: int) -> Mapping[str, Any]:
        return self.cc.shapes[arg_pos]

    # -- connections ----------------------------------------------------------------------------

    def _connection(
        self,
        code: str,
        sel: Selected,
        gfield: GraphQLField,
        extra_where: Callable[[str], list[str]],
    ) -> str:
        dataset = self.cc.datasets[code]
        access = self.cc.access[code]
        connection_type = _named(gfield.type)
        self._use(code)
        arg_pos = self.cc.arg_index[id(sel.node)]
        shape = self._shape_of(arg_pos)
        alias = self._alias("c")
        # Literal, not a parameter: the per-dataset partial indexes then apply to cached
        # generic plans (codes are catalogue-validated snake_case).
        ds = lit(code)
        # A literal, like the dataset code: page sizes are few and bounded, and a generic plan
        # that does not know its LIMIT is a poor plan.
        limit = str(int(shape["first"]))
        where = [f"{alias}.dataset_code = {ds}", f"NOT {alias}.deleted", *extra_where(alias)]
        if not access.allowed:
            where.append("false")
        else:
            where.extend(self._visibility(dataset, access, alias))
        where.extend(self._filters(dataset, access, alias, sel, arg_pos, shape))
        count_where = list(where)
        ordering, tag, sort_field = self._ordering(dataset, access, alias, sel, shape)
        order = ordering.order_by
        if shape.get("after"):
            place = f"{sel.name}.after"
            read_value = cursor_value_reader(sort_field, ordering.nullable, place)
            after_value = self.params.dynamic(lambda b: read_value(b.args[arg_pos].after.value))
            after_key = self.params.dynamic(lambda b: b.args[arg_pos].after.key)
            where.append(ordering.after(after_value, after_key, sql_cast(sort_field)))
        # The cursor carries the view value only; numbers as text, so no precision is lost.
        cursor_sort = (
            f"({ordering.sort})::text"
            if sort_field is not None and sort_field.type in NUMERIC_TYPES
            else ordering.sort
        )
        cursor = (
            "translate(encode(convert_to(json_build_array("
            f"{lit(tag)}::text, {cursor_sort}, {alias}.key)::text, 'UTF8'), 'base64'), "
            "E'\\n', '')"
        )
        where_sql = " AND ".join(where)
        columns: list[str] = []
        inner_joins: list[str] = []
        reads_parts: list[str] = []
        outer_pairs: list[tuple[str, str]] = []
        wants_cursor = False
        node_count = 0
        for part in self._collect(sel.sub_selections(), connection_type.name):
            if part.name == "__typename":
                outer_pairs.append((part.key, text_lit(connection_type.name)))
            elif part.name == "totalCount":
                outer_pairs.append(
                    (
                        part.key,
                        f"(SELECT count(*) FROM records {alias} WHERE {' AND '.join(count_where)})",
                    )
                )
            elif part.name == "pageInfo":
                page_type = _named(connection_type.fields["pageInfo"].type)
                info_pairs = []
                for item in self._collect(part.sub_selections(), page_type.name):
                    if item.name == "hasNextPage":
                        # A probe past the page, so the page itself never builds an extra row.
                        info_pairs.append(
                            (
                                item.key,
                                f"EXISTS (SELECT 1 FROM records {alias} WHERE {where_sql} "
                                f"ORDER BY {order} OFFSET {limit})",
                            )
                        )
                    elif item.name == "endCursor":
                        wants_cursor = True
                        info_pairs.append((item.key, "(array_agg(p.cur ORDER BY p.n DESC))[1]"))
                    elif item.name == "__typename":
                        info_pairs.append((item.key, text_lit(page_type.name)))
                outer_pairs.append((part.key, build_object(info_pairs)))
            elif part.name == "edges":
                edge_type = _named(connection_type.fields["edges"].type)
                edge_pairs = []
                for item in self._collect(part.sub_selections(), edge_type.name):
                    if item.name == "cursor":
                        wants_cursor = True
                        edge_pairs.append((item.key, "p.cur"))
                    elif item.name == "__typename":
                        edge_pairs.append((item.key, text_lit(edge_type.name)))
                    elif item.name == "node":
                        node_type = _named(edge_type.fields["node"].type)
                        obj = self._object(dataset, access, alias, item.sub_selections(), node_type)
                        column = f"o{node_count}"
                        node_count += 1
                        columns.append(f"{build_object(obj.pairs, obj.deny)} AS {column}")
                        inner_joins.extend(obj.joins)
                        reads_parts.append(_reads(obj))
                        edge_pairs.append((item.key, f"p.{column}"))
                outer_pairs.append(
                    (
                        part.key,
                        f"COALESCE(json_agg({build_object(edge_pairs)} ORDER BY p.n), '[]'::json)",
                    )
                )
        if wants_cursor:
            columns.append(f"{cursor} AS cur")
        columns.append(f"{concat_reads(reads_parts)} AS reads")
        columns.append(f"row_number() OVER (ORDER BY {order}) AS n")
        # The page's rows are chosen first; references and nested lists join to those only.
        page = (
            f"(SELECT {alias}.* FROM records {alias} WHERE {where_sql} "
            f"ORDER BY {order} LIMIT {limit}) {alias}"
        )
        inner = f"SELECT {', '.join(columns)} FROM {page} {' '.join(inner_joins)}"
        return (
            f"SELECT {build_object(outer_pairs)} AS obj, string_agg(p.reads, {RS}) AS reads "
            f"FROM ({inner}) p"
        )

    def _ordering(
        self,
        dataset: Dataset,
        access: Access,
        alias: str,
        sel: Selected,
        shape: Mapping[str, Any],
    ) -> tuple[Ordering, str, DatasetField | None]:
        """The list's ordering on the caller's view, its cursor tag and the sort field (None
        for the key)."""
        sort_name, direction = shape.get("order") or (dataset.key_field, "ASC")
        tag = f"{sort_name}:{direction}"
        key = f"{alias}.key"
        if sort_name == dataset.key_field:
            return Ordering(key, key, direction, nullable=False, by_key=True), tag, None
        f = _field(dataset, sort_name)
        value = typed_value(alias, f)
        condition = self._view_condition(
            dataset, access, alias, f, f"{sel.name}.orderBy", "ordering"
        )
        if condition is None:
            return Ordering(value, key, direction, nullable=False, by_key=False), tag, f
        # Hidden on some rows: the view value, NULL there.
        view_value = f"(CASE WHEN {condition} THEN {value} END)"
        if f.type not in NUMERIC_TYPES and f.type != "bool":
            view_value += ' COLLATE "C"'
        return Ordering(view_value, key, direction, nullable=True, by_key=False), tag, f

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
        filters = access.filters_for_field(f.name)
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

    def _filters(
        self,
        dataset: Dataset,
        access: Access,
        alias: str,
        sel: Selected,
        arg_pos: int,
        shape: Mapping[str, Any],
    ) -> list[str]:
        out = []
        keys = self.cc.keys
        for name, op in shape.get("filter", ()):
            f = _field(dataset, name)
            place = f"{sel.name}.filter.{camel(name)}"
            condition = self._view_condition(dataset, access, alias, f, place, "filtering")
            if condition is not None:
                out.append(condition)  # rows where the field is hidden never match

            def resolve(
                b: Bound, f: DatasetField = f, name: str = name, op: str = op, at: str = place
            ) -> Any:
                raw = b.args[arg_pos].filter[name][op]
                try:
                    if op == "in":
                        return [_filter_value(dataset, f, v, keys) for v in raw]
                    if op == "contains":
                        return escape_like(str(raw))
                    return _filter_value(dataset, f, raw, keys)
                except InvalidInput as exc:
                    raise InvalidInput(f"{at}.{op}: {exc.message}") from None

            out.append(condition_sql(alias, f, op, self.params.dynamic(resolve)))
        return out

    # -- objects --------------------------------------------------------------------------------

    def _object(
        self,
        dataset: Dataset,
        access: Access,
        alias: str,
        selection_sets: list[SelectionSetNode],
        object_type: GraphQLObjectType,
    ) -> _Object:
        obj = _Object(
            reads=[f"{alias}.dataset_code || {US} || {alias}.key || {US} || {alias}.version"]
        )
        if self.cc.with_refs:
            obj.pairs.append(("__ref", f"{alias}.dataset_code || {US} || {alias}.key"))
        for sel in self._collect(selection_sets, object_type.name):
            if sel.name == "__typename":
                obj.pairs.append((sel.key, text_lit(object_type.name)))
                continue
            gfield = object_type.fields[sel.name]
            role = (gfield.extensions or {}).get("hub")
            if not isinstance(role, FieldRole):
                raise NotCompilable(sel.name)
            if role.kind == "history":
                if not self.cc.with_refs:
                    raise NotCompilable(sel.name)
                continue
            if role.kind == "value":
                assert role.field is not None
                self._value(obj, dataset, access, alias, sel.key, _field(dataset, role.field))
            elif role.kind == "reference":
                self._reference(obj, dataset, access, alias, sel, gfield, role)
            elif role.kind == "reverse":
                self._reverse(obj, dataset, alias, sel, gfield, role)
        return obj

    def _value(
        self,
        obj: _Object,
        dataset: Dataset,
        access: Access,
        alias: str,
        key: str,
        f: DatasetField,
    ) -> None:
        condition = self._readable(obj, dataset, access, alias, key, f)
        if condition is False:
            obj.pairs.append((key, "NULL::json"))
            return
        # Text-stored values (strings, enums, references, dates, decimals) go in as text:
        # json_build_object then escapes them directly instead of re-printing jsonb.
        value = (
            json_value(alias, f.name)
            if f.encrypted or f.type in ("int", "bool", "json")
            else text_value(alias, f.name)
        )
        if f.encrypted:
            self.needs_post = True
            value = f"json_build_object('$dec', {lit(dataset.code + '.' + f.name)}, 'v', {value})"
        if condition is not True:
            value = f"CASE WHEN {condition} THEN {value} END"
        obj.pairs.append((key, value))

    def _readable(
        self,
        obj: _Object,
        dataset: Dataset,
        access: Access,
        alias: str,
        key: str,
        f: DatasetField,
    ) -> str | bool:
        """True, False, or an SQL condition on the row; records denial markers."""
        usage = self.usage.setdefault(dataset.code, {"fields": set(), "refused": set()})
        place = f"{dataset.code}.{f.name}"
        filters = access.filters_for_field(f.name)
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

    def _reference(
        self,
        obj: _Object,
        dataset: Dataset,
        access: Access,
        alias: str,
        sel: Selected,
        gfield: GraphQLField,
        role: FieldRole,
    ) -> None:
        assert role.field is not None and role.target is not None
        source = _field(dataset, role.field)
        condition = self._readable(obj, dataset, access, alias, sel.key, source)
        target = self.cc.datasets[role.target]
        target_access = self.cc.access[role.target]
        self._use(target.code)
        if condition is False or not target_access.allowed:
            if condition is not False:
                obj.deny.append(lit(f"F|{sel.key}|{target.code}"))
                self.needs_post = True
            obj.pairs.append((sel.key, "NULL::json"))
            return
        t_alias = self._alias("t")
        inner = self._object(
            target, target_access, t_alias, sel.sub_selections(), _named(gfield.type)
        )
        reference = _reference_expr(alias, source)
        where = [
            f"{t_alias}.dataset_code = {lit(target.code)}",
            f"{t_alias}.key = {reference}",
            f"NOT {t_alias}.deleted",
            *self._visibility(target, target_access, t_alias),
        ]
        j_alias = self._alias("j")
        on = "true" if condition is True else condition
        # LIMIT 1 (a key names one record) keeps the subquery from being pulled up into the
        # parent's join list: planning many aliased references there is quadratic (90 took
        # 3.7 s of planning, without the LIMIT).
        obj.joins.append(
            f"LEFT JOIN LATERAL (SELECT {build_object(inner.pairs, inner.deny)} AS obj, "
            f"{_reads(inner)} AS reads FROM records {t_alias} {' '.join(inner.joins)} "
            f"WHERE {' AND '.join(where)} LIMIT 1) {j_alias} ON {on}"
        )
        obj.pairs.append((sel.key, f"{j_alias}.obj"))
        obj.reads.append(f"{j_alias}.reads")

    def _reverse(
        self,
        obj: _Object,
        dataset: Dataset,
        alias: str,
        sel: Selected,
        gfield: GraphQLField,
        role: FieldRole,
    ) -> None:
        assert role.field is not None and role.target is not None
        child = self.cc.datasets[role.target]
        child_access = self.cc.access[role.target]
        child_field = _field(child, role.field)

        # The child's reference field must be readable on the rows listed, or the list would
        # reveal what a direct query hides.
        def link(c_alias: str) -> list[str]:
            probe = _Object()
            condition = self._readable(probe, child, child_access, c_alias, sel.key, child_field)
            extra = [f"{_reference_expr(c_alias, child_field)} = {alias}.key"]
            if condition is False:
                extra.append("false")
                obj.deny.extend(probe.deny)
            elif condition is not True:
                extra.append(condition)
            return extra

        body = self._connection(child.code, sel, gfield, link)
        j_alias = self._alias("l")
        obj.joins.append(f"LEFT JOIN LATERAL ({body}) {j_alias} ON true")
        obj.pairs.append((sel.key, f"{j_alias}.obj"))
        obj.reads.append(f"{j_alias}.reads")

    def _visibility(self, dataset: Dataset, access: Access, alias: str) -> list[str]:
        fields = {f.name: f for f in dataset.fields}
        return visibility_sql(alias, access, fields, self.params, self.cc.keys.blind)

    def _use(self, code: str) -> None:
        self.usage.setdefault(code, {"fields": set(), "refused": set()})

    def _alias(self, prefix: str) -> str:
        self._aliases += 1
        return f"{prefix}{self._aliases}"


_PLACEHOLDER = re.compile(r"\$(\d+)\b")


def _compact(sql: str, params: Params) -> tuple[str, Params]:
    """Renumber placeholders to those the statement uses: branches that compile to nothing
    (a dataset the caller cannot read) may have reserved parameters, and PostgreSQL refuses a
    statement with a parameter it cannot type."""
    used = sorted({int(m) for m in _PLACEHOLDER.findall(sql)})
    number = {old: new for new, old in enumerate(used, start=1)}
    compacted = _PLACEHOLDER.sub(lambda m: f"${number[int(m.group(1))]}", sql)
    return compacted, Params([params.slots[i - 1] for i in used])


def _filter_value(dataset: Dataset, f: DatasetField, raw: Any, keys: FieldKeys) -> Any:
    stored = raw if f.encrypted else normalise_value(f, raw, dataset.code)
    return sql_param_value(f, stored, keys.blind)


def _reference_expr(alias: str, f: DatasetField) -> str:
    """The referenced key as indexed (blind index when encrypted), comparable with ``key``."""
    return typed_value(alias, f)


def _field(dataset: Dataset, name: str) -> DatasetField:
    for f in dataset.fields:
        if f.name == name:
            return f
    raise NotCompilable(f"{dataset.code}.{name}")


def _named(gtype: Any) -> GraphQLObjectType:
    while isinstance(gtype, GraphQLNonNull) or hasattr(gtype, "of_type"):
        gtype = gtype.of_type
    assert isinstance(gtype, GraphQLObjectType)
    return gtype


def _reads(obj: _Object) -> str:
    return concat_reads(obj.reads)


__all__ = [
    "PART_SEPARATOR",
    "READ_SEPARATOR",
    "CompileContext",
    "CompiledQuery",
    "Compiler",
    "NotCompilable",
]
