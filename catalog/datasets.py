"""Datasets of the catalogue and their lifecycle DRAFT → SUBMITTED → PUBLISHED → DEPRECATED.

Invariants: codes are snake_case and unique; a definition keeps the rules of
``catalog.dataset_rules`` (checked on its text cleaned by ``catalog.spec_text``) at creation,
revision and publication; a published dataset only grows compatibly, and loosening its or a
field's sensitivity waits for a new version and a steward's publication, while tightening takes
effect at once (DESIGN.md §3). A dataset the caller may not see does not exist for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import policy
from catalog.audit import EventDraft, append_event
from catalog.dataset_rules import (
    breaking_changes,
    check_publishable,
    identifier_of,
    reference_target,
    validate_dataset,
)
from catalog.errors import Conflict, InvalidInput, NotFound
from catalog.indexes import ensure_indexes, ensure_partition
from catalog.models import Agency, Dataset, DatasetField
from catalog.naming import HUB_NAMES, SNAKE_CASE, HubNames, default_list, default_single
from catalog.principal import Principal
from catalog.rowfilter import escape_like
from catalog.spec_text import clean_reason, clean_spec
from catalog.specs import DatasetSpec, FieldSpec
from catalog.text import clean_line, is_clean_line

MAX_PAGE = 100


_ANNOUNCE = text(
    "INSERT INTO search_outbox (dataset_code, key, version) VALUES (:code, '', :version)"
)


@dataclass(frozen=True, slots=True)
class DatasetQuery:
    sector: str | None = None
    owner: str | None = None
    status: str | None = None
    text: str | None = None


async def get_dataset(session: AsyncSession, code: str) -> Dataset | None:
    if not _could_exist(code):
        return None  # not a stored code (a NUL could not even reach PostgreSQL)
    return await session.get(Dataset, code)


async def visible_dataset(session: AsyncSession, principal: Principal, code: str) -> Dataset:
    """The dataset if the caller may know it exists; NotFound otherwise (no existence oracle)."""
    dataset = await get_dataset(session, code)
    if dataset is None or not policy.can_see_dataset(principal, dataset):
        shown = code if is_clean_line(code) else code.encode("unicode_escape").decode("ascii")
        raise NotFound(f"dataset '{shown}' does not exist")
    return dataset


def _could_exist(code: str) -> bool:
    return len(code) <= 63 and SNAKE_CASE.fullmatch(code) is not None


async def list_visible_datasets(
    session: AsyncSession,
    principal: Principal,
    query: DatasetQuery,
    *,
    after: str | None,
    first: int,
) -> tuple[list[Dataset], bool, int]:
    """One page of datasets the caller may see, ordered by code; returns (page, more, total)."""
    query = _clean_query(query)
    stmt = select(Dataset)
    if query.sector:
        stmt = stmt.where(Dataset.sector == query.sector)
    if query.owner:
        stmt = stmt.where(Dataset.owner_code == query.owner)
    if query.status:
        stmt = stmt.where(Dataset.status == query.status)
    if query.text:
        pattern = "%" + escape_like(query.text) + "%"
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


def _clean_query(query: DatasetQuery) -> DatasetQuery:
    # 002 Điều 5.2: titles are stored NFC, so a decomposed (NFD) query must match them too.
    def clean(value: str | None, name: str) -> str | None:
        return None if value is None else clean_line(value, f"datasets: filter.{name}")

    return DatasetQuery(
        sector=clean(query.sector, "sector"),
        owner=clean(query.owner, "owner"),
        status=clean(query.status, "status"),
        text=clean(query.text, "text"),
    )


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
    *,
    hub_names: HubNames = HUB_NAMES,
) -> Dataset:
    """Register a DRAFT dataset owned by ``owner_code`` (default: the caller's agency).

    ``hub_names``: the names the running hub's own API takes (its static schema)."""
    owner = owner_code or principal.agency
    policy.require_authenticated(principal, "createDataset")
    if owner is None:
        raise InvalidInput("createDataset: the caller has no agency; name the owner agency")
    owner = clean_line(owner, "createDataset: owner")
    policy.require_dataset_manager(principal, owner, "createDataset")
    if await session.get(Agency, owner) is None:
        raise NotFound(f"agency '{owner}' does not exist")
    spec = _with_default_names(clean_spec(spec))
    await validate_dataset(session, principal, spec, hub_names=hub_names)
    if await session.get(Dataset, spec.code) is not None:
        # Codes are one namespace for every agency: that the code is taken is all a caller
        # learns of a dataset it may not see (the same words as for a visible one).
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
    await announce_to_search(session, dataset)
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
    session: AsyncSession,
    principal: Principal,
    code: str,
    request_id: str | None = None,
    *,
    hub_names: HubNames = HUB_NAMES,
) -> Dataset:
    """SUBMITTED → PUBLISHED by a steward, once its references are live and its names are
    free beside the typed catalogue (``Conflict`` otherwise; the row stays SUBMITTED)."""
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
    if dataset.status == "SUBMITTED":
        await check_publishable(session, dataset, hub_names)
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
    reason = clean_reason(reason, "deprecateDataset").strip()
    if not reason:
        raise InvalidInput("deprecateDataset: a reason is required")
    dataset.deprecation_reason = reason
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
    hub_names: HubNames = HUB_NAMES,
) -> Dataset:
    """Change a dataset's definition.

    DRAFT or SUBMITTED: replaced, back to DRAFT. PUBLISHED: compatible changes (new optional
    fields, wording, tighter sensitivity) apply at once; a breaking change — loosening a
    sensitivity among them — needs ``new_version`` and starts the next version as a DRAFT,
    which is submitted and published again by a steward.
    """
    spec = clean_spec(spec)
    dataset = await visible_dataset(session, principal, spec.code)
    policy.require_dataset_manager(principal, dataset.owner_code, "reviseDataset")
    spec = _with_default_names(spec)
    await validate_dataset(session, principal, spec, revising=dataset, hub_names=hub_names)
    if dataset.status == "DEPRECATED":
        raise Conflict(f"reviseDataset: dataset '{spec.code}' is deprecated")
    breaking = breaking_changes(dataset, spec)
    detail: dict[str, object] = {"from_version": dataset.version}
    if dataset.status == "PUBLISHED" and breaking:
        if not new_version:
            raise Conflict(
                f"reviseDataset: dataset '{spec.code}' is published and "
                f"{'; '.join(breaking)}; a breaking change needs newVersion: true, then the "
                "new version's submission and a steward's publication"
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
    await announce_to_search(session, dataset)
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


async def announce_to_search(session: AsyncSession, dataset: Dataset) -> None:
    """Queue the re-indexing of ``dataset``'s catalogue entry, in the caller's transaction
    (outbox key '' marks a catalogue entry: see hub.search.documents)."""
    await session.execute(_ANNOUNCE, {"code": dataset.code, "version": dataset.version})


def _with_default_names(spec: DatasetSpec) -> DatasetSpec:
    return replace(
        spec,
        graphql_single=spec.graphql_single or default_single(spec.code),
        graphql_list=spec.graphql_list or default_list(spec.code),
    )


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
    await announce_to_search(session, dataset)
    await append_event(
        session,
        principal,
        EventDraft(f"catalog.{target.lower()}", dataset=dataset.code, detail=detail),
        request_id,
    )
    return dataset


def _dataset_columns(spec: DatasetSpec) -> dict[str, object]:
    return {
        "title": spec.title.strip(),
        "description": spec.description,
        "sector": spec.sector.strip(),
        "sensitivity": spec.sensitivity,
        "entity_kind": spec.entity_kind,
        "key_field": spec.key_field,
        "reference_of": spec.reference_of,
        "update_frequency": spec.update_frequency,
        "licence": spec.licence,
        "legal_basis": spec.legal_basis,
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
            description=f.description,
            sensitivity=f.sensitivity,
            pii_kind=f.pii_kind,
            searchable=f.searchable,
            filterable=f.filterable,
            encrypted=f.encrypted,
            references=reference_target(f.references),
            enum_values=list(f.enum_values) if f.enum_values else None,
        )
        for i, f in enumerate(fields)
    ]


__all__ = [
    "MAX_PAGE",
    "DatasetQuery",
    "announce_to_search",
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
