"""What a query may fetch, priced before any SQL runs (issue 7 item 13).

The price of an operation is an upper bound on the rows it may fetch, computed from the
document, the schema's field metadata and the request's variables alone, never from stored
data (so a price reveals nothing about records):

- a single lookup or a reference costs 1 row per parent; a list costs its page size per
  parent (``first``, its default when absent, at most the hub's page size), and everything
  selected under its nodes is multiplied by that page size: nesting multiplies;
- ``history`` and ``recordHistory`` are lists of versions, priced at the most versions they
  return (``HISTORY_VERSIONS``); a list without ``first`` is priced as a full page;
- a scan of a dataset costs ``SCAN_ROWS``: a ``totalCount`` or ``recordCount`` counts every
  visible record, and a ``contains`` condition cannot use an index (every filterable field is
  index-backed, see ``catalog.indexes``, and only filterable fields may be filtered). A
  reverse list reaches its records through the reference index, so its scan reads one
  record's children and costs ``NESTED_SCAN_ROWS`` per parent;
- introspection reads no data but still builds answers: ``__schema`` costs the number of
  types and fields the schema describes, up to ``MAX_INTROSPECTION`` (so the one full
  introspection a tool sends stays served however large the catalogue grows), ``__type``
  the fields of the largest type;
- aliases and repeated fragments count every time they appear.

The variable-free part is folded once per prepared document; what depends on variables
(``first: $n``, ``filter: $f``) is a small expression evaluated per request.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    NamedTypeNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    value_from_ast_untyped,
)

from catalog.errors import QueryTooComplex
from schema.cost_terms import (
    Const,
    Cost,
    FilterScan,
    OperationCost,
    PageSize,
    add,
    times,
)
from schema.records.store import HISTORY_LIMIT
from schema.records.types import FieldRole, RootRole

SCAN_ROWS = 1000  # a count, or a filter no index serves, over one dataset
NESTED_SCAN_ROWS = 100  # the same over the children of one record (via the reference index)
HISTORY_VERSIONS = HISTORY_LIMIT  # the most versions one history answer holds
MAX_INTROSPECTION = 10_000  # the most one ``__schema`` costs
# Each field occurrence is visited once; the parse limits bound them long before this.
MAX_VISITS = 100_000
# Deeper than any valid document (HUB_MAX_QUERY_DEPTH is at most 50): only a fragment cycle,
# which validation refuses, nests this far.
MAX_NESTING = 100

# Static fields that read records rather than the catalogue.
_RECORD_PAGES = frozenset({("Query", "records")})
_RECORD_HISTORIES = frozenset({("Query", "recordHistory")})
_RECORD_COUNTS = frozenset({("Dataset", "recordCount")})
# ``search``: one request to the search index; its page is ``hits`` (the rest is one answer).
_SEARCH_PAGES = frozenset({("Query", "search")})


class Unpriceable(QueryTooComplex):
    """The document nests without end (a fragment cycle): validation will name the cycle."""


class CostModel:
    """Prices operations against one schema build."""

    def __init__(self, schema: GraphQLSchema, max_page: int) -> None:
        self.schema = schema
        self.max_page = max_page
        self._introspection: tuple[int, int] | None = None

    def operation_cost(
        self,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
    ) -> OperationCost:
        root = {
            OperationType.QUERY: self.schema.query_type,
            OperationType.MUTATION: self.schema.mutation_type,
            OperationType.SUBSCRIPTION: self.schema.subscription_type,
        }[operation.operation]
        walk = _Walk(self, fragments)
        cost = walk.selections(operation.selection_set, root)
        defaults = {
            d.variable.name.value: value_from_ast_untyped(d.default_value)
            for d in operation.variable_definitions or ()
            if d.default_value is not None
        }
        return OperationCost(cost, defaults)

    def introspection_prices(self) -> tuple[int, int]:
        """(``__schema``, ``__type``): fields described in all, and in the largest type."""
        if self._introspection is None:
            sizes = [
                len(t.fields) + 1
                for t in self.schema.type_map.values()
                if isinstance(t, GraphQLObjectType | GraphQLInterfaceType)
            ]
            described = len(self.schema.type_map) + sum(sizes)
            self._introspection = (min(described, MAX_INTROSPECTION), max(sizes, default=1))
        return self._introspection


class CostLimit:
    """Refuses, before any SQL, an operation priced above ``max_cost`` (QUERY_TOO_COMPLEX
    naming the price and the limit). Prices are kept per document while it lives (documents
    are cached by the executor), so a repeated query pays one dictionary lookup plus its
    variable-dependent part."""

    def __init__(
        self, schema: GraphQLSchema, max_cost: int, max_page: int, cache_size: int = 2048
    ) -> None:
        self.model = CostModel(schema, max_page)
        self.max_cost = max_cost
        self.cache_size = max(cache_size, 1)
        self._priced: OrderedDict[
            int, tuple[weakref.ref[DocumentNode], dict[str | None, OperationCost]]
        ] = OrderedDict()

    def check(
        self, document: DocumentNode, operation_name: str | None, variables: dict[str, Any]
    ) -> int:
        """The operation's price; raises QueryTooComplex above the limit."""
        operation = self.operation_cost(document, operation_name)
        if operation is None:
            return 0  # no such operation: execution reports it
        return self._within_limit(operation.price(variables))

    def check_document(self, document: DocumentNode) -> None:
        """Before validation, which costs far more than pricing on a document of many aliases:
        refuse a document of one operation whose price, needing no variables, is over the
        limit. Anything else is priced again by ``check`` before execution."""
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) != 1:
            return
        try:
            operation = self.operation_cost(document, None)
        except Unpriceable:
            return  # validation refuses the cycle by name
        if operation is not None and isinstance(operation.cost, Const):
            self._within_limit(operation.cost.n)

    def _within_limit(self, cost: int) -> int:
        if cost > self.max_cost:
            raise QueryTooComplex(
                f"query costs {cost}; the hub serves at most {self.max_cost} "
                f"(a list counts its page size and nested lists multiply; history counts "
                f"{HISTORY_VERSIONS} versions a record; a totalCount, recordCount or contains "
                f"filter {SCAN_ROWS} rows, {NESTED_SCAN_ROWS} on a nested list): ask for "
                "smaller pages or fewer aliases"
            )
        return cost

    def operation_cost(
        self, document: DocumentNode, operation_name: str | None
    ) -> OperationCost | None:
        """The named operation's price (the only one when unnamed), worked out once per
        document; None when the document has no such operation."""
        costs = self._costs_of(document)
        if operation_name in costs:
            return costs[operation_name]
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is None:
            chosen = operations[0] if len(operations) == 1 else None
        else:
            chosen = next(
                (o for o in operations if o.name and o.name.value == operation_name), None
            )
        if chosen is None:
            return None
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        cost = self.model.operation_cost(chosen, fragments)
        costs[operation_name] = cost
        return cost

    def _costs_of(self, document: DocumentNode) -> dict[str | None, OperationCost]:
        """Prices already worked out for ``document``. Entries hold no reference to the
        document or its operations, so a document the executor's cache drops is freed (a
        reused id is told apart by the dead weak reference)."""
        key = id(document)
        found = self._priced.get(key)
        if found is not None and found[0]() is document:
            self._priced.move_to_end(key)
            return found[1]
        costs: dict[str | None, OperationCost] = {}
        self._priced[key] = (weakref.ref(document), costs)
        while len(self._priced) > self.cache_size:
            self._priced.popitem(last=False)
        return costs


class _Walk:
    """One pricing walk. Documents may be priced before validation (``check_document``), so
    nothing here assumes the fields, types or fragments it meets exist or are acyclic."""

    def __init__(self, model: CostModel, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.model = model
        self.fragments = fragments
        self.visits = 0
        self.nesting = 0

    def selections(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType | None
    ) -> Cost:
        """The price of a selection set, per one object of ``parent``."""
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise Unpriceable(f"query nests more than {MAX_NESTING} levels deep")
        try:
            found = self.fields_of(selection_set, parent)
            return add([self.field(node, at) for node, at in found])
        finally:
            self.nesting -= 1

    def fields_of(
        self,
        selection_set: SelectionSetNode | None,
        parent: GraphQLNamedType | None,
        spreading: frozenset[str] = frozenset(),
    ) -> list[tuple[FieldNode, GraphQLNamedType]]:
        """Every field occurrence of a selection set with its parent type, fragments inlined
        (each spread counts again: the answer repeats the work)."""
        found: list[tuple[FieldNode, GraphQLNamedType]] = []
        if selection_set is None or parent is None:
            return found
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self.visits += 1
                if self.visits > MAX_VISITS:
                    raise QueryTooComplex(f"query selects more than {MAX_VISITS} fields")
                found.append((selection, parent))
            elif isinstance(selection, InlineFragmentNode):
                target = self._type_condition(selection.type_condition, parent)
                found.extend(self.fields_of(selection.selection_set, target, spreading))
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in spreading:  # else validation refuses
                    target = self._type_condition(fragment.type_condition, parent)
                    found.extend(self.fields_of(fragment.selection_set, target, spreading | {name}))
        return found

    def field(self, node: FieldNode, parent: GraphQLNamedType) -> Cost:
        name = node.name.value
        if name == "__typename":
            return Const(0)
        if name in ("__schema", "__type"):
            schema_price, type_price = self.model.introspection_prices()
            return Const(schema_price if name == "__schema" else type_price)
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            return Const(0)  # not a selection validation lets through
        definition: GraphQLField | None = parent.fields.get(name)
        if definition is None:
            return Const(0)
        role = (definition.extensions or {}).get("hub")
        target = get_named_type(definition.type)
        where = (parent.name, name)
        if isinstance(role, RootRole):
            if role.kind == "single":
                return self._objects(node, target, 1)
            return self._page(node, definition, target, scan=SCAN_ROWS)
        if isinstance(role, FieldRole):
            if role.kind == "reference":
                return self._objects(node, target, 1)
            if role.kind == "reverse":
                return self._page(node, definition, target, scan=NESTED_SCAN_ROWS)
            if role.kind == "history":
                return self._objects(node, target, HISTORY_VERSIONS)
            return Const(0)  # a value of the record already fetched
        if where in _RECORD_PAGES:
            return self._page(node, definition, target, scan=SCAN_ROWS)
        if where in _RECORD_HISTORIES:
            return self._objects(node, target, HISTORY_VERSIONS)
        if where in _RECORD_COUNTS:
            return Const(SCAN_ROWS)
        if where in _SEARCH_PAGES:
            return self._search_page(node, definition, target)
        if not isinstance(target, GraphQLObjectType | GraphQLInterfaceType):
            return Const(0)  # a scalar or enum (or a list of them) comes with its parent
        if "first" in definition.args:
            return self._page(node, definition, target, scan=0)
        return self._objects(node, target, self.model.max_page if _is_list(definition) else 1)

    def _objects(self, node: FieldNode, target: GraphQLNamedType, rows: int) -> Cost:
        """``rows`` objects of ``target`` per parent, each with the price of its selection."""
        return times(Const(rows), add([Const(1), self.selections(node.selection_set, target)]))

    def _page(
        self, node: FieldNode, definition: GraphQLField, target: GraphQLNamedType, scan: int
    ) -> Cost:
        """A page of ``first`` objects; on record pages (``scan`` > 0) a scan for an
        unindexed filter and one for ``totalCount``."""
        size = self._page_size(node, definition)
        parts: list[Cost] = [self._filter_scan(node, scan)] if scan else []
        if not (isinstance(target, GraphQLObjectType) and "edges" in target.fields):
            parts.append(times(size, add([Const(1), self.selections(node.selection_set, target)])))
            return add(parts)
        # A connection: the nodes under its edges are the page; totalCount comes once.
        edge = get_named_type(target.fields["edges"].type)
        for part, _parent in self.fields_of(node.selection_set, target):
            if part.name.value == "totalCount":
                parts.append(Const(scan or 1))
            elif part.name.value == "edges" and isinstance(edge, GraphQLObjectType):
                node_type = get_named_type(edge.fields["node"].type)
                per_node = add(
                    [
                        self.selections(item.selection_set, node_type)
                        for item, _edge in self.fields_of(part.selection_set, edge)
                        if item.name.value == "node"
                    ]
                )
                parts.append(times(size, add([Const(1), per_node])))
        return add(parts)

    def _search_page(
        self, node: FieldNode, definition: GraphQLField, target: GraphQLNamedType
    ) -> Cost:
        """``first`` hits, each with the price of its selection; total, facets (bounded
        buckets) and pageInfo come with the one request."""
        size = self._page_size(node, definition)
        parts: list[Cost] = [Const(1)]
        hit = target.fields.get("hits") if isinstance(target, GraphQLObjectType) else None
        for part, _parent in self.fields_of(node.selection_set, target):
            if part.name.value == "hits" and hit is not None:
                hit_type = get_named_type(hit.type)
                parts.append(
                    times(size, add([Const(1), self.selections(part.selection_set, hit_type)]))
                )
        return add(parts)

    def _page_size(self, node: FieldNode, definition: GraphQLField) -> Cost:
        maximum = self.model.max_page
        argument = definition.args.get("first")
        default = argument.default_value if argument is not None else None
        default = min(default, maximum) if isinstance(default, int) else min(20, maximum)
        given = _argument(node, "first")
        if given is None:
            return Const(default)
        size = PageSize(given, default, maximum)
        return size if _has_variables(given) else Const(size.value({}))

    def _filter_scan(self, node: FieldNode, price: int) -> Cost:
        given = _argument(node, "filter")
        if given is None:
            return Const(0)
        scan = FilterScan(given, price)
        return scan if _has_variables(given) else Const(scan.value({}))

    def _type_condition(
        self, condition: NamedTypeNode | None, parent: GraphQLNamedType
    ) -> GraphQLNamedType | None:
        if condition is None:
            return parent
        return self.model.schema.type_map.get(condition.name.value)


def _is_list(definition: GraphQLField) -> bool:
    field_type = definition.type
    if isinstance(field_type, GraphQLNonNull):
        field_type = field_type.of_type
    return isinstance(field_type, GraphQLList)


def _argument(node: FieldNode, name: str) -> ValueNode | None:
    for argument in node.arguments or ():
        if argument.name.value == name:
            return argument.value
    return None


def _has_variables(node: ValueNode) -> bool:
    if isinstance(node, VariableNode):
        return True
    values = getattr(node, "values", None)
    if values is not None:
        return any(_has_variables(v) for v in values)
    fields = getattr(node, "fields", None)
    if fields is not None:
        return any(_has_variables(f.value) for f in fields)
    return False


__all__ = [
    "HISTORY_VERSIONS",
    "MAX_INTROSPECTION",
    "NESTED_SCAN_ROWS",
    "SCAN_ROWS",
    "CostLimit",
    "CostModel",
    "OperationCost",
]
