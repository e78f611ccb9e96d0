"""What one agency may read of an authoritative dataset, as SQL conditions on its records:
the view reconciliation compares against (DESIGN.md §5, the caller's view).

A connector's run reports references that resolve to nothing and copied values that disagree
with master data. Both are values derived from the authoritative dataset, so both are computed
on the view of the connector's agency (the owner of the connector's dataset), exactly as a
read by that agency would be: a record outside every rule's row filter does not exist for it,
and a field it may not read on a record is never compared. Nothing the agency may not read can
change a run's findings or totals.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.access import Access, decide_read
from catalog.crypto import FieldKeys
from catalog.grants import stored_grant_view
from catalog.models import Dataset, DatasetField, Grant
from catalog.principal import Principal
from catalog.record_sql import any_of, condition_sql, sql_param_value
from catalog.rowfilter import Condition, RowFilter, escape_like


@dataclass
class Binds:
    """Named bind parameters of one statement (``:v0``, ``:v1`` ...): values never spliced."""

    prefix: str = "v"
    values: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return f":{name}"


@dataclass(frozen=True)
class AgencyView:
    """An agency's access to one dataset, and how to say it in SQL on alias ``alias``."""

    dataset: Dataset
    access: Access
    keys: FieldKeys
    alias: str = "a"

    def readable_sql(self, name: str, binds: Binds) -> str:
        """Rows (of alias ``alias``) that exist for the agency with field ``name`` readable
        on them: ``TRUE``, a condition, or ``FALSE`` (never readable)."""
        filters = self.access.filters_for_field(name)
        if filters is None:
            return "TRUE"
        fields = {f.name: f for f in self.dataset.fields}
        return any_of([self._filter_sql(f, fields, binds) for f in filters])

    def may_ever_read(self, name: str) -> bool:
        filters = self.access.filters_for_field(name)
        return filters is None or bool(filters)

    def _filter_sql(
        self, row_filter: RowFilter, fields: dict[str, DatasetField], binds: Binds
    ) -> str:
        parts = [
            condition_sql(self.alias, fields[c.field], c.op, binds.bind(self._bound(c, fields)))
            for c in row_filter.conditions
        ]
        return "(" + " AND ".join(parts) + ")" if parts else "TRUE"

    def _bound(self, c: Condition, fields: dict[str, DatasetField]) -> Any:
        # The same bound values the record reads use (catalog.record_sql).
        target = fields[c.field]
        if c.op == "in":
            return [sql_param_value(target, v, self.keys.blind) for v in c.value]
        if c.op == "contains":
            return escape_like(str(c.value))
        return sql_param_value(target, c.value, self.keys.blind)


async def agency_views(
    session: AsyncSession,
    agency: str,
    datasets: Iterable[Dataset],
    keys: FieldKeys,
    now: datetime | None = None,
) -> dict[str, AgencyView]:
    """``agency``'s view of each dataset, decided by the policy from the grants in force now
    (the same ``decide_read`` as a request of that agency's readers)."""
    by_code = {d.code: d for d in datasets}
    if not by_code:
        return {}
    moment = now or datetime.now(UTC)
    rows = await session.scalars(
        select(Grant).where(
            Grant.dataset_code.in_(list(by_code)),
            Grant.grantee_code == agency,
            Grant.status == "APPROVED",
        )
    )
    grants: dict[str, list[Any]] = {}
    for row in rows:
        view = stored_grant_view(row, by_code[row.dataset_code])
        if view is not None:  # a filter that no longer fits its dataset matches no record
            grants.setdefault(row.dataset_code, []).append(view)
    # A principal of the agency without roles: reads depend on the agency alone.
    principal = Principal(subject=f"system:reconcile:{agency}", agency=agency)
    return {
        code: AgencyView(
            dataset, decide_read(principal, dataset, grants.get(code, ()), moment), keys
        )
        for code, dataset in by_code.items()
    }


__all__ = ["AgencyView", "Binds", "agency_views"]
