"""Record reads on a read replica (``HUB_DATABASE_REPLICA_URLS``), writes on the primary.

The "replica" here is a copy of the hub database taken at one moment (``CREATE DATABASE …
TEMPLATE``): a replica that stopped replaying there, so every read shows which database
answered it. A caller that has just written reads the primary (in this process and, through
``NOTIFY hub_writes``, in another), others read the replica; a replica that does not answer
is skipped, and one behind the policy this process plans under sends reads to the primary."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from catalog.seed import seed_baseline
from hub.app import create_app
from hub.db import make_database
from hub.embedded_postgres import to_libpq_url
from hub.keys import KeyStore
from hub.runtime import Hub
from hub.services import Services
from hub.settings import Settings
from tests.database_copies import with_database
from tests.records_fixtures import load_demo_records
from tests.request_ids import checked_client

NAME = "query($k: String!) { business(key: $k) { name } }"
CORRECT = (
    'mutation($k: String!, $v: JSON!) { correctRecord(dataset: "business", key: $k, '
    'values: $v, reason: "Đổi tên theo giấy phép mới") { version } }'
)


@dataclass
class Frozen:
    settings: Settings
    keys: KeyStore
    key: str  # a business
    replica: str  # the copy's URL
    owner: str  # bearer tokens of clients registered before the copy
    reader: str


@pytest.fixture
async def frozen_copy(
    pg_server_url: str, database_url: str, tmp_path: Path, token: Callable[..., str]
) -> AsyncIterator[Frozen]:
    """The hub database with demo businesses and two clients, and a copy of it."""
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "hub",
        keys_file=tmp_path / "keys.json",
        public_url="http://hub.test",
    )
    keys = KeyStore.load_or_create(settings.resolved_keys_file)
    db = make_database(database_url)
    async with db.sessions.begin() as session:
        await seed_baseline(session)
    demo = await load_demo_records(Hub(settings, db, keys), businesses=3, parcels=1, citizens=1)
    # Registering a client moves the policy version: done before the copy, so the copy is
    # a replica that is current up to the write below.
    owner = token("SKHDT", "owner", subject=f"owner-{uuid.uuid4().hex[:6]}")
    reader = token("STNMT", "reader", subject=f"reader-{uuid.uuid4().hex[:6]}")
    await db.close()  # a template must have no connections
    primary = urlparse(database_url).path.lstrip("/")
    copy = f"{primary}_replica_{uuid.uuid4().hex[:6]}"
    admin = await asyncpg.connect(to_libpq_url(pg_server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{copy}" TEMPLATE "{primary}"')
        key = str(demo["business"][0]["tax_code"])
        yield Frozen(settings, keys, key, with_database(database_url, copy), owner, reader)
        await admin.execute(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
    finally:
        await admin.close()


async def _app(stack: AsyncExitStack, settings: Settings, keys: KeyStore) -> httpx.AsyncClient:
    db = make_database(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    stack.push_async_callback(db.close)
    app: Starlette = create_app(settings, Hub(settings, db, keys))
    await stack.enter_async_context(app.router.lifespan_context(app))
    services: Services = app.state.services
    for _ in range(100):  # the replica's pool opens in the background
        if not services.replicas.replicas or services.replicas.replicas[0].lag is not None:
            break
        await asyncio.sleep(0.05)
    transport = httpx.ASGITransport(app=app)
    return await stack.enter_async_context(checked_client(transport, "http://hub.test"))


async def _name(http: httpx.AsyncClient, bearer: str, key: str) -> Any:
    response = await http.post(
        "/graphql",
        json={"query": NAME, "variables": {"k": key}},
        headers={"Authorization": f"Bearer {bearer}"},
    )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["business"]["name"]


async def test_reads_go_to_the_replica_and_a_writer_reads_its_own_write(
    frozen_copy: Frozen,
) -> None:
    f = frozen_copy
    settings, keys, key, owner, reader = f.settings, f.keys, f.key, f.owner, f.reader
    with_replica = settings.model_copy(
        update={"database_replica_urls": SecretStr(f.replica), "replica_sticky_seconds": 1.5}
    )
    async with AsyncExitStack() as stack:
        one = await _app(stack, with_replica, keys)
        two = await _app(stack, with_replica, keys)  # a second hub process
        before = await _name(one, reader, key)

        written = await one.post(
            "/graphql",
            json={"query": CORRECT, "variables": {"k": key, "v": {"name": "Công ty Mới"}}},
            headers={"Authorization": f"Bearer {owner}"},
        )
        assert "errors" not in written.json(), written.json()
        # The writer sees its write at once, here and (once notified) in the other process.
        assert await _name(one, owner, key) == "Công ty Mới"
        await asyncio.sleep(0.3)
        assert await _name(two, owner, key) == "Công ty Mới"
        # Others read the replica, which (frozen) never got the write.
        assert await _name(one, reader, key) == before
        assert await _name(two, reader, key) == before
        # Once the write is old enough to have replicated, the writer reads the replica too.
        await asyncio.sleep(1.6)
        assert await _name(one, owner, key) == before

        # The policy moved on (on the primary only): the replica is behind it, so compiled
        # reads go to the primary and answer what the primary holds.
        conn = await asyncpg.connect(to_libpq_url(settings.database_url.get_secret_value()))  # type: ignore[union-attr]
        try:
            await conn.execute("UPDATE hub_state SET policy_version = policy_version + 1")
            await conn.execute("SELECT pg_notify('hub_changes', 'grants')")
        finally:
            await conn.close()
        await asyncio.sleep(0.3)
        assert await _name(one, reader, key) == "Công ty Mới"


async def test_a_replica_that_does_not_answer_is_skipped(frozen_copy: Frozen) -> None:
    settings, keys, key, reader = (
        frozen_copy.settings,
        frozen_copy.keys,
        frozen_copy.key,
        frozen_copy.reader,
    )
    dead = "postgresql://postgres@127.0.0.1:1/hub"
    with_dead = settings.model_copy(update={"database_replica_urls": SecretStr(dead)})
    async with AsyncExitStack() as stack:
        http = await _app(stack, with_dead, keys)
        for _ in range(3):
            assert await _name(http, reader, key)


def test_a_bad_replica_url_names_its_place_not_its_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from hub.settings import SettingsError, load_settings

    monkeypatch.setenv(
        "HUB_DATABASE_REPLICA_URLS",
        "postgresql://hub:pw@replica-1:5432/hub, mysql://hub:hunter2@replica-2/hub",
    )
    with pytest.raises(SettingsError) as raised:
        load_settings()
    assert "HUB_DATABASE_REPLICA_URLS: replica 2: expected a postgresql:// URL" in str(raised.value)
    assert "hunter2" not in str(raised.value)
