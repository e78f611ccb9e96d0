"""Signed checkpoints of the audit chain head (DESIGN.md §6).

The chain alone cannot show events deleted from its end: what is left still links. A
checkpoint vouches, under the hub's signing key, that at time ``at`` the chain reached
position ``pos`` and the event there hashed ``head``; verification then requires the chain to
reach every checkpoint's position with that very hash. Each hub process offers a checkpoint
every few seconds, but one is written only when the head moved and the last checkpoint is
older than the interval, under an advisory lock, so processes never write two for one head.
The table is append-only, and an owner keeps its own copy (JSON lines from
``hub audit checkpoints export``), which still tells a truncated chain from an intact one
after the table itself has been rewritten.

A signature is a compact JWS (ES256) over the canonical JSON of (pos, head, at), with the
signing key's ``kid`` in its header; the keys file keeps every signing key, so checkpoints
verify after a rotation, and anyone holding the issuer's JWKS can check a kept copy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import ECKey
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.errors import InvalidInput

log = logging.getLogger(__name__)

CHECKPOINT_TYPE = "hub-audit-checkpoint"
_CHECKPOINT_LOCK = 7_305_003
_BATCH = 2000
_PUBLIC_MEMBERS = ("kty", "crv", "x", "y", "kid", "alg", "use")
MAX_PROBLEMS = 20


@dataclass(frozen=True, slots=True)
class SigningKeys:
    """The hub's signing keys as JWK dicts (private ones to sign) and the active key's kid;
    the hub layer hands them over from its keys file."""

    jwks: Sequence[Mapping[str, Any]]
    active_kid: str

    def sign(self, payload: bytes, typ: str = CHECKPOINT_TYPE) -> str:
        """A compact JWS of ``payload`` under the active key, its header naming what it signs
        (``typ``: a checkpoint, an archive manifest). Raises InvalidInput when the active key
        is missing or not private."""
        jwk = self._jwk(self.active_kid)
        if jwk is None or "d" not in jwk:
            raise InvalidInput(f"keys file: no private signing key '{self.active_kid}'")
        header = {"alg": "ES256", "kid": self.active_kid, "typ": typ}
        return jws.serialize_compact(header, payload, ECKey.import_key(dict(jwk)))

    def verify(self, token: str, kid: str, typ: str = CHECKPOINT_TYPE) -> bytes | None:
        """The payload when ``token`` is a valid signature of a ``typ`` by key ``kid``."""
        jwk = self._jwk(kid)
        if jwk is None:
            return None
        public = ECKey.import_key({m: jwk[m] for m in _PUBLIC_MEMBERS if m in jwk})
        try:
            signed = jws.deserialize_compact(token, public, algorithms=["ES256"])
        except (JoseError, ValueError):
            return None
        headers = signed.headers()
        if headers.get("kid") != kid or headers.get("typ") != typ:
            return None
        return bytes(signed.payload)

    def knows(self, kid: str) -> bool:
        return self._jwk(kid) is not None

    def _jwk(self, kid: str) -> Mapping[str, Any] | None:
        return next((k for k in self.jwks if k.get("kid") == kid), None)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """One signed chain head; ``id`` is its row (None for a line of a kept copy)."""

    pos: int
    head: str
    at: datetime
    kid: str
    jws: str
    id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "pos": self.pos,
            "head": self.head,
            "at": _iso(self.at),
            "kid": self.kid,
            "jws": self.jws,
        }

    def describe(self) -> str:
        return f"the checkpoint of {_iso(self.at)} (position {self.pos}, key '{self.kid}')"


@dataclass(slots=True)
class CheckpointReport:
    checked: int = 0
    kept_checked: int = 0
    last: Checkpoint | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def checkpoint_payload(pos: int, head: str, at: datetime) -> bytes:
    """What a checkpoint signs: canonical JSON, so any JOSE library can check it."""
    body = {"typ": CHECKPOINT_TYPE, "pos": pos, "head": head, "at": _iso(at)}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")


async def write_checkpoint(
    session: AsyncSession, keys: SigningKeys, min_interval: float
) -> Checkpoint | None:
    """Sign and store the chain head if it moved past the last checkpoint and that one is at
    least ``min_interval`` seconds old; else (or while another process writes) None.
    The caller commits."""
    locked = await session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": _CHECKPOINT_LOCK}
    )
    if not locked:
        return None
    await ensure_partitions(session)
    state = (
        await session.execute(
            text(
                "SELECT h.chain_pos, h.hash, c.chain_pos AS last_pos, "
                "extract(epoch FROM clock_timestamp() - c.at) AS age, clock_timestamp() AS now "
                "FROM (SELECT 1) one "
                # audit_log, not the view: its join to the contexts hid the per-partition
                # chain_pos index, and finding the head scanned the whole log (0.2 s at
                # 500,000 events, growing with it).
                "LEFT JOIN LATERAL (SELECT chain_pos, encode(hash, 'hex') AS hash "
                "  FROM audit_log ORDER BY chain_pos DESC LIMIT 1) h ON true "
                "LEFT JOIN LATERAL (SELECT chain_pos, at FROM audit_checkpoints "
                "  ORDER BY id DESC LIMIT 1) c ON true"
            )
        )
    ).one()
    if state.chain_pos is None or state.hash is None:
        return None
    # A head at or below the last checkpoint is never signed: below it is a truncation,
    # which verification reports, and a checkpoint must not vouch for it.
    if state.last_pos is not None and state.chain_pos <= state.last_pos:
        return None
    if state.age is not None and float(state.age) < min_interval:
        return None
    at: datetime = state.now
    signed = keys.sign(checkpoint_payload(int(state.chain_pos), str(state.hash), at))
    row_id = await session.scalar(
        text(
            "INSERT INTO audit_checkpoints (chain_pos, head_hash, at, kid, jws) "
            "VALUES (:p, :h, :at, :kid, :jws) RETURNING id"
        ),
        {"p": state.chain_pos, "h": state.hash, "at": at, "kid": keys.active_kid, "jws": signed},
    )
    return Checkpoint(int(state.chain_pos), str(state.hash), at, keys.active_kid, signed, row_id)


async def ensure_partitions(session: AsyncSession) -> None:
    """Create this month's and next month's audit partitions if missing (the checkpoint
    task's turn, so a month's partition exists before its first event). Waits at most a
    second for the lock DDL needs; on timeout, the next turn tries again (events meanwhile
    land in the default partition, never nowhere)."""
    missing = await session.scalar(
        text(
            "SELECT to_regclass('audit_log_p' || to_char(now() AT TIME ZONE '+07', 'YYYYMM')) "
            "IS NULL OR to_regclass('audit_log_p' || to_char((now() AT TIME ZONE '+07') "
            "+ interval '1 month', 'YYYYMM')) IS NULL"
        )
    )
    if not missing:
        return
    try:
        async with session.begin_nested():
            previous = await session.scalar(text("SELECT current_setting('lock_timeout')"))
            await session.execute(text("SET LOCAL lock_timeout = '1s'"))
            await session.execute(text("SELECT hub_audit_ensure_partitions()"))
            await session.execute(
                text("SELECT set_config('lock_timeout', :v, true)"), {"v": previous}
            )
    except DBAPIError as exc:
        log.warning("audit partitions not created yet (%s); retrying later", exc.orig)


async def checkpoints_after(
    session: AsyncSession, after_id: int = 0, limit: int = _BATCH
) -> list[Checkpoint]:
    """Stored checkpoints in the order written, ``limit`` at a time after row ``after_id``."""
    rows = await session.execute(
        text(
            "SELECT id, chain_pos, head_hash, at, kid, jws FROM audit_checkpoints "
            "WHERE id > :after ORDER BY id LIMIT :limit"
        ),
        {"after": after_id, "limit": limit},
    )
    return [
        Checkpoint(int(r.chain_pos), str(r.head_hash), r.at, str(r.kid), str(r.jws), int(r.id))
        for r in rows
    ]


async def last_good_checkpoint(session: AsyncSession, keys: SigningKeys) -> Checkpoint | None:
    """The newest stored checkpoint whose signature verifies and whose position holds the
    hash it signed: where an incremental verification of the chain may start. Events before
    it are vouched for only by their link to it; a full verification recomputes them too."""
    before = None
    while True:
        rows = await session.execute(
            text(
                "SELECT c.id, c.chain_pos, c.head_hash, c.at, c.kid, c.jws, e.hash "
                "FROM audit_checkpoints c LEFT JOIN LATERAL (SELECT encode(hash, 'hex') AS hash "
                "  FROM audit_log WHERE chain_pos = c.chain_pos) e ON true "
                "WHERE c.id < coalesce(:before, c.id + 1) ORDER BY c.id DESC LIMIT :limit"
            ),
            {"before": before, "limit": _BATCH},
        )
        batch = rows.all()
        if not batch:
            return None
        for r in batch:
            checkpoint = Checkpoint(
                int(r.chain_pos), str(r.head_hash), r.at, str(r.kid), str(r.jws), int(r.id)
            )
            signed = keys.verify(checkpoint.jws, checkpoint.kid)
            if r.hash == checkpoint.head and signed == checkpoint_payload(
                checkpoint.pos, checkpoint.head, checkpoint.at
            ):
                return checkpoint
        before = int(batch[-1].id)


def parse_kept(lines: Iterable[str], where: str) -> list[Checkpoint]:
    """The checkpoints of a kept copy (JSON lines as exported). Raises InvalidInput naming
    the file and line of a malformed one."""
    kept = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            kept.append(
                Checkpoint(
                    pos=_int(obj["pos"]),
                    head=str(obj["head"]),
                    at=datetime.fromisoformat(str(obj["at"])),
                    kid=str(obj["kid"]),
                    jws=str(obj["jws"]),
                )
            )
        except (ValueError, KeyError, TypeError):
            raise InvalidInput(
                f"{where} line {number}: not a checkpoint "
                "(expected JSON with pos, head, at, kid, jws, as exported)"
            ) from None
    return kept


async def verify_checkpoints(
    session: AsyncSession,
    keys: SigningKeys,
    kept: Sequence[Checkpoint] = (),
    kept_from: str = "the kept copy",
) -> CheckpointReport:
    """Check every stored checkpoint (and every ``kept`` one) against its signature and the
    chain: the chain must reach its position with its hash there. A kept checkpoint missing
    from the table means the table was rewritten. Problems are listed, at most MAX_PROBLEMS."""
    report = CheckpointReport()
    head = await session.scalar(text("SELECT max(chain_pos) FROM audit_log"))
    base = (
        await session.execute(
            text("SELECT base_pos, encode(base_hash, 'hex') AS hash FROM audit_chain")
        )
    ).one()
    # Everything up to the base is archived: the chain reaches at least there.
    head_pos = max(int(head or 0), int(base.base_pos))
    archived = _Base(int(base.base_pos), str(base.hash))
    after = 0
    while len(report.problems) < MAX_PROBLEMS:
        batch = await checkpoints_after(session, after)
        if not batch:
            break
        await _check(session, keys, batch, head_pos, archived, report, where=None)
        report.checked += len(batch)
        report.last = batch[-1]
        after = batch[-1].id or after
    for start in range(0, len(kept), _BATCH):
        if len(report.problems) >= MAX_PROBLEMS:
            break
        batch = list(kept[start : start + _BATCH])
        await _check(session, keys, batch, head_pos, archived, report, where=kept_from)
        stored = set(
            await session.scalars(
                text("SELECT jws FROM audit_checkpoints WHERE jws = ANY(:tokens)"),
                {"tokens": [c.jws for c in batch]},
            )
        )
        for checkpoint in batch:
            if checkpoint.jws not in stored:
                report.problems.append(
                    f"{checkpoint.describe()} kept in {kept_from} is missing from the "
                    "audit_checkpoints table (the table was rewritten)"
                )
        report.kept_checked += len(batch)
    del report.problems[MAX_PROBLEMS:]
    return report


async def _check(
    session: AsyncSession,
    keys: SigningKeys,
    batch: Sequence[Checkpoint],
    head_pos: int,
    archived: _Base,
    report: CheckpointReport,
    where: str | None,
) -> None:
    rows = await session.execute(
        text(
            "SELECT chain_pos, encode(hash, 'hex') AS hash FROM audit_log "
            "WHERE chain_pos = ANY(:ps)"
        ),
        {"ps": sorted({c.pos for c in batch})},
    )
    hashes: dict[int, str] = {int(r.chain_pos): str(r.hash) for r in rows}
    if archived.pos:
        hashes[archived.pos] = archived.hash
    place = f" in {where}" if where else ""
    for checkpoint in batch:
        name = checkpoint.describe() + place
        if not keys.knows(checkpoint.kid):
            report.problems.append(f"{name} is signed by a key not in the keys file")
            continue
        payload = keys.verify(checkpoint.jws, checkpoint.kid)
        expected = checkpoint_payload(checkpoint.pos, checkpoint.head, checkpoint.at)
        if payload != expected:
            report.problems.append(f"{name}: its signature does not verify (forged or edited)")
            continue
        if checkpoint.pos < archived.pos:
            continue  # its event is in a signed archive (``hub audit verify --archive``)
        if checkpoint.pos > head_pos:
            report.problems.append(
                f"audit chain TRUNCATED: it ends at position {head_pos}, but {name} vouches "
                f"for {checkpoint.pos} events (events after position {head_pos} were deleted)"
            )
        elif hashes.get(checkpoint.pos) != checkpoint.head:
            found = hashes.get(checkpoint.pos)
            report.problems.append(
                f"audit chain REWRITTEN: the event at position {checkpoint.pos} "
                + ("is missing" if found is None else f"hashes {found[:16]}…")
                + f", but {name} signed {checkpoint.head[:16]}…"
            )


@dataclass(frozen=True, slots=True)
class _Base:
    """The last archived position and its hash (0 when nothing is archived)."""

    pos: int
    hash: str


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("pos")
    return value


__all__ = [
    "CHECKPOINT_TYPE",
    "Checkpoint",
    "CheckpointReport",
    "SigningKeys",
    "checkpoint_payload",
    "checkpoints_after",
    "ensure_partitions",
    "last_good_checkpoint",
    "parse_kept",
    "verify_checkpoints",
    "write_checkpoint",
]
