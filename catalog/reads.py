"""The read ledger: every record served is audited and remembered (DESIGN.md §6).

``record_reads`` writes, in the caller's transaction, one ``record.read`` audit event per
dataset (keys capped at ``MAX_KEYS``, the full count in ``detail.count``, fields served,
purpose, fields refused) and one ``record_reads`` row per (agency, dataset, key, version), the
ledger behind ``corrections(since:)``. Both the generic resolvers and the compiled fast path
describe what they served the same way, so the audit reads the same whichever path ran.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.audit import EventDraft, append_events, event_row
from catalog.models import RecordRead
from catalog.principal import Principal

MAX_KEYS = 1000
READ_ACTION = "record.read"

# (dataset code, stored key, version): the key as ``records.key`` holds it (a blind index
# where the key field is encrypted), so the audit never carries a plaintext identifier.
ReadItem = tuple[str, str, int]


def read_events(
    principal: Principal,
    reads: Sequence[ReadItem],
    fields_by_dataset: Mapping[str, Sequence[str]],
    purpose: str | None,
    request_id: str | None,
    refused: Mapping[str, Sequence[str]] | None = None,
) -> tuple[list[dict[str, Any]], list[ReadItem]]:
    """The audit rows and the ledger entries that describe one request's reads.

    A dataset named only in ``refused`` still gets an event (count 0): a refusal is logged.
    ``detail.versions`` lists the versions served when one key was served in several (history).
    The ledger is sorted, so concurrent writers take row locks in one order.
    """
    refused = refused or {}
    by_dataset: dict[str, dict[str, set[int]]] = {}
    for code, key, version in reads:
        by_dataset.setdefault(code, {}).setdefault(key, set()).add(int(version))
    for code in refused:
        if refused[code]:
            by_dataset.setdefault(code, {})
    rows: list[dict[str, Any]] = []
    for code, keys in by_dataset.items():
        detail: dict[str, Any] = {"count": len(keys)}
        if any(len(versions) > 1 for versions in keys.values()):
            detail["versions"] = sorted({v for versions in keys.values() for v in versions})
        if refused.get(code):
            detail["refused"] = sorted(set(refused[code]))
        draft = EventDraft(
            READ_ACTION,
            dataset=code,
            keys=list(keys)[:MAX_KEYS],
            fields=sorted(set(fields_by_dataset.get(code, ()))),
            purpose=purpose,
            detail=detail,
        )
        rows.append(event_row(principal, draft, request_id))
    if principal.agency is None:
        return rows, []
    return rows, sorted({(code, key, int(version)) for code, key, version in reads})


async def record_reads(
    session: AsyncSession,
    principal: Principal,
    reads: Sequence[ReadItem],
    fields_by_dataset: Mapping[str, Sequence[str]],
    purpose: str | None,
    request_id: str | None,
    refused: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Audit ``reads`` and remember them for the caller's agency. The caller commits."""
    rows, ledger = read_events(principal, reads, fields_by_dataset, purpose, request_id, refused)
    await append_events(session, rows)
    values = [
        {"agency": principal.agency, "dataset_code": code, "key": key, "version": version}
        for code, key, version in ledger
    ]
    for start in range(0, len(values), 5000):
        await session.execute(
            insert(RecordRead).on_conflict_do_nothing(), values[start : start + 5000]
        )


__all__ = ["MAX_KEYS", "READ_ACTION", "ReadItem", "read_events", "record_reads"]
