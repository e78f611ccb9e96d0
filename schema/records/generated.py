"""The executable schema with the types generated from the published catalogue.

Hot path: a query whose root fields are all generated record fields runs through the
``Runner`` as one compiled SQL statement. Anything else (mixed with catalogue fields, or asking
for ``history``) runs through graphql-core, where each generated root field still compiles
its own subtree into one statement; nested generated fields then just read the JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import strawberry
from graphql import (
    DocumentNode,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    OperationDefinitionNode,
    SelectionSetNode,
)

from catalog.models import Dataset
from schema.context import Context
from schema.records.history import resolve_history
from schema.records.plan import DocumentPlan, plan_document, plan_fields
from schema.records.runner import Runner
from schema.records.selection import NotCompilable
from schema.records.types import FieldShown, StaticTypes, build_dataset_types, root_fields

_GENERATED = "hub_generated"  # key of the GeneratedSchema in its GraphQLSchema's extensions

# Used only when the static schema does not already define them.
_FALLBACK_SCALARS = {
    "Date": GraphQLScalarType("Date", description="A calendar date, YYYY-MM-DD."),
    "JSON": GraphQLScalarType("JSON", description="Any JSON value."),
}


@dataclass
class GeneratedSchema:
    schema: GraphQLSchema
    key_fields: dict[str, str]
    runner: Runner | None = None

    @classmethod
    def build(
        cls,
        base: strawberry.Schema,
        datasets: Sequence[Dataset],
        services: Any,
        max_page: int,
        shown: FieldShown | None = None,
    ) -> GeneratedSchema:
        """``shown`` narrows the generated types to the fields it accepts (see
        ``build_dataset_types``); the caller passes only the datasets the schema is for."""
        core = base._schema
        type_map = core.type_map
        static = StaticTypes(
            page_info=_object(type_map["PageInfo"]),
            date_time=_scalar(type_map["DateTime"]),
            date=_scalar(type_map.get("Date") or _FALLBACK_SCALARS["Date"]),
            json=_scalar(type_map.get("JSON") or _FALLBACK_SCALARS["JSON"]),
            record_version=_object(type_map["RecordVersion"])
            if "RecordVersion" in type_map
            else None,
        )
        for scalar in (static.date_time, static.date):
            _serialize_stored_text(scalar)
        types = build_dataset_types(datasets, static, _resolve_value, resolve_history, shown)
        roots = root_fields(types, static, _resolve_root)
        assert core.query_type is not None
        base_query = core.query_type
        query = GraphQLObjectType(
            "Query",
            lambda: {**base_query.fields, **roots},
            description=base_query.description,
        )
        extra: list[Any] = []
        for t in types.values():
            extra.extend([t.object_type, t.connection])
        schema = GraphQLSchema(
            query=query,
            mutation=core.mutation_type,
            types=[t for t in core.type_map.values() if t is not base_query] + extra,
            directives=core.directives,
        )
        # Strawberry's Info reaches its own schema object through this attribute.
        schema._strawberry_schema = base  # type: ignore[attr-defined]
        generated = cls(schema, {d.code: d.key_field for d in datasets})
        generated.runner = Runner(schema, services, max_page)
        # Generated root fields find the runner of the schema they run in (one per variant).
        schema.extensions[_GENERATED] = generated
        return generated

    def planner(self, document: DocumentNode, schema: GraphQLSchema) -> DocumentPlan | None:
        return plan_document(document, schema, self.key_fields)


def _object(t: Any) -> GraphQLObjectType:
    assert isinstance(t, GraphQLObjectType)
    return t


def _scalar(t: Any) -> GraphQLScalarType:
    assert isinstance(t, GraphQLScalarType)
    return t


def _serialize_stored_text(scalar: GraphQLScalarType) -> None:
    """Record dates and times arrive from the compiled JSON as their stored ISO text, which is
    already what the fast path sends; under normal execution (e.g. beside ``history``) the
    scalar must pass that text through, not expect a ``datetime``. Idempotent."""
    # graphql-core 3.3 calls coerce_output_value; older releases call serialize.
    for attribute in ("coerce_output_value", "serialize"):
        original = getattr(scalar, attribute, None)
        if original is None or getattr(original, "_passes_text", False):
            continue
        setattr(scalar, attribute, _passing_text(original))


def _passing_text(original: Any) -> Any:
    def coerce(value: Any) -> Any:
        return value if isinstance(value, str) else original(value)

    coerce._passes_text = True  # type: ignore[attr-defined]
    return coerce


def _resolve_value(source: Any, info: GraphQLResolveInfo, **_args: Any) -> Any:
    """Nested generated fields read the compiled JSON by response key (aliases included)."""
    if source is None:
        return None
    return source.get(info.path.key)


async def _resolve_root(_source: Any, info: GraphQLResolveInfo, **_args: Any) -> Any:
    """A generated root field under normal execution: compile just this field's subtree."""
    generated: GeneratedSchema = info.schema.extensions[_GENERATED]
    assert info.schema.query_type is not None
    operation = OperationDefinitionNode(
        operation=info.operation.operation,
        selection_set=SelectionSetNode(selections=tuple(info.field_nodes)),
        variable_definitions=(),
    )
    try:
        plan = plan_fields(
            [operation.selection_set],
            info.schema.query_type,
            info.fragments,
            operation,
            generated.key_fields,
            allow_history=True,
        )
    except NotCompilable as exc:
        raise NotImplementedError(f"cannot serve this selection ({exc})") from None
    assert plan is not None and generated.runner is not None
    ctx: Context = info.context
    outcome = await generated.runner.run(plan, info.variable_values, ctx, has_history=True)
    if outcome is None or outcome.data is None:
        return None
    # A root field's subtree compiles with paths from the response root already.
    ctx.extra_errors.extend(outcome.errors)
    data = orjson.loads(outcome.data)
    return data.get(info.path.key)


__all__ = ["GeneratedSchema"]
