"""The restore drill (001 Điều 13.2: restore must work) and every way a backup or a restore is
refused: the real ``hub backup`` / ``hub restore`` as subprocesses against the suite's
PostgreSQL, restores into fresh databases made on the same server. A refused restore leaves
its target exactly as it was; a refused backup leaves no file."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from io import BytesIO
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from catalog.audit import EventDraft, append_event
from catalog.checkpoints import SigningKeys, write_checkpoint
from catalog.grants import GrantRequest, decide_grant, request_grant
from catalog.models import Dataset
from catalog.principal import Principal
from catalog.records import content_hash, unseal, write_records
from hub.backup.sealed import BackupFileError, SealingWriter, open_sealed
from hub.backup.tools import embedded_bin_dir
from hub.db import make_database
from hub.demo import generate
from hub.embedded_postgres import to_libpq_url
from hub.keys import KeysFileError, KeyStore
from hub.runtime import Hub
from tests.records_fixtures import load_demo_records

HUB = str(Path(sys.executable).with_name("hub"))
TIMEOUT = 120
STNMT_READER = Principal("stnmt-app", "STNMT", frozenset({"reader"}), "stnmt-app")
SYT_OWNER = Principal("syt-head", "SYT", frozenset({"owner"}), "syt-portal")
# What must come back identical: every table that holds the hub's state, as text rows.
COMPARED = (
    "agencies",
    "datasets",
    "dataset_fields",
    "api_clients",
    "grants",
    "records",
    "record_versions",
    "audit_contexts",
    "audit_chain",
    "audit_checkpoints",
    "connectors",
    "hub_state",
    "alembic_version",
)
_targets = itertools.count()

Cli = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]


@pytest.fixture
def hub_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """A ``hub`` process on the test database with the `settings` fixture's keys file, and
    the server's own client tools first on PATH (the system's may be older)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "PG"))}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_KEYS_FILE=str(tmp_path / "keys.json"),
        PATH=f"{embedded_bin_dir()}{os.pathsep}{env.get('PATH', '')}",
    )
    return env


@pytest.fixture
def cli(hub_env: dict[str, str]) -> Cli:
    async def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        merged = {**hub_env, **env}
        for name in [k for k, v in merged.items() if v == "<unset>"]:
            del merged[name]
        return await asyncio.to_thread(
            subprocess.run,
            [HUB, *args],
            env=merged,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    return run


@pytest.fixture
async def empty_database(pg_server_url: str) -> AsyncIterator[str]:
    """A fresh, empty database on the test server (no migrations): a restore target."""
    name = f"hub_restore{os.getpid()}_{next(_targets)}"
    admin = await asyncpg.connect(to_libpq_url(pg_server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        head, _, tail = pg_server_url.partition("?")
        yield f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{tail}" if tail else "")
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _database_name(url: str) -> str:
    return url.partition("?")[0].rsplit("/", 1)[1]


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


def _names(directory: Path, pattern: str) -> list[str]:
    return [p.name for p in directory.glob(pattern)]


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def _state(url: str) -> dict[str, list[str]]:
    """Every compared table's rows as text, in a stable order, and the audit events."""
    conn = await asyncpg.connect(to_libpq_url(url))
    try:
        state = {
            table: [r[0] for r in await conn.fetch(f"SELECT t::text FROM {table} t ORDER BY 1")]
            for table in COMPARED
        }
        state["audit_events"] = [
            r[0]
            for r in await conn.fetch("SELECT e::text FROM audit_events e ORDER BY e.chain_pos")
        ]
        return state
    finally:
        await conn.close()


async def _object_count(url: str) -> int:
    conn = await asyncpg.connect(to_libpq_url(url))
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_%'"
            )
        )
    finally:
        await conn.close()


async def _fill_hub(hub: Hub, cli: Cli) -> tuple[dict[str, str], int]:
    """A hub with demo data: records (some with a second version), an approved and a
    requested grant, a registered client, audit events and two signed checkpoints; the
    client's credentials and the number of records."""
    data = await load_demo_records(hub, businesses=40, parcels=60, citizens=40)
    renamed = [dict(row, name=f"{row['name']} (đổi tên)") for row in generate.businesses(40)[:5]]
    async with hub.db.sessions.begin() as session:
        business = await session.get(Dataset, "business")
        assert business is not None
        await write_records(session, business, renamed, source="test", keys=hub.keys.sealing_keys())
    async with hub.db.sessions.begin() as session:
        request = GrantRequest(
            dataset="citizen",
            fields=["citizen_id", "full_name", "district"],
            purpose="Đối chiếu hồ sơ giao đất",
        )
        grant = await request_grant(session, STNMT_READER, request)
        await request_grant(session, STNMT_READER, request)
    async with hub.db.sessions.begin() as session:
        await decide_grant(session, SYT_OWNER, str(grant.id), True, note="Đồng ý")
    added = await cli(
        "clients", "add", "drill-app", "--agency", "STNMT", "--roles", "reader", "--json"
    )
    assert added.returncode == 0, added.stderr
    client: dict[str, str] = json.loads(added.stdout)
    signing = SigningKeys(tuple(hub.keys.signing_keys), hub.keys.active_signing_kid)
    for round_ in range(2):
        async with hub.db.sessions.begin() as session:
            for n in range(3):
                await append_event(
                    session,
                    STNMT_READER,
                    EventDraft("record.read", dataset="citizen", keys=[f"k-{round_}-{n}"]),
                    f"req-{round_}-{n}",
                )
            assert await write_checkpoint(session, signing, 0) is not None
    return client, sum(len(rows) for rows in data.values())


async def test_restore_drill_brings_back_records_grants_clients_and_the_audit_chain(
    hub: Hub, seeded: None, cli: Cli, empty_database: str, tmp_path: Path
) -> None:
    client, records = await _fill_hub(hub, cli)
    before = await _state(hub.db.url)
    backup = tmp_path / "drill.backup"

    taken = await cli("backup", str(backup))
    assert taken.returncode == 0, taken.stderr
    assert taken.stdout.startswith(f"backup written to {backup} ("), taken.stdout
    assert stat.S_IMODE(os.stat(backup).st_mode) == 0o600
    assert b"PGDMP" not in _read(backup)  # sealed, not a bare archive
    assert not _names(tmp_path, "*.partial")

    restored = await cli("restore", str(backup), HUB_DATABASE_URL=empty_database)
    assert restored.returncode == 0, restored.stderr
    assert "migrations at revision 0008" in restored.stdout, restored.stdout

    after = await _state(empty_database)
    assert after == before
    assert len(after["records"]) == records
    assert len(after["grants"]) == 2 and len(after["audit_checkpoints"]) == 2
    # Every record decrypts with the same keys file and hashes to its stored version hash.
    target = make_database(empty_database, pool_size=1)
    try:
        async with target.sessions() as session:
            datasets = {
                d.code: d
                for d in await session.scalars(
                    select(Dataset).options(selectinload(Dataset.fields))
                )
            }
        conn = await asyncpg.connect(to_libpq_url(empty_database))
        try:
            rows = await conn.fetch("SELECT dataset_code, data::text, hash FROM records")
        finally:
            await conn.close()
        for row in rows:
            values = unseal(datasets[row[0]], json.loads(row[1]), hub.keys.sealing_keys())
            assert content_hash(values) == row[2]
    finally:
        await target.close()
    # The audit chain and its signed checkpoints verify on the restored database as before.
    source_verify = await cli("audit", "verify")
    restored_verify = await cli("audit", "verify", HUB_DATABASE_URL=empty_database)
    assert restored_verify.returncode == 0, restored_verify.stderr
    assert "2 signed checkpoints verified" in restored_verify.stdout
    assert restored_verify.stdout == source_verify.stdout
    # The registered client still gets tokens with its secret.
    token = await cli(
        "token",
        "--client-id",
        client["client_id"],
        "--client-secret",
        client["client_secret"],
        HUB_DATABASE_URL=empty_database,
    )
    assert token.returncode == 0, token.stderr
    assert token.stdout.count(".") == 2


async def test_restore_into_a_fresh_data_dir_uses_the_embedded_server(
    hub: Hub, seeded: None, cli: Cli, tmp_path: Path
) -> None:
    backup = tmp_path / "hub.backup"
    taken = await cli("backup", str(backup))
    assert taken.returncode == 0, taken.stderr
    before = await _state(hub.db.url)
    fresh = tmp_path / "fresh"
    env = {"HUB_DATABASE_URL": "<unset>", "HUB_DATA_DIR": str(fresh)}

    restored = await cli("restore", str(backup), **env)
    assert restored.returncode == 0, restored.stderr
    assert "restored into database hub" in restored.stdout
    verified = await cli("audit", "verify", **env)
    assert verified.returncode == 0, verified.stderr
    again = await cli("restore", str(backup), **env)
    assert "database hub is not empty" in _one_line_error(again)
    import pgserver

    server = pgserver.get_server(fresh.resolve() / "pg", cleanup_mode="stop")
    try:
        from hub.embedded_postgres import to_asyncpg_url

        assert await _state(to_asyncpg_url(server.get_uri("hub"))) == before
    finally:
        server.cleanup()


@pytest.fixture
async def backup_file(hub: Hub, seeded: None, cli: Cli, tmp_path: Path) -> Path:
    await load_demo_records(hub, businesses=10, parcels=10, citizens=10)
    path = tmp_path / "good.backup"
    taken = await cli("backup", str(path))
    assert taken.returncode == 0, taken.stderr
    return path


def _flip(data: bytes, at: int) -> bytes:
    changed = bytearray(data)
    changed[at] ^= 0x01
    return bytes(changed)


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda d: _flip(d, len(d) // 2), "fails authentication: the file was altered"),
        (lambda d: _flip(d, 30), "fails authentication"),  # the header's salt
        (lambda d: d[:-1], "fails authentication"),
        (lambda d: d[:44], "cut short: nothing after the backup header"),
        (lambda d: d[:20], "cut short inside the backup header"),
        (lambda d: b"", "not a hub backup file"),
        (lambda d: b"PGDMP" + d, "not a hub backup file"),
        (lambda d: d[:8] + b"\x02" + d[9:], "backup format version 2"),
    ],
    ids=["byte", "header", "truncated", "only-header", "half-header", "empty", "prefixed", "ver"],
)
async def test_a_damaged_file_is_refused_before_the_target_is_touched(
    backup_file: Path,
    cli: Cli,
    empty_database: str,
    tmp_path: Path,
    damage: Callable[[bytes], bytes],
    expected: str,
) -> None:
    damaged = tmp_path / "damaged.backup"
    _write(damaged, damage(_read(backup_file)))
    result = await cli("restore", str(damaged), HUB_DATABASE_URL=empty_database)
    assert expected in _one_line_error(result)
    assert await _object_count(empty_database) == 0


async def test_a_backup_made_with_another_key_is_refused(
    backup_file: Path, cli: Cli, empty_database: str, tmp_path: Path
) -> None:
    other = tmp_path / "other-keys.json"
    KeyStore.load_or_create(other)
    result = await cli(
        "restore", str(backup_file), HUB_DATABASE_URL=empty_database, HUB_KEYS_FILE=str(other)
    )
    assert "made with another backup key" in _one_line_error(result)
    assert await _object_count(empty_database) == 0


async def test_a_file_that_is_not_a_backup_is_refused(
    cli: Cli, empty_database: str, tmp_path: Path, keys: KeyStore
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("danh mục dữ liệu dùng chung\n" * 100, encoding="utf-8")
    for path, expected in (
        (text, "not a hub backup file"),
        (tmp_path / "missing.backup", "no such file"),
        (tmp_path, "is a directory"),
    ):
        result = await cli("restore", str(path), HUB_DATABASE_URL=empty_database)
        assert expected in _one_line_error(result)
    assert await _object_count(empty_database) == 0


async def test_a_non_empty_database_is_refused_without_force(
    backup_file: Path, cli: Cli, database_url: str
) -> None:
    before = await _state(database_url)
    result = await cli("restore", str(backup_file))
    message = _one_line_error(result)
    name = _database_name(database_url)
    assert f"database {name} is not empty" in message
    assert f"--force --confirm {name}" in message
    unconfirmed = await cli("restore", str(backup_file), "--force")
    assert f"pass --confirm {name}" in _one_line_error(unconfirmed)
    wrong = await cli("restore", str(backup_file), "--force", "--confirm", "postgres")
    assert f"pass --confirm {name}" in _one_line_error(wrong)
    alone = await cli("restore", str(backup_file), "--confirm", name)
    assert "--confirm goes with --force" in _one_line_error(alone)
    assert await _state(database_url) == before


async def test_force_replaces_the_contents_of_a_database(
    backup_file: Path,
    hub: Hub,
    cli: Cli,
    tmp_path: Path,
    pg_server_url: str,
    template_database: str,
) -> None:
    source = await _state(hub.db.url)
    # Another hub's database: migrated, seeded differently, with its audit drop guard.
    name = f"hub_other{os.getpid()}_{next(_targets)}"
    admin = await asyncpg.connect(to_libpq_url(pg_server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        head, _, tail = pg_server_url.partition("?")
        other = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{tail}" if tail else "")
        conn = await asyncpg.connect(to_libpq_url(other))
        await conn.execute("CREATE TABLE leftover (id int)")
        await conn.close()
        result = await cli(
            "restore", str(backup_file), "--force", "--confirm", name, HUB_DATABASE_URL=other
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"replaced the contents of database {name}")
        assert await _state(other) == source
        conn = await asyncpg.connect(to_libpq_url(other))
        try:
            assert await conn.fetchval("SELECT to_regclass('leftover')") is None
            assert (
                await conn.fetchval(
                    "SELECT count(*) FROM pg_event_trigger WHERE evtname = 'hub_audit_drop_guard'"
                )
                == 1
            )
        finally:
            await conn.close()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


async def test_a_restore_failing_midway_rolls_back_everything(
    backup_file: Path, cli: Cli, empty_database: str
) -> None:
    """An index build refused late in the replay (here by an event trigger of the target's
    own): the tables and rows already loaded are rolled back with it."""
    conn = await asyncpg.connect(to_libpq_url(empty_database))
    try:
        await conn.execute("CREATE TABLE keep_me (id int)")
        await conn.execute("INSERT INTO keep_me VALUES (1)")
        await conn.execute(
            # In pg_catalog: --force drops every other schema, and this must outlive that.
            "CREATE FUNCTION pg_catalog.no_indexes() RETURNS event_trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'index builds are refused here'; END $$"
        )
        await conn.execute(
            "CREATE EVENT TRIGGER refuse_indexes ON ddl_command_end "
            "WHEN TAG IN ('CREATE INDEX') EXECUTE FUNCTION pg_catalog.no_indexes()"
        )
    finally:
        await conn.close()
    name = _database_name(empty_database)
    result = await cli(
        "restore",
        str(backup_file),
        "--force",
        "--confirm",
        name,
        HUB_DATABASE_URL=empty_database,
    )
    assert "index builds are refused here" in _one_line_error(result)
    conn = await asyncpg.connect(to_libpq_url(empty_database))
    try:
        assert await conn.fetchval("SELECT count(*) FROM keep_me") == 1
        assert await conn.fetchval("SELECT to_regclass('records')") is None
    finally:
        await conn.close()


async def test_backup_fails_clearly_without_pg_dump_or_database(
    cli: Cli, tmp_path: Path, keys: KeyStore
) -> None:
    target = tmp_path / "none.backup"
    missing = await cli("backup", str(target), PATH=str(tmp_path / "no-tools"))
    assert "pg_dump not found on PATH" in _one_line_error(missing)
    unreachable = await cli(
        "backup", str(target), HUB_DATABASE_URL="postgresql://hub:s3cret@127.0.0.1:9/hub"
    )
    message = _one_line_error(unreachable)
    assert message.startswith("Error: database unreachable:")
    assert "s3cret" not in message
    assert not _names(tmp_path, "*.backup") and not _names(tmp_path, ".*partial")


@pytest.mark.skipif(not Path("/usr/bin/pg_dump").exists(), reason="no system pg_dump to be too old")
async def test_a_pg_dump_older_than_the_server_is_refused(
    cli: Cli, tmp_path: Path, keys: KeyStore
) -> None:
    version = (
        await asyncio.to_thread(
            subprocess.run,
            ["/usr/bin/pg_dump", "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
    ).stdout
    if "(PostgreSQL) 16" in version or "(PostgreSQL) 17" in version:
        pytest.skip("the system pg_dump is not older than the server")
    result = await cli("backup", str(tmp_path / "x.backup"), PATH="/usr/bin:/bin")
    message = _one_line_error(result)
    assert "but the server is PostgreSQL" in message and "first on PATH" in message


async def test_backup_refuses_to_overwrite_and_needs_the_keys_file(
    backup_file: Path, cli: Cli, tmp_path: Path
) -> None:
    first = _read(backup_file)
    again = await cli("backup", str(backup_file))
    assert "exists; choose another name or pass --overwrite" in _one_line_error(again)
    assert _read(backup_file) == first
    replaced = await cli("backup", str(backup_file), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert _read(backup_file) != first  # a fresh salt and nonce prefix each time
    nowhere = await cli("backup", str(tmp_path / "no" / "such" / "dir.backup"))
    assert "is not a directory" in _one_line_error(nowhere)
    no_keys = await cli(
        "backup", str(tmp_path / "k.backup"), HUB_KEYS_FILE=str(tmp_path / "absent.json")
    )
    assert "absent.json does not exist" in _one_line_error(no_keys)


# -- the file format alone -------------------------------------------------------------------

KEY = bytes(range(32))


def _seal(plaintext: bytes, chunk_size: int = 4096) -> bytes:
    out = BytesIO()
    writer = SealingWriter(out, KEY, chunk_size)
    for start in range(0, len(plaintext), 1000):  # writes that straddle chunk boundaries
        writer.write(plaintext[start : start + 1000])
    writer.close()
    return out.getvalue()


def _open(sealed: bytes) -> bytes:
    return b"".join(open_sealed(BytesIO(sealed), KEY, "f"))


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096, 20_000])
def test_sealed_files_round_trip_at_every_size(size: int) -> None:
    plaintext = os.urandom(size)
    sealed = _seal(plaintext)
    chunks = max(1, -(-size // 4096))  # a full last chunk is the final one: none empty after
    assert len(sealed) == 44 + size + 16 * chunks
    assert _open(sealed) == plaintext


def test_a_file_cut_at_a_chunk_boundary_is_refused_naming_the_missing_final_chunk() -> None:
    sealed = _seal(os.urandom(3 * 4096 + 10))
    cut = sealed[: 44 + 2 * (4096 + 16)]
    with pytest.raises(BackupFileError, match=r"cut short after chunk 2 .*final chunk is missing"):
        _open(cut)


def test_reordered_or_dropped_chunks_are_refused() -> None:
    sealed = _seal(os.urandom(3 * 4096 + 10))
    seg = 4096 + 16
    first, second = sealed[44 : 44 + seg], sealed[44 + seg : 44 + 2 * seg]
    swapped = sealed[:44] + second + first + sealed[44 + 2 * seg :]
    dropped = sealed[:44] + sealed[44 + seg :]
    for bad in (swapped, dropped):
        with pytest.raises(BackupFileError, match=r"chunk 1 .* fails authentication"):
            _open(bad)


def test_chunks_of_another_file_with_the_same_key_are_refused() -> None:
    plaintext = os.urandom(5000)
    one, two = _seal(plaintext), _seal(plaintext)
    assert one != two  # a fresh salt and nonce prefix per file
    with pytest.raises(BackupFileError, match="fails authentication"):
        _open(one[:44] + two[44:])


def test_a_keys_file_without_a_backup_key_gets_one(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    original = KeyStore.load_or_create(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    del raw["backup_key"]
    path.write_text(json.dumps(raw), encoding="utf-8")
    loaded = KeyStore.load_or_create(path)
    assert len(loaded.backup_key) == 32 and loaded.backup_key != original.backup_key
    assert loaded.field_keys == original.field_keys
    assert KeyStore.load_or_create(path).backup_key == loaded.backup_key  # saved
    raw["backup_key"] = "c2hvcnQ="
    path.write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(KeysFileError, match="backup_key is not 32 bytes"):
        KeyStore.load_or_create(path)


async def test_a_role_that_is_not_superuser_restores_all_but_the_event_trigger(
    backup_file: Path, hub: Hub, cli: Cli, pg_server_url: str
) -> None:
    """Only a superuser may create the audit drop guard (the migration skips it likewise);
    a database owner without that right gets everything else, and is told what was left out."""
    suffix = f"{os.getpid()}_{next(_targets)}"
    role, name = f"hub_owner{suffix}", f"hub_plain{suffix}"
    admin = await asyncpg.connect(to_libpq_url(pg_server_url))
    try:
        await admin.execute(f'CREATE ROLE "{role}" LOGIN')
        await admin.execute(f'CREATE DATABASE "{name}" OWNER "{role}"')
        head, _, tail = pg_server_url.partition("?")
        scheme, _, rest = head.partition("://")
        server = rest.split("@", 1)[1].rsplit("/", 1)[0]
        url = f"{scheme}://{role}@{server}/{name}" + (f"?{tail}" if tail else "")
        result = await cli("restore", str(backup_file), HUB_DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        assert result.stdout.rstrip().endswith(
            "left out (only a superuser may create them): event trigger hub_audit_drop_guard"
        ), result.stdout
        assert await _state(url) == await _state(hub.db.url)
        verified = await cli("audit", "verify", HUB_DATABASE_URL=url)
        assert verified.returncode == 0, verified.stderr
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{role}"')
        await admin.close()


async def test_restore_fails_clearly_without_tools_or_database(
    backup_file: Path, cli: Cli, empty_database: str, tmp_path: Path
) -> None:
    missing = await cli(
        "restore",
        str(backup_file),
        HUB_DATABASE_URL=empty_database,
        PATH=str(tmp_path / "no-tools"),
    )
    assert "pg_restore not found on PATH" in _one_line_error(missing)
    unreachable = await cli(
        "restore", str(backup_file), HUB_DATABASE_URL="postgresql://hub:s3cret@127.0.0.1:9/hub"
    )
    message = _one_line_error(unreachable)
    assert message.startswith("Error: database unreachable:") and "s3cret" not in message
    assert await _object_count(empty_database) == 0
