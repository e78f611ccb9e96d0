"""Shared fixtures: one real PostgreSQL per test session, a migrated template database, and a
fresh copy of it for each test that writes, so commits and advisory locks behave as in
production. ``HUB_TEST_DATABASE_URL`` points the suite at another server."""

from __future__ import annotations

import asyncio
import gc
import itertools
import os
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from catalog.models import ApiClient
from catalog.seed import seed_baseline
from hub.app import create_app
from hub.auth.issuer import issue_token
from hub.db import Database, make_database
from hub.embedded_postgres import to_asyncpg_url, to_libpq_url
from hub.keys import KeyStore
from hub.runtime import Hub
from hub.settings import Settings
from tests.database_copies import database_copy, migrated_template
from tests.request_ids import checked_client

# Search fixtures (a real osmem-server) live beside the database ones.
pytest_plugins = ["tests.search_fixtures"]


@pytest.fixture(scope="session")
def pg_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a maintenance database on the test server (embedded unless configured)."""
    configured = os.environ.get("HUB_TEST_DATABASE_URL")
    if configured:
        yield to_asyncpg_url(configured)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import pgserver

        server = pgserver.get_server(tmp_path_factory.mktemp("pg") / "data", cleanup_mode="stop")
    # A throwaway server: nothing on it must survive a crash, so it skips flushing to disk
    # (every test creates and drops a database; the flushes were most of their cost).
    server.psql(
        "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
        " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
    )
    yield to_asyncpg_url(server.get_uri("postgres"))
    server.cleanup()


@pytest.fixture(scope="session")
async def template_database(pg_server_url: str) -> AsyncIterator[str]:
    """Name of a database migrated to head, used as the template of every test database."""
    async with migrated_template(pg_server_url) as name:
        yield name


@pytest.fixture(scope="session")
async def seeded_template(pg_server_url: str, template_database: str) -> AsyncIterator[str]:
    """Name of a copy of the template with the baseline catalogue seeded: a test that uses
    ``seeded`` starts from a copy of it (seeding took a third of a typical test's setup)."""
    async with database_copy(pg_server_url, template_database, prefix="hub_seeded") as url:
        database = make_database(url, pool_size=1)
        try:
            async with database.sessions.begin() as session:
                await seed_baseline(session)
        finally:
            await database.close()
        yield url.partition("?")[0].rsplit("/", 1)[1]


# URLs of test databases copied from the seeded template (``seeded`` has nothing to do).
_SEEDED_COPIES: set[str] = set()


@pytest.fixture
async def database_url(
    request: pytest.FixtureRequest,
    pg_server_url: str,
    template_database: str,
    seeded_template: str,
) -> AsyncIterator[str]:
    """A fresh migrated database for one test (seeded when the test uses ``seeded``)."""
    seeded = "seeded" in request.fixturenames
    template = seeded_template if seeded else template_database
    async with database_copy(pg_server_url, template) as url:
        if seeded:
            _SEEDED_COPIES.add(url)
        try:
            yield url
        finally:
            _SEEDED_COPIES.discard(url)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = make_database(database_url, pool_size=4)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for a hub on the test database, with its own keys file and embedded issuer."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "hub",
        keys_file=tmp_path / "keys.json",
        public_url="http://hub.test",
        # A test process hosts a thousand short-lived hubs: a full collection after each
        # one's schema build (the production default) was a fifth of the suite's time.
        # ``app`` freezes the heap instead and collects every ``COLLECT_EVERY`` apps.
        schema_gc_freeze=False,
    )


@pytest.fixture
def keys(settings: Settings) -> KeyStore:
    return KeyStore.load_or_create(settings.resolved_keys_file)


# -- the running app ----------------------------------------------------------------------------


@pytest.fixture
def hub(settings: Settings, database: Database, keys: KeyStore) -> Hub:
    return Hub(settings=settings, db=database, keys=keys)


@pytest.fixture
async def seeded(database_url: str, database: Database) -> None:
    """The baseline catalogue (agencies and the five core datasets, published): already there
    in a copy of the seeded template, seeded here on a database a module made otherwise."""
    if database_url in _SEEDED_COPIES:
        return
    async with database.sessions.begin() as session:
        await seed_baseline(session)


COLLECT_EVERY = 25
_apps_started = itertools.count(1)


def _freeze_heap() -> None:
    """What a hub process does after building its schema (``hub.services``), amortised:
    the heap is frozen so that the collector's full passes do not walk the schema during a
    test's requests (timed tests measure the request's own work), and every
    ``COLLECT_EVERY`` apps it is thawed and collected, freeing earlier tests' schemas."""
    if next(_apps_started) % COLLECT_EVERY == 0:
        gc.unfreeze()
        gc.collect()
    gc.freeze()


@pytest.fixture
async def app(hub: Hub, seeded: None) -> AsyncIterator[Starlette]:
    """The real hub app on the test database, lifespan running (listener, chainer)."""
    application = create_app(hub.settings, hub)
    async with application.router.lifespan_context(application):
        _freeze_heap()
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    # Every answer's extensions.requestId is checked against X-Request-Id and taken off.
    async with checked_client(httpx.ASGITransport(app=app), "http://hub.test") as http:
        yield http


@pytest.fixture
def token(hub: Hub, database_url: str) -> Callable[..., str]:
    """``token("SKHDT", "owner")`` → a bearer token from the embedded issuer, for a client
    registered in the test database (the hub refuses tokens of unregistered clients)."""

    registered: set[tuple[str, str, frozenset[str]]] = set()

    def make(agency: str, *roles: str, subject: str | None = None) -> str:
        client = ApiClient(
            client_id=subject or f"test-{agency.lower()}-{'-'.join(roles) or 'none'}",
            name="test",
            agency_code=agency,
            roles=list(roles),
        )
        registration = (client.client_id, agency, frozenset(roles))
        # One round trip per client, not per token.
        if registration not in registered and _register_client(
            database_url, client.client_id, agency, roles
        ):
            registered.add(registration)
        value, _ = issue_token(hub.settings, hub.keys, client)
        return value

    return make


_REGISTER_CLIENT = """
INSERT INTO api_clients (client_id, name, agency_code, roles, secret_hash)
VALUES ($1, 'test', $2, $3, 'none')
ON CONFLICT (client_id) DO UPDATE SET agency_code = EXCLUDED.agency_code,
  roles = ARRAY(SELECT DISTINCT r FROM unnest(api_clients.roles || EXCLUDED.roles) AS r ORDER BY r)
"""


def _register_client(url: str, client_id: str, agency: str, roles: Sequence[str]) -> bool:
    """Register (or widen) a test client from sync code running inside the test's event
    loop: a short connection on a thread of its own. Same-id calls keep the union of roles,
    so earlier tokens of that id stay valid; an unknown agency registers nothing (False)."""

    async def register() -> bool:
        conn = await asyncpg.connect(to_libpq_url(url))
        try:
            async with conn.transaction():
                await conn.execute(_REGISTER_CLIENT, client_id, agency, sorted(set(roles)))
                # As hub.auth.registry.mark_clients_changed: running apps reload their clients.
                await conn.execute(
                    "UPDATE hub_state SET policy_version = policy_version + 1 WHERE id = 1"
                )
                await conn.execute("SELECT pg_notify('hub_changes', 'clients')")
        except asyncpg.ForeignKeyViolationError:
            return False  # the agency is not in this database (not seeded): token refused
        finally:
            await conn.close()
        return True

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, register()).result()


@pytest.fixture
def gql(client: httpx.AsyncClient) -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await gql(QUERY, token=..., purpose=..., **variables)`` → the decoded response body."""

    async def call(
        query: str,
        token: str | None = None,
        purpose: str | None = None,
        **variables: Any,
    ) -> dict[str, Any]:
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if purpose:
            headers["X-Purpose"] = quote(purpose)
        response = await client.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return call
