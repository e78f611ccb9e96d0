"""Reconciliation with master data after a run, set-based over the stored records
(issue item 5: collect once, and agree with the authoritative dataset).

For each reference field of the dataset (``DatasetField.references`` names the authoritative
dataset; a reference resolves to its key):
- ``UNRESOLVED_REFERENCE``: live records whose reference matches no live record there;
- ``DISAGREES``: for each other field whose ``pii_kind`` the authoritative dataset also holds
  (a citizen's name copied into a health-insurance source), records whose value differs from
  the authoritative record's.

Both are computed on the view of the connector's agency over the authoritative dataset
(``connectors.agency_view``; DESIGN.md §5): a record that agency may not see, or whose key it
may not read, does not exist for it, so a reference to it resolves to nothing exactly as a
reference to a missing record does; a value is compared only on records where the agency may
read that field. Whatever the agency may not read there cannot change a finding or a total.

Findings keep the connector dataset's own stored key and value (``NULL`` for an encrypted
value) and never a value of the authoritative dataset, which the steward may not be allowed
to read. The first ``LIMIT`` findings per field and kind are stored; totals go on the run.

Encrypted values are compared through their blind indexes (both sides encrypted); a
comparison between an encrypted and a plain value cannot be made in SQL and is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.crypto import FieldKeys
from catalog.models import Dataset, DatasetField
from connectors.agency_view import AgencyView, Binds, agency_views

LIMIT = 1000
UNRESOLVED = "UNRESOLVED_REFERENCE"
DISAGREES = "DISAGREES"


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison: ``field`` of the dataset against the authority's ``other`` field (or
    its key, for a reference), expressions already chosen for encryption."""

    field: str
    kind: str
    authority: str
    reference: str  # SQL expression of the reference value on ``r``
    ours: str  # SQL expression of our value (compared)
    theirs: str  # SQL expression of the authority's value on ``a``
    shown: str  # SQL expression stored as the finding's value
    referent: str  # condition on ``a``: a record the agency sees, with its key readable
    readable: str  # condition on ``a``: ``theirs`` readable by the agency ("TRUE": unchecked)
    params: dict[str, object]  # the bind values of ``referent`` and ``readable``


@dataclass
class Totals:
    unresolved: int = 0
    disagreeing: int = 0


def _value(alias: str, field: DatasetField) -> str:
    # Field names are snake_case, checked by the catalogue: safe inside a quoted literal.
    if field.encrypted:
        return f"({alias}.blind ->> '{field.name}')"
    return f"({alias}.data -> '{field.name}')"


def plan_checks(
    dataset: Dataset, authorities: dict[str, Dataset], views: dict[str, AgencyView]
) -> list[Check]:
    """A copied field is compared with one authority only: that of the first reference field
    (in field order) whose dataset holds its ``pii_kind`` (a card's holder name against the
    citizen it references, not against a business it also references). The choice follows
    the catalogue alone; a field the agency may read on no record there is then not compared.
    """
    checks: list[Check] = []
    compared: set[str] = set()
    for ref in dataset.fields:
        authority = authorities.get(ref.references or "")
        if ref.type != "reference" or authority is None:
            continue
        view = views[authority.code]
        binds = Binds(prefix=f"c{len(checks)}_")
        referent = view.readable_sql(authority.key_field, binds)
        key_field = next(f for f in authority.fields if f.name == authority.key_field)
        if ref.encrypted != key_field.encrypted:
            continue  # a blind index and a plain key do not meet in SQL
        reference = f"(r.blind ->> '{ref.name}')" if ref.encrypted else f"(r.data ->> '{ref.name}')"
        shown = "NULL" if ref.encrypted else reference
        checks.append(
            Check(
                ref.name,
                UNRESOLVED,
                authority.code,
                reference,
                "",
                "",
                shown,
                referent,
                "TRUE",
                dict(binds.values),
            )
        )
        theirs_by_kind = {
            f.pii_kind: f for f in authority.fields if f.pii_kind and f.name != authority.key_field
        }
        for field in dataset.fields:
            other = theirs_by_kind.get(field.pii_kind) if field.pii_kind else None
            if field.name == ref.name or other is None or field.name in compared:
                continue
            compared.add(field.name)
            if field.encrypted != other.encrypted or not view.may_ever_read(other.name):
                continue
            field_binds = Binds(prefix=f"c{len(checks)}_")
            field_referent = view.readable_sql(authority.key_field, field_binds)
            readable = view.readable_sql(other.name, field_binds)
            ours = _value("r", field)
            shown_value = "NULL" if field.encrypted else f"(r.data ->> '{field.name}')"
            checks.append(
                Check(
                    field.name,
                    DISAGREES,
                    authority.code,
                    reference,
                    ours,
                    _value("a", other),
                    shown_value,
                    field_referent,
                    readable,
                    dict(field_binds.values),
                )
            )
    return checks


def _where(check: Check) -> str:
    live_authority = (
        "SELECT 1 FROM records a WHERE a.dataset_code = :authority "
        f"AND a.key = {check.reference} AND NOT a.deleted AND {check.referent}"
    )
    if check.kind == UNRESOLVED:
        return f"{check.reference} IS NOT NULL AND NOT EXISTS ({live_authority})"
    return (
        f"{check.ours} IS NOT NULL AND EXISTS ({live_authority} AND {check.readable} "
        f"AND {check.theirs} IS DISTINCT FROM {check.ours})"
    )


async def reconcile(
    session: AsyncSession, dataset: Dataset, run_id: int, connector: str, keys: FieldKeys
) -> Totals:
    """Store this run's findings and return the totals (in the caller's transaction), on the
    view of the dataset's owner agency over each authoritative dataset."""
    codes = {f.references for f in dataset.fields if f.type == "reference" and f.references}
    if not codes:
        return Totals()
    found = {
        d.code: d for d in await session.scalars(select(Dataset).where(Dataset.code.in_(codes)))
    }
    views = await agency_views(session, dataset.owner_code, found.values(), keys)
    checks = plan_checks(dataset, found, views)
    totals = Totals()
    for check in checks:
        where = _where(check)
        params = {
            "dataset": dataset.code,
            "authority": check.authority,
            "run": run_id,
            "connector": connector,
            "field": check.field,
            "kind": check.kind,
            "limit": LIMIT,
            **check.params,
        }
        base = f"FROM records r WHERE r.dataset_code = :dataset AND NOT r.deleted AND {where}"
        count = int(await session.scalar(text(f"SELECT count(*) {base}"), params) or 0)
        if count:
            await session.execute(
                text(
                    "INSERT INTO sync_reconciliation "
                    "(run_id, connector, dataset_code, field, kind, authority, key, value) "
                    "SELECT :run, CAST(:connector AS text), CAST(:dataset AS text), "
                    "CAST(:field AS text), CAST(:kind AS text), CAST(:authority AS text), r.key, "
                    f"{check.shown} {base} ORDER BY r.key LIMIT :limit"
                ),
                params,
            )
        if check.kind == UNRESOLVED:
            totals.unresolved += count
        else:
            totals.disagreeing += count
    return totals


__all__ = ["DISAGREES", "LIMIT", "UNRESOLVED", "Totals", "plan_checks", "reconcile"]
