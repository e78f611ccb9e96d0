"""Audit at scale (migration 0005): monthly partitions with their guards, signed archives of
old months (`hub audit archive`), and verification of archives and of the chain left in the
database (`hub audit verify --archive`), including every way an archive can be wrong."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select

from catalog.audit import EventDraft, append_event, previous_hashes, verify_chain
from catalog.audit_archive import month_of
from catalog.checkpoints import SigningKeys, verify_checkpoints, write_checkpoint
from catalog.errors import InvalidInput
from catalog.models import AuditEvent
from catalog.principal import Principal
from catalog.values import VIETNAM
from hub.db import Database
from hub.embedded_postgres import to_libpq_url
from hub.keys import KeyStore
from hub.migrate import upgrade

HUB = str(Path(sys.executable).with_name("hub"))
READER = Principal("tuson-app", "UBND-TX-TUSON", frozenset({"reader"}), "client-1")
MONTHS_BACK = 3
PER_MONTH = 4

# Test data only: rewrites the chain as if its events had been written over the months
# before this one (times moved back, hashes recomputed in chain order, head moved along).
_REDATE = """
DO $$
DECLARE
  total bigint := (SELECT count(*) FROM audit_log);
  this_month timestamptz := date_trunc('month', now() AT TIME ZONE '+07') AT TIME ZONE '+07';
  prev bytea := '\\x{genesis}'::bytea;
  r record;
  moved timestamptz;
BEGIN
  FOR m IN 1..{months} LOOP
    PERFORM hub_audit_ensure_partition(
      (date_trunc('month', now() AT TIME ZONE '+07') - make_interval(months => m))::date);
  END LOOP;
  CREATE TEMP TABLE redated ON COMMIT DROP AS
    SELECT * FROM audit_log l JOIN audit_contexts c ON c.id = l.context;
  DELETE FROM audit_log;
  FOR r IN SELECT * FROM redated ORDER BY chain_pos LOOP
    moved := this_month - make_interval(months => {months})
             + ((r.chain_pos - 1) / {per_month}) * interval '1 month'
             + ((r.chain_pos - 1) % {per_month}) * interval '1 hour' + interval '1 day';
    prev := hub_audit_digest3(r.chain_pos, r.seq, moved, r.ident, r.request_id, r.detail,
                              r.lists, r.keys, prev);
    INSERT INTO audit_log (seq, at, chain_pos, context, hash, request_id, detail, lists, keys)
    VALUES (r.seq, moved, r.chain_pos, r.context, prev, r.request_id, r.detail, r.lists,
            r.keys);
  END LOOP;
  UPDATE audit_chain SET (pos, hash, at) =
    (SELECT chain_pos, hash, at FROM audit_log ORDER BY chain_pos DESC LIMIT 1);
END $$
"""


def _signing(keys: KeyStore) -> SigningKeys:
    return SigningKeys(tuple(keys.signing_keys), keys.active_signing_kid)


async def _append(database: Database, count: int, tag: str) -> None:
    async with database.sessions.begin() as session:
        for n in range(count):
            await append_event(
                session,
                READER,
                EventDraft(
                    "record.read",
                    dataset="citizen",
                    keys=[f"0010990{n:05d}", f"0010990{n + 1:05d}"],
                    fields=["district", "full_name"],
                    purpose="Xác minh",
                    detail={"count": 2, "ratio": 1.50},
                ),
                f"{tag}-{n}",
            )


async def _hub(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_KEYS_FILE=str(tmp_path / "keys.json"),
        HUB_DATA_DIR=str(tmp_path / "hub"),
    )
    return await asyncio.to_thread(
        subprocess.run, [HUB, *args], env=env, capture_output=True, text=True, timeout=120
    )


def _month(back: int) -> str:
    """YYYY-MM of ``back`` months before this one (Vietnam time, as the partitions are)."""
    today = datetime.now(VIETNAM)
    index = today.year * 12 + today.month - 1 - back
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@pytest.fixture
async def owner_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(to_libpq_url(database_url))
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def history(database: Database, owner_db: asyncpg.Connection, keys: KeyStore) -> int:
    """PER_MONTH events in each of the MONTHS_BACK months before this one, a checkpoint
    inside them and one at their head; returns how many events."""
    await _append(database, PER_MONTH, "old")
    # Detail numbers keep their exact form through an archive (jsonb keeps 1.50 as 1.50).
    await owner_db.execute(
        "INSERT INTO audit_events (action, detail, keys) VALUES ('catalog.update', "
        '\'{"amount": 1.50, "big": 123456789012345678901234567890, "vi": "Đồng"}\', '
        "'{legacy,keys}')"
    )
    await _append(database, PER_MONTH * MONTHS_BACK - PER_MONTH - 1, "late")
    async with owner_db.transaction():
        await owner_db.execute("SET LOCAL session_replication_role = replica")
        await owner_db.execute(
            _REDATE.format(genesis="00" * 32, months=MONTHS_BACK, per_month=PER_MONTH)
        )
    async with database.sessions.begin() as session:
        assert await write_checkpoint(session, _signing(keys), min_interval=0) is not None
    return PER_MONTH * MONTHS_BACK


async def _archive(database_url: str, tmp_path: Path, name: str = "a.ndjson.gz") -> Path:
    file = tmp_path / name
    done = await _hub(database_url, tmp_path, "audit", "archive", "--before", _month(1), str(file))
    assert done.returncode == 0, done.stderr
    return file


# -- partitions -----------------------------------------------------------------------------


async def test_events_land_in_their_month_partition_with_guards(
    database: Database, owner_db: asyncpg.Connection
) -> None:
    await _append(database, 3, "now")
    where = await owner_db.fetch(
        "SELECT tableoid::regclass::text AS part, count(*) AS n FROM audit_log GROUP BY 1"
    )
    this_month = "audit_log_p" + _month(0).replace("-", "")
    assert [(r["part"], r["n"]) for r in where] == [(this_month, 3)]
    parts = await owner_db.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'audit_log'::regclass ORDER BY 1"
    )
    names = [r["relname"] for r in parts]
    assert this_month in names and "audit_log_default" in names
    assert "audit_log_p" + _month(-1).replace("-", "") in names  # next month, made ahead
    for name in names:  # each: a unique chain position, and no TRUNCATE
        unique = await owner_db.fetchval(
            "SELECT count(*) FROM pg_index WHERE indrelid = $1::regclass AND indisunique",
            name,
        )
        assert unique == 1
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await owner_db.execute(f'TRUNCATE "{name}"')
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await owner_db.execute(f'DELETE FROM "{this_month}"')
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="only by hub audit archive"):
        await owner_db.execute(f'DROP TABLE "{this_month}"')
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="only by hub audit archive"):
        await owner_db.execute("DROP TABLE audit_log_default")
    async with database.sessions() as session:
        assert (await verify_chain(session)).ok


async def test_the_checkpoint_task_creates_missing_partitions(
    database: Database, owner_db: asyncpg.Connection, keys: KeyStore
) -> None:
    following = "audit_log_p" + _month(-1).replace("-", "")
    # A superuser can switch the drop guard off; the next checkpoint puts the month back.
    await owner_db.execute("ALTER EVENT TRIGGER hub_audit_drop_guard DISABLE")
    try:
        await owner_db.execute(f'DROP TABLE "{following}"')
    finally:
        await owner_db.execute("ALTER EVENT TRIGGER hub_audit_drop_guard ENABLE")
    assert await owner_db.fetchval("SELECT to_regclass($1)", following) is None
    await _append(database, 1, "x")
    async with database.sessions.begin() as session:
        await write_checkpoint(session, _signing(keys), min_interval=0)
    assert await owner_db.fetchval("SELECT to_regclass($1)::text", following) == following
    far = month_of(_month(-5))
    made = await owner_db.fetchval("SELECT hub_audit_ensure_partition($1::date)", far)
    again = await owner_db.fetchval("SELECT hub_audit_ensure_partition($1::date)", far)
    assert (made, again) == (True, False)
    assert await owner_db.fetchval("SELECT count(*) FROM audit_log_default") == 0


# -- archiving --------------------------------------------------------------------------------


async def test_archive_moves_old_months_to_a_signed_file_that_verifies(
    database: Database,
    database_url: str,
    tmp_path: Path,
    owner_db: asyncpg.Connection,
    keys: KeyStore,
    history: int,
) -> None:
    file = tmp_path / "old.ndjson.gz"
    before = _month(1)
    done = await _hub(database_url, tmp_path, "audit", "archive", "--before", before, str(file))
    assert done.returncode == 0, done.stderr
    archived = PER_MONTH * (MONTHS_BACK - 1)
    assert f"archived {archived} events of {_month(3)}, {_month(2)}" in done.stdout
    lines = gzip.decompress(file.read_bytes()).decode().splitlines()
    assert len(lines) == archived + 1
    first = json.loads(lines[0])
    assert (first["pos"], first["keys"], first["fields"]) == (
        1,
        ["001099000000", "001099000001"],
        ["district", "full_name"],
    )
    assert json.loads(first["detail"]) == {"count": 2, "ratio": 1.5}  # its jsonb text
    assert first["purpose"] == "Xác minh"
    fifth = json.loads(lines[4])
    assert (
        fifth["detail"] == '{"vi": "Đồng", "big": 123456789012345678901234567890, "amount": 1.50}'
    )
    assert (fifth["keys"], fifth["lists"]) == (["legacy", "keys"], None)
    manifest = json.loads(lines[-1])["manifest"]
    assert (manifest["first_pos"], manifest["last_pos"], manifest["rows"]) == (
        1,
        archived,
        archived,
    )
    # The partitions are gone; the chain in the database starts after the archive.
    left = await owner_db.fetchval("SELECT min(chain_pos) FROM audit_log")
    assert left == archived + 1
    assert (
        await owner_db.fetchval(
            "SELECT to_regclass($1)", "audit_log_p" + _month(3).replace("-", "")
        )
        is None
    )
    await _append(database, 2, "new")
    verified = await _hub(database_url, tmp_path, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert f"{history - archived + 2} events verified after the archived position {archived}" in (
        verified.stdout
    )
    with_file = await _hub(database_url, tmp_path, "audit", "verify", "--archive", str(file))
    assert with_file.returncode == 0, with_file.stderr
    assert f"archive {file} verified ({archived} events, positions 1–{archived})" in (
        with_file.stdout
    )
    async with database.sessions() as session:
        checks = await verify_checkpoints(session, _signing(keys))
        listed = list(
            await session.scalars(select(AuditEvent).order_by(AuditEvent.chain_pos).limit(1))
        )
        links = await previous_hashes(session, [archived + 1, archived + 2])
    assert checks.ok, checks.problems
    assert listed[0].chain_pos == archived + 1 and listed[0].key_list is not None
    # prevHash in the API: the archive's last hash for the first event left, then the chain.
    assert links == {archived + 1: manifest["last_hash"], archived + 2: listed[0].hash}
    # The month left can be archived in turn; the two archives verify together.
    second = tmp_path / "next.ndjson.gz"
    more = await _hub(
        database_url, tmp_path, "audit", "archive", "--before", _month(0), str(second)
    )
    assert more.returncode == 0, more.stderr
    both = await _hub(
        database_url, tmp_path, "audit", "verify", "--archive", str(second), "--archive", str(file)
    )
    assert both.returncode == 0, both.stderr
    assert "2 events verified after the archived position 12" in both.stdout


@pytest.mark.parametrize("value", ["2026-13", "26-01", "2026-1", "abc", "2026-00", "1999-12", " "])
async def test_archive_refuses_a_bad_month_in_one_line(
    database_url: str, tmp_path: Path, history: int, value: str
) -> None:
    result = await _hub(
        database_url, tmp_path, "audit", "archive", "--before", value, str(tmp_path / "x.gz")
    )
    assert result.returncode == 1
    assert "expected a month as YYYY-MM" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    with pytest.raises(InvalidInput, match="--before"):
        month_of(value)


async def test_archive_refuses_the_current_month_and_an_empty_past(
    database: Database, database_url: str, tmp_path: Path, owner_db: asyncpg.Connection
) -> None:
    await _append(database, 2, "now")
    future = await _hub(
        database_url, tmp_path, "audit", "archive", "--before", _month(-1), str(tmp_path / "f")
    )
    assert future.returncode == 1
    assert f"the month {_month(0)} is not over" in future.stderr
    nothing = await _hub(
        database_url, tmp_path, "audit", "archive", "--before", _month(0), str(tmp_path / "f")
    )
    assert nothing.returncode == 1 and "nothing to archive" in nothing.stderr
    assert not (tmp_path / "f").exists()
    assert await owner_db.fetchval("SELECT count(*) FROM audit_log") == 2


async def test_archive_never_overwrites_a_file(
    database_url: str, tmp_path: Path, history: int, owner_db: asyncpg.Connection
) -> None:
    file = tmp_path / "kept.gz"
    file.write_bytes(b"an older archive")
    result = await _hub(
        database_url, tmp_path, "audit", "archive", "--before", _month(1), str(file)
    )
    assert result.returncode == 1 and "already exists" in result.stderr
    assert file.read_bytes() == b"an older archive"
    assert await owner_db.fetchval("SELECT count(*) FROM audit_log") == history


async def test_archive_of_a_broken_chain_drops_nothing(
    database_url: str, tmp_path: Path, history: int, owner_db: asyncpg.Connection
) -> None:
    await owner_db.execute("SET session_replication_role = replica")
    await owner_db.execute("UPDATE audit_log SET request_id = 'edited' WHERE chain_pos = 3")
    await owner_db.execute("SET session_replication_role = DEFAULT")
    file = tmp_path / "broken.gz"
    result = await _hub(
        database_url, tmp_path, "audit", "archive", "--before", _month(1), str(file)
    )
    assert result.returncode == 1
    assert "does not verify" in result.stderr and "position 3" in result.stderr
    assert not file.exists() and not (tmp_path / "broken.gz.part").exists()
    assert await owner_db.fetchval("SELECT count(*) FROM audit_log") == history
    assert await owner_db.fetchval("SELECT base_pos FROM audit_chain") == 0


# -- tampered archives ----------------------------------------------------------------------


def _rewrite(file: Path, edit: object) -> None:
    lines = gzip.decompress(file.read_bytes()).decode().splitlines(keepends=True)
    assert callable(edit)
    file.write_bytes(gzip.compress("".join(edit(lines)).encode()))


def _edit_line(index: int, old: str, new: str) -> object:
    def edit(lines: list[str]) -> list[str]:
        assert old in lines[index]
        lines[index] = lines[index].replace(old, new, 1)
        return lines

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_edit_line(2, '"old-2"', '"old-X"'), "chain BROKEN at position 3: content does not"),
        (lambda lines: lines[:3] + lines[4:], "chain BROKEN at position 4: a link is missing"),
        (
            lambda lines: lines[:-2] + lines[-1:],
            "chain BROKEN at position 8: a link is missing",
        ),
        (_edit_line(0, '"001099000000"', '"001099000009"'), "keys differ from the packed keys"),
        (_edit_line(1, '"pos" : 2', '"pos" :  2'), "do not match the signed manifest"),
        (_edit_line(-1, '"rows": 8', '"rows": 7'), "signature does not verify"),
        (_edit_line(0, '"hash"', '"hush"'), "line 1: not an audit event"),
        (_edit_line(0, '"seq" : 1,', '"seq" : "1",'), "line 1: not an audit event (a member"),
        (_edit_line(4, '\\"amount\\": 1.50', '\\"amount\\": 1.5'), "position 5: content does"),
        (lambda lines: lines[:-1], "not a signed archive manifest"),
    ],
)
async def test_verify_names_what_is_wrong_with_a_tampered_archive(
    database_url: str, tmp_path: Path, history: int, edit: object, expected: str
) -> None:
    file = await _archive(database_url, tmp_path)
    _rewrite(file, edit)
    result = await _hub(database_url, tmp_path, "audit", "verify", "--archive", str(file))
    assert result.returncode == 1, result.stdout
    assert expected in result.stderr, result.stderr
    assert str(file) in result.stderr and "Traceback" not in result.stderr


async def test_verify_refuses_a_corrupt_gzip_and_a_forged_signature(
    database_url: str, tmp_path: Path, history: int
) -> None:
    file = await _archive(database_url, tmp_path)
    raw = bytearray(file.read_bytes())
    raw[len(raw) // 2] ^= 0x01  # one byte of the compressed stream
    corrupt = tmp_path / "corrupt.gz"
    corrupt.write_bytes(bytes(raw))
    result = await _hub(database_url, tmp_path, "audit", "verify", "--archive", str(corrupt))
    assert result.returncode == 1 and str(corrupt) in result.stderr
    assert "Traceback" not in result.stderr

    def forge(lines: list[str]) -> list[str]:
        trailer = json.loads(lines[-1])
        head, body, signature = trailer["jws"].split(".")
        trailer["jws"] = f"{head}.{body}.{signature[:-4]}AAAA"
        return [*lines[:-1], json.dumps(trailer) + "\n"]

    _rewrite(file, forge)
    forged = await _hub(database_url, tmp_path, "audit", "verify", "--archive", str(file))
    assert forged.returncode == 1 and "signature does not verify" in forged.stderr


@pytest.fixture
async def other_database(pg_server_url: str) -> AsyncIterator[str]:
    name = f"hub_other_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(to_libpq_url(pg_server_url))
    head, _, tail = pg_server_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{tail}" if tail else "")
    await admin.execute(f'CREATE DATABASE "{name}"')
    from hub.db import make_database

    db = make_database(url, pool_size=2)
    try:
        await upgrade(db.engine)
        await _append(db, 3, "other")
        yield url
    finally:
        await db.close()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_an_archive_of_another_chain_is_refused(
    database_url: str, tmp_path: Path, history: int, other_database: str
) -> None:
    file = await _archive(database_url, tmp_path)
    # Same keys, another database: its chain never recorded this archive.
    other = await _hub(other_database, tmp_path, "audit", "verify", "--archive", str(file))
    assert other.returncode == 1
    assert "not an archive of this database's chain" in other.stderr
    # Another hub's keys: the signature is by a key this hub does not know.
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    unknown = await _hub(database_url, stranger, "audit", "verify", "--archive", str(file))
    assert unknown.returncode == 1 and "not in the keys file" in unknown.stderr


async def test_verify_reports_a_base_moved_without_an_archive(
    database_url: str, tmp_path: Path, history: int, owner_db: asyncpg.Connection
) -> None:
    await _archive(database_url, tmp_path)
    await owner_db.execute("SET session_replication_role = replica")
    await owner_db.execute(
        "UPDATE audit_chain SET base_pos = 9, base_hash = (SELECT hash FROM audit_log "
        "WHERE chain_pos = 9)"
    )
    await owner_db.execute("DELETE FROM audit_log WHERE chain_pos = 9")
    await owner_db.execute("SET session_replication_role = DEFAULT")
    result = await _hub(database_url, tmp_path, "audit", "verify")
    assert result.returncode == 1
    assert "base MOVED" in result.stderr and "Traceback" not in result.stderr
