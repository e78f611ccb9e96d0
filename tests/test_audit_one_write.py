"""Audit in one write (DESIGN.md §6, migration 0003): an event has its chain position and hash
the moment it is committed, with no chainer; concurrent writers (tasks, processes, the
group-commit writer and domain transactions) make one gap-free chain; nothing is ever
updated; verification recomputes v2 hashes in PostgreSQL, names the first broken link, starts
from the last good signed checkpoint when asked; and a chain written before the switch (v1
hashes, some events still pending) migrates and still verifies with its checkpoints."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from catalog import audit as audit_module
from catalog.audit import (
    CONTENT_DIFFERS,
    GENESIS,
    MISSING,
    ChainStart,
    EventDraft,
    append_event,
    legacy_event_hash,
    verify_chain,
)
from catalog.checkpoints import (
    Checkpoint,
    SigningKeys,
    checkpoint_payload,
    last_good_checkpoint,
    verify_checkpoints,
    write_checkpoint,
)
from catalog.models import AuditEvent
from catalog.principal import Principal
from catalog.reads import read_events
from hub.db import Database, make_database
from hub.embedded_postgres import to_libpq_url
from hub.keys import KeyStore
from hub.migrate import upgrade
from schema.records.read_audit import ReadAuditWriter

HUB = str(Path(sys.executable).with_name("hub"))
ROOT = Path(__file__).resolve().parent.parent
READER = Principal("tuson-app", "UBND-TX-TUSON", frozenset({"reader"}), "client-1")
FIELDS = {"citizen": ["district", "full_name"]}


def _signing(keys: KeyStore) -> SigningKeys:
    return SigningKeys(tuple(keys.signing_keys), keys.active_signing_kid)


def _request(n: int, keys: int = 3) -> tuple[list[dict[str, Any]], list[tuple[str, str, int]]]:
    """One request's read events and ledger entries; keys overlap between requests, so
    concurrent batches meet each other's ledger rows."""
    reads = [("citizen", f"0010990{(n + i) % 7:05d}", 1) for i in range(keys)]
    return read_events(READER, reads, FIELDS, "Xác minh", f"req-{n}")


@pytest.fixture
async def owner_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(to_libpq_url(database_url))
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def writer(database_url: str) -> AsyncIterator[ReadAuditWriter]:
    pool = await asyncpg.create_pool(to_libpq_url(database_url), min_size=1, max_size=2)
    try:
        yield ReadAuditWriter(pool)
    finally:
        await pool.close()


async def _chain(connection: asyncpg.Connection) -> list[asyncpg.Record]:
    return await connection.fetch(
        "SELECT seq, chain_pos, hash FROM audit_events ORDER BY chain_pos"
    )


def _assert_one_chain(rows: list[asyncpg.Record], count: int) -> None:
    # The previous hash is not stored (it is the hash before); verification checks links.
    assert [r["chain_pos"] for r in rows] == list(range(1, count + 1))
    assert all(len(r["hash"]) == 64 for r in rows)
    assert len({r["hash"] for r in rows}) == count
    assert all(a["seq"] < b["seq"] for a, b in itertools.pairwise(rows))


async def _tamper(connection: asyncpg.Connection, sql: str) -> None:
    """What an intruder with a superuser's rights could do: switch the guards off."""
    await connection.execute("SET session_replication_role = replica")
    try:
        await connection.execute(sql)
    finally:
        await connection.execute("SET session_replication_role = DEFAULT")


async def _verify(database: Database, since: ChainStart | None = None) -> Any:
    async with database.sessions() as session:
        return await verify_chain(session, since)


async def _append(database: Database, count: int, tag: str = "e") -> None:
    async with database.sessions.begin() as session:
        for n in range(count):
            await append_event(
                session,
                READER,
                EventDraft("record.read", dataset="citizen", keys=[f"{tag}-{n}"]),
                f"{tag}-{n}",
            )


# -- one write -----------------------------------------------------------------------------------


async def test_group_commit_events_are_chained_when_the_write_returns(
    writer: ReadAuditWriter, owner_db: asyncpg.Connection, database: Database
) -> None:
    events, ledger = _request(1)
    await writer.write(events, READER.agency, ledger)
    rows = await _chain(owner_db)
    _assert_one_chain(rows, 1)
    assert len(rows[0]["hash"]) == 64
    assert await owner_db.fetchval("SELECT count(*) FROM record_reads") == 3
    report = await _verify(database)
    assert (report.ok, report.checked) == (True, 1)


async def test_domain_events_are_chained_in_their_own_transaction(
    database: Database, owner_db: asyncpg.Connection
) -> None:
    async with database.sessions.begin() as session:
        await append_event(session, READER, EventDraft("grant.request", dataset="citizen"))
        # Before commit the event already has its place (the insert chained it).
        pos = await session.scalar(text("SELECT chain_pos FROM audit_events"))
        assert pos == 1
    _assert_one_chain(await _chain(owner_db), 1)
    assert await owner_db.fetchval("SELECT pos FROM audit_chain") == 1


async def test_a_rolled_back_event_leaves_no_gap(
    database: Database, owner_db: asyncpg.Connection
) -> None:
    await _append(database, 2, "a")
    with pytest.raises(RuntimeError):
        async with database.sessions.begin() as session:
            await append_event(session, READER, EventDraft("grant.request"))
            raise RuntimeError("the change failed")
    async with database.sessions.begin() as session:
        await append_event(session, READER, EventDraft("grant.approve"))
        savepoint = await session.begin_nested()
        await append_event(session, READER, EventDraft("grant.revoke"))
        await savepoint.rollback()
        await append_event(session, READER, EventDraft("grant.request"))
    rows = await _chain(owner_db)
    _assert_one_chain(rows, 4)
    actions = await owner_db.fetch("SELECT action FROM audit_events ORDER BY chain_pos")
    assert [a["action"] for a in actions][2:] == ["grant.approve", "grant.request"]
    assert (await _verify(database)).ok


async def test_chain_fields_given_by_a_writer_are_overridden(
    database: Database, owner_db: asyncpg.Connection
) -> None:
    await owner_db.execute(
        "INSERT INTO audit_events (action, seq, at, chain_pos, hash) "
        "VALUES ('forged', 77, '2001-01-01', 99, repeat('b', 64))"
    )
    (row,) = await _chain(owner_db)
    assert (row["chain_pos"], row["seq"]) == (1, 1)
    assert row["hash"] != "b" * 64
    at = await owner_db.fetchval("SELECT at FROM audit_events")
    assert at.year > 2001
    assert (await _verify(database)).ok


async def test_concurrent_tasks_and_writers_make_one_gap_free_chain(
    database: Database, database_url: str, owner_db: asyncpg.Connection
) -> None:
    # Three writers as three processes would have (own pools), plus domain transactions.
    pools = [
        await asyncpg.create_pool(to_libpq_url(database_url), min_size=1, max_size=2)
        for _ in range(3)
    ]
    writers = [ReadAuditWriter(pool) for pool in pools]
    expected = 0

    async def reader(w: ReadAuditWriter, first: int) -> None:
        for n in range(first, first + 40):
            events, ledger = _request(n, keys=5)
            await w.write(events, READER.agency, ledger)

    try:
        tasks = [reader(w, 1000 * i + 100 * t) for i, w in enumerate(writers) for t in range(4)]
        tasks += [_append(database, 5, f"domain{t}") for t in range(4)]
        await asyncio.gather(*tasks)
        expected = 3 * 4 * 40 + 4 * 5
    finally:
        for pool in pools:
            await pool.close()
    rows = await _chain(owner_db)
    _assert_one_chain(rows, expected)
    assert await owner_db.fetchval("SELECT pos FROM audit_chain") == expected
    report = await _verify(database)
    assert (report.ok, report.checked) == (True, expected)


_PROCESS_WRITER = """
import asyncio, sys
import asyncpg
from catalog.principal import Principal
from catalog.reads import read_events
from schema.records.read_audit import ReadAuditWriter

async def main(url: str, tag: str) -> None:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
    writer = ReadAuditWriter(pool)
    who = Principal("p-" + tag, "UBND-TX-TUSON", frozenset({"reader"}), "client-" + tag)
    async def one(n: int) -> None:
        reads = [("citizen", f"k{(n + i) % 9}", 1) for i in range(4)]
        events, ledger = read_events(who, reads, {"citizen": ["district"]}, None, f"{tag}-{n}")
        await writer.write(events, who.agency, ledger)
    for start in range(0, 60, 10):
        await asyncio.gather(*(one(n) for n in range(start, start + 10)))
    await pool.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def test_concurrent_processes_make_one_gap_free_chain(
    database: Database, database_url: str, owner_db: asyncpg.Connection
) -> None:
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _PROCESS_WRITER,
            to_libpq_url(database_url),
            f"p{i}",
            cwd=ROOT,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    results = await asyncio.gather(*(p.communicate() for p in procs))
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _out, err in results]
    rows = await _chain(owner_db)
    _assert_one_chain(rows, 3 * 60)
    clients = await owner_db.fetch(
        "SELECT client_id, count(*) AS n FROM audit_events GROUP BY client_id ORDER BY 1"
    )
    assert [(c["client_id"], c["n"]) for c in clients] == [
        ("client-p0", 60),
        ("client-p1", 60),
        ("client-p2", 60),
    ]
    assert (await _verify(database)).ok


async def test_events_are_never_updated_so_no_dead_tuples(
    writer: ReadAuditWriter, database_url: str, owner_db: asyncpg.Connection
) -> None:
    for start in range(0, 400, 50):
        await asyncio.gather(
            *(writer.write(*_with_agency(_request(n))) for n in range(start, start + 50))
        )
    await writer._pool.close()  # its backends exit and report their statistics
    stats = None
    for _ in range(100):
        stats = await owner_db.fetchrow(
            "SELECT sum(n_tup_ins) AS n_tup_ins, sum(n_tup_upd) AS n_tup_upd, "
            "sum(n_dead_tup) AS n_dead_tup FROM pg_stat_user_tables "
            "WHERE relname LIKE 'audit\\_log\\_%'"
        )
        if stats is not None and (stats["n_tup_ins"] or 0) >= 400:
            break
        await asyncio.sleep(0.1)
    assert stats is not None and stats["n_tup_ins"] == 400
    assert (stats["n_tup_upd"], stats["n_dead_tup"]) == (0, 0)


def _with_agency(
    request: tuple[list[dict[str, Any]], list[tuple[str, str, int]]],
) -> tuple[list[dict[str, Any]], str | None, list[tuple[str, str, int]]]:
    events, ledger = request
    return events, READER.agency, ledger


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_chain SET pos = pos - 1",
        "UPDATE audit_chain SET v2_from = 1",
        "DELETE FROM audit_chain",
        "TRUNCATE audit_chain",
        "UPDATE audit_chain SET v3_from = 1",
        "UPDATE audit_chain SET base_hash = sha256('x')",
        "UPDATE audit_chain SET base_pos = 3",
        "UPDATE audit_log SET chain_pos = chain_pos",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_contexts SET purpose = 'x'",
    ],
)
async def test_the_head_only_moves_forward_and_events_stay_put(
    database: Database, owner_db: asyncpg.Connection, sql: str
) -> None:
    await _append(database, 2)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await owner_db.execute(sql)
    assert await owner_db.fetchval("SELECT pos FROM audit_chain") == 2


# -- verifying ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "position", "reason", "checked"),
    [
        ("UPDATE audit_log SET request_id = 'x' WHERE chain_pos = 4", 4, CONTENT_DIFFERS, 3),
        ("UPDATE audit_log SET lists = NULL WHERE chain_pos = 1", 1, CONTENT_DIFFERS, 0),
        ("UPDATE audit_log SET keys = '{x}' WHERE chain_pos = 2", 2, CONTENT_DIFFERS, 1),
        ("UPDATE audit_log SET detail = '{}' WHERE chain_pos = 5", 5, CONTENT_DIFFERS, 4),
        (
            "UPDATE audit_log SET at = at + interval '1 s' WHERE chain_pos = 6",
            6,
            CONTENT_DIFFERS,
            5,
        ),
        ("UPDATE audit_log SET hash = sha256('x') WHERE chain_pos = 3", 3, CONTENT_DIFFERS, 2),
        ("UPDATE audit_log SET seq = seq + 100 WHERE chain_pos = 7", 7, CONTENT_DIFFERS, 6),
        ("DELETE FROM audit_log WHERE chain_pos = 2", 2, MISSING, 1),
        # Cut from the end: the head still says 8.
        ("DELETE FROM audit_log WHERE chain_pos >= 7", 7, MISSING, 6),
        (
            "INSERT INTO audit_contexts (ident, action) VALUES (sha256('y'), 'y'); "
            "UPDATE audit_log SET context = (SELECT max(id) FROM audit_contexts) "
            "WHERE chain_pos = 8",
            8,
            CONTENT_DIFFERS,
            7,
        ),
    ],
)
async def test_verify_names_the_first_broken_link(
    database: Database,
    owner_db: asyncpg.Connection,
    sql: str,
    position: int,
    reason: str,
    checked: int,
) -> None:
    await _append(database, 8)
    assert (await _verify(database)).ok
    await _tamper(owner_db, sql)
    report = await _verify(database)
    assert (report.ok, report.broken_at, report.reason, report.checked) == (
        False,
        position,
        reason,
        checked,
    )


@pytest.mark.parametrize(
    ("sql", "position", "reason"),
    [
        (None, None, None),
        ("UPDATE audit_log SET request_id = 'x' WHERE chain_pos = 2", 2, CONTENT_DIFFERS),
        ("UPDATE audit_log SET request_id = 'x' WHERE chain_pos = 7", 7, CONTENT_DIFFERS),
        ("UPDATE audit_log SET hash = sha256('x') WHERE chain_pos = 4", 4, CONTENT_DIFFERS),
        ("DELETE FROM audit_log WHERE chain_pos = 5", 5, MISSING),
        ("DELETE FROM audit_log WHERE chain_pos = 8", 8, MISSING),
    ],
)
async def test_parallel_verify_finds_the_same_first_broken_link(
    database: Database,
    owner_db: asyncpg.Connection,
    monkeypatch: pytest.MonkeyPatch,
    sql: str | None,
    position: int | None,
    reason: str | None,
) -> None:
    """Stretches of two events on four connections: each links to the stored hash before
    it, which the stretch before checks."""
    monkeypatch.setattr(audit_module, "PARALLEL_MIN_EVENTS", 1)
    await _append(database, 8)
    if sql is not None:
        await _tamper(owner_db, sql)
    async with database.sessions() as session:
        parallel = await verify_chain(session, sessions=database.sessions)
    serial = await _verify(database)
    assert (parallel.ok, parallel.broken_at, parallel.reason) == (
        position is None,
        position,
        reason,
    )
    assert parallel == serial


async def test_incremental_verify_starts_after_the_last_good_checkpoint(
    database: Database, keys: KeyStore, owner_db: asyncpg.Connection
) -> None:
    await _append(database, 4, "a")
    async with database.sessions.begin() as session:
        first = await write_checkpoint(session, _signing(keys), min_interval=0)
    await _append(database, 3, "b")
    async with database.sessions.begin() as session:
        second = await write_checkpoint(session, _signing(keys), min_interval=0)
    await _append(database, 2, "c")
    assert first is not None and second is not None and second.pos == 7
    # A checkpoint that does not verify is passed over.
    await owner_db.execute(
        "INSERT INTO audit_checkpoints (chain_pos, head_hash, at, kid, jws) "
        "VALUES (9, repeat('0', 64), now(), $1, 'x.y.z')",
        keys.active_signing_kid,
    )
    async with database.sessions() as session:
        since = await last_good_checkpoint(session, _signing(keys))
    assert since is not None and (since.pos, since.head) == (7, second.head)
    start = ChainStart(since.pos, since.head)
    report = await _verify(database, start)
    assert (report.ok, report.checked, report.start) == (True, 2, 8)
    # An edit after the checkpoint is found by the incremental pass at its position ...
    await _tamper(owner_db, "UPDATE audit_log SET request_id = 'x' WHERE chain_pos = 9")
    late = await _verify(database, start)
    assert (late.ok, late.broken_at, late.checked) == (False, 9, 1)


async def test_incremental_verify_leaves_events_before_the_checkpoint_to_the_full_one(
    database: Database, keys: KeyStore, owner_db: asyncpg.Connection
) -> None:
    await _append(database, 5)
    async with database.sessions.begin() as session:
        checkpoint = await write_checkpoint(session, _signing(keys), min_interval=0)
    assert checkpoint is not None
    await _tamper(owner_db, "UPDATE audit_log SET request_id = 'x' WHERE chain_pos = 2")
    assert (await _verify(database, ChainStart(checkpoint.pos, checkpoint.head))).ok
    full = await _verify(database)
    assert (full.ok, full.broken_at) == (False, 2)


async def test_incremental_verify_from_a_checkpoint_whose_event_was_rewritten_is_refused(
    database: Database, keys: KeyStore, owner_db: asyncpg.Connection
) -> None:
    await _append(database, 3)
    async with database.sessions.begin() as session:
        assert await write_checkpoint(session, _signing(keys), min_interval=0) is not None
    await _tamper(owner_db, "UPDATE audit_log SET hash = sha256('1') WHERE chain_pos = 3")
    async with database.sessions() as session:
        assert await last_good_checkpoint(session, _signing(keys)) is None


async def _hub(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_KEYS_FILE=str(tmp_path / "keys.json"),
        HUB_DATA_DIR=str(tmp_path / "hub"),
    )
    return await asyncio.to_thread(
        subprocess.run, [HUB, *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_cli_verify_since_checkpoint(
    database: Database, database_url: str, tmp_path: Path, owner_db: asyncpg.Connection
) -> None:
    await _append(database, 6)
    export = await _hub(
        database_url, tmp_path, "audit", "checkpoints", "export", str(tmp_path / "k")
    )
    assert export.returncode == 0, export.stderr
    await _append(database, 2, "late")
    result = await _hub(database_url, tmp_path, "audit", "verify", "--since-checkpoint")
    assert result.returncode == 0, result.stderr
    assert "2 events verified after the checkpoint of" in result.stdout
    assert "(position 6" in result.stdout
    await _tamper(owner_db, "UPDATE audit_log SET request_id = 'x' WHERE chain_pos = 8")
    broken = await _hub(database_url, tmp_path, "audit", "verify", "--since-checkpoint")
    assert broken.returncode == 1
    assert "BROKEN at position 8" in broken.stderr and "Traceback" not in broken.stderr


# -- migrating a chain written before the switch ----------------------------------------------


@pytest.fixture
async def old_database(pg_server_url: str) -> AsyncIterator[Database]:
    """A database at revision 0002 (the chainer's era), dropped afterwards."""
    name = f"hub_v1_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(to_libpq_url(pg_server_url))
    head, _, tail = pg_server_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{tail}" if tail else "")
    await admin.execute(f'CREATE DATABASE "{name}"')
    db = make_database(url, pool_size=2)
    try:
        await upgrade(db.engine, "0002")
        yield db
    finally:
        await db.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def _chain_v1(db: Database, limit: int) -> None:
    """What the former chainer did: v1 hashes set by an UPDATE, in seq order."""
    async with db.sessions.begin() as session:
        last = (
            await session.execute(
                text(
                    "SELECT chain_pos, hash FROM audit_events WHERE chain_pos IS NOT NULL "
                    "ORDER BY chain_pos DESC LIMIT 1"
                )
            )
        ).first()
        pos, prev = (last.chain_pos, last.hash) if last else (0, GENESIS)
        pending = (
            await session.execute(
                text("SELECT * FROM audit_events WHERE chain_pos IS NULL ORDER BY seq LIMIT :n"),
                {"n": limit},
            )
        ).all()
        for event in pending:
            pos += 1
            digest = legacy_event_hash(event, pos, prev)
            await session.execute(
                text(
                    "UPDATE audit_events SET chain_pos = :p, prev_hash = :ph, hash = :h "
                    "WHERE seq = :s"
                ),
                {"p": pos, "ph": prev, "h": digest, "s": event.seq},
            )
            prev = digest


async def _checkpoint_before_0005(session: AsyncSession, keys: SigningKeys) -> Checkpoint:
    """A checkpoint as the hub signed them while ``audit_events`` was a table (today's code
    reads the head from ``audit_log``, which that schema lacks)."""
    head = (
        await session.execute(
            text(
                "SELECT chain_pos, hash, clock_timestamp() AS now FROM audit_events "
                "WHERE chain_pos IS NOT NULL ORDER BY chain_pos DESC LIMIT 1"
            )
        )
    ).one()
    signed = keys.sign(checkpoint_payload(int(head.chain_pos), str(head.hash), head.now))
    row_id = await session.scalar(
        text(
            "INSERT INTO audit_checkpoints (chain_pos, head_hash, at, kid, jws) "
            "VALUES (:p, :h, :at, :kid, :jws) RETURNING id"
        ),
        {
            "p": head.chain_pos,
            "h": head.hash,
            "at": head.now,
            "kid": keys.active_kid,
            "jws": signed,
        },
    )
    return Checkpoint(
        int(head.chain_pos), str(head.hash), head.now, keys.active_kid, signed, row_id
    )


async def test_a_v1_chain_with_pending_events_migrates_and_verifies(
    old_database: Database, keys: KeyStore
) -> None:
    async with old_database.sessions.begin() as session:
        for n in range(5):
            await session.execute(
                text(
                    "INSERT INTO audit_events (action, dataset, keys, detail) "
                    "VALUES ('record.read', 'citizen', :k, CAST(:d AS jsonb))"
                ),
                {"k": [f"k{n}", "Đồng"], "d": '{"count": 2, "note": "ở"}'},
            )
    await _chain_v1(old_database, 3)  # positions 1-3 chained, two events still pending
    async with old_database.sessions.begin() as session:
        old = await _checkpoint_before_0005(session, _signing(keys))
    assert old.pos == 3

    await upgrade(old_database.engine, "0004")
    async with old_database.sessions() as session:
        head = (await session.execute(text("SELECT pos, v2_from FROM audit_chain"))).one()
    assert (head.pos, head.v2_from) == (5, 6)  # the pending ones got v1 hashes, in order
    async with old_database.sessions.begin() as session:  # two v2 events (0003's trigger)
        await session.execute(
            text(
                "INSERT INTO audit_events (action, dataset, keys, fields, purpose, detail) "
                "VALUES ('record.read', 'citizen', '{a,b}', '{district}', 'Xác minh', "
                "'{\"count\": 2}'), ('grant.request', NULL, NULL, NULL, NULL, NULL)"
            )
        )

    await upgrade(old_database.engine)
    async with old_database.sessions() as session:
        head = (await session.execute(text("SELECT pos, v2_from, v3_from FROM audit_chain"))).one()
    assert (head.pos, head.v2_from, head.v3_from) == (7, 6, 8)
    await _append(old_database, 3, "new")
    report = await _verify(old_database)
    assert (report.ok, report.checked) == (True, 10)
    async with old_database.sessions() as session:
        checks = await verify_checkpoints(session, _signing(keys))
        legacy = list(
            await session.scalars(select(AuditEvent).order_by(AuditEvent.chain_pos).limit(7))
        )
    assert checks.ok and checks.checked == 1
    # Events from before keep what they held: keys, fields, purpose, detail.
    assert [e.key_list for e in legacy[:2]] == [["k0", "Đồng"], ["k1", "Đồng"]]
    assert (legacy[5].key_list, legacy[5].fields, legacy[5].purpose) == (
        ["a", "b"],
        ["district"],
        "Xác minh",
    )
    since = await _verify(old_database, ChainStart(old.pos, old.head))  # v1 tail, v2, v3
    assert (since.ok, since.checked) == (True, 7)


async def test_an_edited_v1_event_still_breaks_the_migrated_chain(
    old_database: Database,
) -> None:
    async with old_database.sessions.begin() as session:
        for _ in range(3):
            await session.execute(text("INSERT INTO audit_events (action) VALUES ('x')"))
    await _chain_v1(old_database, 10)
    await upgrade(old_database.engine)
    await _append(old_database, 2)
    engine_url = old_database.url
    owner = await asyncpg.connect(to_libpq_url(engine_url))
    try:
        await _tamper(owner, "UPDATE audit_log SET keys = '{y}' WHERE chain_pos = 2")
    finally:
        await owner.close()
    report = await _verify(old_database)
    assert (report.ok, report.broken_at, report.reason) == (False, 2, CONTENT_DIFFERS)


async def test_a_writer_in_another_client_encoding_is_refused(
    owner_db: asyncpg.Connection,
) -> None:
    # Keys and fields are hashed in binary form, whose text is in the client's encoding.
    with pytest.raises(asyncpg.InvalidParameterValueError, match="client_encoding UTF8"):
        await owner_db.execute(
            "SET client_encoding = 'LATIN1'; INSERT INTO audit_events (action) VALUES ('x')"
        )
    await owner_db.execute("RESET client_encoding")
    assert await owner_db.fetchval("SELECT count(*) FROM audit_events") == 0
