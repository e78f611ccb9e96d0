"""``hub search reindex [DATASET]`` as a real subprocess against the test database and a real
osmem-server: it rebuilds with a progress bar and says so; bad input is one line, exit 1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from opensearchpy import AsyncOpenSearch
from sqlalchemy import text

from hub.db import Database
from hub.keys import KeyStore
from hub.search.embedded import STATE_FILE
from hub.search.names import catalogue_alias, record_alias
from tests.search_fixtures import PLACE, create_place, write_places

HUB = str(Path(sys.executable).with_name("hub"))
TIMEOUT = 120

Run = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]


@pytest.fixture
def hub_cli(database_url: str, tmp_path: Path, search_url: str, search_prefix: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_KEYS_FILE=str(tmp_path / "keys.json"),
        HUB_OPENSEARCH_URL=search_url,
        HUB_SEARCH_INDEX_PREFIX=search_prefix,
        COLUMNS="120",
    )

    async def run(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        merged = {**env, **extra}
        for name, value in extra.items():
            if value == "":
                merged.pop(name)
        return await asyncio.to_thread(
            subprocess.run,
            [HUB, "search", *args],
            env=merged,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    return run


@pytest.fixture
async def places(database: Database, keys: KeyStore, seeded: None) -> None:
    await create_place(database)
    rows = [{"place_id": f"p{n}", "name": f"Địa danh {n}"} for n in range(250)]
    await write_places(database, keys, rows)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


async def test_reindex_everything_shows_progress_and_fills_the_indices(
    hub_cli: Run, places: None, search_client: AsyncOpenSearch, search_prefix: str
) -> None:
    result = await hub_cli("reindex")
    assert result.returncode == 0, result.stderr
    assert "reindexed 7 index(es), 256 documents" in result.stdout
    assert PLACE in result.stderr and "250/250" in result.stderr  # the bar, per dataset
    await search_client.indices.refresh(index=f"{search_prefix}*")
    assert (await search_client.count(index=record_alias(search_prefix, PLACE)))["count"] == 250
    assert (await search_client.count(index=catalogue_alias(search_prefix)))[
        "count"
    ] == 6  # 5 + place


async def test_reindex_one_dataset_twice_moves_to_a_new_index(
    hub_cli: Run, places: None, search_client: AsyncOpenSearch, search_prefix: str
) -> None:
    for _ in range(2):
        result = await hub_cli("reindex", PLACE)
        assert result.returncode == 0, result.stderr
        assert "reindexed 1 index(es), 250 documents" in result.stdout
    alias = record_alias(search_prefix, PLACE)
    assert list(await search_client.indices.get_alias(name=alias)) == [f"{alias}-2"]


async def test_reindex_makes_the_datasets_parked_entries_due_again(
    hub_cli: Run, places: None, database: Database
) -> None:
    """An entry the index refused on every attempt waits for an operator; rebuilding its
    dataset (often the fix) makes it due again, and another dataset's stays parked."""
    async with database.sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO search_outbox_failures (dataset_code, key, version, attempts, "
                "reason, retry_at) VALUES (:place, 'p1', 1, 5, 'refused', NULL), "
                "('business', '0100000001', 1, 5, 'refused', NULL)"
            ),
            {"place": PLACE},
        )
    result = await hub_cli("reindex", PLACE)
    assert result.returncode == 0, result.stderr
    assert "1 entries the index had refused are due again" in result.stdout
    async with database.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT dataset_code, attempts, retry_at IS NOT NULL AS due "
                    "FROM search_outbox_failures ORDER BY dataset_code"
                )
            )
        ).all()
    assert {(r.dataset_code, r.attempts, r.due) for r in rows} == {
        ("business", 5, False),
        (PLACE, 0, True),
    }


async def test_unknown_dataset_is_one_line(hub_cli: Run, seeded: None) -> None:
    line = _one_line(await hub_cli("reindex", "no_such_dataset"))
    assert line == "Error: dataset 'no_such_dataset' does not exist"


async def test_draft_dataset_is_one_line(hub_cli: Run, database: Database, seeded: None) -> None:
    await create_place(database, publish=False)
    line = _one_line(await hub_cli("reindex", PLACE))
    assert "is DRAFT" in line and "published" in line


async def test_unreachable_search_server_is_one_line(hub_cli: Run, places: None) -> None:
    line = _one_line(await hub_cli("reindex", HUB_OPENSEARCH_URL="http://127.0.0.1:9"))
    assert "cannot be reached" in line and "HUB_OPENSEARCH_URL" in line


async def test_bad_prefix_is_one_line(hub_cli: Run) -> None:
    line = _one_line(await hub_cli("reindex", HUB_SEARCH_INDEX_PREFIX="Bad/Prefix"))
    assert "HUB_SEARCH_INDEX_PREFIX" in line


async def test_without_a_url_the_embedded_server_is_started_and_stopped(
    hub_cli: Run, places: None, tmp_path: Path
) -> None:
    result = await hub_cli("reindex", HUB_OPENSEARCH_URL="")
    assert result.returncode == 0, result.stderr
    assert "reindexed 7 index(es), 256 documents" in result.stdout
    assert not (tmp_path / "hub" / STATE_FILE).exists()  # stopped, its address forgotten
