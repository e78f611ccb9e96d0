"""Signed checkpoints of the audit chain head (DESIGN.md §6): written only when the head moved
and the last is old enough, one at a time across processes; verification finds events deleted
from the end of the chain (which the chain alone cannot), a rewritten tail, forged or edited
checkpoints, and, with an owner's kept copy, a rewritten checkpoints table."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from joserfc import jws
from joserfc.jwk import ECKey
from sqlalchemy import text

from catalog.audit import EventDraft, append_event, verify_chain
from catalog.checkpoints import (
    Checkpoint,
    CheckpointReport,
    SigningKeys,
    checkpoint_payload,
    checkpoints_after,
    parse_kept,
    verify_checkpoints,
    write_checkpoint,
)
from catalog.errors import InvalidInput
from catalog.principal import Principal
from hub.db import Database
from hub.embedded_postgres import to_libpq_url
from hub.keys import KeyStore
from hub.runtime import Hub
from hub.services import Services

HUB = str(Path(sys.executable).with_name("hub"))
READER = Principal("tuson-app", "UBND-TX-TUSON", frozenset({"reader"}), "client-1")


def _signing(keys: KeyStore) -> SigningKeys:
    return SigningKeys(tuple(keys.signing_keys), keys.active_signing_kid)


async def _append(database: Database, count: int) -> None:
    """``count`` more events, committed (so chained by their insert)."""
    async with database.sessions.begin() as session:
        for n in range(count):
            await append_event(
                session,
                READER,
                EventDraft("record.read", dataset="citizen", keys=[f"k-{n}"], detail={"count": 1}),
                f"req-{n}",
            )


async def _checkpoint(database: Database, keys: KeyStore) -> Checkpoint | None:
    async with database.sessions.begin() as session:
        return await write_checkpoint(session, _signing(keys), min_interval=0)


async def _verify(
    database: Database, keys: KeyStore, kept: list[Checkpoint] | None = None
) -> CheckpointReport:
    async with database.sessions() as session:
        return await verify_checkpoints(session, _signing(keys), kept or [])


async def _stored(database: Database) -> list[Checkpoint]:
    async with database.sessions() as session:
        return await checkpoints_after(session)


@pytest.fixture
async def checkpointed(database: Database, keys: KeyStore) -> Checkpoint:
    """Five chained events and a checkpoint of their head (position 5)."""
    await _append(database, 5)
    checkpoint = await _checkpoint(database, keys)
    assert checkpoint is not None
    return checkpoint


@pytest.fixture
async def owner_db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection with the table owner's rights: what an intruder could misuse."""
    connection = await asyncpg.connect(to_libpq_url(database_url))
    try:
        yield connection
    finally:
        await connection.close()


async def _tamper(connection: asyncpg.Connection, table: str, sql: str) -> None:
    """Switch the guards off, as a superuser can, and run ``sql`` (on ``table``). Deleting
    events from the end, the intruder also moves the chain's head back to what is left."""
    await connection.execute("SET session_replication_role = replica")
    try:
        await connection.execute(sql)
        if table == "audit_log":
            await connection.execute(
                "UPDATE audit_chain SET (pos, hash, at) = (SELECT chain_pos, hash, at "
                "FROM audit_log ORDER BY chain_pos DESC LIMIT 1)"
            )
    finally:
        await connection.execute("SET session_replication_role = DEFAULT")


async def _hub(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_KEYS_FILE=str(tmp_path / "keys.json"),
        HUB_DATA_DIR=str(tmp_path / "hub"),
    )
    return await asyncio.to_thread(
        subprocess.run,
        [HUB, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- writing ----------------------------------------------------------------------------------


async def test_checkpoint_signs_position_and_hash_of_the_head(
    database: Database, keys: KeyStore, checkpointed: Checkpoint
) -> None:
    async with database.sessions() as session:
        head = (
            await session.execute(
                text("SELECT chain_pos, hash FROM audit_events ORDER BY chain_pos DESC")
            )
        ).first()
    assert head is not None
    assert (checkpointed.pos, checkpointed.head) == (5, head.hash)
    assert checkpointed.kid == keys.active_signing_kid
    public = next(k for k in keys.signing_keys if k["kid"] == checkpointed.kid)
    signed = jws.deserialize_compact(
        checkpointed.jws, ECKey.import_key({m: public[m] for m in ("kty", "crv", "x", "y")})
    )
    assert signed.payload == checkpoint_payload(5, head.hash, checkpointed.at)
    assert json.loads(signed.payload)["pos"] == 5
    report = await _verify(database, keys)
    assert (report.ok, report.checked, report.problems) == (True, 1, [])


async def test_no_checkpoint_while_the_head_stays_put(
    database: Database, keys: KeyStore, checkpointed: Checkpoint
) -> None:
    assert await _checkpoint(database, keys) is None
    assert [c.pos for c in await _stored(database)] == [5]


async def test_no_checkpoint_before_the_interval_has_passed(
    database: Database, keys: KeyStore, checkpointed: Checkpoint
) -> None:
    await _append(database, 2)
    async with database.sessions.begin() as session:
        assert await write_checkpoint(session, _signing(keys), min_interval=3600) is None
    later = await _checkpoint(database, keys)
    assert later is not None and later.pos == 7
    assert [c.pos for c in await _stored(database)] == [5, 7]


async def test_no_checkpoint_of_an_empty_chain(database: Database, keys: KeyStore) -> None:
    assert await _checkpoint(database, keys) is None
    report = await _verify(database, keys)
    assert report.ok and report.checked == 0


async def test_concurrent_processes_write_one_checkpoint_per_head(
    database: Database, keys: KeyStore
) -> None:
    await _append(database, 3)
    written = await asyncio.gather(*(_checkpoint(database, keys) for _ in range(4)))
    assert len([c for c in written if c is not None]) == 1
    assert [c.pos for c in await _stored(database)] == [3]


async def test_each_hub_process_offers_checkpoints_in_the_background(
    hub: Hub, keys: KeyStore
) -> None:
    await _append(hub.db, 2)
    fast = Hub(hub.settings.model_copy(update={"audit_checkpoint_seconds": 1}), hub.db, keys)
    services = [Services(fast), Services(fast)]  # two processes' tasks on one database
    tasks = [asyncio.create_task(s._checkpoint_forever()) for s in services]
    try:
        for _ in range(150):  # the first tick comes after a second; wait out a busy machine
            await asyncio.sleep(0.1)
            if await _stored(hub.db):
                break
        await _append(hub.db, 1)
        for _ in range(150):
            await asyncio.sleep(0.1)
            if len(await _stored(hub.db)) > 1:
                break
        await asyncio.sleep(1.5)  # both processes tick again: the head did not move
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for service in services:
            await service.verifier.aclose()
    assert [c.pos for c in await _stored(hub.db)] == [2, 3]


# -- verifying ----------------------------------------------------------------------------------


async def test_deleting_the_last_events_is_reported_as_truncation(
    database: Database, keys: KeyStore, checkpointed: Checkpoint, owner_db: asyncpg.Connection
) -> None:
    await _tamper(owner_db, "audit_log", "DELETE FROM audit_log WHERE chain_pos >= 4")
    async with database.sessions() as session:
        chain = await verify_chain(session)
    assert chain.ok and chain.checked == 3  # what is left still links: the chain cannot tell
    report = await _verify(database, keys)
    assert not report.ok
    (problem,) = report.problems
    assert "TRUNCATED" in problem and "ends at position 3" in problem
    assert "vouches for 5 events" in problem


async def test_truncated_chain_that_grew_again_is_reported_as_rewritten(
    database: Database, keys: KeyStore, checkpointed: Checkpoint, owner_db: asyncpg.Connection
) -> None:
    await _tamper(owner_db, "audit_log", "DELETE FROM audit_log WHERE chain_pos >= 4")
    await _append(database, 4)  # positions 4 to 7 again, other events
    report = await _verify(database, keys)
    (problem,) = report.problems
    assert "REWRITTEN" in problem and "position 5" in problem


async def test_writer_never_signs_a_head_below_the_last_checkpoint(
    database: Database, keys: KeyStore, checkpointed: Checkpoint, owner_db: asyncpg.Connection
) -> None:
    await _tamper(owner_db, "audit_log", "DELETE FROM audit_log WHERE chain_pos >= 4")
    assert await _checkpoint(database, keys) is None


async def test_edited_checkpoint_fails_its_signature(
    database: Database, keys: KeyStore, checkpointed: Checkpoint, owner_db: asyncpg.Connection
) -> None:
    await _tamper(
        owner_db, "audit_checkpoints", "UPDATE audit_checkpoints SET chain_pos = chain_pos - 2"
    )
    report = await _verify(database, keys)
    (problem,) = report.problems
    assert "signature does not verify" in problem and "position 3" in problem


async def test_forged_checkpoint_signed_by_another_key_fails(
    database: Database, keys: KeyStore, checkpointed: Checkpoint, owner_db: asyncpg.Connection
) -> None:
    # An intruder signs a checkpoint of its own under the hub's kid, with its own key.
    intruder = KeyStore.load_or_create(Path(str(keys.path) + ".intruder"))
    forged_keys = SigningKeys(
        [{**intruder.signing_keys[0], "kid": keys.active_signing_kid}], keys.active_signing_kid
    )
    forged = forged_keys.sign(checkpoint_payload(3, "0" * 64, checkpointed.at))
    await owner_db.execute(
        "INSERT INTO audit_checkpoints (chain_pos, head_hash, at, kid, jws) "
        "VALUES (3, $1, $2, $3, $4)",
        "0" * 64,
        checkpointed.at,
        keys.active_signing_kid,
        forged,
    )
    report = await _verify(database, keys)
    (problem,) = report.problems
    assert "signature does not verify" in problem and "position 3" in problem


async def test_checkpoint_under_an_unknown_key_fails(
    database: Database, keys: KeyStore, checkpointed: Checkpoint, owner_db: asyncpg.Connection
) -> None:
    await _tamper(owner_db, "audit_checkpoints", "UPDATE audit_checkpoints SET kid = 's-nobody'")
    report = await _verify(database, keys)
    (problem,) = report.problems
    assert "key not in the keys file" in problem


async def test_checkpoints_verify_after_the_signing_key_rotates(
    database: Database, keys: KeyStore, checkpointed: Checkpoint
) -> None:
    keys.add_signing_key()
    await _append(database, 1)
    after = await _checkpoint(database, keys)
    assert after is not None and after.kid != checkpointed.kid
    report = await _verify(database, keys)
    assert report.ok and report.checked == 2


async def test_kept_copy_finds_truncation_hidden_by_a_rewritten_table(
    database: Database, keys: KeyStore, checkpointed: Checkpoint, owner_db: asyncpg.Connection
) -> None:
    kept = await _stored(database)
    await _tamper(owner_db, "audit_log", "DELETE FROM audit_log WHERE chain_pos >= 4")
    await _tamper(owner_db, "audit_checkpoints", "DELETE FROM audit_checkpoints")
    assert (await _verify(database, keys)).ok  # the table alone now agrees with the chain
    report = await _verify(database, keys, kept)
    assert not report.ok
    assert any("TRUNCATED" in p and "ends at position 3" in p for p in report.problems)
    assert any("missing from the audit_checkpoints table" in p for p in report.problems)


async def test_forged_line_of_a_kept_copy_fails(
    database: Database, keys: KeyStore, checkpointed: Checkpoint
) -> None:
    line = json.dumps({**checkpointed.as_json(), "pos": 4})
    kept = parse_kept([line], "kept.jsonl")
    report = await _verify(database, keys, kept)
    assert any("signature does not verify" in p for p in report.problems)


@pytest.mark.parametrize("line", ["not json", '{"pos": 1}', '{"pos": "1", "head": "x"}'])
def test_malformed_kept_line_is_refused_naming_the_line(line: str) -> None:
    with pytest.raises(InvalidInput, match=r"kept\.jsonl line 2: not a checkpoint"):
        parse_kept(["", line], "kept.jsonl")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_checkpoints SET chain_pos = 1",
        "DELETE FROM audit_checkpoints",
        "TRUNCATE audit_checkpoints",
        "TRUNCATE audit_log",
        "TRUNCATE audit_log_default",
        "DELETE FROM audit_log",
    ],
)
async def test_database_refuses_to_edit_checkpoints_or_empty_the_audit(
    database: Database,
    keys: KeyStore,
    checkpointed: Checkpoint,
    owner_db: asyncpg.Connection,
    sql: str,
) -> None:
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await owner_db.execute(sql)
    assert (await _verify(database, keys)).ok


# -- the command line ------------------------------------------------------------------------


async def test_cli_verify_exits_1_naming_the_truncation(
    database_url: str,
    tmp_path: Path,
    checkpointed: Checkpoint,
    owner_db: asyncpg.Connection,
) -> None:
    intact = await _hub(database_url, tmp_path, "audit", "verify")
    assert intact.returncode == 0, intact.stderr
    assert "1 signed checkpoints verified, the last at position 5" in intact.stdout
    await _tamper(owner_db, "audit_log", "DELETE FROM audit_log WHERE chain_pos >= 4")
    broken = await _hub(database_url, tmp_path, "audit", "verify")
    assert broken.returncode == 1
    assert "TRUNCATED" in broken.stderr and "ends at position 3" in broken.stderr
    assert "Traceback" not in broken.stderr


async def test_cli_export_keeps_a_copy_that_detects_a_rewritten_table(
    database: Database,
    database_url: str,
    tmp_path: Path,
    checkpointed: Checkpoint,
    owner_db: asyncpg.Connection,
) -> None:
    kept = tmp_path / "kept.jsonl"
    await _append(database, 2)
    first = await _hub(database_url, tmp_path, "audit", "checkpoints", "export", str(kept))
    assert first.returncode == 0, first.stderr
    lines = kept.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["pos"] for line in lines] == [5, 7]  # export signs the head too
    again = await _hub(database_url, tmp_path, "audit", "checkpoints", "export", str(kept))
    assert "0 new checkpoints" in again.stdout
    assert kept.read_text(encoding="utf-8").splitlines() == lines
    await _tamper(owner_db, "audit_log", "DELETE FROM audit_log WHERE chain_pos >= 6")
    await _tamper(
        owner_db, "audit_checkpoints", "DELETE FROM audit_checkpoints WHERE chain_pos > 5"
    )
    alone = await _hub(database_url, tmp_path, "audit", "verify")
    assert alone.returncode == 0, alone.stderr  # the rewritten table agrees with the chain
    with_copy = await _hub(database_url, tmp_path, "audit", "verify", "--checkpoints", str(kept))
    assert with_copy.returncode == 1
    assert "TRUNCATED" in with_copy.stderr and "missing from the audit_checkpoints" in (
        with_copy.stderr
    )
    assert "Traceback" not in with_copy.stderr


async def test_cli_export_never_drops_lines_the_table_lost(
    database: Database,
    database_url: str,
    tmp_path: Path,
    checkpointed: Checkpoint,
    owner_db: asyncpg.Connection,
) -> None:
    kept = tmp_path / "kept.jsonl"
    assert (
        await _hub(database_url, tmp_path, "audit", "checkpoints", "export", str(kept))
    ).returncode == 0
    await _tamper(owner_db, "audit_checkpoints", "DELETE FROM audit_checkpoints")
    await _append(database, 1)
    again = await _hub(database_url, tmp_path, "audit", "checkpoints", "export", str(kept))
    assert again.returncode == 0, again.stderr
    assert [json.loads(x)["pos"] for x in kept.read_text(encoding="utf-8").splitlines()] == [5, 6]


async def test_cli_verify_refuses_a_malformed_kept_copy_in_one_line(
    database_url: str, tmp_path: Path, checkpointed: Checkpoint
) -> None:
    kept = tmp_path / "kept.jsonl"
    kept.write_text("{}\n", encoding="utf-8")
    result = await _hub(database_url, tmp_path, "audit", "verify", "--checkpoints", str(kept))
    assert result.returncode == 1
    assert "kept.jsonl line 1: not a checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
