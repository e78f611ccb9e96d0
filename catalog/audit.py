"""The audit chain (000 Điều 26–27; DESIGN.md §6).

Every event is chained by the insert that records it: the database (migrations 0003, 0005)
takes the row lock of the one-row chain head ``audit_chain`` at a transaction's first event,
gives each event ``chain_pos = head + 1``, its time and ``hash = digest(event, previous
hash)``, stores it in its month's partition of ``audit_log`` and moves the head once per
statement. Writers append through the view ``audit_events`` in their own transaction (an
event commits or rolls back with the change it records) and serialise only from their first
event to their commit; nothing updates an event afterwards, and every partition refuses
UPDATE, DELETE and TRUNCATE.

Three hash definitions live in one chain: events before ``audit_chain.v2_from`` keep the v1
hashes the former chainer gave them (sha256 of Python's canonical JSON plus the previous
hash), events before ``v3_from`` v2 hashes (computed in SQL over the arrays and the previous
hash as hex), later ones v3 hashes (the packed lists of ``catalog.audit_lists`` and the
previous hash as bytes). The previous hash is not stored: it is the hash of the event before,
or for the first event in the database the chain's base (``audit_chain.base_hash``: genesis,
or the last hash of the newest signed archive). ``verify_range`` recomputes all three, v2
and v3 in PostgreSQL in one ordered pass, and names the first broken link.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.audit_lists import pack
from catalog.models import AuditEvent
from catalog.principal import Principal

GENESIS = "0" * 64
_LEGACY_BATCH = 20_000

MISSING = "a link is missing (deleted?)"
PREV_DIFFERS = "previous-hash link differs"
CONTENT_DIFFERS = "content does not match hash"
# The stored events with their contexts (who, what, why), as verification reads them.
# Ranges this long are verified over parallel connections when a session factory is given.
PARALLEL_MIN_EVENTS = 50_000
PARALLEL_WORKERS = 4
LOG = "audit_log JOIN audit_contexts ON audit_contexts.id = audit_log.context"


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
    chained on insert, kept for the command's output. On success ``last_pos``/``last_hash``
    are the last event verified (or the start's predecessor when there was none)."""

    ok: bool
    checked: int
    pending: int = 0
    broken_at: int | None = None
    reason: str | None = None
    start: int = 1
    last_pos: int = 0
    last_hash: str = GENESIS


@dataclass(frozen=True, slots=True)
class ChainStart:
    """Where a verification begins: the position after ``pos``, whose hash is ``hash``."""

    pos: int
    hash: str


@dataclass(frozen=True, slots=True)
class ChainState:
    """The one-row head: its position and hash, where v2 and v3 hashing start, and the base
    (the last archived position and its hash) the database's chain continues from."""

    pos: int
    hash: str
    v2_from: int
    v3_from: int
    base_pos: int
    base_hash: str


def event_row(principal: Principal, draft: EventDraft, request_id: str | None) -> dict[str, Any]:
    return {
        "subject": principal.subject,
        "agency": principal.agency,
        "client_id": principal.client_id,
        "action": draft.action,
        "dataset": draft.dataset,
        "fields": list(draft.fields) if draft.fields is not None else None,
        "lists": pack(draft.keys),
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


async def chain_state(session: AsyncSession) -> ChainState:
    row = (
        await session.execute(
            text(
                "SELECT pos, encode(hash, 'hex') AS hash, v2_from, v3_from, base_pos, "
                "encode(base_hash, 'hex') AS base_hash FROM audit_chain WHERE id = 1"
            )
        )
    ).one()
    return ChainState(
        int(row.pos),
        str(row.hash),
        int(row.v2_from),
        int(row.v3_from),
        int(row.base_pos),
        str(row.base_hash),
    )


async def previous_hashes(session: AsyncSession, positions: Sequence[int]) -> dict[int, str]:
    """The hash each event at ``positions`` chains to (hex): its predecessor's, the base's
    for the first event in the database. Positions are bounded by the caller's page."""
    wanted = sorted({p - 1 for p in positions})
    rows = await session.execute(
        text(
            "SELECT p.pos, coalesce(e.hash, CASE WHEN p.pos = c.base_pos "
            "THEN encode(c.base_hash, 'hex') END) AS hash "
            "FROM unnest(CAST(:ps AS bigint[])) AS p(pos) CROSS JOIN audit_chain c "
            "LEFT JOIN LATERAL (SELECT encode(hash, 'hex') AS hash FROM audit_log "
            "  WHERE chain_pos = p.pos) e ON true"
        ),
        {"ps": wanted},
    )
    found = {int(r.pos): str(r.hash) for r in rows if r.hash is not None}
    return {p: found.get(p - 1, GENESIS if p == 1 else "") for p in positions}


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

# v2 and v3 in one ordered pass: each event against the position it should have and its
# hash recomputed over the hash of the event before (the start's given hash for the first).
# The pass stops at the first failing event. Relations are this module's constants (the log,
# or an archive's rows loaded into a temporary table), never input. A v3 hash covers its
# context by the context's ident, so the contexts' idents are checked against their values
# apart (once per context, not per event).
_V23_FIRST_BAD = """
SELECT chain_pos, expected, chain_pos <> expected AS missing
FROM (
  SELECT chain_pos, :start + row_number() OVER w - 1 AS expected,
         hash IS DISTINCT FROM CASE
           WHEN chain_pos >= :v3 THEN
             hub_audit_digest3(chain_pos, seq, at, ident, request_id, detail, lists, keys,
                               coalesce(lag(hash) OVER w, :prev))
           ELSE decode(hub_audit_digest(chain_pos, seq, at, subject, agency, client_id, action,
                                        dataset, keys, fields, purpose, request_id, detail,
                                        encode(coalesce(lag(hash) OVER w, :prev), 'hex')),
                       'hex')
         END AS bad
  FROM {relation}
  WHERE chain_pos >= :start AND chain_pos <= :end
  WINDOW w AS (ORDER BY chain_pos)
) t
WHERE chain_pos <> expected OR bad
LIMIT 1
"""
_FIRST_ALTERED_CONTEXT = """
SELECT min(chain_pos + 0) FROM audit_log
WHERE chain_pos >= :start AND chain_pos <= :end
  AND context IN (SELECT id FROM audit_contexts
                  WHERE ident IS DISTINCT FROM hub_audit_context_ident(
                    action, subject, agency, client_id, dataset, purpose, fields))
"""


async def verify_chain(
    session: AsyncSession,
    since: ChainStart | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> ChainReport:
    """Recompute every event's hash in the database from its base (genesis, or the last hash
    of the newest archive), or from the event after ``since`` (a checkpointed head already
    trusted); report the first broken link. The chain must also reach the head
    ``audit_chain`` records (events cut from the end are missing)."""
    state = await chain_state(session)
    start, prev = state.base_pos + 1, state.base_hash
    if since is not None and since.pos >= state.base_pos:
        start, prev = since.pos + 1, since.hash
    report = await verify_range(session, LOG, start, prev, state, sessions=sessions)
    if report.ok and report.last_pos < state.pos:
        return ChainReport(
            ok=False,
            checked=report.checked,
            broken_at=report.last_pos + 1,
            reason=MISSING,
            start=start,
        )
    return report


async def verify_range(
    session: AsyncSession,
    relation: str,
    start: int,
    prev: str,
    state: ChainState,
    end: int | None = None,
    sessions: async_sessionmaker[AsyncSession] | None = None,
) -> ChainReport:
    """Verify the events of ``relation`` (``LOG`` or a loaded archive) at positions ``start``
    to ``end`` (default: the last there is), the first linking to ``prev`` (hex). With
    ``sessions`` (the log only), a long range is split over parallel connections."""
    last = end
    if last is None:
        last = int(
            await session.scalar(text(f"SELECT coalesce(max(chain_pos), 0) FROM {relation}")) or 0
        )
    checked, first = 0, start
    if start < state.v2_from and start <= last:
        legacy = await _verify_legacy(session, relation, start, prev, min(state.v2_from, last + 1))
        if not legacy.ok:
            return legacy
        checked, prev = legacy.checked, legacy.last_hash
        start = legacy.last_pos + 1
    if start <= last:
        broken = await _first_bad(session, sessions, relation, start, last, prev, state)
        if relation == LOG:
            altered = await session.scalar(
                text(_FIRST_ALTERED_CONTEXT), {"start": start, "end": last}
            )
            if altered is not None and (broken is None or int(altered) < broken[0]):
                broken = (int(altered), CONTENT_DIFFERS)
        if broken is not None:
            at, reason = broken
            return ChainReport(
                ok=False, checked=checked + at - start, broken_at=at, reason=reason, start=first
            )
        tail = await session.scalar(
            text(f"SELECT encode(hash, 'hex') FROM {relation} WHERE chain_pos = :p"),
            {"p": last},
        )
        if tail is None:  # the events up to the end are in order, but they stop short
            reached = await session.scalar(
                text(
                    f"SELECT max(chain_pos) FROM {relation} "
                    "WHERE chain_pos >= :s AND chain_pos <= :e"
                ),
                {"s": start, "e": last},
            )
            at = int(reached) + 1 if reached is not None else start
            return ChainReport(
                ok=False, checked=checked + at - start, broken_at=at, reason=MISSING, start=first
            )
        checked += last - start + 1
        prev = str(tail)
    return ChainReport(
        ok=True, checked=checked, start=first, last_pos=max(last, first - 1), last_hash=prev
    )


async def _first_bad(
    session: AsyncSession,
    sessions: async_sessionmaker[AsyncSession] | None,
    relation: str,
    start: int,
    last: int,
    prev: str,
    state: ChainState,
) -> tuple[int, str] | None:
    """The first position failing the ordered pass, and why. The pass is serial (each event
    needs the hash before it), so a long range of the log is cut into ``PARALLEL_WORKERS``
    stretches, each on its own connection and linking to the stored hash before it (which the
    stretch before checks): hashing then uses every core."""
    total = last - start + 1
    if sessions is None or relation != LOG or total < PARALLEL_MIN_EVENTS:
        return await _first_bad_in(session, relation, start, last, bytes.fromhex(prev), state)
    size = -(-total // PARALLEL_WORKERS)
    bounds = [(lo, min(lo + size - 1, last)) for lo in range(start, last + 1, size)]
    rows = await session.execute(
        text(f"SELECT chain_pos, hash FROM {relation} WHERE chain_pos = ANY(:ps)"),
        {"ps": [lo - 1 for lo, _hi in bounds[1:]]},
    )
    stored = {int(r.chain_pos): bytes(r.hash) for r in rows}

    async def stretch(lo: int, hi: int) -> tuple[int, str] | None:
        before = bytes.fromhex(prev) if lo == start else stored.get(lo - 1, bytes(32))
        async with sessions() as own:
            return await _first_bad_in(own, relation, lo, hi, before, state)

    found = await asyncio.gather(*(stretch(lo, hi) for lo, hi in bounds))
    failures = [f for f in found if f is not None]
    return min(failures) if failures else None


async def _first_bad_in(
    session: AsyncSession, relation: str, start: int, last: int, prev: bytes, state: ChainState
) -> tuple[int, str] | None:
    # No JIT: the cost is hashing per row, which compiling the expressions does not lower.
    await session.execute(text("SET LOCAL jit = off"))
    params = {"start": start, "end": last, "prev": prev, "v3": state.v3_from}
    bad = (await session.execute(text(_V23_FIRST_BAD.format(relation=relation)), params)).first()
    if bad is None:
        return None
    return int(bad.expected), MISSING if bad.missing else CONTENT_DIFFERS


async def _verify_legacy(
    session: AsyncSession, relation: str, start: int, prev: str, until: int
) -> ChainReport:
    """The v1 part (positions ``start`` up to ``until``, excluded), in Python."""
    expected, checked = start, 0
    while expected < until:
        rows = (
            await session.execute(
                text(
                    "SELECT seq, at, subject, agency, client_id, action, dataset, keys, fields, "
                    "purpose, request_id, detail, chain_pos, encode(hash, 'hex') AS hash "
                    f"FROM {relation} WHERE chain_pos >= :from AND chain_pos < :to "
                    "ORDER BY chain_pos LIMIT :n"
                ),
                {"from": expected, "to": until, "n": _LEGACY_BATCH},
            )
        ).all()
        if not rows:
            return _broken(checked, expected, MISSING, start)
        for event in rows:
            if event.chain_pos != expected:
                return _broken(checked, expected, MISSING, start)
            if legacy_event_hash(event, expected, prev) != event.hash:
                return _broken(checked, expected, CONTENT_DIFFERS, start)
            prev = event.hash
            expected += 1
            checked += 1
    return ChainReport(ok=True, checked=checked, start=start, last_pos=expected - 1, last_hash=prev)


def _broken(checked: int, pos: int, reason: str, start: int) -> ChainReport:
    return ChainReport(ok=False, checked=checked, broken_at=pos, reason=reason, start=start)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


__all__ = [
    "CONTENT_DIFFERS",
    "GENESIS",
    "LOG",
    "MISSING",
    "PREV_DIFFERS",
    "ChainReport",
    "ChainStart",
    "ChainState",
    "EventDraft",
    "append_event",
    "append_events",
    "chain_state",
    "event_row",
    "legacy_event_hash",
    "previous_hashes",
    "verify_chain",
    "verify_range",
]
