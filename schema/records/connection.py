"""Typed lists (root lists and reverse lists) compiled to one SQL subquery each: the page,
``totalCount``, ``hasNextPage`` and cursors, all on the caller's view (DESIGN.md §5): filters
and orderings use a field only where the caller may read it (``CompilerBase._view_condition``),
and cursors carry only view values (``schema.records.keyset``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from graphql import GraphQLField, GraphQLObjectType, SelectionSetNode

from catalog.access import Access
from catalog.collation import orders_vietnamese
from catalog.errors import Forbidden, InvalidInput
from catalog.models import Dataset, DatasetField
from catalog.naming import camel
from catalog.record_sql import NUMERIC_TYPES, condition_sql, typed_value
from catalog.rowfilter import escape_like
from schema.records.bind import Bound
from schema.records.compile_base import (
    CompilerBase,
    ObjectSQL,
    field_of,
    filter_value,
    named_type,
    reads_of,
)
from schema.records.jsonsql import RS, build_object, concat_reads, lit, text_lit
from schema.records.keyset import Ordering, cursor_value_reader, sql_cast
from schema.records.selection import Selected


class ConnectionCompiler(CompilerBase):
    """Adds lists to the base; objects (``_object``) come from the subclass."""

    def _object(
        self,
        dataset: Dataset,
        access: Access,
        alias: str,
        selection_sets: list[SelectionSetNode],
        object_type: GraphQLObjectType,
    ) -> ObjectSQL:
        raise NotImplementedError

    def _connection(
        self,
        code: str,
        sel: Selected,
        gfield: GraphQLField,
        extra_where: Callable[[str], list[str]],
    ) -> str:
        dataset = self.cc.datasets[code]
        access = self.cc.access[code]
        connection_type = named_type(gfield.type)
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
                page_type = named_type(connection_type.fields["pageInfo"].type)
                info_pairs = []
                for item in self._collect(part.sub_selections(), page_type.name):
                    if item.name == "hasNextPage":
                        # A probe past the page, so the page itself never builds an extra row.
                        # Whether more than `limit` rows match does not depend on their order:
                        # on a first page the probe leaves the ORDER BY out, which on a text
                        # ordering spared computing limit+1 sort keys (2.8 → 0.1 ms for 100
                        # businesses by name). After a cursor it keeps it: the keyset condition
                        # is then an index range, where unordered the planner may filter the
                        # whole dataset through the sort key.
                        ordered = f"ORDER BY {order} " if shape.get("after") else ""
                        info_pairs.append(
                            (
                                item.key,
                                f"EXISTS (SELECT 1 FROM records {alias} WHERE {where_sql} "
                                f"{ordered}OFFSET {limit})",
                            )
                        )
                    elif item.name == "endCursor":
                        wants_cursor = True
                        info_pairs.append((item.key, "(array_agg(p.cur ORDER BY p.n DESC))[1]"))
                    elif item.name == "__typename":
                        info_pairs.append((item.key, text_lit(page_type.name)))
                outer_pairs.append((part.key, build_object(info_pairs)))
            elif part.name == "edges":
                edge_type = named_type(connection_type.fields["edges"].type)
                edge_pairs = []
                for item in self._collect(part.sub_selections(), edge_type.name):
                    if item.name == "cursor":
                        wants_cursor = True
                        edge_pairs.append((item.key, "p.cur"))
                    elif item.name == "__typename":
                        edge_pairs.append((item.key, text_lit(edge_type.name)))
                    elif item.name == "node":
                        node_type = named_type(edge_type.fields["node"].type)
                        obj = self._object(dataset, access, alias, item.sub_selections(), node_type)
                        column = f"o{node_count}"
                        node_count += 1
                        columns.append(f"{build_object(obj.pairs, obj.deny)} AS {column}")
                        inner_joins.extend(obj.joins)
                        reads_parts.append(reads_of(obj))
                        edge_pairs.append((item.key, f"p.{column}"))
                outer_pairs.append(
                    (
                        part.key,
                        f"COALESCE(json_agg({build_object(edge_pairs)} ORDER BY p.n), '[]'::json)",
                    )
                )
        if wants_cursor or shape.get("after"):
            self._check_cursor_key(dataset, access, sel)
        if wants_cursor:
            columns.append(f"{cursor} AS cur")
        columns.append(f"{concat_reads(reads_parts)} AS reads")
        columns.append(f"{alias}.n AS n")
        # The page's rows are chosen first; references and nested lists join to those only.
        # They are numbered there, by the window sharing the ORDER BY's sort values: numbered
        # above, each row's sort value was computed twice, and a Vietnamese sort key costs
        # 20-50 µs a row (a 100-row page by name spent 6 ms of PostgreSQL on them).
        page = (
            f"(SELECT {alias}.*, row_number() OVER (ORDER BY {order}) AS n "
            f"FROM records {alias} WHERE {where_sql} "
            f"ORDER BY {order} LIMIT {limit}) {alias}"
        )
        inner = f"SELECT {', '.join(columns)} FROM {page} {' '.join(inner_joins)}"
        return (
            f"SELECT {build_object(outer_pairs)} AS obj, string_agg(p.reads, {RS}) AS reads "
            f"FROM ({inner}) p"
        )

    def _check_cursor_key(self, dataset: Dataset, access: Access, sel: Selected) -> None:
        """Cursors carry the stored key: a plain key field's plaintext (an encrypted one's
        blind index, which is what the caller is shown). Paging by cursor is refused where the
        caller may not read that field on every row it sees, or only with a purpose it did not
        state; a forged ``after`` would otherwise probe the order of hidden keys."""
        key = dataset.key_field
        if not access.allowed or field_of(dataset, key).encrypted:
            return
        if not all(key in rule.fields for rule in access.rules):
            raise Forbidden(
                f"{sel.name}: cursors of dataset '{dataset.code}' carry its key field '{key}', "
                "which the caller may not read; list without cursor, endCursor or after"
            )
        if key in access.restricted and access.purpose_required and not self._has_purpose:
            raise InvalidInput(
                f"{sel.name}: cursors of dataset '{dataset.code}' carry its RESTRICTED key "
                f"field '{key}': send the X-Purpose header or give the root field a purpose"
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
        f = field_of(dataset, sort_name)
        value = typed_value(alias, f)
        condition = self._view_condition(
            dataset, access, alias, f, f"{sel.name}.orderBy", "ordering"
        )
        sort = value
        if condition is not None:
            # Hidden on some rows: the view value, NULL there.
            sort = f"(CASE WHEN {condition} THEN {value} END)"
            if f.type not in NUMERIC_TYPES and f.type != "bool":
                sort += ' COLLATE "C"'
        ordering = Ordering(
            sort,
            key,
            direction,
            nullable=condition is not None,
            by_key=False,
            vietnamese=orders_vietnamese(f),
            text_order=self.cc.text_order,
        )
        return ordering, tag, f

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
            f = field_of(dataset, name)
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
                        return [filter_value(dataset, f, v, keys) for v in raw]
                    if op == "contains":
                        return escape_like(str(raw))
                    return filter_value(dataset, f, raw, keys)
                except InvalidInput as exc:
                    raise InvalidInput(f"{at}.{op}: {exc.message}") from None

            out.append(condition_sql(alias, f, op, self.params.dynamic(resolve)))
        return out


__all__ = ["ConnectionCompiler"]
