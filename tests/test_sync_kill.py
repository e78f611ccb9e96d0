"""A run killed with SIGKILL mid-run and started again ends with exactly the source's rows:
no loss, no duplicate versions, for a snapshot and for an incremental connector. The run is
``hub sync run NAME`` in a process of its own, killed after some batches have committed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hub.runtime import Hub
from hub.settings import Settings
from tests.sync_support import add, connector_toml, live, make_dataset, rows, source_table, sync

pytestmark = pytest.mark.usefixtures("seeded")

ROWS = 50_000
MAPPING = {"code": "ma", "name": "ten", "amount": "so_luong"}
HUB = str(Path(sys.executable).parent / "hub")


def _env(settings: Settings) -> dict[str, str]:
    assert settings.database_url is not None
    return {
        **os.environ,
        "HUB_DATABASE_URL": settings.database_url.get_secret_value(),
        "HUB_KEYS_FILE": str(settings.resolved_keys_file),
        "HUB_DATA_DIR": str(settings.data_dir),
    }


async def _kill_mid_run(hub: Hub, settings: Settings, name: str) -> int:
    """Start ``hub sync run NAME``, SIGKILL it once a few batches have committed and before
    it ends; return how many rows it had committed."""
    process = subprocess.Popen(  # noqa: ASYNC220  (polled below, never waited on blocking)
        [HUB, "sync", "run", name, "--json"],
        env=_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    committed = 0
    try:
        for _ in range(1200):
            found = await rows(
                hub,
                "SELECT read, status FROM sync_runs WHERE connector = :n ORDER BY id DESC",
                n=name,
            )
            if found and found[0]["status"] == "RUNNING" and found[0]["read"] >= 5_000:
                committed = found[0]["read"]
                break
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            await asyncio.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait, 30)
    finally:
        if process.poll() is None:
            process.kill()
    assert 0 < committed < ROWS, "the run was not caught mid-way"
    return committed


@pytest.mark.parametrize("cursor", [None, "sua"], ids=["snapshot", "incremental"])
async def test_killed_run_rerun_ends_with_exactly_the_source(
    hub: Hub, settings: Settings, cursor: str | None
) -> None:
    await make_dataset(hub, "item")
    async with source_table("ma text, ten text, so_luong int, sua int") as (conn, table):
        await conn.execute(
            f"INSERT INTO {table} SELECT 'K' || lpad(i::text, 6, '0'), 'Tên số ' || i, i, i "
            f"FROM generate_series(1, {ROWS}) i"
        )
        await add(hub, connector_toml("kill_me", "item", table, MAPPING, cursor=cursor))
        committed = await _kill_mid_run(hub, settings, "kill_me")
        left = await rows(hub, "SELECT status FROM sync_runs WHERE connector = 'kill_me'")
        assert left == [{"status": "RUNNING"}]  # killed: nobody marked it
        stored = await live(hub, "item")
        assert committed <= len(stored) < ROWS

        # Started again (the command line once more), it completes the dataset.
        rerun = await asyncio.to_thread(
            subprocess.run,
            [HUB, "sync", "run", "kill_me", "--json"],
            env=_env(settings),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert rerun.returncode == 0, rerun.stderr
        outcome = json.loads(rerun.stdout)
        assert outcome["status"] == "SUCCEEDED"
        assert outcome["inserted"] == ROWS - len(stored)

        source = {
            r["ma"]: {"code": r["ma"], "name": r["ten"], "amount": r["so_luong"]}
            for r in await conn.fetch(f"SELECT ma, ten, so_luong FROM {table}")
        }
        assert await live(hub, "item") == source
        versions = await rows(
            hub,
            "SELECT count(*) AS n, max(version) AS top, count(DISTINCT key) AS keys "
            "FROM record_versions WHERE dataset_code = 'item'",
        )
        assert versions == [{"n": ROWS, "top": 1, "keys": ROWS}]
        outbox = await rows(hub, "SELECT count(*) AS n FROM search_outbox WHERE key <> ''")
        assert outbox == [{"n": ROWS}]
        runs = await rows(
            hub, "SELECT status, error FROM sync_runs WHERE connector = 'kill_me' ORDER BY id"
        )
        assert [r["status"] for r in runs] == ["FAILED", "SUCCEEDED"]
        assert runs[0]["error"].startswith("interrupted")

        # And a third run finds nothing to do.
        third = await sync(hub, "kill_me")
        assert third.status == "SUCCEEDED" and third.inserted == third.updated == 0
