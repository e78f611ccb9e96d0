"""Reading a validated GraphQL selection for the compiler: fields grouped by response key
(fragments flattened, same-key fields merged, as GraphQL's CollectFields does)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)


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
) -> list[Selected]:
    grouped: dict[str, list[FieldNode]] = {}
    for selection_set in selection_sets:
        _walk(selection_set, fragments, type_name, grouped, set())
    return [Selected(key, nodes[0].name.value, tuple(nodes)) for key, nodes in grouped.items()]


def _walk(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    type_name: str,
    grouped: dict[str, list[FieldNode]],
    seen: set[str],
) -> None:
    for selection in selection_set.selections:
        if selection.directives:
            # @skip/@include depend on variables; normal execution handles them.
            raise NotCompilable("directives")
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            grouped.setdefault(key, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is not None and condition.name.value != type_name:
                raise NotCompilable("type condition")
            _walk(selection.selection_set, fragments, type_name, grouped, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                raise NotCompilable("fragment")
            if fragment.type_condition.name.value != type_name:
                raise NotCompilable("type condition")
            _walk(fragment.selection_set, fragments, type_name, grouped, seen | {name})


__all__ = ["NotCompilable", "Selected", "collect"]
