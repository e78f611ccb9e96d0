"""``hub keys rotate`` re-encrypts every stored value under a new key; running hubs keep
reading, and the plaintext never appears in the database."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text

from hub.keys import KeyStore
from hub.runtime import Hub
from tests.records_fixtures import load_demo_records

Gql = Callable[..., Awaitable[dict[str, Any]]]
HUB = str(Path(sys.executable).parent / "hub")


async def run_hub(hub: Hub, *args: str) -> tuple[int, str, str]:
    env = {
        **os.environ,
        "HUB_DATABASE_URL": hub.settings.database_url.get_secret_value()  # type: ignore[union-attr]
        if hub.settings.database_url
        else "",
        "HUB_KEYS_FILE": str(hub.settings.resolved_keys_file),
        "HUB_DATA_DIR": str(hub.settings.data_dir),
    }
    process = await asyncio.create_subprocess_exec(
        HUB, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    return process.returncode or 0, out.decode(), err.decode()


async def test_rotation_reencrypts_records_and_versions_and_reads_continue(
    gql: Gql, token: Callable[..., str], hub: Hub, app: Any
) -> None:
    data = await load_demo_records(hub, businesses=2, parcels=1, citizens=30)
    old_kid = hub.keys.active_field_kid
    code, out, err = await run_hub(hub, "keys", "rotate")
    assert code == 0, err
    sealed = len(data["citizen"]) + len(data["health_insurance"])  # both have encrypted fields
    assert f"re-encrypted {sealed} records and {sealed} versions" in out
    new_kid = KeyStore.load_or_create(hub.settings.resolved_keys_file).active_field_kid
    assert new_kid != old_kid
    async with hub.db.sessions() as session:
        stale = await session.scalar(
            text(
                "SELECT count(*) FROM (SELECT data FROM records UNION ALL "
                "SELECT data FROM record_versions) d, jsonb_each(d.data) e "
                "WHERE jsonb_typeof(e.value) = 'object' AND e.value->>'$enc' <> :kid"
            ),
            {"kid": new_kid},
        )
    assert stale == 0
    person = data["citizen"][0]
    body: dict[str, Any] = {}
    for _ in range(50):  # the running hub reloads the keys file on NOTIFY
        body = await gql(
            "query($k: String!) { citizen(key: $k) { citizenId phone } }",
            token=token("SYT", "owner"),
            k=person["citizen_id"],
        )
        if "errors" not in body:
            break
        await asyncio.sleep(0.05)
    assert body["data"]["citizen"]["citizenId"] == person["citizen_id"]
    assert hub.keys.active_field_kid == new_kid
