"""The read decision: which rows and fields of a dataset one caller may read (DESIGN.md §5).

An ``Access`` is a union of (row filter, field set) rules. A record exists for the caller when
some rule's filter matches it; a field of that record is readable when a matching rule names
it. Rules come from: ownership (everything), the dataset's openness (PUBLIC to all, INTERNAL to
signed-in agencies, never RESTRICTED fields) and each grant in force. Default deny.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from catalog.models import Dataset
from catalog.principal import Principal
from catalog.rowfilter import RowFilter, parse_row_filter

READABLE_STATUSES = frozenset({"PUBLISHED", "DEPRECATED"})
ALL_NON_RESTRICTED = "*"


@dataclass(frozen=True, slots=True)
class GrantView:
    """A grant as the policy needs it; built from the stored row."""

    id: str
    dataset: str
    grantee: str
    fields: frozenset[str]
    row_filter: RowFilter | None
    status: str
    valid_from: datetime | None
    valid_to: datetime | None

    def in_force(self, now: datetime) -> bool:
        if self.status != "APPROVED":
            return False
        if self.valid_from is not None and now < self.valid_from:
            return False
        return self.valid_to is None or now < self.valid_to


@dataclass(frozen=True, slots=True)
class AccessRule:
    fields: frozenset[str]
    row_filter: RowFilter | None
    grant_id: str | None = None


@dataclass(frozen=True)
class Access:
    dataset: str
    rules: tuple[AccessRule, ...]
    restricted: frozenset[str]
    is_owner: bool
    reason: str

    @property
    def allowed(self) -> bool:
        return bool(self.rules)

    @property
    def purpose_required(self) -> bool:
        """Reading RESTRICTED data needs a stated purpose, except the owner's own data."""
        return not self.is_owner

    def may_read_field(self, name: str) -> bool:
        return any(name in rule.fields for rule in self.rules)

    @property
    def readable_fields(self) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for rule in self.rules:
            out |= rule.fields
        return out

    @property
    def sees_all_rows(self) -> bool:
        return any(rule.row_filter is None for rule in self.rules)

    @property
    def unconditional_fields(self) -> frozenset[str]:
        """Fields readable on every row the caller sees."""
        out: frozenset[str] = frozenset()
        for rule in self.rules:
            if rule.row_filter is None:
                out |= rule.fields
        return out

    def filters_for_field(self, name: str) -> tuple[RowFilter, ...] | None:
        """None when the field is readable on every visible row; else the filters under
        which it is (empty: never)."""
        if name in self.unconditional_fields:
            return None
        return tuple(
            rule.row_filter
            for rule in self.rules
            if name in rule.fields and rule.row_filter is not None
        )

    def filters_within_view(self, name: str) -> tuple[RowFilter, ...] | None:
        """``filters_for_field`` for rows already known to be visible to the caller (the row
        filters of ``visibility`` applied to the same row): None also when every rule that
        shows a row grants the field, since the field's condition then holds wherever the row
        is seen. A condition repeated per field would only cost the statement."""
        filters = self.filters_for_field(name)
        if filters and all(rule.row_filter in filters for rule in self.rules):
            return None
        return filters

    def sees(self, values: Mapping[str, Any]) -> bool:
        return any(r.row_filter is None or r.row_filter.matches(values) for r in self.rules)

    def fields_for(self, values: Mapping[str, Any]) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for rule in self.rules:
            if rule.row_filter is None or rule.row_filter.matches(values):
                out |= rule.fields
        return out

    @cached_property
    def fingerprint(self) -> str:
        """Stable id of this rule set: compiled plans are cached per fingerprint."""
        parts = sorted(
            repr((sorted(r.fields), r.row_filter.as_json() if r.row_filter else None))
            for r in self.rules
        )
        return hashlib.sha1("|".join(parts).encode(), usedforsecurity=False).hexdigest()[:16]


def next_boundary(grants: Sequence[GrantView], now: datetime) -> datetime | None:
    """The next moment a grant starts or ends: a decision made now holds until then."""
    moments = [m for g in grants for m in (g.valid_from, g.valid_to) if m is not None and m > now]
    return min(moments) if moments else None


def grant_view(row: Any, filterable: Mapping[str, str]) -> GrantView:
    """From a ``catalog.models.Grant`` row; the filter was validated when it was requested."""
    return GrantView(
        id=str(row.id),
        dataset=row.dataset_code,
        grantee=row.grantee_code,
        fields=frozenset(row.fields),
        row_filter=parse_row_filter(row.row_filter, filterable) if row.row_filter else None,
        status=row.status,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
    )


def decide_read(
    principal: Principal, dataset: Dataset, grants: Sequence[GrantView], now: datetime
) -> Access:
    """The caller's access to ``dataset``'s records. ``grants`` may hold any grants; only the
    caller's agency's grants in force on this dataset count."""
    by_sensitivity: dict[str, set[str]] = {"PUBLIC": set(), "INTERNAL": set(), "RESTRICTED": set()}
    for field in dataset.fields:
        by_sensitivity[field.sensitivity].add(field.name)
    restricted = frozenset(by_sensitivity["RESTRICTED"])
    everything = frozenset(f.name for f in dataset.fields)

    def access(rules: list[AccessRule], reason: str, owner: bool = False) -> Access:
        return Access(dataset.code, tuple(rules), restricted, owner, reason)

    if not principal.is_anonymous and principal.agency == dataset.owner_code:
        return access([AccessRule(everything, None)], "owner agency", owner=True)
    if dataset.status not in READABLE_STATUSES:
        return access([], f"dataset is {dataset.status}")
    if principal.is_anonymous:
        if dataset.sensitivity == "PUBLIC":
            return access([AccessRule(frozenset(by_sensitivity["PUBLIC"]), None)], "public data")
        return access([], "anonymous callers read PUBLIC datasets only")
    rules: list[AccessRule] = []
    reasons = []
    if dataset.sensitivity != "RESTRICTED":
        open_fields = frozenset(by_sensitivity["PUBLIC"] | by_sensitivity["INTERNAL"])
        rules.append(AccessRule(open_fields, None))
        reasons.append("open to signed-in agencies")
    non_restricted = everything - restricted
    for grant in grants:
        if grant.dataset != dataset.code or grant.grantee != principal.agency:
            continue
        if not grant.in_force(now):
            continue
        named = grant.fields & everything
        if ALL_NON_RESTRICTED in grant.fields:
            named |= non_restricted
        # The key identifies what was shared; a grant on any field includes it.
        named |= {dataset.key_field}
        rules.append(AccessRule(frozenset(named), grant.row_filter, grant.id))
        reasons.append(f"grant {grant.id}")
    if not rules:
        return access([], "no grant in force for this agency")
    return access(rules, "; ".join(reasons))


__all__ = [
    "ALL_NON_RESTRICTED",
    "Access",
    "AccessRule",
    "GrantView",
    "decide_read",
    "grant_view",
    "next_boundary",
]
