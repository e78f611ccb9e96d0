"""PostgreSQL restarted in the middle of a load (a dedicated embedded server the test stops
and starts, not the suite's shared one): requests during the outage fail fast and clearly —
HTTP 503, ``INTERNAL`` with the request id, ``Retry-After`` — never a hang or a stack trace;
the hub serves again once the server is back, without a restart; and every answer that
served records has its audit event."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from catalog.seed import seed_baseline
from hub.app import create_app
from hub.embedded_postgres import to_asyncpg_url, to_libpq_url
from hub.runtime import Hub, open_hub
from hub.settings import Settings
from tests.records_fixtures import load_demo_records
from tests.request_ids import checked_client

LOOKUP = "query($k: String!) { business(key: $k) { taxCode name } }"
CLIENTS = 4


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import pgserver

        server = pgserver.get_server(tmp_path / "pg", cleanup_mode="stop")
    server.psql("CREATE DATABASE hub;")
    try:
        yield server
    finally:
        server.cleanup()


async def _stop(server: Any) -> None:
    from pgserver import pg_ctl

    await asyncio.to_thread(
        pg_ctl, ["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user
    )


async def _start(server: Any) -> None:
    await asyncio.to_thread(server.ensure_postgres_running)


async def _load(
    http: httpx.AsyncClient, keys: list[str], stop: asyncio.Event, log: list[dict[str, Any]]
) -> None:
    turn = 0
    while not stop.is_set():
        key = keys[turn % len(keys)]
        turn += 1
        started = time.perf_counter()
        response = await http.post("/graphql", json={"query": LOOKUP, "variables": {"k": key}})
        log.append(
            {
                "status": response.status_code,
                "seconds": time.perf_counter() - started,
                "id": response.headers["x-request-id"],
                "body": response.json(),
                "retry": response.headers.get("retry-after"),
            }
        )
        await asyncio.sleep(0.01)


async def test_a_postgresql_restart_under_load_fails_clearly_and_recovers(
    own_server: Any, tmp_path: Path
) -> None:
    url = to_asyncpg_url(own_server.get_uri("hub"))
    settings = Settings(
        database_url=url,
        data_dir=tmp_path / "hub",
        keys_file=tmp_path / "keys.json",
        public_url="http://hub.test",
        rate_limit_anonymous="off",
    )
    hub: Hub = await open_hub(settings, migrate=True)
    try:
        async with hub.db.sessions.begin() as session:
            await seed_baseline(session)
        app = create_app(settings, hub)
        async with app.router.lifespan_context(app):
            demo = await load_demo_records(hub, businesses=10, parcels=2, citizens=2)
            keys = [str(b["tax_code"]) for b in demo["business"]]
            transport = httpx.ASGITransport(app=app)
            async with checked_client(transport, "http://hub.test") as http:
                stop = asyncio.Event()
                log: list[dict[str, Any]] = []
                clients = [
                    asyncio.create_task(_load(http, keys, stop, log)) for _ in range(CLIENTS)
                ]
                await asyncio.sleep(1.0)
                before = len(log)
                await _stop(own_server)
                await asyncio.sleep(2.0)
                during = len(log)
                await _start(own_server)
                recovered_at = None
                for _ in range(300):
                    await asyncio.sleep(0.1)
                    if any(e["status"] == 200 for e in log[during:]):
                        recovered_at = len(log)
                        break
                await asyncio.sleep(1.0)
                stop.set()
                await asyncio.gather(*clients)
    finally:
        await hub.db.close()

    assert before > 0 and all(e["status"] == 200 for e in log[:before])
    assert recovered_at is not None, "the hub did not serve again after PostgreSQL came back"
    outage = log[before:recovered_at]
    failed = [e for e in outage if e["status"] != 200]
    assert failed, "no request fell in the outage"
    for entry in failed:
        assert entry["status"] == 503, entry
        error = entry["body"]["errors"][0]
        assert error["extensions"] == {"code": "INTERNAL", "requestId": entry["id"]}
        assert "database is unavailable" in error["message"]
        assert entry["retry"] == "2"
        assert entry["seconds"] < 5.0, "a request hung on the dead server"
    assert all(e["status"] == 200 for e in log[recovered_at:])

    # Every answer that served a record was audited, under its request id.
    served = {
        e["id"] for e in log if e["status"] == 200 and e["body"]["data"]["business"] is not None
    }
    own_server.ensure_postgres_running()
    conn = await asyncpg.connect(to_libpq_url(url))
    try:
        rows = await conn.fetch(
            "SELECT DISTINCT request_id FROM audit_events WHERE request_id = ANY($1::text[])",
            sorted(served),
        )
    finally:
        await conn.close()
    assert {r["request_id"] for r in rows} == served
