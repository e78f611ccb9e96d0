"""Price terms: what a query costs as a small expression over the request's variables
(``first: $n``, ``filter: $f``), folded to a constant wherever no variable is involved, so a
repeated query without variables is priced by one attribute read."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from graphql import Undefined, ValueNode, value_from_ast_untyped

# Every filterable field has an index (catalog.indexes) and only filterable fields may be
# filtered; these operators are the ones no index can serve.
UNINDEXED_OPERATORS = frozenset({"contains"})


class Cost(Protocol):
    """Rows, given the request's variables (defaults applied)."""

    def value(self, variables: dict[str, Any]) -> int: ...


@dataclass(frozen=True, slots=True)
class Const:
    n: int

    def value(self, variables: dict[str, Any]) -> int:
        return self.n


@dataclass(frozen=True, slots=True)
class Sum:
    parts: tuple[Cost, ...]

    def value(self, variables: dict[str, Any]) -> int:
        return sum(part.value(variables) for part in self.parts)


@dataclass(frozen=True, slots=True)
class Product:
    parts: tuple[Cost, ...]

    def value(self, variables: dict[str, Any]) -> int:
        total = 1
        for part in self.parts:
            total *= part.value(variables)
            if total == 0:
                return 0
        return total


@dataclass(frozen=True, slots=True)
class PageSize:
    """``first`` given through a variable: its value, else the field's default, at most the
    hub's page size (a larger one is refused by the binder with its own message)."""

    node: ValueNode
    default: int
    maximum: int

    def value(self, variables: dict[str, Any]) -> int:
        given = value_from_ast_untyped(self.node, variables)
        if given is None or given is Undefined:
            return self.default
        if isinstance(given, bool) or not isinstance(given, int):
            return self.maximum  # not an Int: coercion refuses it; price the worst
        return max(0, min(given, self.maximum))


@dataclass(frozen=True, slots=True)
class FilterScan:
    """A filter given (partly) through variables: a scan when it uses an unindexed operator."""

    node: ValueNode
    price: int

    def value(self, variables: dict[str, Any]) -> int:
        return self.price if has_unindexed(value_from_ast_untyped(self.node, variables)) else 0


def add(parts: list[Cost]) -> Cost:
    constant = sum(p.n for p in parts if isinstance(p, Const))
    rest = tuple(p for p in parts if not isinstance(p, Const))
    if not rest:
        return Const(constant)
    return Sum((*rest, Const(constant))) if constant else (rest[0] if len(rest) == 1 else Sum(rest))


def times(a: Cost, b: Cost) -> Cost:
    if isinstance(a, Const) and isinstance(b, Const):
        return Const(a.n * b.n)
    for one, other in ((a, b), (b, a)):
        if isinstance(one, Const):
            if one.n == 0:
                return Const(0)
            if one.n == 1:
                return other
    return Product((a, b))


@dataclass(frozen=True, slots=True)
class OperationCost:
    """The price of one operation: ``cost.value(variables)`` rows, variable defaults applied."""

    cost: Cost
    defaults: Mapping[str, Any]

    def price(self, variables: dict[str, Any]) -> int:
        if isinstance(self.cost, Const):
            return self.cost.n
        merged = {**self.defaults, **variables} if self.defaults else variables
        return self.cost.value(merged)


def has_unindexed(value: Any) -> bool:
    """Typed filters are ``{field: {op: value}}``; generic ones ``{field: value | {op: value}}``."""
    if not isinstance(value, dict):
        return False
    return any(
        isinstance(condition, dict)
        and any(
            op in UNINDEXED_OPERATORS and argument is not None and argument is not Undefined
            for op, argument in condition.items()
        )
        for condition in value.values()
    )


__all__ = [
    "UNINDEXED_OPERATORS",
    "Const",
    "Cost",
    "FilterScan",
    "OperationCost",
    "PageSize",
    "Product",
    "Sum",
    "add",
    "has_unindexed",
    "times",
]
