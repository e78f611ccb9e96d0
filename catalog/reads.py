"""The read ledger: every record served is audited and remembered (DESIGN.md §6).

``record_reads`` writes, in the caller's transaction, one ``record.read`` audit event per
dataset (keys capped at ``MAX_KEYS``, the full count in ``detail.count``, fields served,
purpose, fields refused) and one ``record_reads`` row per (agency, dataset, key, version), the
ledger behind ``corrections(since:)``. Both the generic resolvers and the compiled fast path
describe what they served the same way, so the audit reads the same whichever path ran.

Reads that return nothing are events too: a key asked for that served no record (no grant,
outside the row filter, unknown key) is listed in ``keys`` and in ``detail.missed``, and a
list that served no record (a count-only query) is described by ``detail.lists`` (filter
shape and the count returned). The audit never holds plaintext of an encrypted identifier:
keys served are stored keys (blind indexes where the key field is encrypted); a key asked in
vain of such a field, or of a dataset the caller may not know, is kept as a keyed digest
apart from the blind index (``asked_digest``), whether the dataset exists or not, so the
caller's own events tell it nothing it did not know and serve it as no guessing oracle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import policy
from catalog.audit import EventDraft, append_events, event_row
from catalog.crypto import FieldKeys
from catalog.models import Dataset, RecordRead
from catalog.naming import SNAKE_CASE
from catalog.principal import Principal
from catalog.records import stored_key
from catalog.rowfilter import OPERATORS

MAX_KEYS = 1000
MAX_ASKED_KEY_CHARS = 256
READ_ACTION = "record.read"
_ASKED_DOMAIN = "hub-audit-asked\x1f"

# (dataset code, stored key, version): the key as ``records.key`` holds it (a blind index
# where the key field is encrypted), so the audit never carries a plaintext identifier.
ReadItem = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class Asked:
    """What a request asked for, beyond the records it was served.

    ``keys``: per dataset, the keys of single lookups in audit form (``asked_key``);
    ``lists``: per dataset, one entry per list field (``{"filter": [...], "totalCount": n}``).
    """

    keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
    lists: Mapping[str, Sequence[dict[str, Any]]] = field(default_factory=dict)


def asked_key(principal: Principal, dataset: Dataset | None, key: str, keys: FieldKeys) -> str:
    """How the audit records a key asked of ``dataset`` (None: no such dataset) that served
    no record.

    The key as asked where the caller may know the dataset and its key field is not
    encrypted. Otherwise a keyed digest (``asked_digest``): never plaintext of an encrypted
    identifier, the same whether a hidden dataset exists or not, and bounded for keys no
    record could hold (too long, control characters)."""
    if (
        dataset is None
        or not policy.can_see_dataset(principal, dataset)
        or len(key) > MAX_ASKED_KEY_CHARS
        or not key.isprintable()
        or stored_key(dataset, key, keys) != key
    ):
        return asked_digest(key, keys)
    return key


def asked_digest(key: str, keys: FieldKeys) -> str:
    """A keyed digest of a key asked in vain, apart from the blind index: callers read their
    own events, and the blind index of any value they chose would let them match it against
    the blind indexes shown in place of identifiers they may not read (a guessing oracle)."""
    return keys.blind(_ASKED_DOMAIN + key)


def is_dataset_code(code: str) -> bool:
    """Could ``code`` name a dataset? Only such codes are written to the audit."""
    return len(code) <= 63 and SNAKE_CASE.fullmatch(code) is not None


def list_shape(conditions: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """A list filter as the audit keeps it: ``field:operator`` pairs, never the values."""
    return sorted(f"{name}:{op}" for name, ops in conditions.items() for op in ops)


def filter_shape(raw: object) -> list[str]:
    """A generic ``records`` filter (rowFilter syntax) as the audit keeps it: ``field:op``
    pairs, never the values; names no field could have are kept as ``?``."""
    if not isinstance(raw, Mapping):
        return []
    pairs: set[str] = set()
    for name, spec in raw.items():
        field_name = name if isinstance(name, str) and is_dataset_code(name) else "?"
        if isinstance(spec, Mapping):
            ops = [op if isinstance(op, str) and op in OPERATORS else "?" for op in spec]
        else:
            ops = ["in" if isinstance(spec, list) else "eq"]
        pairs.update(f"{field_name}:{op}" for op in ops)
    return sorted(pairs)


def read_events(
    principal: Principal,
    reads: Sequence[ReadItem],
    fields_by_dataset: Mapping[str, Sequence[str]],
    purpose: str | None,
    request_id: str | None,
    refused: Mapping[str, Sequence[str]] | None = None,
    asked: Asked | None = None,
) -> tuple[list[dict[str, Any]], list[ReadItem]]:
    """The audit rows and the ledger entries that describe one request's reads.

    A dataset named only in ``refused`` or ``asked`` still gets an event (count 0): a refusal
    and a read of nothing are logged. ``detail.versions`` lists the versions served when one
    key was served in several (history). The ledger is sorted, so concurrent writers take row
    locks in one order.
    """
    refused = refused or {}
    asked = asked or Asked()
    by_dataset: dict[str, dict[str, set[int]]] = {}
    for code, key, version in reads:
        by_dataset.setdefault(code, {}).setdefault(key, set()).add(int(version))
    for code in refused:
        if refused[code]:
            by_dataset.setdefault(code, {})
    missed: dict[str, list[str]] = {}
    for code, asked_keys in asked.keys.items():
        served = by_dataset.setdefault(code, {})
        missed[code] = sorted({k for k in asked_keys if k not in served})
    lists = {code: list(shapes) for code, shapes in asked.lists.items() if shapes}
    for code in lists:
        by_dataset.setdefault(code, {})
    rows: list[dict[str, Any]] = []
    for code, keys in by_dataset.items():
        detail: dict[str, Any] = {"count": len(keys)}
        if any(len(versions) > 1 for versions in keys.values()):
            detail["versions"] = sorted({v for versions in keys.values() for v in versions})
        if refused.get(code):
            detail["refused"] = sorted(set(refused[code]))
        if missed.get(code):
            detail["missed"] = missed[code][:MAX_KEYS]
        if not keys and code in lists:
            detail["lists"] = lists[code]
        draft = EventDraft(
            READ_ACTION,
            dataset=code,
            keys=[*keys, *missed.get(code, ())][:MAX_KEYS],
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
    asked: Asked | None = None,
) -> None:
    """Audit ``reads`` (and what was ``asked`` in vain) and remember the reads for the
    caller's agency. The caller commits."""
    rows, ledger = read_events(
        principal, reads, fields_by_dataset, purpose, request_id, refused, asked
    )
    await append_events(session, rows)
    values = [
        {"agency": principal.agency, "dataset_code": code, "key": key, "version": version}
        for code, key, version in ledger
    ]
    for start in range(0, len(values), 5000):
        await session.execute(
            insert(RecordRead).on_conflict_do_nothing(), values[start : start + 5000]
        )


__all__ = [
    "MAX_KEYS",
    "READ_ACTION",
    "Asked",
    "ReadItem",
    "asked_digest",
    "asked_key",
    "filter_shape",
    "is_dataset_code",
    "list_shape",
    "read_events",
    "record_reads",
]
