"""Signed archives of old months of the audit (DESIGN.md §6; migration 0005).

``export_archive`` writes every monthly partition before a month to one gzip file of JSON
lines: the events in chain order (who, what and why resolved, keys unpacked or as stored,
hash as hex), then a last line holding the signed manifest: the months, the chain range
(``first_pos``..``last_pos``), the hash the first event links to (``first_prev``), the last
hash, the number of events, the sha256 of the event lines as written, and where v2 and v3
hashing start. The manifest is a compact JWS (ES256) by the hub's active signing key, as
checkpoints are. The file is then read back and checked like ``verify_archive`` does, and
only then, in one transaction, the archive is recorded in ``audit_archives``, the chain's
base moves to its last event, and the partitions are dropped (the drop guard lets a monthly
partition go only once an archive records it).

``verify_archive`` loads a file's events into a temporary table and recomputes their chain
with the database's own digest functions (v1 in Python), then checks the manifest's
signature, row count, range and content hash, and that this database recorded the archive;
the newest archive's last hash is the base the database's chain continues from.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import itertools
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.audit import ChainState, chain_state, verify_range
from catalog.audit_lists import PackedListsError, unpack
from catalog.checkpoints import SigningKeys
from catalog.errors import InvalidInput

ARCHIVE_TYPE = "hub-audit-archive"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_PARTITION = re.compile(r"^audit_log_p(\d{4})(\d{2})$")
_BATCH = 5000
_DROP_LOCK_TIMEOUT = "3s"
MAX_PROBLEMS = 20
_EVENT_MEMBERS = frozenset(
    {
        "pos",
        "seq",
        "at",
        "subject",
        "agency",
        "client_id",
        "action",
        "dataset",
        "purpose",
        "request_id",
        "detail",
        "fields",
        "keys",
        "lists",
        "hash",
    }
)

# The events of the months to archive in chain order, each as the JSON line it is written
# as, built by PostgreSQL up to its last member (timestamps exact to the microsecond;
# ``detail`` as its jsonb text, a JSON string, so numbers keep their exact form). The last
# member, ``keys``, is the list as stored or a compact event's packed keys unpacked (readable
# without this hub; ``lists``, which its hash covers, travels too, as base64).
_EXPORT = """
SELECT l.chain_pos, l.lists, encode(l.hash, 'hex') AS hash, to_json(l.keys)::text AS keys,
  json_build_object(
  'pos', l.chain_pos, 'seq', l.seq, 'at', l.at, 'subject', c.subject, 'agency', c.agency,
  'client_id', c.client_id, 'action', c.action, 'dataset', c.dataset, 'purpose', c.purpose,
  'request_id', l.request_id, 'detail', l.detail::text, 'fields', c.fields,
  'lists', translate(encode(l.lists, 'base64'), E'\\n', ''),
  'hash', encode(l.hash, 'hex'))::text AS line
FROM audit_log l JOIN audit_contexts c ON c.id = l.context
WHERE l.at < :boundary
ORDER BY l.chain_pos
"""
_ROWS = "hub_archive_rows"
_CONTEXTS = "hub_archive_contexts"
# An archive's events as verification reads them: the shape of the log and its contexts.
ARCHIVED = f"{_ROWS} JOIN {_CONTEXTS} ON {_CONTEXTS}.id = {_ROWS}.context"
_ROW_COLUMNS = (
    "chain_pos",
    "seq",
    "at",
    "context",
    "request_id",
    "detail",
    "keys",
    "lists",
    "hash",
)


@dataclass(frozen=True, slots=True)
class Manifest:
    months: list[str]
    partitions: list[str]
    first_pos: int
    last_pos: int
    rows: int
    first_prev: str
    last_hash: str
    content_sha256: str
    created: str
    v2_from: int
    v3_from: int

    def as_json(self) -> dict[str, Any]:
        return {
            "typ": ARCHIVE_TYPE,
            "months": self.months,
            "partitions": self.partitions,
            "first_pos": self.first_pos,
            "last_pos": self.last_pos,
            "rows": self.rows,
            "first_prev": self.first_prev,
            "last_hash": self.last_hash,
            "content_sha256": self.content_sha256,
            "created": self.created,
            "v2_from": self.v2_from,
            "v3_from": self.v3_from,
        }

    def payload(self) -> bytes:
        """What the signature covers: canonical JSON, so any JOSE library can check it."""
        return json.dumps(self.as_json(), sort_keys=True, separators=(",", ":")).encode()

    @staticmethod
    def parse(obj: Any) -> Manifest:
        """Raises KeyError/TypeError/ValueError on anything but a manifest as written."""
        if not isinstance(obj, dict) or obj.get("typ") != ARCHIVE_TYPE:
            raise ValueError("not an archive manifest")
        return Manifest(
            months=[str(m) for m in obj["months"]],
            partitions=[str(p) for p in obj["partitions"]],
            first_pos=_int(obj["first_pos"]),
            last_pos=_int(obj["last_pos"]),
            rows=_int(obj["rows"]),
            first_prev=_hex(obj["first_prev"]),
            last_hash=_hex(obj["last_hash"]),
            content_sha256=_hex(obj["content_sha256"]),
            created=str(obj["created"]),
            v2_from=_int(obj["v2_from"]),
            v3_from=_int(obj["v3_from"]),
        )


@dataclass(slots=True)
class ArchiveCheck:
    """What verifying one archive file found; ``problem`` names the first broken thing."""

    file: str
    rows: int = 0
    manifest: Manifest | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


@dataclass(frozen=True, slots=True)
class ArchiveResult:
    file: str
    months: list[str]
    first_pos: int
    last_pos: int
    rows: int
    bytes_written: int


@dataclass(slots=True)
class _Written:
    rows: int = 0
    sha: Any = field(default_factory=hashlib.sha256)
    last_pos: int = 0
    last_hash: str = ""


def month_of(value: str) -> date:
    """The first day of month ``YYYY-MM``. Raises InvalidInput naming the bad value."""
    match = _MONTH.fullmatch(value.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise InvalidInput(f"--before: expected a month as YYYY-MM (e.g. 2026-09), got {value!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _month_text(first: date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


async def export_archive(
    sessions: async_sessionmaker[AsyncSession], keys: SigningKeys, before: date, file: Path
) -> ArchiveResult:
    """Archive every monthly partition before month ``before`` to ``file`` (which must not
    exist), check the file, then record it and drop the partitions. Raises InvalidInput when
    there is nothing to archive, the month is not over, or the file or chain is not right;
    nothing is dropped then."""
    if await asyncio.to_thread(file.exists):
        raise InvalidInput(f"{file}: already exists (an archive is never overwritten)")
    async with sessions.begin() as session:
        await session.execute(text("SELECT hub_audit_ensure_partitions()"))
    async with sessions() as session:
        plan = await _plan(session, before)
        state = await chain_state(session)
        boundary = _vietnam_midnight(before)
        tmp = file.with_name(file.name + ".part")
        written = await _write_events(session, tmp, boundary)
    try:
        if written.rows != plan.rows or written.last_pos != plan.last_pos:
            raise InvalidInput(
                f"the months before {_month_text(before)} changed while they were exported"
            )
        manifest = Manifest(
            months=plan.months,
            partitions=plan.partitions,
            first_pos=state.base_pos + 1,
            last_pos=written.last_pos,
            rows=written.rows,
            first_prev=state.base_hash,
            last_hash=written.last_hash,
            content_sha256=written.sha.hexdigest(),
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            v2_from=state.v2_from,
            v3_from=state.v3_from,
        )
        jws = keys.sign(manifest.payload(), typ=ARCHIVE_TYPE)
        trailer = {"manifest": manifest.as_json(), "kid": keys.active_kid, "jws": jws}
        await asyncio.to_thread(_append_trailer, tmp, trailer)
        async with sessions() as session:
            check = await verify_archive(session, keys, tmp, recorded=False)
        if not check.ok:
            raise InvalidInput(f"the archive written does not verify: {check.problem}")
        tmp.replace(file)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    async with sessions.begin() as session:
        await _record_and_drop(session, manifest, keys.active_kid, jws)
    return ArchiveResult(
        str(file),
        manifest.months,
        manifest.first_pos,
        manifest.last_pos,
        manifest.rows,
        (await asyncio.to_thread(file.stat)).st_size,
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    months: list[str]
    partitions: list[str]
    rows: int
    last_pos: int


async def _plan(session: AsyncSession, before: date) -> _Plan:
    current = await session.scalar(
        text("SELECT date_trunc('month', now() AT TIME ZONE '+07')::date")
    )
    assert isinstance(current, date)
    if before > current:
        raise InvalidInput(
            f"--before {_month_text(before)}: the month {_month_text(current)} is not over; "
            f"only months before it can be archived (--before {_month_text(current)} at most)"
        )
    names = list(
        await session.scalars(
            text(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = 'audit_log'::regclass ORDER BY c.relname"
            )
        )
    )
    partitions = []
    for name in names:
        match = _PARTITION.fullmatch(str(name))
        if match and date(int(match.group(1)), int(match.group(2)), 1) < before:
            partitions.append(str(name))
    boundary = _vietnam_midnight(before)
    stray = await session.scalar(
        text("SELECT count(*) FROM audit_log_default WHERE at < :b"), {"b": boundary}
    )
    if stray:
        raise InvalidInput(
            f"{stray} events before {_month_text(before)} are in the default partition "
            "(their month had no partition when they were written); they cannot be archived"
        )
    if not partitions:
        raise InvalidInput(f"nothing to archive: no month before {_month_text(before)} is stored")
    span = (
        await session.execute(
            text(
                "SELECT count(*) AS n, min(chain_pos) AS lo, max(chain_pos) AS hi, "
                "(SELECT min(chain_pos) FROM audit_log WHERE at >= :b) AS after "
                "FROM audit_log WHERE at < :b"
            ),
            {"b": boundary},
        )
    ).one()
    state = await chain_state(session)
    if not span.n:
        raise InvalidInput(f"nothing to archive: no event before {_month_text(before)}")
    if int(span.lo) != state.base_pos + 1 or int(span.hi) - int(span.lo) + 1 != int(span.n):
        raise InvalidInput(
            f"the events before {_month_text(before)} are not one stretch of the chain from "
            f"position {state.base_pos + 1}; run `hub audit verify`"
        )
    if span.after is not None and int(span.after) != int(span.hi) + 1:
        raise InvalidInput(
            f"the chain does not continue at position {int(span.hi) + 1} after "
            f"{_month_text(before)}; run `hub audit verify`"
        )
    months = [f"{p[11:15]}-{p[15:17]}" for p in partitions]
    return _Plan(months, partitions, int(span.n), int(span.hi))


def _vietnam_midnight(first: date) -> datetime:
    from catalog.values import VIETNAM

    return datetime(first.year, first.month, 1, tzinfo=VIETNAM)


async def _write_events(session: AsyncSession, tmp: Path, boundary: datetime) -> _Written:
    written = _Written()
    fh = await asyncio.to_thread(gzip.open, tmp, "wb", 6)
    try:
        result = await session.stream(text(_EXPORT), {"boundary": boundary})
        async for batch in result.partitions(_BATCH):
            chunk = bytearray()
            for row in batch:
                raw = _with_keys(str(row.line), row.lists, row.keys).encode("utf-8") + b"\n"
                written.sha.update(raw)
                chunk += raw
                written.rows += 1
                written.last_pos = int(row.chain_pos)
                written.last_hash = str(row.hash)
            await asyncio.to_thread(fh.write, bytes(chunk))
    finally:
        await asyncio.to_thread(fh.close)
    return written


def _with_keys(line: str, lists: bytes | None, stored: str | None) -> str:
    """The line with its ``keys`` member appended (the rest as PostgreSQL wrote it)."""
    keys = orjson.dumps(unpack(lists)).decode() if lists is not None else stored
    return f'{line[:-1]}, "keys" : {keys or "null"}}}'


def _append_trailer(tmp: Path, trailer: dict[str, Any]) -> None:
    with gzip.open(tmp, "ab", 6) as fh:
        fh.write(json.dumps(trailer, sort_keys=True).encode() + b"\n")


async def _record_and_drop(session: AsyncSession, manifest: Manifest, kid: str, jws: str) -> None:
    """Record the archive, move the chain's base to its end, drop its partitions: one
    transaction, so the database never has the base without the record or the reverse."""
    await session.execute(text(f"SET LOCAL lock_timeout = '{_DROP_LOCK_TIMEOUT}'"))
    state = await chain_state(session)
    if state.base_pos + 1 != manifest.first_pos or state.base_hash != manifest.first_prev:
        raise InvalidInput("another archive moved the chain's base meanwhile; nothing dropped")
    await session.execute(
        text(
            "INSERT INTO audit_archives (partitions, first_pos, last_pos, last_hash, manifest, "
            "kid, jws) VALUES (:parts, :first, :last, :hash, :manifest, :kid, :jws)"
        ),
        {
            "parts": manifest.partitions,
            "first": manifest.first_pos,
            "last": manifest.last_pos,
            "hash": manifest.last_hash,
            "manifest": manifest.payload().decode(),
            "kid": kid,
            "jws": jws,
        },
    )
    await session.execute(
        text(
            "UPDATE audit_chain SET base_pos = :pos, base_hash = decode(:hash, 'hex') WHERE id = 1"
        ),
        {"pos": manifest.last_pos, "hash": manifest.last_hash},
    )
    for name in manifest.partitions:
        if not _PARTITION.fullmatch(name):  # names come from pg_class, checked again here
            raise InvalidInput(f"not an audit partition: {name!r}")
        try:
            await session.execute(text(f'DROP TABLE "{name}"'))
        except Exception as exc:
            if "lock timeout" in str(exc):
                raise InvalidInput(
                    f"the audit log stayed busy for {_DROP_LOCK_TIMEOUT}; nothing was dropped "
                    "(the archive file is kept: run the command again with a new file)"
                ) from None
            raise


# -- verification ---------------------------------------------------------------------------


async def verify_archive(
    session: AsyncSession, keys: SigningKeys, file: Path, recorded: bool = True
) -> ArchiveCheck:
    """Check one archive file: readable, signed, every event intact and linked, the count,
    range and content hash the manifest signed, and (``recorded``) that this database
    recorded it. Runs in the session's transaction (temporary tables); roll back after."""
    check = ArchiveCheck(str(file))
    raw = await _raw(session)
    await raw.execute(
        f"CREATE TEMP TABLE {_ROWS} (chain_pos bigint, seq bigint, at timestamptz, "
        " context integer, request_id text, detail jsonb, keys text[], lists bytea, hash bytea)"
        f" ON COMMIT DROP; CREATE TEMP TABLE {_CONTEXTS} (id integer, ident bytea, "
        " action text, subject text, agency text, client_id text, dataset text, purpose text,"
        " fields text[]) ON COMMIT DROP"
    )
    loaded = _Loaded()
    try:
        trailer = await _load_rows(raw, file, loaded)
    except _Bad as bad:
        check.problem = f"{file}: {bad}"
        return check
    sha, count = loaded.sha.hexdigest(), loaded.count
    manifest = _check_manifest(keys, trailer, file, check)
    if manifest is None:
        return check
    # Who, what and why once per distinct context, its ident computed by the database.
    await raw.copy_records_to_table(
        _CONTEXTS,
        records=[(n, None, *context) for context, n in loaded.contexts.items()],
    )
    await raw.execute(
        f"UPDATE {_CONTEXTS} SET ident = hub_audit_context_ident(action, subject, agency, "
        "client_id, dataset, purpose, fields)"
    )
    await raw.execute(f"CREATE INDEX ON {_ROWS} (chain_pos)")
    check.rows = count
    state = ChainState(
        manifest.last_pos,
        manifest.last_hash,
        manifest.v2_from,
        manifest.v3_from,
        manifest.first_pos - 1,
        manifest.first_prev,
    )
    report = await verify_range(
        session, ARCHIVED, manifest.first_pos, manifest.first_prev, state, manifest.last_pos
    )
    problem: str | None = None
    if not report.ok:
        problem = (
            f"{file}: chain BROKEN at position {report.broken_at}: {report.reason} "
            f"({report.checked} events verified before it)"
        )
    elif report.last_hash != manifest.last_hash:
        problem = f"{file}: the last event's hash is not the one the manifest signed"
    if problem is None and count != manifest.rows:
        problem = f"{file}: {count} events, but the manifest signed {manifest.rows}"
    if problem is None and sha != manifest.content_sha256:
        problem = (
            f"{file}: the event lines do not match the signed manifest "
            f"(sha256 {sha[:16]}…, signed {manifest.content_sha256[:16]}…)"
        )
    if problem is None:
        problem = await _check_database(session, manifest, file, recorded)
    check.problem = problem
    return check


class _Bad(Exception):
    pass


async def _raw(session: AsyncSession) -> asyncpg.Connection:
    """The session's asyncpg connection, inside the session's transaction (the driver opens
    it at the first statement, so one is run first)."""
    await session.execute(text("SELECT 1"))
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert isinstance(driver, asyncpg.Connection)
    return driver


@dataclass(slots=True)
class _Loaded:
    count: int = 0
    sha: Any = field(default_factory=hashlib.sha256)
    contexts: dict[tuple[Any, ...], int] = field(default_factory=dict)


async def _load_rows(raw: asyncpg.Connection, file: Path, loaded: _Loaded) -> Any:
    """Copy the events into the rows table as typed rows (their contexts numbered in
    ``loaded``) and hash the event lines; return the trailer (the last line, parsed).
    Raises _Bad naming the line that is not an event."""
    reader = await asyncio.to_thread(_open, file)
    try:
        previous: bytes | None = None
        while True:
            lines = await asyncio.to_thread(_next_lines, reader)
            if not lines:
                break
            records = []
            for raw_line in lines:
                if previous is not None:
                    loaded.count += 1
                    records.append(_event_record(previous, loaded.count, loaded.contexts))
                    loaded.sha.update(previous)
                previous = raw_line
            if records:
                await raw.copy_records_to_table(_ROWS, records=records, columns=_ROW_COLUMNS)
        if previous is None:
            raise _Bad("empty (no manifest)")
        try:
            return json.loads(previous)
        except ValueError:
            raise _Bad(
                f"line {loaded.count + 1}: the last line is not the signed manifest"
            ) from None
    finally:
        await asyncio.to_thread(reader.close)


def _open(file: Path) -> gzip.GzipFile:
    try:
        return gzip.open(file, "rb")
    except OSError as exc:
        raise _Bad(exc.strerror or str(exc)) from None


def _next_lines(reader: gzip.GzipFile) -> list[bytes]:
    try:
        return [line for _, line in zip(range(_BATCH), _iter(reader), strict=False)]
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise _Bad(f"not a readable gzip archive ({exc})") from None


def _iter(reader: gzip.GzipFile) -> Iterator[bytes]:
    while line := reader.readline():
        yield line


def _event_record(
    line: bytes, number: int, contexts: dict[tuple[Any, ...], int]
) -> tuple[Any, ...]:
    """The typed row of one event line (its context numbered in ``contexts``)."""
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        raise _Bad(f"line {number}: not JSON") from None
    if not isinstance(obj, dict) or set(obj) != _EVENT_MEMBERS:
        raise _Bad(f"line {number}: not an audit event (members differ)")
    try:
        pos, seq = _int(obj["pos"]), _int(obj["seq"])
        at = datetime.fromisoformat(_text(obj["at"]))
        texts = [_opt_text(obj[m]) for m in _CONTEXT_TEXTS]
        if texts[0] is None:
            raise TypeError("action")
        fields = _opt_list(obj["fields"])
        keys = _opt_list(obj["keys"])
        lists = obj["lists"]
        packed = base64.b64decode(_text(lists), validate=True) if lists is not None else None
        digest = bytes.fromhex(_text(obj["hash"]))
        request_id, detail = _opt_text(obj["request_id"]), _opt_text(obj["detail"])
    except (TypeError, ValueError):
        raise _Bad(f"line {number}: not an audit event (a member has the wrong type)") from None
    if packed is not None:
        # A compact event's readable keys must be what its packed keys (which its hash
        # covers) hold: the readable list cannot be edited unseen.
        try:
            unpacked = unpack(packed)
        except PackedListsError:
            raise _Bad(f"line {number} (position {pos}): packed keys do not unpack") from None
        if keys != unpacked:
            raise _Bad(
                f"line {number} (position {pos}): keys differ from the packed keys its hash covers"
            )
        keys = None  # stored packed only
    context = (*texts, tuple(fields) if fields is not None else None)
    number_of = contexts.setdefault(context, len(contexts) + 1)
    return (pos, seq, at, number_of, request_id, detail, keys, packed, digest)


_CONTEXT_TEXTS = ("action", "subject", "agency", "client_id", "dataset", "purpose")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("text")
    return value


def _opt_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _opt_list(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError("list")
    return value


def _check_manifest(
    keys: SigningKeys, trailer: Any, file: Path, check: ArchiveCheck
) -> Manifest | None:
    try:
        manifest = Manifest.parse(trailer["manifest"])
        kid, jws = str(trailer["kid"]), str(trailer["jws"])
    except (KeyError, TypeError, ValueError):
        check.problem = f"{file}: the last line is not a signed archive manifest"
        return None
    check.manifest = manifest
    if not keys.knows(kid):
        check.problem = f"{file}: the manifest is signed by key '{kid}', not in the keys file"
        return None
    if keys.verify(jws, kid, typ=ARCHIVE_TYPE) != manifest.payload():
        check.problem = f"{file}: the manifest's signature does not verify (forged or edited)"
        return None
    return manifest


async def _check_database(
    session: AsyncSession, manifest: Manifest, file: Path, recorded: bool
) -> str | None:
    state = await chain_state(session)
    if not recorded:  # about to be recorded: it must start at the database's base
        if manifest.first_pos != state.base_pos + 1 or manifest.first_prev != state.base_hash:
            return f"{file}: does not start at this database's chain base"
        return None
    # The signature was checked: the database must hold the very manifest it signed.
    known = await session.scalar(
        text("SELECT count(*) FROM audit_archives WHERE manifest = :m"),
        {"m": manifest.payload().decode()},
    )
    if not known:
        return (
            f"{file}: not an archive of this database's chain "
            "(audit_archives records no such archive)"
        )
    newest = await session.scalar(text("SELECT max(last_pos) FROM audit_archives"))
    if newest == manifest.last_pos and (
        state.base_pos != manifest.last_pos or state.base_hash != manifest.last_hash
    ):
        return (
            f"{file}: the database's chain does not continue from this archive's last hash "
            f"(base {state.base_pos} {state.base_hash[:16]}…)"
        )
    return None


def order_archives(checks: Sequence[ArchiveCheck]) -> str | None:
    """Archives given together must link up where they meet: the one after another starts
    at its next position with its last hash. Returns the first problem."""
    ordered = sorted(
        (c for c in checks if c.manifest is not None),
        key=lambda c: c.manifest.first_pos if c.manifest is not None else 0,
    )
    for a, b in itertools.pairwise(ordered):
        assert a.manifest is not None and b.manifest is not None
        if b.manifest.first_pos <= a.manifest.last_pos:
            return f"{b.file} overlaps {a.file} (positions {b.manifest.first_pos}…)"
        if b.manifest.first_pos == a.manifest.last_pos + 1 and (
            b.manifest.first_prev != a.manifest.last_hash
        ):
            return f"{b.file} does not continue {a.file}: its first event links elsewhere"
    return None


async def verify_archive_records(session: AsyncSession, keys: SigningKeys) -> list[str]:
    """The database's own record of its archives: every signature, their succession, and
    that the chain's base is the newest one's last event. Problems, at most MAX_PROBLEMS."""
    problems: list[str] = []
    rows = (
        await session.execute(
            text(
                "SELECT id, manifest, kid, jws, first_pos, last_pos, last_hash "
                "FROM audit_archives ORDER BY first_pos LIMIT :n"
            ),
            {"n": 100_000},
        )
    ).all()
    last_pos, last_hash = 0, "0" * 64
    for r in rows:
        name = f"the archive record {r.id} (positions {r.first_pos}–{r.last_pos})"
        known = keys.knows(str(r.kid))
        payload = keys.verify(str(r.jws), str(r.kid), typ=ARCHIVE_TYPE) if known else None
        if payload is None or payload != str(r.manifest).encode():
            problems.append(f"{name}: its signature does not verify (forged or edited)")
            continue
        manifest = Manifest.parse(json.loads(r.manifest))
        if (manifest.first_pos, manifest.last_pos, manifest.last_hash) != (
            r.first_pos,
            r.last_pos,
            r.last_hash,
        ):
            problems.append(f"{name}: its columns differ from its signed manifest")
        if manifest.first_pos != last_pos + 1 or manifest.first_prev != last_hash:
            problems.append(f"{name} does not continue the archive before it")
        last_pos, last_hash = manifest.last_pos, manifest.last_hash
    state = await chain_state(session)
    if (state.base_pos, state.base_hash) != (last_pos, last_hash):
        problems.append(
            f"audit chain base MOVED: the database's chain starts after position "
            f"{state.base_pos}, but the archives signed end at {last_pos}"
        )
    return problems[:MAX_PROBLEMS]


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("integer")
    return value


def _hex(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 64:
        raise ValueError("hash")
    bytes.fromhex(value)
    return value


__all__ = [
    "ARCHIVE_TYPE",
    "ArchiveCheck",
    "ArchiveResult",
    "Manifest",
    "export_archive",
    "month_of",
    "order_archives",
    "verify_archive",
    "verify_archive_records",
]
