"""Static limits on a GraphQL document, checked once per cached document: depth and size."""

from __future__ import annotations

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from catalog.errors import QueryTooComplex

_INTROSPECTION = frozenset({"__schema", "__type"})
# graphql-core's OverlappingFieldsCanBeMerged compares every pair of fields under one response
# name: 250 repeats of `me { roles }` (within max_nodes) took 0.25 s of CPU to validate.
MAX_SAME_FIELD = 20


def check_limits(document: DocumentNode, max_depth: int, max_nodes: int) -> None:
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            counter = [0]
            _check_repeats(definition.selection_set, fragments)
            depth = _depth(definition.selection_set, fragments, counter, 0, max_nodes, set())
            if depth > max_depth:
                raise QueryTooComplex(
                    f"query is {depth} levels deep; the hub serves at most {max_depth}"
                )


def _depth(
    selection_set: SelectionSetNode | None,
    fragments: dict[str, FragmentDefinitionNode],
    counter: list[int],
    level: int,
    max_nodes: int,
    visiting: set[str],
) -> int:
    if selection_set is None:
        return level
    deepest = level
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            counter[0] += 1
            if counter[0] > max_nodes:
                raise QueryTooComplex(f"query selects more than {max_nodes} fields")
            inner = selection.selection_set
            if inner is not None:
                _check_repeats(inner, fragments)
            below = (
                _depth(inner, fragments, counter, level + 1, max_nodes, visiting)
                if inner
                else level + 1
            )
            if selection.name.value in _INTROSPECTION:
                # The standard introspection query (GraphiQL, codegen) nests ofType 15 deep;
                # it reads no data, and its fields still count against max_nodes.
                below = level + 1
            deepest = max(deepest, below)
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(
                deepest,
                _depth(selection.selection_set, fragments, counter, level, max_nodes, visiting),
            )
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in visiting:
                continue  # validation reports unknown or cyclic fragments
            deepest = max(
                deepest,
                _depth(
                    fragment.selection_set, fragments, counter, level, max_nodes, visiting | {name}
                ),
            )
    return deepest


def _check_repeats(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> None:
    """Refuses a response name selected more than MAX_SAME_FIELD times in one selection set
    (inline fragments and fragment spreads merged into it, as validation merges them)."""
    counts: dict[str, int] = {}

    def walk(inner: SelectionSetNode, visiting: frozenset[str]) -> None:
        for selection in inner.selections:
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                counts[key] = counts.get(key, 0) + 1
                if counts[key] > MAX_SAME_FIELD:
                    raise QueryTooComplex(
                        f"'{key}' is selected more than {MAX_SAME_FIELD} times in one selection "
                        f"set; the hub serves at most {MAX_SAME_FIELD} (use aliases)"
                    )
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, visiting)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in visiting:
                    walk(fragment.selection_set, visiting | {name})

    walk(selection_set, frozenset())


__all__ = ["MAX_SAME_FIELD", "check_limits"]
