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
from collections.abc import Sequence

from graphql import GraphQLField, GraphQLObjectType, SelectionSetNode

from catalog.access import Access
from catalog.models import Dataset, DatasetField
from catalog.record_sql import Params, json_value, text_value
from catalog.records import stored_key
from schema.records.compile_base import (
    CompileContext,
    CompiledQuery,
    ObjectSQL,
    field_of,
    named_type,
    reads_of,
    reference_expr,
)
from schema.records.connection import ConnectionCompiler
from schema.records.jsonsql import build_object, concat_reads, lit, text_lit
from schema.records.selection import NotCompilable, Selected
from schema.records.types import FieldRole, RootRole

# Reads come back as text: records separated by READ_SEPARATOR, each "dataset US key US
# version". The SQL spells the same characters as chr() calls (jsonsql.RS, US).
READ_SEPARATOR = "\x1e"
PART_SEPARATOR = "\x1f"
US = "chr(31)"


class Compiler(ConnectionCompiler):
    """Root fields, objects, values, references and reverse lists (lists: ConnectionCompiler;
    the caller's view of fields: CompilerBase)."""

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

    # -- root fields --------------------------------------------------------------------------

    def _single(self, code: str, sel: Selected, gfield: GraphQLField) -> str:
        dataset = self.cc.datasets[code]
        access = self.cc.access[code]
        object_type = named_type(gfield.type)
        self._use(code)
        arg_pos = self.cc.arg_index[id(sel.node)]
        keys = self.cc.keys
        key_param = self.params.dynamic(lambda b: stored_key(dataset, b.args[arg_pos].key, keys))
        ds = lit(code)
        alias = self._alias("r")
        if not access.allowed:
            return "SELECT NULL::json AS obj, NULL::text AS reads WHERE false"
        # A lookup by key is a filter on the key field: "does this identifier exist?" is a read
        # of its value, refused without a purpose where the key is RESTRICTED (as the generic
        # record path finds nothing by value there).
        key_readable = self._view_condition(
            dataset,
            access,
            alias,
            field_of(dataset, dataset.key_field),
            f"{sel.name}.key",
            "a lookup",
        )
        obj = self._object(dataset, access, alias, sel.sub_selections(), object_type)
        as_of = self._as_of_param(arg_pos)
        where = [
            f"{alias}.dataset_code = {ds}",
            f"{alias}.key = {key_param}",
            f"NOT {alias}.deleted",
            # For asOf: the version as the caller would see it passes its row filters (field
            # conditions in ``obj`` read the same alias, so the version's own data).
            *self._visibility(dataset, access, alias),
            *([key_readable] if key_readable else []),
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
            f"SELECT {build_object(obj.pairs, obj.deny)} AS obj, {reads_of(obj)} AS reads "
            f"FROM {source} {' '.join(obj.joins)} WHERE {' AND '.join(where)} LIMIT 1"
        )

    def _as_of_param(self, arg_pos: int) -> str | None:
        shape = self._shape_of(arg_pos)
        if not shape.get("as_of"):
            return None
        return self.params.dynamic(lambda b: b.args[arg_pos].as_of)

    # -- objects --------------------------------------------------------------------------------

    def _object(
        self,
        dataset: Dataset,
        access: Access,
        alias: str,
        selection_sets: list[SelectionSetNode],
        object_type: GraphQLObjectType,
    ) -> ObjectSQL:
        obj = ObjectSQL(
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
                self._value(obj, dataset, access, alias, sel.key, field_of(dataset, role.field))
            elif role.kind == "reference":
                self._reference(obj, dataset, access, alias, sel, gfield, role)
            elif role.kind == "reverse":
                self._reverse(obj, dataset, alias, sel, gfield, role)
        return obj

    def _value(
        self,
        obj: ObjectSQL,
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

    def _reference(
        self,
        obj: ObjectSQL,
        dataset: Dataset,
        access: Access,
        alias: str,
        sel: Selected,
        gfield: GraphQLField,
        role: FieldRole,
    ) -> None:
        assert role.field is not None and role.target is not None
        source = field_of(dataset, role.field)
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
            target, target_access, t_alias, sel.sub_selections(), named_type(gfield.type)
        )
        reference = reference_expr(alias, source)
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
            f"{reads_of(inner)} AS reads FROM records {t_alias} {' '.join(inner.joins)} "
            f"WHERE {' AND '.join(where)} LIMIT 1) {j_alias} ON {on}"
        )
        obj.pairs.append((sel.key, f"{j_alias}.obj"))
        obj.reads.append(f"{j_alias}.reads")

    def _reverse(
        self,
        obj: ObjectSQL,
        dataset: Dataset,
        alias: str,
        sel: Selected,
        gfield: GraphQLField,
        role: FieldRole,
    ) -> None:
        assert role.field is not None and role.target is not None
        child = self.cc.datasets[role.target]
        child_access = self.cc.access[role.target]
        child_field = field_of(child, role.field)

        # The child's reference field must be readable on the rows listed, or the list would
        # reveal what a direct query hides.
        def link(c_alias: str) -> list[str]:
            probe = ObjectSQL()
            condition = self._readable(probe, child, child_access, c_alias, sel.key, child_field)
            extra = [f"{reference_expr(c_alias, child_field)} = {alias}.key"]
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


_PLACEHOLDER = re.compile(r"\$(\d+)\b")


def _compact(sql: str, params: Params) -> tuple[str, Params]:
    """Renumber placeholders to those the statement uses: branches that compile to nothing
    (a dataset the caller cannot read) may have reserved parameters, and PostgreSQL refuses a
    statement with a parameter it cannot type."""
    used = sorted({int(m) for m in _PLACEHOLDER.findall(sql)})
    number = {old: new for new, old in enumerate(used, start=1)}
    compacted = _PLACEHOLDER.sub(lambda m: f"${number[int(m.group(1))]}", sql)
    return compacted, Params([params.slots[i - 1] for i in used])


__all__ = [
    "PART_SEPARATOR",
    "READ_SEPARATOR",
    "CompileContext",
    "CompiledQuery",
    "Compiler",
    "NotCompilable",
]
