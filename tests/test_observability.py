"""What an operator sees: one JSON access line per request (method, path without its query
string, operation, status, duration, client, agency, request id), the request id in the
``X-Request-Id`` header and in ``extensions``, Prometheus metrics by route, operation and
outcome with the database-side figures, and ``/readyz`` failing while migrations are pending
or PostgreSQL is away."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from hub.app import create_app
from hub.embedded_postgres import to_libpq_url
from hub.logs import json_formatter
from hub.migrate import head_revision
from hub.runtime import Hub
from hub.settings import Settings

LOOKUP = "query Lookup($k: String!) { business(key: $k) { taxCode } }"


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "hub.access"]


@pytest.fixture
async def raw_client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client that leaves ``extensions.requestId`` in the answers (the suite's takes it off)."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield http


async def test_every_request_has_one_access_line_and_an_id(
    raw_client: httpx.AsyncClient, token: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    client = raw_client
    caplog.set_level(logging.INFO, logger="hub.access")
    reader = token("STNMT", "reader", subject="observed-app")
    response = await client.post(
        "/graphql",
        json={"query": LOOKUP, "operationName": "Lookup", "variables": {"k": "0100109106"}},
        headers={"Authorization": f"Bearer {reader}", "X-Request-Id": "trace-42"},
    )
    assert response.headers["x-request-id"] == "trace-42"
    assert response.json()["extensions"] == {"requestId": "trace-42"}
    secret_get = await client.get(
        "/graphql", params={"query": "{ me { anonymous } }", "variables": '{"citizen": "0791"}'}
    )
    made = secret_get.headers["x-request-id"]
    assert len(made) == 32 and secret_get.json()["extensions"]["requestId"] == made

    first, second = access_lines(caplog)[-2:]
    assert (first.method, first.path, first.status) == ("POST", "/graphql", 200)  # type: ignore[attr-defined]
    assert first.operation_type == "query" and first.operation_name == "Lookup"  # type: ignore[attr-defined]
    assert (first.client, first.agency, first.request_id) == ("observed-app", "STNMT", "trace-42")  # type: ignore[attr-defined]
    assert first.duration_ms > 0  # type: ignore[attr-defined]
    assert second.path == "/graphql" and second.client is None  # type: ignore[attr-defined]
    line = json_formatter().format(second)
    fields = json.loads(line)
    assert fields["event"] == "request" and fields["level"] == "info"
    assert fields["request_id"] == made and fields["method"] == "GET"
    assert "0791" not in line and "variables" not in line  # the query string stays out


def test_json_log_lines_withhold_exception_messages() -> None:
    try:
        raise ValueError("citizen 079123456789 not found")
    except ValueError:
        record = logging.LogRecord("hub.x", logging.ERROR, __file__, 1, "failed", None, None)
        import sys

        record.exc_info = sys.exc_info()
    fields = json.loads(json_formatter().format(record))
    assert fields["event"] == "failed"
    assert "builtins.ValueError" in fields["exception"]
    assert "079123456789" not in json.dumps(fields)


async def test_metrics_count_requests_by_operation_and_outcome(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/graphql", json={"query": "{ me { anonymous } }"})
    await client.post("/graphql", json={"query": "{ me { nope } }"})  # refused
    scrape = (await client.get("/metrics")).text

    def value(line_start: str) -> float:
        found = [line for line in scrape.splitlines() if line.startswith(line_start)]
        assert found, f"{line_start} not in /metrics"
        return float(found[0].rsplit(" ", 1)[1])

    assert value('hub_requests_total{operation="query",outcome="ok",route="/graphql"}') >= 1
    assert value('hub_requests_total{operation="-",outcome="refused",route="/graphql"}') >= 1
    assert value('hub_request_seconds_count{operation="query",route="/graphql"}') >= 1
    assert value('hub_db_pool_connections{state="idle"}') >= 0
    assert value("hub_search_outbox_backlog") >= 0
    assert "hub_sync_last_run_rows" in scrape


async def test_readyz_fails_while_migrations_are_pending(
    client: httpx.AsyncClient, database_url: str
) -> None:
    assert (await client.get("/readyz")).status_code == 200
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        await conn.execute("UPDATE alembic_version SET version_num = '0001'")
        pending = await client.get("/readyz")
        body: dict[str, Any] = pending.json()
        assert pending.status_code == 503
        assert body == {"status": "migrations pending", "database": "0001", "code": head_revision()}
    finally:
        await conn.execute("UPDATE alembic_version SET version_num = $1", head_revision())
        await conn.close()
    assert (await client.get("/readyz")).status_code == 200


async def test_metrics_are_for_operators_only(hub: Hub, seeded: None) -> None:
    """Sync counts and backlogs derive from agencies' data: this machine, or the token."""

    async def scrape(settings: Settings, address: str, **headers: str) -> int:
        app = create_app(settings, Hub(settings, hub.db, hub.keys))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=(address, 40000))
            async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as h:
                return (await h.get("/metrics", headers=headers)).status_code

    assert await scrape(hub.settings, "127.0.0.1") == 200
    assert await scrape(hub.settings, "203.0.113.9") == 403
    guarded = hub.settings.model_copy(update={"metrics_token": SecretStr("s3cret-scrape")})
    assert await scrape(guarded, "203.0.113.9", Authorization="Bearer s3cret-scrape") == 200
    assert await scrape(guarded, "203.0.113.9", Authorization="Bearer wrong") == 403
    assert await scrape(guarded, "127.0.0.1") == 403
