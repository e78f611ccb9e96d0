"""Reconciliation with master data after a run, set-based over the stored records
(issue item 5: collect once, and agree with the authoritative dataset).

For each reference field of the dataset (``DatasetField.references`` names the authoritative
dataset; a reference resolves to its key):
- ``UNRESOLVED_REFERENCE``: live records whose reference matches no live record there;
- ``DISAGREES``: for each other field whose ``pii_kind`` the authoritative dataset also holds
  (a citizen's name copied into a health-insurance source), records whose value differs from
  the authoritative record's.

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

from catalog.models import Dataset, DatasetField

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


@dataclass
class Totals:
    unresolved: int = 0
    disagreeing: int = 0


def _value(alias: str, field: DatasetField) -> str:
    # Field names are snake_case, checked by the catalogue: safe inside a quoted literal.
    if field.encrypted:
        return f"({alias}.blind ->> '{field.name}')"
    return f"({alias}.data -> '{field.name}')"


def plan_checks(dataset: Dataset, authorities: dict[str, Dataset]) -> list[Check]:
    """A copied field is compared with one authority only: that of the first reference field
    (in field order) whose dataset holds its ``pii_kind`` (a card's holder name against the
    citizen it references, not against a business it also references)."""
    checks: list[Check] = []
    compared: set[str] = set()
    for ref in dataset.fields:
        authority = authorities.get(ref.references or "")
        if ref.type != "reference" or authority is None:
            continue
        key_field = next(f for f in authority.fields if f.name == authority.key_field)
        if ref.encrypted != key_field.encrypted:
            continue  # a blind index and a plain key do not meet in SQL
        reference = f"(r.blind ->> '{ref.name}')" if ref.encrypted else f"(r.data ->> '{ref.name}')"
        shown = "NULL" if ref.encrypted else reference
        checks.append(Check(ref.name, UNRESOLVED, authority.code, reference, "", "", shown))
        theirs_by_kind = {
            f.pii_kind: f for f in authority.fields if f.pii_kind and f.name != authority.key_field
        }
        for field in dataset.fields:
            other = theirs_by_kind.get(field.pii_kind) if field.pii_kind else None
            if field.name == ref.name or other is None or field.name in compared:
                continue
            compared.add(field.name)
            if field.encrypted != other.encrypted:
                continue
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
                )
            )
    return checks


def _where(check: Check) -> str:
    live_authority = (
        "SELECT 1 FROM records a WHERE a.dataset_code = :authority "
        f"AND a.key = {check.reference} AND NOT a.deleted"
    )
    if check.kind == UNRESOLVED:
        return f"{check.reference} IS NOT NULL AND NOT EXISTS ({live_authority})"
    return (
        f"{check.ours} IS NOT NULL AND EXISTS ({live_authority} "
        f"AND {check.theirs} IS DISTINCT FROM {check.ours})"
    )


async def reconcile(session: AsyncSession, dataset: Dataset, run_id: int, connector: str) -> Totals:
    """Store this run's findings and return the totals (in the caller's transaction)."""
    codes = {f.references for f in dataset.fields if f.type == "reference" and f.references}
    if not codes:
        return Totals()
    found = await session.scalars(select(Dataset).where(Dataset.code.in_(codes)))
    checks = plan_checks(dataset, {d.code: d for d in found})
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
