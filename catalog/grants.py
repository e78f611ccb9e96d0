"""Grants: an owner agency's decision that another agency may read part of a dataset.

Lifecycle REQUESTED → APPROVED | DENIED → REVOKED / EXPIRED. Only the owning agency's
``owner`` role decides (000 Điều 20.2). Every request and decision is audited in its
transaction. EXPIRED is what an approved grant past its ``valid_to`` reads as. An agency holds
a bounded number of REQUESTED grants per dataset, so a flood of requests is refused before it
is stored (listings page in ``catalog.grant_pages``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import policy
from catalog.access import ALL_NON_RESTRICTED, GrantView
from catalog.audit import EventDraft, append_event
from catalog.errors import Conflict, InvalidInput, NotFound, QueryTooComplex
from catalog.grant_pages import MAX_LIST, GrantPage, list_grants, page_grants
from catalog.models import Dataset, Grant
from catalog.principal import Principal
from catalog.rowfilter import typed_row_filter

#: REQUESTED grants one agency may hold open per dataset, unless the caller says otherwise.
DEFAULT_MAX_OPEN_REQUESTS = 10


@dataclass(frozen=True, slots=True)
class GrantRequest:
    dataset: str
    fields: Sequence[str]
    purpose: str
    row_filter: Any = None
    legal_basis: str | None = None
    valid_to: datetime | None = None


def effective_status(grant: Grant, now: datetime | None = None) -> str:
    moment = now or datetime.now(UTC)
    if grant.status == "APPROVED" and grant.valid_to is not None and grant.valid_to <= moment:
        return "EXPIRED"
    return grant.status


def stored_grant_view(row: Grant, dataset: Dataset) -> GrantView | None:
    """The stored grant as the policy reads it, its row filter typed against the dataset's
    current fields; ``None`` when that filter does not fit them (requested before filters were
    typed, or the dataset changed since): such a grant matches no record."""
    try:
        row_filter = typed_row_filter(
            row.row_filter, {f.name: f for f in dataset.fields}, dataset.code
        )
    except InvalidInput:
        return None
    return GrantView(
        id=str(row.id),
        dataset=row.dataset_code,
        grantee=row.grantee_code,
        fields=frozenset(row.fields),
        row_filter=row_filter,
        status=row.status,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
    )


async def request_grant(
    session: AsyncSession,
    principal: Principal,
    request: GrantRequest,
    request_id: str | None = None,
    max_open: int = DEFAULT_MAX_OPEN_REQUESTS,
) -> Grant:
    """Record a REQUESTED grant for the caller's agency.

    Raises ``QueryTooComplex`` when the agency already holds ``max_open`` REQUESTED grants on
    the dataset (checked under a per-agency-and-dataset lock, so concurrent requests cannot
    overshoot), ``InvalidInput`` for a bad field list, row filter, purpose or validity,
    ``NotFound`` for a dataset the caller may not see and ``Conflict`` for an unpublished or
    own dataset.
    """
    policy.require_authenticated(principal, "requestGrant")
    if principal.agency is None:
        raise InvalidInput("requestGrant: the caller's token names no agency")
    dataset = await session.get(Dataset, request.dataset)
    if dataset is None or not policy.can_see_dataset(principal, dataset):
        raise NotFound(f"dataset '{request.dataset}' does not exist")
    if dataset.status != "PUBLISHED":
        raise Conflict(f"requestGrant: dataset '{dataset.code}' is {dataset.status}, not PUBLISHED")
    if dataset.owner_code == principal.agency:
        raise Conflict("requestGrant: the owner agency already reads all of its own data")
    names = {f.name for f in dataset.fields}
    fields = list(dict.fromkeys(request.fields))
    if not fields:
        raise InvalidInput(f'requestGrant: name the fields, or "{ALL_NON_RESTRICTED}"')
    unknown = [f for f in fields if f != ALL_NON_RESTRICTED and f not in names]
    if unknown:
        raise InvalidInput(
            f"requestGrant: dataset '{dataset.code}' has no field(s) {', '.join(unknown)}"
        )
    row_filter = typed_row_filter(
        request.row_filter,
        {f.name: f for f in dataset.fields},
        dataset.code,
        "requestGrant.rowFilter",
    )
    purpose = (request.purpose or "").strip()
    if len(purpose) < 5:
        raise InvalidInput("requestGrant: state the purpose (at least 5 characters)")
    now = datetime.now(UTC)
    if request.valid_to is not None and request.valid_to <= now:
        raise InvalidInput("requestGrant: validTo must be in the future")
    await _check_open_requests(session, principal.agency, dataset.code, max_open)
    grant = Grant(
        id=uuid.uuid4(),
        dataset_code=dataset.code,
        grantee_code=principal.agency,
        fields=fields,
        row_filter=row_filter.as_json() if row_filter else None,
        purpose=purpose,
        legal_basis=request.legal_basis,
        valid_to=request.valid_to,
        status="REQUESTED",
        requested_by=principal.subject,
    )
    session.add(grant)
    await session.flush()
    await append_event(
        session,
        principal,
        EventDraft(
            "grant.request",
            dataset=dataset.code,
            fields=fields,
            purpose=purpose,
            detail={"grant": str(grant.id)},
        ),
        request_id,
    )
    return grant


async def decide_grant(
    session: AsyncSession,
    principal: Principal,
    grant_id: str,
    approve: bool,
    note: str | None = None,
    request_id: str | None = None,
) -> Grant:
    grant, dataset = await _grant_for_owner(session, principal, grant_id, "decideGrant")
    if grant.status != "REQUESTED":
        raise Conflict(
            f"decideGrant: grant {grant_id} is {grant.status}; only REQUESTED ones are decided"
        )
    if approve and grant.row_filter is not None:
        # Requested before filters were typed, or the dataset changed since: approving it
        # would serve a filter the two read paths evaluate differently.
        typed_row_filter(
            grant.row_filter,
            {f.name: f for f in dataset.fields},
            dataset.code,
            f"decideGrant: grant {grant_id} rowFilter",
        )
    now = datetime.now(UTC)
    grant.status = "APPROVED" if approve else "DENIED"
    grant.decided_by = principal.subject
    grant.decided_at = now
    grant.note = note
    if approve and grant.valid_from is None:
        grant.valid_from = now
    await session.flush()
    await append_event(
        session,
        principal,
        EventDraft(
            "grant.approve" if approve else "grant.deny",
            dataset=dataset.code,
            fields=list(grant.fields),
            detail={"grant": grant_id, "grantee": grant.grantee_code, "note": note},
        ),
        request_id,
    )
    return grant


async def revoke_grant(
    session: AsyncSession,
    principal: Principal,
    grant_id: str,
    reason: str,
    request_id: str | None = None,
) -> Grant:
    grant, dataset = await _grant_for_owner(session, principal, grant_id, "revokeGrant")
    if effective_status(grant) != "APPROVED":
        raise Conflict(f"revokeGrant: grant {grant_id} is {effective_status(grant)}, not APPROVED")
    if not reason.strip():
        raise InvalidInput("revokeGrant: a reason is required")
    grant.status = "REVOKED"
    grant.note = reason.strip()
    grant.decided_by = principal.subject
    grant.decided_at = datetime.now(UTC)
    await session.flush()
    await append_event(
        session,
        principal,
        EventDraft(
            "grant.revoke",
            dataset=dataset.code,
            detail={"grant": grant_id, "grantee": grant.grantee_code, "reason": reason},
        ),
        request_id,
    )
    return grant


async def _check_open_requests(
    session: AsyncSession, grantee: str, dataset: str, max_open: int
) -> None:
    # Serialise requests of one agency on one dataset until this transaction ends, so the
    # count below cannot be raced past the limit by concurrent requests.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('grant-request'), hashtext(:key))"),
        {"key": f"{grantee}\x1f{dataset}"},
    )
    open_count = await session.scalar(
        select(func.count(Grant.id)).where(
            Grant.grantee_code == grantee,
            Grant.dataset_code == dataset,
            Grant.status == "REQUESTED",
        )
    )
    if (open_count or 0) >= max_open:
        raise QueryTooComplex(
            f"requestGrant: agency '{grantee}' already has {open_count} open requests on "
            f"dataset '{dataset}' (limit {max_open}, HUB_MAX_OPEN_GRANT_REQUESTS); wait for "
            "the owner's decisions"
        )


async def _grant_for_owner(
    session: AsyncSession, principal: Principal, grant_id: str, action: str
) -> tuple[Grant, Dataset]:
    policy.require_authenticated(principal, action)
    try:
        gid = uuid.UUID(grant_id)
    except ValueError:
        raise InvalidInput(f"{action}: {grant_id!r} is not a grant id") from None
    grant = await session.get(Grant, gid, with_for_update=True)
    if grant is None:
        raise NotFound(f"grant {grant_id} does not exist")
    dataset = await session.get(Dataset, grant.dataset_code)
    assert dataset is not None
    if (
        principal.agency not in (dataset.owner_code, grant.grantee_code)
        and not principal.is_steward
    ):
        raise NotFound(f"grant {grant_id} does not exist")  # no existence oracle
    policy.require_owner(principal, dataset.owner_code, action)
    return grant, dataset


__all__ = [
    "DEFAULT_MAX_OPEN_REQUESTS",
    "MAX_LIST",
    "GrantPage",
    "GrantRequest",
    "decide_grant",
    "effective_status",
    "list_grants",
    "page_grants",
    "request_grant",
    "revoke_grant",
    "stored_grant_view",
]
