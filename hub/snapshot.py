"""An in-process copy of the catalogue and the grants, refreshed when PostgreSQL says they
changed (NOTIFY ``hub_changes``) and checked against ``hub_state`` counters, so every hub
process sees a publish, a revocation or an expiry on its next request."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.access import Access, GrantView, decide_read, next_boundary
from catalog.collation import SORT_KEY
from catalog.grants import stored_grant_view
from catalog.indexes import text_order
from catalog.models import Dataset, Grant
from catalog.principal import ANONYMOUS, Principal
from hub.auth.registry import RegisteredClient, load_clients

log = logging.getLogger(__name__)


@dataclass
class Snapshot:
    catalog_version: int = -1
    policy_version: int = -1
    datasets: dict[str, Dataset] = field(default_factory=dict)
    grants_by_dataset: dict[str, list[GrantView]] = field(default_factory=dict)
    # The embedded issuer's clients: ``api_clients`` changes bump the policy counter.
    clients: dict[str, RegisteredClient] = field(default_factory=dict)
    # Per dataset, the row versions of its catalogue rows (``ROW_VERSIONS``): a reload reads
    # only the datasets whose rows changed and keeps the others' objects.
    row_versions: dict[str, str] = field(default_factory=dict)
    # How text orders in this database (catalog.collation.TEXT_ORDERS; migration 0008).
    text_order: str = SORT_KEY
    _decisions: dict[tuple[bool, str | None, str], tuple[Access, datetime | None]] = field(
        default_factory=dict
    )

    def typed(self) -> list[Dataset]:
        """Datasets with generated GraphQL types: published ones, and deprecated ones (their
        fields marked @deprecated, so clients are warned rather than broken)."""
        return [d for d in self.datasets.values() if d.status in ("PUBLISHED", "DEPRECATED")]

    def anonymous_view(self) -> tuple[list[Dataset], dict[str, frozenset[str]]]:
        """What the anonymous schema is built from: the typed datasets anonymous callers may
        read and, per dataset, the fields they may read (the policy decides, as for reads;
        nothing else of the catalogue reaches that schema)."""
        now = datetime.now(UTC)
        datasets: list[Dataset] = []
        fields: dict[str, frozenset[str]] = {}
        for dataset in self.typed():
            decided = decide_read(ANONYMOUS, dataset, (), now)
            if decided.allowed:
                datasets.append(dataset)
                fields[dataset.code] = decided.readable_fields
        return datasets, fields

    def access(self, principal: Principal, code: str) -> Access | None:
        """The caller's access to a dataset, remembered per agency until the next moment a
        grant starts or ends (decisions depend on nothing else of the caller)."""
        dataset = self.datasets.get(code)
        if dataset is None:
            return None
        now = datetime.now(UTC)
        cache_key = (principal.is_anonymous, principal.agency, code)
        remembered = self._decisions.get(cache_key)
        if remembered is not None and (remembered[1] is None or now < remembered[1]):
            return remembered[0]
        grants = self.grants_by_dataset.get(code, ())
        decided = decide_read(principal, dataset, grants, now)
        if len(self._decisions) > 10_000:
            self._decisions.clear()
        self._decisions[cache_key] = (decided, next_boundary(grants, now))
        return decided


def build_inputs(
    datasets: Sequence[Dataset], readable: Mapping[str, frozenset[str]] | None = None
) -> tuple[Any, ...]:
    """Everything a schema build reads from these datasets: every column of each dataset row
    and of its field rows, in order, and the fields shown. Equal inputs build an equal schema,
    so a process keeps its previous build (a draft's edits or a change to a dataset outside
    the anonymous schema rebuild nothing there)."""
    return tuple(
        (_dataset_columns(d), None if readable is None else readable.get(d.code)) for d in datasets
    )


def _keep_unchanged(loaded: dict[str, Dataset], previous: dict[str, Dataset]) -> dict[str, Dataset]:
    """The previous snapshot's object for every dataset whose row and fields are unchanged.

    Snapshot objects are read-only. A schema build kept from before (``build_inputs``) holds
    the objects it was built from: sharing them keeps one copy of the catalogue in memory,
    not one per snapshot still referenced."""
    kept: dict[str, Dataset] = {}
    for code, dataset in loaded.items():
        before = previous.get(code)
        same = before is not None and _dataset_columns(before) == _dataset_columns(dataset)
        kept[code] = before if same and before is not None else dataset
    return kept


def _dataset_columns(dataset: Dataset) -> tuple[Any, ...]:
    return (_columns(dataset), tuple(_columns(f) for f in dataset.fields))


def _columns(row: Any) -> tuple[Any, ...]:
    keys = _column_keys(type(row))
    try:
        # Loaded values sit in the instance dict: read at C speed (thousands of rows per build).
        return cast(tuple[Any, ...], itemgetter(*keys)(row.__dict__))
    except KeyError:  # an attribute not loaded (expired): through the ORM
        return tuple(getattr(row, key) for key in keys)


_COLUMN_KEYS: dict[type, tuple[str, ...]] = {}


def _column_keys(model: type) -> tuple[str, ...]:
    keys = _COLUMN_KEYS.get(model)
    if keys is None:
        mapper: Any = sa_inspect(model)
        keys = _COLUMN_KEYS[model] = tuple(attr.key for attr in mapper.column_attrs)
    return keys


# PostgreSQL's xmin changes with every write of a row: one stamp per dataset covers its row
# and its field rows (added, changed or removed). A change racing the reload stamps an older
# version than it loads, so the next reload (its counter bump) reads that dataset again.
ROW_VERSIONS = text(
    "SELECT d.code, d.xmin::text || '/' || coalesce(("
    "SELECT string_agg(f.name || '@' || f.xmin::text, ',' ORDER BY f.name) "
    "FROM dataset_fields f WHERE f.dataset_code = d.code), '') AS stamp "
    "FROM datasets d"
)


async def read_versions(session: AsyncSession) -> tuple[int, int]:
    row = (
        await session.execute(
            text("SELECT catalog_version, policy_version FROM hub_state WHERE id = 1")
        )
    ).one()
    return int(row.catalog_version), int(row.policy_version)


async def load_snapshot(session: AsyncSession, previous: Snapshot | None = None) -> Snapshot:
    """Read counters first, then data: a change racing the load bumps the counters again and
    the next check reloads."""
    catalog_version, policy_version = await read_versions(session)
    if previous is not None and previous.catalog_version == catalog_version:
        datasets = previous.datasets
        row_versions = previous.row_versions
    else:
        stamps = {r.code: r.stamp for r in await session.execute(ROW_VERSIONS)}
        before = previous if previous is not None else Snapshot()
        changed = [
            code
            for code, stamp in stamps.items()
            if before.row_versions.get(code) != stamp or code not in before.datasets
        ]
        loaded: dict[str, Dataset] = {}
        if changed:
            rows = await session.scalars(select(Dataset).where(Dataset.code.in_(changed)))
            loaded = {d.code: d for d in rows}
            session.expunge_all()
        loaded = _keep_unchanged(loaded, before.datasets)
        datasets = {
            code: loaded.get(code) or before.datasets[code]
            for code in sorted(stamps)
            if code in loaded or code in before.datasets
        }
        row_versions = stamps
    grants: dict[str, list[GrantView]] = {}
    rows_g = await session.scalars(
        select(Grant).where(Grant.status == "APPROVED").order_by(Grant.created_at)
    )
    for row in rows_g:
        dataset = datasets.get(row.dataset_code)
        if dataset is None:
            continue
        view = stored_grant_view(row, dataset)
        if view is None:
            # The grant's id only: its filter values may be personal data.
            log.warning(
                "grant %s: its row filter does not fit dataset %s; it matches no record",
                row.id,
                row.dataset_code,
            )
            continue
        grants.setdefault(row.dataset_code, []).append(view)
    clients = await load_clients(session)
    return Snapshot(
        catalog_version,
        policy_version,
        datasets,
        grants,
        clients=clients,
        row_versions=row_versions,
        text_order=await text_order(session),
    )


__all__ = ["Snapshot", "build_inputs", "load_snapshot", "read_versions"]
