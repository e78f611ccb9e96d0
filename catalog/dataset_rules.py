"""The rules a dataset definition must keep, checked at creation, revision and publication.

Invariants: the key field exists and is required; one authoritative dataset per entity kind and
identifier (001 Điều 4.4, 10.5: never collect twice) unless a dataset declares itself a
reference to it; every GraphQL name a dataset generates is its own (never the hub's, never
another dataset's, never one of its other fields'); a published dataset only grows compatibly,
and loosening sensitivity is a breaking change (DESIGN.md §3).

A dataset the caller may not see does not exist for it, in these messages too: a reference or
``referenceOf`` naming another agency's draft is answered exactly as one naming no dataset. The
catalogue's names (codes and the GraphQL names they generate) are one namespace shared by every
agency, so a clash with a hidden draft is refused — saying only that the name is taken, never
the other dataset's code, owner, fields or status.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import policy
from catalog.dataset_names import (
    TYPED_STATUSES,
    check_graphql_names,
    check_hub_names,
    check_other_names,
    name_holders,
    reverse_lists,
)
from catalog.errors import Conflict, InvalidInput
from catalog.fields import NamedField, check_exposed_names, refuse_secret, validate_field_list
from catalog.models import Dataset, DatasetField
from catalog.naming import HUB_NAMES, SNAKE_CASE, HubNames
from catalog.principal import Principal
from catalog.specs import ENTITY_KINDS, SENSITIVITIES, DatasetSpec, FieldSpec

# Openness order: moving left loosens (a breaking change), moving right tightens (at once).
_OPENNESS = {"PUBLIC": 0, "INTERNAL": 1, "RESTRICTED": 2}


async def validate_dataset(
    session: AsyncSession,
    principal: Principal,
    spec: DatasetSpec,
    revising: Dataset | None = None,
    hub_names: HubNames = HUB_NAMES,
) -> None:
    """``InvalidInput`` or ``Conflict`` naming the first rule ``spec`` breaks, as ``principal``
    may know it (hidden datasets are absent)."""
    code = spec.code
    if not SNAKE_CASE.fullmatch(code):
        raise InvalidInput(f"dataset code must be snake_case (a-z, 0-9, _), got {code!r}")
    if len(code) > 63:
        raise InvalidInput(f"dataset code must be at most 63 characters, got {len(code)}: {code!r}")
    place = f"dataset '{code}'"
    refuse_secret(spec.sensitivity, place)
    if spec.sensitivity not in SENSITIVITIES:
        raise InvalidInput(
            f"{place}: sensitivity must be one of {', '.join(SENSITIVITIES)}, "
            f"got {spec.sensitivity!r}"
        )
    if spec.entity_kind not in ENTITY_KINDS:
        raise InvalidInput(
            f"{place}: entityKind must be one of {', '.join(ENTITY_KINDS)}, "
            f"got {spec.entity_kind!r}"
        )
    for label, value in (("title", spec.title), ("sector", spec.sector)):
        if not value or not value.strip():
            raise InvalidInput(f"{place}: {label} must not be empty")
    if len(spec.sector.strip()) > 64:  # its column's width; longer failed as INTERNAL
        raise InvalidInput(
            f"{place}: sector must be at most 64 characters, got {len(spec.sector.strip())}"
        )
    validate_field_list(spec.fields, code)
    by_name = {f.name: f for f in spec.fields}
    key = by_name.get(spec.key_field)
    if key is None:
        raise InvalidInput(f"{place}: key field '{spec.key_field}' is not one of its fields")
    if not key.required:
        raise InvalidInput(f"{place}: key field '{spec.key_field}' must be required")
    if key.type not in ("string", "int", "reference", "enum"):
        raise InvalidInput(f"{place}: key field '{spec.key_field}' cannot be of type {key.type}")
    await check_graphql_names(session, principal, spec, hub_names)
    target_keys = {code: spec.key_field}
    for field in spec.fields:
        if field.references:
            target, target_key = await _check_reference(session, principal, spec, field)
            target_keys[target] = target_key
    reverse = await reverse_lists(session, code) if revising is not None else {}
    check_exposed_names(spec.fields, code, target_keys, reverse)
    await _check_single_authority(session, principal, spec, key)


async def check_publishable(
    session: AsyncSession, dataset: Dataset, hub_names: HubNames = HUB_NAMES
) -> None:
    """``Conflict`` if ``dataset`` cannot go live beside the typed catalogue: a row written
    before these rules (or by hand) may clash, and a clash must not reach the live schema."""
    try:
        check_hub_names(dataset.code, dataset.graphql_single, dataset.graphql_list, hub_names)
        others = await name_holders(session, dataset.code, typed_only=True)
        check_other_names(dataset.code, dataset.graphql_single, dataset.graphql_list, others, None)
        targets = await session.scalars(
            select(Dataset).where(
                Dataset.code.in_({f.references for f in dataset.fields if f.references}),
                Dataset.status.in_(TYPED_STATUSES),
            )
        )
        keys = {t.code: t.key_field for t in targets} | {dataset.code: dataset.key_field}
        check_exposed_names(
            dataset.fields, dataset.code, keys, await reverse_lists(session, dataset.code)
        )
    except InvalidInput as exc:
        raise Conflict(
            f"publishDataset: dataset '{dataset.code}' cannot go live: {exc.message}; "
            "it stays SUBMITTED"
        ) from None
    key = next((f for f in dataset.fields if f.name == dataset.key_field), None)
    if key is not None:
        await _check_authority_at_publish(session, dataset, key)


async def typed_neighbours(session: AsyncSession, dataset: Dataset) -> list[Dataset]:
    """The typed datasets ``dataset`` references or that reference it: what its generated
    types are built with."""
    targets = {f.references for f in dataset.fields if f.references} - {dataset.code}
    children = select(DatasetField.dataset_code).where(DatasetField.references == dataset.code)
    rows = await session.scalars(
        select(Dataset).where(
            Dataset.status.in_(TYPED_STATUSES),
            Dataset.code != dataset.code,
            Dataset.code.in_(targets) | Dataset.code.in_(children),
        )
    )
    return list(rows)


def breaking_changes(dataset: Dataset, spec: DatasetSpec) -> list[str]:
    """What in ``spec`` would break clients or loosen access of published ``dataset``."""
    new = {f.name: f for f in spec.fields}
    problems = []
    if _loosens(dataset.sensitivity, spec.sensitivity):
        problems.append(
            f"the sensitivity of dataset '{dataset.code}' loosens from {dataset.sensitivity} "
            f"to {spec.sensitivity}"
        )
    if spec.key_field != dataset.key_field:
        problems.append(f"the key field changes from '{dataset.key_field}'")
    for old in dataset.fields:
        now = new.get(old.name)
        if now is None:
            problems.append(f"field '{old.name}' is removed")
            continue
        for attr in ("type", "encrypted"):
            if getattr(now, attr) != getattr(old, attr):
                problems.append(f"field '{old.name}' changes {attr}")
        if _loosens(old.sensitivity, now.sensitivity):
            problems.append(
                f"the sensitivity of field '{old.name}' loosens from {old.sensitivity} "
                f"to {now.sensitivity}"
            )
        # Stored as the dataset code; the input may say "business.tax_code".
        if reference_target(now.references) != old.references:
            problems.append(f"field '{old.name}' changes references")
        if now.required and not old.required:
            problems.append(f"field '{old.name}' becomes required")
        if (
            tuple(old.enum_values or ())
            != tuple(now.enum_values or ())[: len(old.enum_values or ())]
        ):
            problems.append(f"field '{old.name}' loses or reorders enum values")
    old_names = {f.name for f in dataset.fields}
    for name, field in new.items():
        if name not in old_names and field.required:
            problems.append(f"new field '{name}' is required")
    return problems


def identifier_of(key: FieldSpec | DatasetField | NamedField) -> str:
    """What a dataset's key identifies: its PII kind (tax_code, citizen_id…) or its name."""
    return getattr(key, "pii_kind", None) or key.name


def reference_target(references: str | None) -> str | None:
    return (references or "").partition(".")[0] or None


def _loosens(old: str, new: str) -> bool:
    return _OPENNESS.get(new, 2) < _OPENNESS.get(old, 2)


async def _visible(session: AsyncSession, principal: Principal, code: str) -> Dataset | None:
    """The dataset if the caller may know it exists (no existence oracle)."""
    if not SNAKE_CASE.fullmatch(code) or len(code) > 63:
        return None  # no stored code looks like this; no need to ask
    dataset = await session.get(Dataset, code)
    if dataset is None or not policy.can_see_dataset(principal, dataset):
        return None
    return dataset


# -- references and authority -------------------------------------------------------------------


async def _check_reference(
    session: AsyncSession, principal: Principal, spec: DatasetSpec, field: FieldSpec
) -> tuple[str, str]:
    """The referenced dataset's code and key field, or ``InvalidInput``."""
    target_code, _, target_field = (field.references or "").partition(".")
    place = f"field '{field.name}' of dataset '{spec.code}'"
    if target_code == spec.code:
        target_key, target_fields = spec.key_field, {f.name for f in spec.fields}
    else:
        target = await _visible(session, principal, target_code)
        if target is None:
            # Whatever field it names: a hidden dataset is answered as a missing one.
            raise InvalidInput(f"{place}: references dataset '{target_code}', which does not exist")
        target_key, target_fields = target.key_field, {f.name for f in target.fields}
    if target_field and target_field not in target_fields:
        raise InvalidInput(
            f"{place}: references field '{target_field}' of dataset '{target_code}', "
            "which does not exist"
        )
    if target_field and target_field != target_key:
        raise InvalidInput(
            f"{place}: a reference must point at the key field of '{target_code}' "
            f"('{target_key}'), not '{target_field}'"
        )
    return target_code, target_key


async def _check_single_authority(
    session: AsyncSession, principal: Principal, spec: DatasetSpec, key: FieldSpec
) -> None:
    # Checked for every entity kind: an unknown referenceOf would otherwise reach the foreign
    # key and fail as an internal error.
    if spec.reference_of is not None and (
        spec.reference_of == spec.code
        or await _visible(session, principal, spec.reference_of) is None
    ):
        raise InvalidInput(
            f"dataset '{spec.code}': referenceOf names '{spec.reference_of}', which does not exist"
        )
    if spec.entity_kind == "other":
        return
    rows = await session.scalars(
        select(Dataset).where(
            Dataset.entity_kind == spec.entity_kind,
            Dataset.status != "DEPRECATED",
            Dataset.code != spec.code,
            Dataset.reference_of.is_(None),
        )
    )
    for other in rows:
        # Another agency's draft is no authority the caller could build on, nor may it learn
        # of one; which of two drafts becomes the authority is settled at publication.
        if not policy.can_see_dataset(principal, other):
            continue
        _refuse_second_authority(spec.code, spec.entity_kind, key, spec.reference_of, other)


async def _check_authority_at_publish(
    session: AsyncSession, dataset: Dataset, key: DatasetField
) -> None:
    if dataset.entity_kind == "other" or dataset.reference_of is not None:
        return
    rows = await session.scalars(
        select(Dataset).where(
            Dataset.entity_kind == dataset.entity_kind,
            Dataset.status == "PUBLISHED",
            Dataset.code != dataset.code,
            Dataset.reference_of.is_(None),
        )
    )
    for other in rows:
        try:
            _refuse_second_authority(dataset.code, dataset.entity_kind, key, None, other)
        except Conflict as exc:
            raise Conflict(f"publishDataset: {exc.message}") from None


def _refuse_second_authority(
    code: str, kind: str, key: NamedField, reference_of: str | None, other: Dataset
) -> None:
    other_key = next((f for f in other.fields if f.name == other.key_field), None)
    if other_key is None or identifier_of(other_key) != identifier_of(key):
        return
    if reference_of == other.code:
        return
    raise Conflict(
        f"dataset '{code}' would hold {kind} entities keyed by "
        f"{identifier_of(key)}, which dataset '{other.code}' of agency '{other.owner_code}' "
        f'already holds authoritatively; declare referenceOf: "{other.code}" to build on '
        "it instead of collecting the data again (001 Điều 4.4, 10.5)"
    )


__all__ = [
    "TYPED_STATUSES",
    "breaking_changes",
    "check_publishable",
    "identifier_of",
    "reference_target",
    "typed_neighbours",
    "validate_dataset",
]
