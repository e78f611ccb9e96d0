"""GraphQL types generated from published datasets (DESIGN.md §10).

``land_parcel`` gives type ``LandParcel``, root fields ``landParcel(key:, asOf:)`` and
``landParcelList(filter:, orderBy:, first:, after:)`` (a Relay connection), filter input
``LandParcelFilter`` with per-field operators, order enum ``LandParcelOrderBy``, reference
fields (``holder_tax_code → business`` gives ``holder``) and reverse lists
(``Business.landParcelList``). Each generated field carries a ``FieldRole`` in its
``extensions["hub"]``, which the compiler reads instead of guessing from names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLFieldResolver,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLString,
)

from catalog.models import Dataset, DatasetField
from catalog.naming import camel, pascal, reference_name

OPERATORS_BY_TYPE = {
    "string": ("eq", "in", "contains", "gte", "lte"),
    "reference": ("eq", "in"),
    "enum": ("eq", "in"),
    "int": ("eq", "in", "gte", "lte"),
    "decimal": ("eq", "in", "gte", "lte"),
    "date": ("eq", "in", "gte", "lte"),
    "datetime": ("eq", "in", "gte", "lte"),
    "bool": ("eq",),
}
ENCRYPTED_OPERATORS = ("eq", "in")


FieldShown = Callable[[DatasetField], bool]


@dataclass(frozen=True, slots=True)
class FieldRole:
    """What a generated field is, for the compiler."""

    kind: str  # "value" | "reference" | "reverse" | "history"
    dataset: str
    field: str | None = None  # catalogue field name (value, reference; reverse: child's field)
    target: str | None = None  # reference target / reverse child dataset


@dataclass(frozen=True, slots=True)
class RootRole:
    kind: str  # "single" | "list"
    dataset: str


@dataclass
class DatasetTypes:
    dataset: Dataset
    object_type: GraphQLObjectType
    connection: GraphQLObjectType
    filter_input: GraphQLInputObjectType | None
    order_enum: GraphQLEnumType | None


@dataclass(frozen=True, slots=True)
class StaticTypes:
    page_info: GraphQLObjectType
    date_time: GraphQLScalarType
    date: GraphQLScalarType
    json: GraphQLScalarType
    record_version: GraphQLObjectType | None


def build_dataset_types(
    datasets: Sequence[Dataset],
    static: StaticTypes,
    resolve_value: GraphQLFieldResolver,
    resolve_history: GraphQLFieldResolver | None,
    shown: FieldShown | None = None,
) -> dict[str, DatasetTypes]:
    """One ``DatasetTypes`` per dataset, with references resolved among them (datasets that
    reference an unpublished one simply lack that reference field). With ``shown``, only the
    fields it accepts exist in the types (the anonymous schema: PUBLIC fields only)."""
    by_code = {d.code: d for d in datasets}
    # Plain lists read once: ORM attribute access is slow, and the reverse index keeps the
    # build linear in the catalogue's size (it was datasets² × fields).
    fields_of = {d.code: [f for f in d.fields if shown is None or shown(f)] for d in datasets}
    children: dict[str, list[tuple[str, DatasetField]]] = {}
    for d in datasets:
        for cf in fields_of[d.code]:
            if cf.type == "reference" and cf.references in by_code:
                children.setdefault(cf.references, []).append((d.code, cf))
    types: dict[str, DatasetTypes] = {}
    operator_inputs: dict[tuple[str, tuple[str, ...]], GraphQLInputObjectType] = {}
    filter_inputs = {
        d.code: _filter_input(d, fields_of[d.code], static, operator_inputs) for d in datasets
    }
    order_enums = {d.code: _order_enum(d, fields_of[d.code]) for d in datasets}

    def object_fields(dataset: Dataset) -> Callable[[], dict[str, GraphQLField]]:
        def thunk() -> dict[str, GraphQLField]:
            fields: dict[str, GraphQLField] = {}
            for f in fields_of[dataset.code]:
                fields[camel(f.name)] = GraphQLField(
                    _scalar_for(f, static),
                    description=f.description,
                    resolve=resolve_value,
                    extensions={"hub": FieldRole("value", dataset.code, f.name)},
                )
                target = by_code.get(f.references or "")
                if f.type == "reference" and target is not None:
                    name = reference_name(f.name, target.key_field)
                    if name not in fields:
                        fields[name] = GraphQLField(
                            types[target.code].object_type,
                            description=f"The {target.code} record that {f.name} names.",
                            resolve=resolve_value,
                            extensions={
                                "hub": FieldRole("reference", dataset.code, f.name, target.code)
                            },
                        )
            for child_code, cf in children.get(dataset.code, ()):
                name = camel(child_code) + "List"
                if name in fields:
                    name = camel(child_code) + "ListBy" + pascal(cf.name)
                fields[name] = GraphQLField(
                    GraphQLNonNull(types[child_code].connection),
                    args=_list_args(types[child_code]),
                    description=f"{child_code} records whose {cf.name} names this one.",
                    resolve=resolve_value,
                    extensions={"hub": FieldRole("reverse", dataset.code, cf.name, child_code)},
                )
            if resolve_history is not None and static.record_version is not None:
                fields["history"] = GraphQLField(
                    GraphQLNonNull(GraphQLList(GraphQLNonNull(static.record_version))),
                    description="Every version of this record, newest first.",
                    resolve=resolve_history,
                    extensions={"hub": FieldRole("history", dataset.code)},
                )
            return fields

        return thunk

    for dataset in datasets:
        name = pascal(dataset.code)
        obj = GraphQLObjectType(name, object_fields(dataset), description=dataset.title)
        edge = GraphQLObjectType(
            name + "Edge",
            {
                "node": GraphQLField(GraphQLNonNull(obj), resolve=resolve_value),
                "cursor": GraphQLField(GraphQLNonNull(GraphQLString), resolve=resolve_value),
            },
        )
        connection = GraphQLObjectType(
            name + "Connection",
            {
                "edges": GraphQLField(
                    GraphQLNonNull(GraphQLList(GraphQLNonNull(edge))), resolve=resolve_value
                ),
                "pageInfo": GraphQLField(GraphQLNonNull(static.page_info), resolve=resolve_value),
                "totalCount": GraphQLField(GraphQLInt, resolve=resolve_value),
            },
        )
        types[dataset.code] = DatasetTypes(
            dataset, obj, connection, filter_inputs[dataset.code], order_enums[dataset.code]
        )
    return types


def root_fields(
    types: dict[str, DatasetTypes],
    static: StaticTypes,
    resolve_root: GraphQLFieldResolver,
) -> dict[str, GraphQLField]:
    fields: dict[str, GraphQLField] = {}
    for code, t in types.items():
        d = t.dataset
        fields[d.graphql_single] = GraphQLField(
            t.object_type,
            args={
                "key": GraphQLArgument(GraphQLNonNull(GraphQLString), description=d.key_field),
                "asOf": GraphQLArgument(
                    static.date_time, description="Read the record as it was at this time."
                ),
                "purpose": _purpose_argument(),
            },
            description=f"One {code} record by {d.key_field}.",
            deprecation_reason=_deprecation(d),
            resolve=resolve_root,
            extensions={"hub": RootRole("single", code)},
        )
        fields[d.graphql_list] = GraphQLField(
            GraphQLNonNull(t.connection),
            args={**_list_args(t), "purpose": _purpose_argument()},
            description=f"{t.dataset.title}: a page of records.",
            deprecation_reason=_deprecation(d),
            resolve=resolve_root,
            extensions={"hub": RootRole("list", code)},
        )
    return fields


def _purpose_argument() -> GraphQLArgument:
    # DESIGN §5: the purpose of reading RESTRICTED fields, as the X-Purpose header states it.
    return GraphQLArgument(
        GraphQLString,
        description="Why RESTRICTED fields under this field are read (logged with the read); "
        "counts as the X-Purpose header for this field.",
    )


def _deprecation(dataset: Dataset) -> str | None:
    if dataset.status != "DEPRECATED":
        return None
    return dataset.deprecation_reason or "deprecated by its owner"


def _list_args(t: DatasetTypes) -> dict[str, GraphQLArgument]:
    args = {
        "first": GraphQLArgument(GraphQLInt, default_value=20),
        "after": GraphQLArgument(GraphQLString),
    }
    if t.order_enum is not None:
        args = {"orderBy": GraphQLArgument(t.order_enum), **args}
    if t.filter_input is not None:
        args = {"filter": GraphQLArgument(t.filter_input), **args}
    return args


def _scalar_for(field: DatasetField, static: StaticTypes) -> GraphQLOutputType:
    return {
        "int": GraphQLInt,
        "bool": GraphQLBoolean,
        "date": static.date,
        "datetime": static.date_time,
        "json": static.json,
    }.get(field.type, GraphQLString)


def _operator_input(
    field: DatasetField,
    static: StaticTypes,
    made_inputs: dict[tuple[str, tuple[str, ...]], GraphQLInputObjectType],
) -> GraphQLInputObjectType:
    scalar = _input_scalar(field, static)
    ops = ENCRYPTED_OPERATORS if field.encrypted else OPERATORS_BY_TYPE[field.type]
    cache_key = (scalar.name, ops)
    existing = made_inputs.get(cache_key)
    if existing is not None:
        return existing
    made = GraphQLInputObjectType(
        f"{scalar.name}{_SUFFIX_BY_OPERATORS[ops]}Filter",
        {
            op: GraphQLInputField(
                GraphQLList(GraphQLNonNull(scalar)) if op == "in" else scalar,
                description=_OP_DESCRIPTIONS[op],
            )
            for op in ops
        },
    )
    made_inputs[cache_key] = made
    return made


_OP_DESCRIPTIONS = {
    "eq": "equal to",
    "in": "one of (at most 1000)",
    "contains": "contains, ignoring case",
    "gte": "greater than or equal to",
    "lte": "less than or equal to",
}


def _input_scalar(field: DatasetField, static: StaticTypes) -> GraphQLScalarType:
    if field.type == "int":
        return GraphQLInt
    if field.type == "bool":
        return GraphQLBoolean
    if field.type == "date":
        return static.date
    if field.type == "datetime":
        return static.date_time
    return GraphQLString


# One input type per (scalar, operator set): StringFilter, StringExactFilter, IntRangeFilter…
_SUFFIX_BY_OPERATORS = {
    ("eq", "in", "contains", "gte", "lte"): "",
    ("eq", "in", "gte", "lte"): "Range",
    ("eq", "in"): "Exact",
    ("eq",): "",
}


def _filter_input(
    dataset: Dataset,
    shown_fields: Sequence[DatasetField],
    static: StaticTypes,
    made_inputs: dict[tuple[str, tuple[str, ...]], GraphQLInputObjectType],
) -> GraphQLInputObjectType | None:
    filterable = [f for f in shown_fields if f.filterable]
    if not filterable:
        return None
    return GraphQLInputObjectType(
        pascal(dataset.code) + "Filter",
        lambda: {
            camel(f.name): GraphQLInputField(
                _operator_input(f, static, made_inputs), extensions={"hub": f.name}
            )
            for f in filterable
        },
        description="All conditions must hold.",
    )


def orderable_fields(
    dataset: Dataset, shown_fields: Sequence[DatasetField] | None = None
) -> list[DatasetField]:
    """Keyset pagination needs non-null sort values: required, filterable, not encrypted."""
    return [
        f
        for f in (dataset.fields if shown_fields is None else shown_fields)
        if (f.name == dataset.key_field or (f.filterable and f.required)) and not f.encrypted
    ]


def _order_enum(dataset: Dataset, shown_fields: Sequence[DatasetField]) -> GraphQLEnumType | None:
    """None when nothing is orderable (an enum needs a value; the list then has no orderBy)."""
    values: dict[str, GraphQLEnumValue] = {}
    for f in orderable_fields(dataset, shown_fields):
        for direction in ("ASC", "DESC"):
            values[f"{f.name.upper()}_{direction}"] = GraphQLEnumValue((f.name, direction))
    if not values:
        return None
    return GraphQLEnumType(pascal(dataset.code) + "OrderBy", values)


__all__ = [
    "DatasetTypes",
    "FieldRole",
    "FieldShown",
    "RootRole",
    "StaticTypes",
    "build_dataset_types",
    "orderable_fields",
    "root_fields",
]
