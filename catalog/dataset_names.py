"""The GraphQL names a dataset generates are its own (DESIGN.md §10).

Invariant: a dataset's types (``LandParcel``, its edge, connection, filter and order enum) and
root fields (``landParcel``, ``landParcelList``) are never the hub's own — its static types and
root fields, and the filter inputs it shares between datasets (``StringExactFilter``…) — nor
another dataset's; one clash made the whole live schema unbuildable. Codes and generated names
are one namespace for every agency: a clash with a dataset the caller may not see is refused
saying only that the name is taken.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import policy
from catalog.errors import InvalidInput
from catalog.models import Dataset, DatasetField
from catalog.naming import GRAPHQL_NAME, HubNames, camel, generated_type_names, root_field_names
from catalog.principal import Principal
from catalog.specs import DatasetSpec

TYPED_STATUSES = ("PUBLISHED", "DEPRECATED")


async def check_graphql_names(
    session: AsyncSession, principal: Principal, spec: DatasetSpec, hub_names: HubNames
) -> None:
    # One clash made the whole live schema unbuildable, so it is refused at registration.
    check_hub_names(spec.code, spec.graphql_single, spec.graphql_list, hub_names)
    others = await name_holders(session, spec.code, typed_only=False)
    check_other_names(spec.code, spec.graphql_single, spec.graphql_list, others, principal)


def check_hub_names(code: str, single: str | None, plural: str | None, hub_names: HubNames) -> None:
    place = f"dataset '{code}'"
    for name in sorted(root_field_names(code, single, plural)):
        if not GRAPHQL_NAME.fullmatch(name):
            raise InvalidInput(f"{place}: '{name}' is not a GraphQL name")
        if name in hub_names.root_fields:
            raise InvalidInput(f"{place}: GraphQL name '{name}' is taken by the hub's own API")
    taken = sorted(generated_type_names(code) & hub_names.types)
    if taken:
        listed = ", ".join(f"'{t}'" for t in taken)
        noun = "type" if len(taken) == 1 else "types"
        verb = "is" if len(taken) == 1 else "are"
        raise InvalidInput(
            f"{place}: GraphQL {noun} {listed} {verb} taken by the hub's API; choose another code"
        )


async def name_holders(session: AsyncSession, code: str, *, typed_only: bool) -> list[Dataset]:
    """Other datasets with just what their names and visibility need (transient rows: the
    session's own copies stay whole)."""
    stmt = select(
        Dataset.code,
        Dataset.graphql_single,
        Dataset.graphql_list,
        Dataset.status,
        Dataset.sensitivity,
        Dataset.owner_code,
    ).where(Dataset.code != code)
    if typed_only:
        stmt = stmt.where(Dataset.status.in_(TYPED_STATUSES))
    rows = await session.execute(stmt.order_by(Dataset.code))
    return [
        Dataset(
            code=r.code,
            graphql_single=r.graphql_single,
            graphql_list=r.graphql_list,
            status=r.status,
            sensitivity=r.sensitivity,
            owner_code=r.owner_code,
        )
        for r in rows
    ]


def check_other_names(
    code: str,
    single: str | None,
    plural: str | None,
    others: list[Dataset],
    principal: Principal | None,
) -> None:
    """``principal`` None: the caller sees every dataset (a steward publishing)."""
    roots = root_field_names(code, single, plural)
    types = generated_type_names(code)
    for other in others:
        clash = roots & root_field_names(other.code, other.graphql_single, other.graphql_list)
        clash = clash or types & generated_type_names(other.code)
        if not clash:
            continue
        name = sorted(clash)[0]
        if principal is None or policy.can_see_dataset(principal, other):
            raise InvalidInput(
                f"dataset '{code}': GraphQL name '{name}' is already used by dataset "
                f"'{other.code}'; choose another code"
            )
        raise InvalidInput(
            f"dataset '{code}': GraphQL name '{name}' is already taken by another dataset; "
            "choose another code"
        )


async def reverse_lists(session: AsyncSession, code: str) -> dict[str, str]:
    """GraphQL names of the lists that typed datasets referencing ``code`` add to its type."""
    rows = await session.execute(
        select(DatasetField.dataset_code)
        .join(Dataset, Dataset.code == DatasetField.dataset_code)
        .where(
            DatasetField.references == code,
            DatasetField.type == "reference",
            Dataset.status.in_(TYPED_STATUSES),
            Dataset.code != code,
        )
    )
    return {camel(child) + "List": child for (child,) in rows}


__all__ = [
    "TYPED_STATUSES",
    "check_graphql_names",
    "check_hub_names",
    "check_other_names",
    "name_holders",
    "reverse_lists",
]
