"""The audit chain (000 Điều 26–27; DESIGN.md §6).

Every event is chained by the insert that records it: the database (migration 0003) takes
the row lock of the one-row chain head ``audit_chain`` at a transaction's first event, gives
each event ``chain_pos = head + 1``, ``prev_hash = head hash`` and ``hash =
hub_audit_digest(event, prev_hash)``, and moves the head once per statement. Writers append
in their own transaction (an event commits or rolls back with the change it records) and
serialise only from their first event to their commit; nothing updates an event afterwards,
and the table refuses UPDATE, DELETE and TRUNCATE.

Two hash definitions live in one chain: events before ``audit_chain.v2_from`` keep the v1
hashes the former chainer gave them (sha256 of Python's canonical JSON plus the previous
hash), later ones have v2 hashes (sha256 of jsonb's canonical text plus the previous hash,
computed in SQL). ``verify_chain`` recomputes both, v2 in PostgreSQL in one ordered pass, and
names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import AuditEvent
from catalog.principal import Principal

GENESIS = "0" * 64
_LEGACY_BATCH = 20_000

MISSING = "a link is missing (deleted?)"
PREV_DIFFERS = "previous-hash link differs"
CONTENT_DIFFERS = "content does not match hash"


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event before it is stored; built by the domain function doing the action."""

    action: str
    dataset: str | None = None
    keys: Sequence[str] | None = None
    fields: Sequence[str] | None = None
    purpose: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ChainReport:
    """``checked`` events verified (from ``start``); ``pending`` is always 0 since events are
    chained on insert, kept for the command's output."""

    ok: bool
    checked: int
    pending: int = 0
    broken_at: int | None = None
    reason: str | None = None
    start: int = 1


@dataclass(frozen=True, slots=True)
class ChainStart:
    """Where a verification begins: the position after ``pos``, whose hash is ``hash``."""

    pos: int
    hash: str


def event_row(principal: Principal, draft: EventDraft, request_id: str | None) -> dict[str, Any]:
    return {
        "subject": principal.subject,
        "agency": principal.agency,
        "client_id": principal.client_id,
        "action": draft.action,
        "dataset": draft.dataset,
        "keys": list(draft.keys) if draft.keys is not None else None,
        "fields": list(draft.fields) if draft.fields is not None else None,
        "purpose": draft.purpose,
        "request_id": request_id,
        "detail": draft.detail,
    }


async def append_event(
    session: AsyncSession,
    principal: Principal,
    draft: EventDraft,
    request_id: str | None = None,
) -> None:
    """Append one event in the caller's transaction (committed or rolled back with it); the
    insert chains it. The chain head stays locked until the caller's transaction ends, so
    append as late in the transaction as the work allows."""
    await session.execute(insert(AuditEvent).values(**event_row(principal, draft, request_id)))


async def append_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(AuditEvent), list(rows))


# -- v1: the hashes the former chainer gave (events before audit_chain.v2_from) ---------------


def legacy_event_hash(event: Any, chain_pos: int, prev_hash: str) -> str:
    """The v1 hash of an event (a row with the table's column names) at ``chain_pos``."""
    fields = {
        "pos": chain_pos,
        "seq": event.seq,
        "at": _iso(event.at),
        "subject": event.subject,
        "agency": event.agency,
        "client_id": event.client_id,
        "action": event.action,
        "dataset": event.dataset,
        "keys": event.keys,
        "fields": event.fields,
        "purpose": event.purpose,
        "request_id": event.request_id,
        "detail": event.detail,
    }
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((canonical + prev_hash).encode("utf-8")).hexdigest()


# -- verification ---------------------------------------------------------------------------

# The v2 part in two passes. Contents: every event's hash against its recomputed digest over
# its own stored previous hash; row by row independent, so PostgreSQL can spread it over
# parallel workers (``+ 0`` keeps min() from becoming an ordered index probe). Links: in
# position order, each event against the position it should have and the hash of the event
# before it; only the chain columns are read, so this pass is cheap. An event is intact when
# both hold; the first position failing either is the broken link.
_V2_FIRST_BAD_CONTENT = """
SELECT min(chain_pos + 0) FROM audit_events
WHERE chain_pos >= :start
  AND hash IS DISTINCT FROM hub_audit_digest(chain_pos, seq, at, subject, agency, client_id,
                              action, dataset, keys, fields, purpose, request_id, detail,
                              prev_hash)
"""
_V2_FIRST_BAD_LINK = """
SELECT chain_pos, expected, chain_pos <> expected AS missing
FROM (
  SELECT chain_pos, prev_hash,
         :start + row_number() OVER w - 1 AS expected,
         coalesce(lag(hash) OVER w, :prev) AS prev
  FROM audit_events
  WHERE chain_pos >= :start
  WINDOW w AS (ORDER BY chain_pos)
) t
WHERE chain_pos <> expected OR prev_hash IS DISTINCT FROM prev
ORDER BY chain_pos
LIMIT 1
"""


async def verify_chain(session: AsyncSession, since: ChainStart | None = None) -> ChainReport:
    """Recompute every event's hash from the start (or from the event after ``since``, a
    checkpointed head already trusted); report the first broken link."""
    start, prev = (since.pos + 1, since.hash) if since is not None else (1, GENESIS)
    first = start
    v2_from = int(await session.scalar(text("SELECT v2_from FROM audit_chain")) or 1)
    checked = 0
    if start < v2_from:
        legacy = await _verify_legacy(session, start, prev, v2_from)
        if not legacy.ok:
            return legacy
        checked, prev = legacy.checked, legacy.reason or prev
        start = v2_from
    # No JIT: the cost is hashing per row, which compiling the expressions does not lower.
    await session.execute(text("SET LOCAL jit = off"))
    params = {"start": start, "prev": prev}
    link = (await session.execute(text(_V2_FIRST_BAD_LINK), params)).first()
    content = await session.scalar(text(_V2_FIRST_BAD_CONTENT), params)
    broken: tuple[int, str] | None = None
    if link is not None:
        broken = (int(link.expected), MISSING if link.missing else PREV_DIFFERS)
    # At one position the link is reported first (as v1 did); a missing event has no content.
    if content is not None and (broken is None or int(content) < broken[0]):
        broken = (int(content), CONTENT_DIFFERS)
    if broken is not None:
        at, reason = broken
        return ChainReport(
            ok=False, checked=checked + at - start, broken_at=at, reason=reason, start=first
        )
    # The link pass found positions start, start + 1, ... without a gap up to the last.
    last = await session.scalar(text("SELECT max(chain_pos) FROM audit_events"))
    return ChainReport(ok=True, checked=checked + max(0, int(last or 0) - start + 1), start=first)


async def _verify_legacy(session: AsyncSession, start: int, prev: str, v2_from: int) -> ChainReport:
    """The v1 part, in Python; on success ``reason`` carries the last hash (for v2's start)."""
    expected, checked = start, 0
    while expected < v2_from:
        rows = (
            await session.execute(
                text(
                    "SELECT * FROM audit_events WHERE chain_pos >= :from AND chain_pos < :to "
                    "ORDER BY chain_pos LIMIT :n"
                ),
                {"from": expected, "to": v2_from, "n": _LEGACY_BATCH},
            )
        ).all()
        if not rows:
            return ChainReport(ok=False, checked=checked, broken_at=expected, reason=MISSING)
        for event in rows:
            if event.chain_pos != expected:
                return ChainReport(ok=False, checked=checked, broken_at=expected, reason=MISSING)
            if event.prev_hash != prev:
                return _legacy_broken(checked, expected, PREV_DIFFERS)
            if legacy_event_hash(event, expected, prev) != event.hash:
                return _legacy_broken(checked, expected, CONTENT_DIFFERS)
            prev = event.hash
            expected += 1
            checked += 1
    return ChainReport(ok=True, checked=checked, reason=prev)


def _legacy_broken(checked: int, pos: int, reason: str) -> ChainReport:
    return ChainReport(ok=False, checked=checked, broken_at=pos, reason=reason)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


__all__ = [
    "CONTENT_DIFFERS",
    "GENESIS",
    "MISSING",
    "PREV_DIFFERS",
    "ChainReport",
    "ChainStart",
    "EventDraft",
    "append_event",
    "append_events",
    "event_row",
    "legacy_event_hash",
    "verify_chain",
]
