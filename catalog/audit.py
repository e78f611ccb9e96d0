"""The audit chain (000 Điều 26–27; DESIGN.md §6).

Events are appended in the same transaction as the change they record, unchained. The chainer
then gives each committed event, in order, a chain position and
``hash = sha256(canonical(event) + prev_hash)``, under an advisory lock so one chainer runs at
a time. Appends never wait for each other; ``verify_chain`` recomputes every hash and names
the first broken link. The table itself refuses updates other than the one chaining step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.models import AuditEvent
from catalog.principal import Principal

GENESIS = "0" * 64
_CHAIN_LOCK = 7_305_002
_BATCH = 5000


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
    ok: bool
    checked: int
    pending: int
    broken_at: int | None = None
    reason: str | None = None


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
    """Append one event in the caller's transaction (committed or rolled back with it)."""
    await session.execute(insert(AuditEvent).values(**event_row(principal, draft, request_id)))


async def append_events(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await session.execute(insert(AuditEvent), list(rows))


def event_hash(fields: dict[str, Any], prev_hash: str) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((canonical + prev_hash).encode("utf-8")).hexdigest()


def hashed_fields(event: Any, chain_pos: int) -> dict[str, Any]:
    """The hashed content of an event (an ORM object or a row with the same attributes)."""
    return {
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


async def chain_pending(session: AsyncSession, limit: int = _BATCH) -> int:
    """Chain up to ``limit`` committed, unchained events; returns how many. The caller commits.

    Returns 0 at once when another chainer holds the lock."""
    locked = await session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _CHAIN_LOCK})
    if not locked:
        return 0
    last = (
        await session.execute(
            select(AuditEvent.chain_pos, AuditEvent.hash)
            .where(AuditEvent.chain_pos.is_not(None))
            .order_by(AuditEvent.chain_pos.desc())
            .limit(1)
        )
    ).first()
    pos, prev = (last.chain_pos, last.hash) if last else (0, GENESIS)
    # Plain rows, not ORM objects: the chainer keeps up with thousands of reads a second.
    pending = (
        await session.execute(
            select(*AuditEvent.__table__.c)
            .where(AuditEvent.chain_pos.is_(None))
            .order_by(AuditEvent.seq)
            .limit(limit)
        )
    ).all()
    updates = []
    for event in pending:
        pos += 1
        digest = event_hash(hashed_fields(event, pos), prev)
        updates.append({"s": event.seq, "p": pos, "ph": prev, "h": digest})
        prev = digest
    if updates:
        await session.execute(
            text(
                "UPDATE audit_events SET chain_pos = :p, prev_hash = :ph, hash = :h WHERE seq = :s"
            ),
            updates,
        )
    return len(updates)


async def verify_chain(session: AsyncSession) -> ChainReport:
    """Recompute every chained event's hash in order; report the first broken link."""
    prev, expected_pos, checked, after = GENESIS, 1, 0, 0
    while True:
        batch = (
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.chain_pos > after)
                .order_by(AuditEvent.chain_pos)
                .limit(_BATCH)
            )
        ).all()
        if not batch:
            break
        for event in batch:
            assert event.chain_pos is not None
            if event.chain_pos != expected_pos:
                return _broken(session, checked, expected_pos, "a link is missing (deleted?)")
            if event.prev_hash != prev:
                return _broken(session, checked, event.chain_pos, "previous-hash link differs")
            if event_hash(hashed_fields(event, event.chain_pos), prev) != event.hash:
                return _broken(session, checked, event.chain_pos, "content does not match hash")
            prev = event.hash
            expected_pos += 1
            checked += 1
            after = event.chain_pos
        session.expunge_all()
    pending = await session.scalar(
        text("SELECT count(*) FROM audit_events WHERE chain_pos IS NULL")
    )
    return ChainReport(ok=True, checked=checked, pending=int(pending or 0))


def _broken(session: AsyncSession, checked: int, pos: int, reason: str) -> ChainReport:
    session.expunge_all()
    return ChainReport(ok=False, checked=checked, pending=0, broken_at=pos, reason=reason)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


__all__ = [
    "ChainReport",
    "EventDraft",
    "append_event",
    "append_events",
    "chain_pending",
    "event_row",
    "verify_chain",
]
