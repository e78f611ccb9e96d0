"""Reading a validated GraphQL selection for the compiler: fields grouped by response key
(fragments flattened, same-key fields merged, as GraphQL's CollectFields does).

``@skip``/``@include`` are decided once per request (``skipped_nodes``): the set of selection
nodes they leave out is part of the plan chosen, so a compiled statement never serves a
selection other than the one asked."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLIncludeDirective,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionNode,
    SelectionSetNode,
)
from graphql.execution.values import get_directive_values

from catalog.errors import InvalidInput

CONDITIONAL_DIRECTIVES = frozenset({"skip", "include"})


class NotCompilable(Exception):
    """The selection uses something the compiler leaves to normal execution."""


@dataclass(frozen=True, slots=True)
class Selected:
    key: str  # response key (alias or name)
    name: str  # field name
    nodes: tuple[FieldNode, ...]

    @property
    def node(self) -> FieldNode:
        return self.nodes[0]

    def sub_selections(self) -> list[SelectionSetNode]:
        return [n.selection_set for n in self.nodes if n.selection_set is not None]


def collect(
    selection_sets: Sequence[SelectionSetNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    type_name: str,
    skipped: frozenset[int] = frozenset(),
) -> list[Selected]:
    """Fields by response key; nodes whose id is in ``skipped`` are left out."""
    grouped: dict[str, list[FieldNode]] = {}
    for selection_set in selection_sets:
        _walk(selection_set, fragments, type_name, grouped, set(), skipped)
    return [Selected(key, nodes[0].name.value, tuple(nodes)) for key, nodes in grouped.items()]


def conditional_nodes(
    selection_sets: Sequence[SelectionSetNode], fragments: Mapping[str, FragmentDefinitionNode]
) -> tuple[SelectionNode, ...]:
    """Every selection node under ``selection_sets`` (fragments included) that carries
    ``@skip``/``@include``, in document order. Raises NotCompilable for other directives."""
    found: dict[int, SelectionNode] = {}
    seen: set[str] = set()
    for selection_set in selection_sets:
        for node in _all_selections(selection_set, fragments, seen):
            if node.directives:
                if any(d.name.value not in CONDITIONAL_DIRECTIVES for d in node.directives):
                    raise NotCompilable("directives")
                found.setdefault(id(node), node)
    return tuple(found.values())


def skipped_nodes(nodes: Sequence[SelectionNode], variables: Any) -> frozenset[int]:
    """Ids of those ``nodes`` that ``@skip``/``@include`` leave out with these (coerced)
    variables; @skip wins over @include, as in GraphQL's CollectFields."""
    try:
        return frozenset(id(n) for n in nodes if not _included(n, variables))
    except GraphQLError as error:  # a condition variable without a value
        raise InvalidInput(error.message) from None


def _included(node: SelectionNode, variables: Any) -> bool:
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    if skip is not None and skip["if"] is True:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return include is None or include["if"] is True


def _all_selections(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    seen: set[str],
) -> Iterator[SelectionNode]:
    for selection in selection_set.selections:
        yield selection
        if isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                seen.add(name)
                yield from _all_selections(fragment.selection_set, fragments, seen)
        elif isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set:
            yield from _all_selections(selection.selection_set, fragments, seen)


def _walk(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    type_name: str,
    grouped: dict[str, list[FieldNode]],
    seen: set[str],
    skipped: frozenset[int],
) -> None:
    for selection in selection_set.selections:
        if selection.directives:
            if any(d.name.value not in CONDITIONAL_DIRECTIVES for d in selection.directives):
                raise NotCompilable("directives")
            if id(selection) in skipped:
                continue
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            grouped.setdefault(key, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is not None and condition.name.value != type_name:
                raise NotCompilable("type condition")
            _walk(selection.selection_set, fragments, type_name, grouped, seen, skipped)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                raise NotCompilable("fragment")
            if fragment.type_condition.name.value != type_name:
                raise NotCompilable("type condition")
            _walk(fragment.selection_set, fragments, type_name, grouped, seen | {name}, skipped)


__all__ = ["NotCompilable", "Selected", "collect", "conditional_nodes", "skipped_nodes"]
