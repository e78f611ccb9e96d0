"""Datasets of the catalogue and their lifecycle DRAFT → SUBMITTED → PUBLISHED → DEPRECATED.

Invariants: codes are snake_case and unique; the key field exists and is required; one
authoritative dataset per entity kind and identifier (001 Điều 4.4, 10.5: never collect twice)
unless a dataset declares itself a reference to it; a published dataset only grows compatibly.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import policy
from catalog.audit import EventDraft, append_event
from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.fields import refuse_secret, validate_field_list
from catalog.indexes import ensure_indexes, ensure_partition
from catalog.models import Agency, Dataset, DatasetField
from catalog.naming import (
    RESERVED_ROOT_FIELDS,
    RESERVED_TYPE_NAMES,
    SNAKE_CASE,
    default_list,
    default_single,
    pascal,
)
from catalog.principal import Principal
from catalog.rowfilter import escape_like
from catalog.specs import ENTITY_KINDS, SENSITIVITIES, DatasetSpec, FieldSpec

MAX_PAGE = 100


@dataclass(frozen=True, slots=True)
class DatasetQuery:
    sector: str | None = None
    owner: str | None = None
    status: str | None = None
    text: str | None = None


async def get_dataset(session: AsyncSession, code: str) -> Dataset | None:
    return await session.get(Dataset, code)


async def visible_dataset(session: AsyncSession, principal: Principal, code: str) -> Dataset:
    """The dataset if the caller may know it exists; NotFound otherwise (no existence oracle)."""
    dataset = await get_dataset(session, code)
    if dataset is None or not policy.can_see_dataset(principal, dataset):
        raise NotFound(f"dataset '{code}' does not exist")
    return dataset


async def list_visible_datasets(
    session: AsyncSession,
    principal: Principal,
    query: DatasetQuery,
    *,
    after: str | None,
    first: int,
) -> tuple[list[Dataset], bool, int]:
    """One page of datasets the caller may see, ordered by code; returns (page, more, total)."""
    stmt = select(Dataset)
    if query.sector:
        stmt = stmt.where(Dataset.sector == query.sector)
    if query.owner:
        stmt = stmt.where(Dataset.owner_code == query.owner)
    if query.status:
        stmt = stmt.where(Dataset.status == query.status)
    if query.text:
        # 002 Điều 5.2: titles are stored NFC, so a decomposed (NFD) query must match them too.
        text = unicodedata.normalize("NFC", query.text)
        pattern = "%" + escape_like(text) + "%"
        stmt = stmt.where(
            or_(
                Dataset.code.ilike(pattern),
                Dataset.title.ilike(pattern),
                Dataset.description.ilike(pattern),
            )
        )
    stmt = stmt.where(_visibility_clause(principal))
    total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
    if after is not None:
        stmt = stmt.where(Dataset.code > after)
    rows = list(await session.scalars(stmt.order_by(Dataset.code).limit(first + 1)))
    return rows[:first], len(rows) > first, int(total or 0)


def _visibility_clause(principal: Principal):  # type: ignore[no-untyped-def]
    # Mirrors policy.can_see_dataset in SQL so pages and counts never include hidden entries.
    if principal.is_anonymous:
        return (Dataset.status == "PUBLISHED") & (Dataset.sensitivity == "PUBLIC")
    if principal.is_steward:
        return Dataset.status.is_not(None)
    return Dataset.status.in_(policy.VISIBLE_TO_ALL) | (Dataset.owner_code == principal.agency)


async def create_dataset(
    session: AsyncSession,
    principal: Principal,
    spec: DatasetSpec,
    owner_code: str | None = None,
    request_id: str | None = None,
) -> Dataset:
    """Register a DRAFT dataset owned by ``owner_code`` (default: the caller's agency)."""
    owner = owner_code or principal.agency
    policy.require_authenticated(principal, "createDataset")
    if owner is None:
        raise InvalidInput("createDataset: the caller has no agency; name the owner agency")
    policy.require_dataset_manager(principal, owner, "createDataset")
    if await session.get(Agency, owner) is None:
        raise NotFound(f"agency '{owner}' does not exist")
    spec = _with_default_names(spec)
    await validate_dataset(session, spec)
    if await session.get(Dataset, spec.code) is not None:
        raise Conflict(f"dataset '{spec.code}' already exists; choose another code")
    dataset = Dataset(
        code=spec.code,
        owner_code=owner,
        status="DRAFT",
        version=1,
        **_dataset_columns(spec),
        fields=_field_rows(spec.fields),
    )
    session.add(dataset)
    await session.flush()
    await ensure_partition(session, spec.code)
    await append_event(
        session, principal, EventDraft("catalog.create", dataset=spec.code), request_id
    )
    return dataset


async def submit_dataset(
    session: AsyncSession, principal: Principal, code: str, request_id: str | None = None
) -> Dataset:
    dataset = await visible_dataset(session, principal, code)
    policy.require_owner(principal, dataset.owner_code, "submitDataset")
    return await _move(session, principal, dataset, "DRAFT", "SUBMITTED", request_id)


async def publish_dataset(
    session: AsyncSession, principal: Principal, code: str, request_id: str | None = None
) -> Dataset:
    dataset = await visible_dataset(session, principal, code)
    policy.require_steward(principal, "publishDataset")
    # A reference target must itself be shareable before this one goes live.
    for field in dataset.fields:
        # A self-reference (a tree of items) goes live with the dataset itself.
        if field.references and field.references != dataset.code:
            target = await session.get(Dataset, field.references)
            if target is None or target.status not in ("PUBLISHED", "DEPRECATED"):
                raise Conflict(
                    f"publishDataset: field '{field.name}' references dataset "
                    f"'{field.references}', which is not published yet; publish it first"
                )
    published = await _move(session, principal, dataset, "SUBMITTED", "PUBLISHED", request_id)
    await ensure_indexes(session, published)
    return published


async def deprecate_dataset(
    session: AsyncSession,
    principal: Principal,
    code: str,
    reason: str,
    request_id: str | None = None,
) -> Dataset:
    dataset = await visible_dataset(session, principal, code)
    policy.require_dataset_manager(principal, dataset.owner_code, "deprecateDataset")
    if not reason.strip():
        raise InvalidInput("deprecateDataset: a reason is required")
    dataset.deprecation_reason = reason.strip()
    return await _move(
        session, principal, dataset, "PUBLISHED", "DEPRECATED", request_id, {"reason": reason}
    )


async def revise_dataset(
    session: AsyncSession,
    principal: Principal,
    spec: DatasetSpec,
    *,
    new_version: bool = False,
    request_id: str | None = None,
) -> Dataset:
    """Change a dataset's definition.

    DRAFT or SUBMITTED: replaced, back to DRAFT. PUBLISHED: compatible changes (new optional
    fields, wording) apply at once; a breaking change needs ``new_version`` and starts the next
    version as a DRAFT, which is submitted and published again.
    """
    dataset = await visible_dataset(session, principal, spec.code)
    policy.require_dataset_manager(principal, dataset.owner_code, "reviseDataset")
    spec = _with_default_names(spec)
    await validate_dataset(session, spec, revising=dataset)
    if dataset.status == "DEPRECATED":
        raise Conflict(f"reviseDataset: dataset '{spec.code}' is deprecated")
    breaking = _breaking_changes(dataset, spec)
    detail: dict[str, object] = {"from_version": dataset.version}
    if dataset.status == "PUBLISHED" and breaking:
        if not new_version:
            raise Conflict(
                f"reviseDataset: dataset '{spec.code}' is published and "
                f"{'; '.join(breaking)}; a breaking change needs newVersion: true"
            )
        dataset.version += 1
        dataset.status = "DRAFT"
        detail["breaking"] = breaking
    elif dataset.status == "SUBMITTED":
        dataset.status = "DRAFT"
    for column, value in _dataset_columns(spec).items():
        setattr(dataset, column, value)
    _sync_fields(dataset, spec.fields)
    await session.flush()
    detail["to_version"] = dataset.version
    if dataset.status == "PUBLISHED":
        await ensure_indexes(session, dataset)
    await append_event(
        session,
        principal,
        EventDraft("catalog.revise", dataset=spec.code, detail=detail),
        request_id,
    )
    return dataset


async def validate_dataset(
    session: AsyncSession, spec: DatasetSpec, revising: Dataset | None = None
) -> None:
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
    validate_field_list(spec.fields, code)
    by_name = {f.name: f for f in spec.fields}
    key = by_name.get(spec.key_field)
    if key is None:
        raise InvalidInput(f"{place}: key field '{spec.key_field}' is not one of its fields")
    if not key.required:
        raise InvalidInput(f"{place}: key field '{spec.key_field}' must be required")
    if key.type not in ("string", "int", "reference", "enum"):
        raise InvalidInput(f"{place}: key field '{spec.key_field}' cannot be of type {key.type}")
    await _check_graphql_names(session, spec)
    for field in spec.fields:
        if field.references:
            await _check_reference(session, spec, field)
    await _check_single_authority(session, spec, key, revising)


def _with_default_names(spec: DatasetSpec) -> DatasetSpec:
    return replace(
        spec,
        graphql_single=spec.graphql_single or default_single(spec.code),
        graphql_list=spec.graphql_list or default_list(spec.code),
    )


# Input and enum types of the contract; RESERVED_TYPE_NAMES holds only its object types.
_CONTRACT_INPUT_TYPES = frozenset(
    {
        "DatasetFilter",
        "DatasetInput",
        "FieldInput",
        "GrantRequestInput",
        "SearchFilter",
        "Sensitivity",
        "DatasetStatus",
        "GrantStatus",
        "SyncStatus",
    }
)
# Types generated per dataset (DESIGN.md §10): LandParcel, LandParcelFilter, its connection…
_GENERATED_TYPE_SUFFIXES = ("", "Filter", "OrderBy", "Edge", "Connection")


async def _check_graphql_names(session: AsyncSession, spec: DatasetSpec) -> None:
    # One clash makes the whole live schema unbuildable, so it is refused at registration.
    for name in (spec.graphql_single, spec.graphql_list):
        if name in RESERVED_ROOT_FIELDS:
            raise InvalidInput(
                f"dataset '{spec.code}': GraphQL name '{name}' is taken by the hub's own API"
            )
    my_types = {pascal(spec.code) + suffix for suffix in _GENERATED_TYPE_SUFFIXES}
    taken = my_types & (RESERVED_TYPE_NAMES | _CONTRACT_INPUT_TYPES)
    if taken:
        raise InvalidInput(
            f"dataset '{spec.code}': GraphQL type '{sorted(taken)[0]}' is taken by the hub's API"
        )
    mine = {n for n in (spec.graphql_single, spec.graphql_list) if n}
    others = await session.execute(
        select(Dataset.code, Dataset.graphql_single, Dataset.graphql_list).where(
            Dataset.code != spec.code
        )
    )
    for other_code, single, plural in others:
        clash: set[str] = mine & {single, plural}
        if not clash:
            clash = my_types & {pascal(other_code) + s for s in _GENERATED_TYPE_SUFFIXES}
        if clash:
            raise InvalidInput(
                f"dataset '{spec.code}': GraphQL name '{sorted(clash)[0]}' is already used by "
                f"dataset '{other_code}'; choose another code"
            )


async def _check_reference(session: AsyncSession, spec: DatasetSpec, field: FieldSpec) -> None:
    target_code, _, target_field = (field.references or "").partition(".")
    place = f"field '{field.name}' of dataset '{spec.code}'"
    if target_code == spec.code:
        target_key, target_fields = spec.key_field, {f.name for f in spec.fields}
    else:
        target = await session.get(Dataset, target_code)
        if target is None:
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


def identifier_of(key: FieldSpec | DatasetField) -> str:
    """What a dataset's key identifies: its PII kind (tax_code, citizen_id…) or its name."""
    return key.pii_kind or key.name


async def _check_single_authority(
    session: AsyncSession, spec: DatasetSpec, key: FieldSpec, revising: Dataset | None
) -> None:
    # Checked for every entity kind: an unknown referenceOf would otherwise reach the foreign
    # key and fail as an internal error.
    if spec.reference_of is not None and (
        spec.reference_of == spec.code or await session.get(Dataset, spec.reference_of) is None
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
        other_key = next((f for f in other.fields if f.name == other.key_field), None)
        if other_key is None or identifier_of(other_key) != identifier_of(key):
            continue
        if spec.reference_of == other.code:
            continue
        raise Conflict(
            f"dataset '{spec.code}' would hold {spec.entity_kind} entities keyed by "
            f"{identifier_of(key)}, which dataset '{other.code}' of agency '{other.owner_code}' "
            f'already holds authoritatively; declare referenceOf: "{other.code}" to build on '
            "it instead of collecting the data again (001 Điều 4.4, 10.5)"
        )


def _breaking_changes(dataset: Dataset, spec: DatasetSpec) -> list[str]:
    new = {f.name: f for f in spec.fields}
    problems = []
    if spec.key_field != dataset.key_field:
        problems.append(f"the key field changes from '{dataset.key_field}'")
    for old in dataset.fields:
        now = new.get(old.name)
        if now is None:
            problems.append(f"field '{old.name}' is removed")
            continue
        for attr in ("type", "sensitivity", "encrypted"):
            if getattr(now, attr) != getattr(old, attr):
                problems.append(f"field '{old.name}' changes {attr}")
        # Stored as the dataset code; the input may say "business.tax_code".
        if _target(now.references) != old.references:
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


async def _move(
    session: AsyncSession,
    principal: Principal,
    dataset: Dataset,
    expected: str,
    target: str,
    request_id: str | None,
    detail: dict[str, object] | None = None,
) -> Dataset:
    if dataset.status != expected:
        raise Conflict(
            f"dataset '{dataset.code}' is {dataset.status}; only a {expected} dataset can become "
            f"{target}"
        )
    dataset.status = target
    await session.flush()
    await append_event(
        session,
        principal,
        EventDraft(f"catalog.{target.lower()}", dataset=dataset.code, detail=detail),
        request_id,
    )
    return dataset


def _target(references: str | None) -> str | None:
    return (references or "").partition(".")[0] or None


def _nfc(text: str | None) -> str | None:
    # 002 Điều 5.2 (TCVN 6909:2001): Vietnamese text is stored NFC.
    return unicodedata.normalize("NFC", text) if text is not None else None


def _dataset_columns(spec: DatasetSpec) -> dict[str, object]:
    return {
        "title": _nfc(spec.title.strip()),
        "description": _nfc(spec.description),
        "sector": spec.sector.strip(),
        "sensitivity": spec.sensitivity,
        "entity_kind": spec.entity_kind,
        "key_field": spec.key_field,
        "reference_of": spec.reference_of,
        "update_frequency": _nfc(spec.update_frequency),
        "licence": spec.licence,
        "legal_basis": _nfc(spec.legal_basis),
        "steward": spec.steward,
        "graphql_single": spec.graphql_single,
        "graphql_list": spec.graphql_list,
    }


def _sync_fields(dataset: Dataset, specs: Sequence[FieldSpec]) -> None:
    # Updated in place: replacing the collection would insert the new rows before deleting
    # the old ones and collide on the (dataset, name) key.
    wanted = {row.name: row for row in _field_rows(specs)}
    for existing in list(dataset.fields):
        if existing.name not in wanted:
            dataset.fields.remove(existing)
    current = {f.name: f for f in dataset.fields}
    for name, row in wanted.items():
        if name in current:
            for column in _FIELD_COLUMNS:
                setattr(current[name], column, getattr(row, column))
        else:
            dataset.fields.append(row)


_FIELD_COLUMNS = (
    "position",
    "type",
    "required",
    "description",
    "sensitivity",
    "pii_kind",
    "searchable",
    "filterable",
    "encrypted",
    "references",
    "enum_values",
)


def _field_rows(fields: Sequence[FieldSpec]) -> list[DatasetField]:
    return [
        DatasetField(
            name=f.name,
            position=i,
            type=f.type,
            required=f.required,
            description=_nfc(f.description),
            sensitivity=f.sensitivity,
            pii_kind=f.pii_kind,
            searchable=f.searchable,
            filterable=f.filterable,
            encrypted=f.encrypted,
            references=_target(f.references),
            enum_values=list(f.enum_values) if f.enum_values else None,
        )
        for i, f in enumerate(fields)
    ]


__all__ = [
    "MAX_PAGE",
    "DatasetQuery",
    "create_dataset",
    "deprecate_dataset",
    "get_dataset",
    "identifier_of",
    "list_visible_datasets",
    "publish_dataset",
    "revise_dataset",
    "submit_dataset",
    "validate_dataset",
    "visible_dataset",
]
