"""The real ``hub`` command, run as a subprocess against the test database: each command does
its job, prints what it promises, and fails with one line (never a traceback)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from hub.embedded_postgres import to_libpq_url
from hub.settings import Settings

HUB = str(Path(sys.executable).with_name("hub"))
TIMEOUT = 60

ME_QUERY = "query { me { anonymous subject roles agency { code } } }"

Run = Callable[..., Awaitable[subprocess.CompletedProcess[str]]]


@pytest.fixture
def hub_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    """The environment of a ``hub`` process on the test database, with nothing else HUB_."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        # The `settings` fixture's keys file, so the app verifies what `hub token` signs.
        HUB_KEYS_FILE=str(tmp_path / "keys.json"),
        HUB_PUBLIC_URL="http://hub.test",
    )
    return env


@pytest.fixture
def hub_cli(hub_env: dict[str, str]) -> Run:
    async def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [HUB, *args],
            env={**hub_env, **env},
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )

    return run


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def _catalog_version(database_url: str) -> int:
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        return int(await conn.fetchval("SELECT catalog_version FROM hub_state WHERE id = 1"))
    finally:
        await conn.close()


async def test_db_upgrade_prints_the_revision(hub_cli: Run) -> None:
    result = await hub_cli("db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "database at revision 0008"


async def test_seed_twice_changes_nothing_the_second_time(hub_cli: Run, database_url: str) -> None:
    first = await hub_cli("seed")
    assert first.returncode == 0, first.stderr
    assert "datasets created: business, land_parcel, citizen" in first.stdout
    version = await _catalog_version(database_url)
    second = await hub_cli("seed")
    assert second.returncode == 0, second.stderr
    assert "datasets created: none (present)" in second.stdout
    # A no-op seed must not make every hub process rebuild its schema.
    assert await _catalog_version(database_url) == version


async def test_client_token_is_accepted_by_the_app(
    hub_cli: Run,
    gql: Callable[..., Awaitable[dict[str, Any]]],
    settings: Settings,
    hub_env: dict[str, str],
) -> None:
    assert Path(hub_env["HUB_KEYS_FILE"]) == settings.resolved_keys_file
    added = await hub_cli(
        "clients", "add", "app1", "--agency", "SKHDT", "--roles", "owner,reader", "--json"
    )
    assert added.returncode == 0, added.stderr
    credentials = json.loads(added.stdout)
    assert set(credentials) == {"client_id", "client_secret"}
    assert added.stdout.strip() == json.dumps(credentials)
    issued = await hub_cli(
        "token",
        "--client-id",
        credentials["client_id"],
        "--client-secret",
        credentials["client_secret"],
    )
    assert issued.returncode == 0, issued.stderr
    body = await gql(ME_QUERY, token=issued.stdout.strip())
    assert body == {
        "data": {
            "me": {
                "anonymous": False,
                "subject": credentials["client_id"],
                "roles": ["owner", "reader"],
                "agency": {"code": "SKHDT"},
            }
        }
    }


async def test_token_with_wrong_secret_fails_in_one_line(hub_cli: Run, seeded: None) -> None:
    added = await hub_cli("clients", "add", "app1", "--agency", "SKHDT", "--json")
    client_id = json.loads(added.stdout)["client_id"]
    result = await hub_cli("token", "--client-id", client_id, "--client-secret", "wrong")
    line = _one_line_error(result)
    assert "unknown client id or wrong secret" in line
    assert result.stdout == ""


async def test_clients_add_with_unknown_agency_fails_in_one_line(
    hub_cli: Run, seeded: None, database_url: str
) -> None:
    result = await hub_cli("clients", "add", "app1", "--agency", "NO-SUCH", "--roles", "reader")
    line = _one_line_error(result)
    assert "agency 'NO-SUCH' does not exist" in line
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM api_clients") == 0
    finally:
        await conn.close()


async def test_bad_setting_fails_in_one_line_naming_the_variable(hub_cli: Run) -> None:
    result = await hub_cli("seed", HUB_MAX_PAGE_SIZE="abc")
    line = _one_line_error(result)
    assert "HUB_MAX_PAGE_SIZE" in line


async def test_malformed_settings_file_fails_in_one_line(hub_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text("max_page_size = \n")
    result = await hub_cli("--settings", str(path), "seed")
    line = _one_line_error(result)
    assert str(path) in line and "TOML" in line


async def test_audit_verify_passes_on_an_intact_chain(hub_cli: Run, seeded: None) -> None:
    result = await hub_cli("audit", "verify")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("audit chain intact: ")
    checked = int(result.stdout.split(": ")[1].split()[0])
    assert checked >= 1


async def test_database_that_does_not_exist_fails_in_one_line(
    hub_cli: Run, database_url: str
) -> None:
    head, _, query = database_url.partition("?")
    missing = head.rsplit("/", 1)[0] + "/hub_no_such_db" + (f"?{query}" if query else "")
    result = await hub_cli("seed", HUB_DATABASE_URL=missing)
    line = _one_line_error(result)
    assert line == 'Error: database: database "hub_no_such_db" does not exist'
