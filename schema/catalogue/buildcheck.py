"""A catalogue row can never take the live schema down.

Two guards, one per moment:
- before a publication commits, ``check_builds`` builds and validates the dataset's generated
  types beside its neighbours (``Conflict`` when they fail: the row stays SUBMITTED);
- when a hub process builds its schema, ``build_skipping`` leaves out each dataset whose names
  clash or whose types fail, logs it by code, and builds the rest, so a row written before
  these rules (or by hand) costs its own types only, and the hub still starts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from graphql import GraphQLSchema, validate_schema

from catalog.errors import Conflict
from catalog.models import Dataset
from catalog.naming import HubNames, generated_type_names, root_field_names

if TYPE_CHECKING:
    from schema.records.generated import GeneratedSchema

log = logging.getLogger(__name__)

Built = TypeVar("Built")


@functools.cache
def hub_names() -> HubNames:
    """The names the running hub's static schema takes (types and root query fields)."""
    from schema.build import static_schema

    core = static_schema()._schema
    assert core.query_type is not None
    return HubNames().with_schema(core.type_map, core.query_type.fields)


def check_builds(dataset: Dataset, neighbours: Sequence[Dataset], action: str) -> None:
    """``Conflict`` unless ``dataset``'s generated types build and validate beside the static
    schema and ``neighbours`` (the typed datasets it references or that reference it).

    Names shared with the rest of the catalogue are checked by ``catalog.dataset_rules``; this
    catches whatever else would make a build fail, before the row is committed."""
    reason = _build_failure([dataset, *neighbours])
    if reason is not None:
        raise Conflict(
            f"{action}: the schema with dataset '{dataset.code}' cannot be built ({reason}); "
            "the dataset is left as it was"
        )


@dataclass
class Skipped:
    """Datasets left out of a build, by code, with why (for logs and ``/readyz``)."""

    reasons: dict[str, str] = field(default_factory=dict)


def build_skipping(
    build: Callable[[Sequence[Dataset]], Built],
    schema_of: Callable[[Built], GraphQLSchema],
    datasets: Sequence[Dataset],
    skipped: Skipped | None = None,
) -> Built:
    """``build(datasets)`` without the datasets that cannot be part of it.

    Datasets whose generated type or root names clash are screened out first (the earlier
    registered keeps its names; fields that would hide each other do not break a build and
    are refused at publication instead); if the build still fails or does not validate,
    each remaining dataset is tried on its own and the failing ones are left out. Every
    left-out dataset is logged with its code and the reason, never record values."""
    out = skipped if skipped is not None else Skipped()
    kept = _screen_names(datasets, out)
    try:
        built = build(kept)
        if not validate_schema(schema_of(built)):
            return built
    except Exception as exc:  # the build's own errors are the reason to look closer
        log.warning("schema build failed (%s); looking for the dataset that breaks it", type(exc))
    good = []
    for dataset in kept:
        reason = _build_failure([dataset])
        if reason is None:
            good.append(dataset)
        else:
            _skip(out, dataset.code, reason)
    return build(good)


def _screen_names(datasets: Sequence[Dataset], out: Skipped) -> list[Dataset]:
    names = hub_names()
    taken_types: dict[str, str] = {}
    taken_roots: dict[str, str] = {}
    kept: set[str] = set()
    ordered = sorted(datasets, key=lambda d: (d.created_at is None, d.created_at, d.code))
    for dataset in ordered:
        types = generated_type_names(dataset.code)
        roots = root_field_names(dataset.code, dataset.graphql_single, dataset.graphql_list)
        clash = sorted((types & names.types) | (roots & names.root_fields))
        if clash:
            _skip(out, dataset.code, f"GraphQL name '{clash[0]}' is taken by the hub's API")
            continue
        holder = next((taken_types[t] for t in types if t in taken_types), None)
        holder = holder or next((taken_roots[r] for r in roots if r in taken_roots), None)
        if holder is not None:
            _skip(out, dataset.code, f"its GraphQL names clash with dataset '{holder}'")
            continue
        taken_types.update(dict.fromkeys(types, dataset.code))
        taken_roots.update(dict.fromkeys(roots, dataset.code))
        kept.add(dataset.code)
    return [d for d in datasets if d.code in kept]


def _build_failure(datasets: Sequence[Dataset]) -> str | None:
    """Why a schema of the static part and ``datasets`` fails, or None."""
    from schema.build import static_schema
    from schema.records.generated import GeneratedSchema

    try:
        generated: GeneratedSchema = GeneratedSchema.build(static_schema(), datasets, None, 100)
        errors = validate_schema(generated.schema)
    except Exception as exc:  # any failure of the build is what is asked for
        return _first_line(str(exc)) or type(exc).__name__
    return _first_line(errors[0].message) if errors else None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def _skip(out: Skipped, code: str, reason: str) -> None:
    out.reasons[code] = reason
    log.warning("dataset %s left out of the GraphQL schema: %s", code, reason)


__all__ = ["Skipped", "build_skipping", "check_builds", "hub_names"]
