"""Planning, once per cached document: which operations the compiler can serve, which fields
carry arguments it binds per request, and which datasets they touch.

A selection with ``@skip``/``@include`` is planned once with every node included (which
decides whether the compiler can serve it at all) and once more per set of nodes the request's
variables leave out (``for_variables``); each variant keeps its own compiled statements, so the
directive conditions are part of the cache key."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLInputObjectType,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
)

from schema.records.bind import ArgSite
from schema.records.compile_base import CompiledQuery, named_type
from schema.records.selection import (
    NotCompilable,
    Selected,
    collect,
    conditional_nodes,
    skipped_nodes,
)
from schema.records.types import FieldRole, RootRole

PLANS_PER_DOCUMENT = 64
# Each @skip/@include variant keeps its own compiled statements: bound them, as k boolean
# variables could otherwise ask for 2^k variants of one cached document.
VARIANTS_PER_OPERATION = 16


@dataclass
class OperationPlan:
    operation: OperationDefinitionNode
    roots: list[Selected]
    sites: list[ArgSite]
    arg_index: dict[int, int]
    datasets: frozenset[str]
    fragments: Mapping[str, FragmentDefinitionNode]
    compiled: OrderedDict[Any, CompiledQuery] = field(default_factory=OrderedDict)
    # For @skip/@include: how to plan again, the nodes carrying them, those left out here.
    selection_sets: list[SelectionSetNode] = field(default_factory=list)
    query_type: GraphQLObjectType | None = None
    key_fields: Mapping[str, str] = field(default_factory=dict)
    allow_history: bool = False
    conditional: tuple[SelectionNode, ...] = ()
    skipped: frozenset[int] = frozenset()
    variants: OrderedDict[frozenset[int], OperationPlan | None] = field(default_factory=OrderedDict)

    def remember(self, key: Any, query: CompiledQuery) -> None:
        self.compiled[key] = query
        if len(self.compiled) > PLANS_PER_DOCUMENT:
            self.compiled.popitem(last=False)

    def for_variables(self, variables: Any) -> OperationPlan | None:
        """The plan of the selection these variables' @skip/@include conditions leave; None
        when no generated field remains (normal execution then answers)."""
        if not self.conditional:
            return self
        skipped = skipped_nodes(self.conditional, variables)
        if skipped == self.skipped:
            return self
        if skipped in self.variants:
            self.variants.move_to_end(skipped)
            return self.variants[skipped]
        assert self.query_type is not None
        variant = plan_fields(
            self.selection_sets,
            self.query_type,
            self.fragments,
            self.operation,
            self.key_fields,
            self.allow_history,
            skipped=skipped,
            conditional=self.conditional,
        )
        self.variants[skipped] = variant
        if len(self.variants) > VARIANTS_PER_OPERATION:
            self.variants.popitem(last=False)
        return variant


@dataclass
class DocumentPlan:
    operations: dict[str | None, OperationPlan]

    def for_operation(self, name: str | None) -> OperationPlan | None:
        if name is None and len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return self.operations.get(name)


def plan_document(
    document: DocumentNode, schema: GraphQLSchema, key_fields: Mapping[str, str]
) -> DocumentPlan | None:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    operations: dict[str | None, OperationPlan] = {}
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        if definition.operation is not OperationType.QUERY or schema.query_type is None:
            continue
        try:
            plan = plan_fields(
                [definition.selection_set], schema.query_type, fragments, definition, key_fields
            )
        except NotCompilable:
            continue
        if plan is not None:
            operations[definition.name.value if definition.name else None] = plan
    return DocumentPlan(operations) if operations else None


def plan_fields(
    selection_sets: list[SelectionSetNode],
    query_type: GraphQLObjectType,
    fragments: Mapping[str, FragmentDefinitionNode],
    operation: OperationDefinitionNode,
    key_fields: Mapping[str, str],
    allow_history: bool = False,
    skipped: frozenset[int] = frozenset(),
    conditional: tuple[SelectionNode, ...] | None = None,
) -> OperationPlan | None:
    """None when a root field is not a generated record field (or, with ``skipped``, when
    none is left)."""
    if conditional is None:
        conditional = conditional_nodes(selection_sets, fragments)
    roots = collect(selection_sets, fragments, query_type.name, skipped)
    walker = _Walker(fragments, key_fields, allow_history, skipped)
    for sel in roots:
        if sel.name == "__typename":
            continue
        if sel.name not in query_type.fields:
            return None  # introspection (__schema, __type): normal execution
        gfield = query_type.fields[sel.name]
        role = (gfield.extensions or {}).get("hub")
        if not isinstance(role, RootRole):
            return None
        walker.site(sel, gfield, role.kind, role.dataset)
        target = named_type(gfield.type)
        if role.kind == "single":
            walker.object(sel.sub_selections(), target)
        else:
            walker.connection(sel, target)
    if not walker.sites:
        return None
    return OperationPlan(
        operation=operation,
        roots=roots,
        sites=walker.sites,
        arg_index={id(site.node): i for i, site in enumerate(walker.sites)},
        datasets=frozenset(walker.datasets),
        fragments=fragments,
        selection_sets=list(selection_sets),
        query_type=query_type,
        key_fields=key_fields,
        allow_history=allow_history,
        conditional=conditional,
        skipped=skipped,
    )


class _Walker:
    def __init__(
        self,
        fragments: Mapping[str, FragmentDefinitionNode],
        key_fields: Mapping[str, str],
        allow_history: bool,
        skipped: frozenset[int],
    ) -> None:
        self.fragments = fragments
        self.key_fields = key_fields
        self.allow_history = allow_history
        self.skipped = skipped
        self.sites: list[ArgSite] = []
        self.datasets: set[str] = set()

    def site(self, sel: Selected, gfield: Any, kind: str, code: str) -> None:
        self.datasets.add(code)
        key_field = self.key_fields[code]
        names: tuple[tuple[str, str], ...] = ()
        filter_arg = gfield.args.get("filter")
        if filter_arg is not None:
            filter_type = filter_arg.type
            assert isinstance(filter_type, GraphQLInputObjectType)
            names = tuple(
                (name, (f.extensions or {}).get("hub", name))
                for name, f in filter_type.fields.items()
            )
        self.sites.append(ArgSite(sel.node, gfield, kind, code, key_field, names))

    def connection(self, sel: Selected, connection_type: GraphQLObjectType) -> None:
        for part in collect(
            sel.sub_selections(), self.fragments, connection_type.name, self.skipped
        ):
            if part.name == "edges":
                edge = named_type(connection_type.fields["edges"].type)
                for item in collect(part.sub_selections(), self.fragments, edge.name, self.skipped):
                    if item.name == "node":
                        self.object(item.sub_selections(), named_type(edge.fields["node"].type))

    def object(
        self, selection_sets: list[SelectionSetNode], object_type: GraphQLObjectType
    ) -> None:
        for sel in collect(selection_sets, self.fragments, object_type.name, self.skipped):
            if sel.name == "__typename":
                continue
            gfield = object_type.fields[sel.name]
            role = (gfield.extensions or {}).get("hub")
            if not isinstance(role, FieldRole):
                raise NotCompilable(sel.name)
            if role.kind == "history":
                if not self.allow_history:
                    raise NotCompilable("history")
            elif role.kind == "reference":
                assert role.target is not None
                self.datasets.add(role.target)
                self.object(sel.sub_selections(), named_type(gfield.type))
            elif role.kind == "reverse":
                assert role.target is not None
                self.site(sel, gfield, "list", role.target)
                self.connection(sel, named_type(gfield.type))


__all__ = ["DocumentPlan", "OperationPlan", "plan_document", "plan_fields"]
