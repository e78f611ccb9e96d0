"""The one place that decides who may see and do what (DESIGN.md §5).

Chokepoints, in the order requests meet them:
- ``can_see_dataset``: catalogue entries (anonymous: PUBLISHED PUBLIC only).
- ``require_dataset_manager`` / ``require_steward``: catalogue changes.
- ``decide_read``: record data; see ``catalog.access`` for the grant arithmetic.
- ``audit_scope``: audit events and usage reports.
- ``connector_scope`` / ``require_connector_manager`` / ``can_read_source_rows``: connectors,
  their runs, and the source rows a run quarantined.

Invariant: default deny. Nothing outside this module compares roles or agencies.
"""

from __future__ import annotations

from dataclasses import dataclass

from catalog.errors import Forbidden, NotFound, Unauthenticated
from catalog.models import Dataset
from catalog.principal import Principal

VISIBLE_TO_ALL = frozenset({"PUBLISHED", "DEPRECATED"})


def can_see_dataset(principal: Principal, dataset: Dataset) -> bool:
    """May the caller know this catalogue entry exists?"""
    if principal.is_anonymous:
        return dataset.status == "PUBLISHED" and dataset.sensitivity == "PUBLIC"
    if dataset.status in VISIBLE_TO_ALL:
        return True
    return principal.is_steward or principal.agency == dataset.owner_code


def is_owner_of(principal: Principal, agency_code: str) -> bool:
    return principal.has_role("owner") and principal.agency == agency_code


def require_authenticated(principal: Principal, action: str) -> None:
    if principal.is_anonymous:
        raise Unauthenticated(f"{action} needs a signed-in caller; send a bearer token")


def require_dataset_manager(principal: Principal, owner_code: str, action: str) -> None:
    """Owners act on their own agency's datasets; stewards on any."""
    require_authenticated(principal, action)
    if principal.is_steward or is_owner_of(principal, owner_code):
        return
    raise Forbidden(
        f"{action}: needs the 'owner' role of agency '{owner_code}' or the 'steward' role; "
        f"caller has agency '{principal.agency}' and roles {sorted(principal.roles)}"
    )


def require_owner(principal: Principal, owner_code: str, action: str) -> None:
    """Only the owning agency's ``owner`` role (000 Điều 20.2: its head decides)."""
    require_authenticated(principal, action)
    if is_owner_of(principal, owner_code):
        return
    raise Forbidden(
        f"{action}: only the 'owner' role of agency '{owner_code}' may do this; "
        f"caller has agency '{principal.agency}' and roles {sorted(principal.roles)}"
    )


@dataclass(frozen=True, slots=True)
class AuditScope:
    """Which audit events a caller may read: all, or its agency's own events and (for an
    owner) every event on its agency's datasets, so owners see who used their data."""

    everything: bool
    agency: str | None = None
    owned_datasets: bool = False


def audit_scope(principal: Principal, action: str, *, allow_steward: bool) -> AuditScope:
    require_authenticated(principal, action)
    if principal.is_admin or (allow_steward and principal.is_steward):
        return AuditScope(everything=True)
    if principal.agency is None:
        raise Forbidden(f"{action}: the caller's token names no agency")
    return AuditScope(False, principal.agency, is_owner_of(principal, principal.agency))


@dataclass(frozen=True, slots=True)
class ConnectorScope:
    """Which agencies' connectors and runs a caller sees: every agency's (stewards), its own
    (the agency's owner role), or none (``agency`` None and not ``everything``). The same
    rule as managing the agency's datasets (``require_dataset_manager``)."""

    everything: bool
    agency: str | None = None

    @property
    def is_empty(self) -> bool:
        return not self.everything and self.agency is None

    def covers(self, agency_code: str) -> bool:
        return self.everything or self.agency == agency_code


def connector_scope(principal: Principal) -> ConnectorScope:
    if principal.is_anonymous:
        return ConnectorScope(False)
    if principal.is_steward:
        return ConnectorScope(True)
    if principal.agency is not None and is_owner_of(principal, principal.agency):
        return ConnectorScope(False, principal.agency)
    return ConnectorScope(False)


def require_connector_manager(principal: Principal, agency_code: str, action: str) -> None:
    """Run or manage a connector of ``agency_code``: its owner role, or a steward. Callers of
    other agencies are told it does not exist (no existence oracle); the agency's other
    callers that it needs the owner role."""
    require_authenticated(principal, action)
    if connector_scope(principal).covers(agency_code):
        return
    if principal.agency != agency_code:
        raise NotFound(f"{action}: no such connector")
    raise Forbidden(
        f"{action}: needs the 'owner' role of agency '{agency_code}' or the 'steward' role; "
        f"caller has roles {sorted(principal.roles)}"
    )


def can_read_source_rows(principal: Principal, agency_code: str) -> bool:
    """Rows as a source sent them (quarantined rows, reconciliation findings) lie outside any
    grant and may hold RESTRICTED values: only the owning agency's own 'owner' or 'steward'
    callers read them. Stewards of other agencies see counts and summaries only."""
    if principal.is_anonymous or principal.agency != agency_code:
        return False
    return principal.has_role("owner") or principal.has_role("steward")


def require_steward(principal: Principal, action: str) -> None:
    require_authenticated(principal, action)
    if not principal.is_steward:
        raise Forbidden(f"{action}: needs the 'steward' role (Sở TT&TT data steward)")


__all__ = [
    "AuditScope",
    "ConnectorScope",
    "audit_scope",
    "can_read_source_rows",
    "can_see_dataset",
    "connector_scope",
    "is_owner_of",
    "require_authenticated",
    "require_connector_manager",
    "require_dataset_manager",
    "require_owner",
    "require_steward",
]
