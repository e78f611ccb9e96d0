"""Removing a client, or changing its roles or agency, bites on the next request in every hub
process (issue 7 item 7), and client names never reach a terminal as escape codes (item 14)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from catalog.errors import InvalidInput, Unauthenticated
from catalog.models import ApiClient
from catalog.principal import Principal
from hub.app import create_app
from hub.auth.clients import add_client, remove_client, update_client
from hub.auth.issuer import issue_token
from hub.embedded_postgres import to_libpq_url
from hub.runtime import Hub
from hub.services import Services
from hub.settings import Settings
from schema.context import Context
from schema.records.read_audit import ReadAuditWriter
from tests.request_ids import checked_client

HUB = str(Path(sys.executable).with_name("hub"))
ME = "query { me { anonymous subject roles agency { code } } }"
# A typed list: answered by the compiled path (its freshness column sees the counter move).
COMPILED = "{ businessList(first: 1) { totalCount } }"

Post = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
async def other_app(hub: Hub, app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A second hub process on the same database (its own snapshot, listener and caches)."""
    second = create_app(hub.settings, hub)
    async with second.router.lifespan_context(second):
        transport = httpx.ASGITransport(app=second)
        async with checked_client(transport, "http://other") as http:
            yield http


async def _register(
    hub: Hub, roles: Sequence[str] = ("reader",), agency: str = "STNMT", name: str = "portal"
) -> ApiClient:
    async with hub.db.sessions.begin() as session:
        client, _ = await add_client(session, name, agency, list(roles))
    return client


def _token(hub: Hub, client: ApiClient, roles: Sequence[str] | None = None) -> str:
    value, _ = issue_token(hub.settings, hub.keys, client, roles)
    return value


async def _post(http: httpx.AsyncClient, query: str, token: str) -> httpx.Response:
    return await http.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}
    )


def _assert_refused(response: httpx.Response, reason: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith(
        'Bearer realm="hub", error="invalid_token"'
    )
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert reason in body["errors"][0]["message"]
    assert "data" not in body or body["data"] is None


async def test_removed_clients_token_is_refused_on_the_next_request(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    registered = await _register(hub)
    token = _token(hub, registered)
    before = await _post(client, ME, token)
    assert before.json()["data"]["me"]["subject"] == registered.client_id

    async with hub.db.sessions.begin() as session:
        await remove_client(session, registered.client_id)

    _assert_refused(await _post(client, ME, token), "not registered")


async def test_removed_clients_token_is_refused_on_the_compiled_path(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    registered = await _register(hub)
    token = _token(hub, registered)
    before = await _post(client, COMPILED, token)
    assert before.status_code == 200 and "errors" not in before.json(), before.text

    async with hub.db.sessions.begin() as session:
        await remove_client(session, registered.client_id)

    _assert_refused(await _post(client, COMPILED, token), "not registered")


async def test_removal_bites_in_a_second_hub_process_on_its_next_request(
    hub: Hub, client: httpx.AsyncClient, other_app: httpx.AsyncClient
) -> None:
    registered = await _register(hub)
    token = _token(hub, registered)
    for http in (client, other_app):  # both processes have admitted (and cached) the token
        assert (await _post(http, COMPILED, token)).status_code == 200
        assert (await _post(http, ME, token)).status_code == 200

    async with hub.db.sessions.begin() as session:
        await remove_client(session, registered.client_id)

    _assert_refused(await _post(other_app, COMPILED, token), "not registered")
    _assert_refused(await _post(other_app, ME, token), "not registered")
    _assert_refused(await _post(client, ME, token), "not registered")


async def test_removal_bites_through_the_counter_alone_without_a_notification(
    hub: Hub, app: Starlette
) -> None:
    # A process whose listener never ran: only the hub_state counter can tell it.
    services = Services(hub)
    services.pool = await hub.db.open_pool(1)
    try:
        await services.refresh(force=True)
        registered = await _register(hub)
        token = _token(hub, registered)
        principal = await services.verifier.verify(token)
        ctx = Context(principal=principal, sessions=hub.db.sessions, request_id="t")
        await services.fresh_for(ctx)
        assert ctx.principal.client_id == registered.client_id

        async with hub.db.sessions.begin() as session:
            await remove_client(session, registered.client_id)

        with pytest.raises(Unauthenticated, match="not registered"):
            await services.fresh_for(ctx)
    finally:  # the pool is the database's (shared with the app), closed with it
        await services.verifier.aclose()


async def test_removal_bites_on_the_compiled_path_through_the_counter_alone(
    hub: Hub, app: Starlette
) -> None:
    # No listener again; the compiled statement's freshness column is what notices.
    services = Services(hub)
    services.pool = await hub.db.open_pool(1)
    write_pool = await hub.db.open_write_pool()
    services.read_audit = ReadAuditWriter(write_pool)
    try:
        await services.refresh(force=True)
        registered = await _register(hub)
        principal = await services.admit(await services.verifier.verify(_token(hub, registered)))
        ctx = Context(
            principal=principal, sessions=hub.db.sessions, request_id="t", services=services
        )
        executor = services.executor_for(principal)
        prepared = executor.prepare(COMPILED)
        assert prepared.plan is not None  # answered by the compiled path
        assert b'"errors"' not in await executor.run(prepared, None, {}, ctx)

        async with hub.db.sessions.begin() as session:
            await remove_client(session, registered.client_id)

        with pytest.raises(Unauthenticated, match="not registered"):
            await executor.run(prepared, None, {}, ctx)
    finally:  # the pools are the database's (shared with the app), closed with it
        await services.verifier.aclose()


async def test_removed_role_refuses_tokens_carrying_it_on_the_next_request(
    hub: Hub, client: httpx.AsyncClient, other_app: httpx.AsyncClient
) -> None:
    registered = await _register(hub, ("owner", "reader"))
    token = _token(hub, registered)
    assert (await _post(other_app, ME, token)).json()["data"]["me"]["roles"] == [
        "owner",
        "reader",
    ]

    async with hub.db.sessions.begin() as session:
        await update_client(session, registered.client_id, roles=["reader"])

    _assert_refused(await _post(other_app, ME, token), "lost roles")
    _assert_refused(await _post(client, ME, token), "lost roles")
    registered.roles = ["reader"]
    fresh = await _post(other_app, ME, _token(hub, registered))
    assert fresh.json()["data"]["me"]["roles"] == ["reader"]


async def test_token_narrowed_to_a_kept_role_stays_valid_after_a_role_change(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    registered = await _register(hub, ("owner", "reader"))
    reader_only = _token(hub, registered, ["reader"])

    async with hub.db.sessions.begin() as session:
        await update_client(session, registered.client_id, roles=["reader"])

    response = await _post(client, ME, reader_only)
    assert response.status_code == 200
    assert response.json()["data"]["me"]["roles"] == ["reader"]


async def test_added_role_keeps_existing_tokens_valid(hub: Hub, client: httpx.AsyncClient) -> None:
    registered = await _register(hub, ("reader",))
    token = _token(hub, registered)

    async with hub.db.sessions.begin() as session:
        await update_client(session, registered.client_id, roles=["reader", "owner"])

    response = await _post(client, ME, token)
    assert response.status_code == 200
    assert response.json()["data"]["me"]["roles"] == ["reader"]


async def test_agency_change_refuses_tokens_of_the_old_agency(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    registered = await _register(hub, ("reader",), agency="STNMT")
    token = _token(hub, registered)
    assert (await _post(client, ME, token)).status_code == 200

    async with hub.db.sessions.begin() as session:
        await update_client(session, registered.client_id, agency="SYT")

    _assert_refused(await _post(client, ME, token), "changed agency")


async def test_token_of_a_never_registered_client_is_refused(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    ghost = ApiClient(client_id="hub-ghost", name="ghost", agency_code="STNMT", roles=["owner"])

    _assert_refused(await _post(client, ME, _token(hub, ghost)), "not registered")


async def test_client_added_in_another_process_is_admitted_at_once(
    hub: Hub, client: httpx.AsyncClient
) -> None:
    # The app's snapshot predates the client: a refusal is confirmed on fresh counters first.
    registered = await _register(hub)

    response = await _post(client, ME, _token(hub, registered))

    assert response.status_code == 200
    assert response.json()["data"]["me"]["subject"] == registered.client_id


async def test_external_idp_principals_are_not_checked_against_the_registry(
    hub: Hub, settings: Settings
) -> None:
    # Revocation is the IdP's: its clients are not in api_clients at all.
    external = Hub(
        settings=settings.model_copy(update={"oidc_issuer": "https://idp.example"}),
        db=hub.db,
        keys=hub.keys,
    )
    services = Services(external)
    principal = Principal(
        subject="u1", agency="SYT", roles=frozenset({"owner"}), client_id="idp-app"
    )
    try:
        assert await services.admit(principal) is principal
    finally:
        await services.verifier.aclose()


async def test_unknown_role_in_update_is_refused_and_nothing_changes(
    hub: Hub, seeded: None
) -> None:
    registered = await _register(hub, ("reader",))

    with pytest.raises(InvalidInput, match="unknown role 'superuser'"):
        async with hub.db.sessions.begin() as session:
            await update_client(session, registered.client_id, roles=["reader", "superuser"])

    async with hub.db.sessions() as session:
        stored = await session.get(ApiClient, registered.client_id)
        assert stored is not None and stored.roles == ["reader"]


@pytest.mark.parametrize(
    "name", ["evil\x1b[2Jname", "line\nbreak", "bell\x07", "csi\u009b31m", "rtl\u202eexe.txt"]
)
async def test_client_name_with_control_characters_is_refused(
    hub: Hub, seeded: None, name: str
) -> None:
    with pytest.raises(InvalidInput, match=r"client name: control character U\+[0-9A-F]{4}"):
        async with hub.db.sessions.begin() as session:
            await add_client(session, name, "STNMT", ["reader"])

    async with hub.db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ApiClient)) == 0


async def test_client_name_is_stored_nfc_normalised(hub: Hub, seeded: None) -> None:
    decomposed = "So\u031b\u0309 Y te\u0302\u0301"  # "Sở Y tế" typed with combining marks

    client = await _register(hub, name=decomposed)

    assert client.name == "Sở Y tế"


# -- the command line (real processes) ----------------------------------------------------------


@pytest.fixture
def hub_cli(database_url: str, tmp_path: Path) -> Callable[..., Awaitable[Any]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_KEYS_FILE=str(tmp_path / "keys.json"),
        HUB_PUBLIC_URL="http://hub.test",
        COLUMNS="300",  # rich wraps tables to the terminal width
    )

    async def run(*args: str) -> subprocess.CompletedProcess[str]:
        return await asyncio.to_thread(
            subprocess.run,
            [HUB, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    return run


async def test_hub_clients_remove_in_another_process_bites_on_the_next_request(
    hub: Hub, client: httpx.AsyncClient, hub_cli: Callable[..., Awaitable[Any]]
) -> None:
    registered = await _register(hub)
    token = _token(hub, registered)
    assert (await _post(client, COMPILED, token)).status_code == 200

    removed = await hub_cli("clients", "remove", registered.client_id)

    assert removed.returncode == 0, removed.stderr
    assert removed.stdout.strip() == f"removed client {registered.client_id}"
    _assert_refused(await _post(client, COMPILED, token), "not registered")


async def test_hub_clients_roles_changes_roles_and_bites_on_the_next_request(
    hub: Hub, client: httpx.AsyncClient, hub_cli: Callable[..., Awaitable[Any]]
) -> None:
    registered = await _register(hub, ("owner", "reader"))
    token = _token(hub, registered)
    assert (await _post(client, ME, token)).status_code == 200

    changed = await hub_cli("clients", "roles", registered.client_id, "reader")

    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.strip() == f"client {registered.client_id} now has roles: reader"
    _assert_refused(await _post(client, ME, token), "lost roles")


async def test_hub_clients_roles_with_unknown_role_fails_in_one_line(
    hub: Hub, seeded: None, hub_cli: Callable[..., Awaitable[Any]]
) -> None:
    registered = await _register(hub, ("reader",))

    result = await hub_cli("clients", "roles", registered.client_id, "reader,root")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: client 'portal': unknown role 'root' (known: admin, owner, reader, steward)"
    )


async def test_hub_clients_add_refuses_a_name_with_escape_codes(
    hub: Hub, seeded: None, hub_cli: Callable[..., Awaitable[Any]], database_url: str
) -> None:
    result = await hub_cli("clients", "add", "app\x1b]0;pwned\x07", "--agency", "STNMT")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "Error: client name: control character U+001B at position 3 is not allowed"
    )
    assert await _count_clients(database_url) == 0


async def test_hub_clients_list_prints_escape_codes_in_names_inert(
    hub: Hub, seeded: None, hub_cli: Callable[..., Awaitable[Any]], database_url: str
) -> None:
    # A name stored before names were checked (or written by hand).
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        await conn.execute(
            "INSERT INTO api_clients (client_id, name, agency_code, roles, secret_hash) "
            "VALUES ('hub-old', $1, 'STNMT', '{reader}', 'x')",
            "old\x1b[2J\x1b[31mred\u009b1m[bold]x[/bold]",
        )
    finally:
        await conn.close()

    table = await hub_cli("clients", "list")
    as_json = await hub_cli("clients", "list", "--json")

    assert table.returncode == 0, table.stderr
    assert "\x1b" not in table.stdout and "\u009b" not in table.stdout
    assert "old\\x1b[2J\\x1b[31mred\\x9b1m[bold]x[/bold]" in table.stdout.replace("\n", "")
    assert as_json.returncode == 0, as_json.stderr
    assert "\x1b" not in as_json.stdout and "\u009b" not in as_json.stdout
    assert json.loads(as_json.stdout)[0]["name"] == "old\x1b[2J\x1b[31mred\u009b1m[bold]x[/bold]"


async def test_hub_clients_remove_echoes_an_unknown_id_escaped(
    seeded: None, hub_cli: Callable[..., Awaitable[Any]]
) -> None:
    result = await hub_cli("clients", "remove", "hub-\x1b[2Jgone")

    assert result.returncode == 1
    assert "\x1b" not in result.stderr
    assert result.stderr.strip() == "Error: client 'hub-\\x1b[2Jgone' does not exist"


async def _count_clients(database_url: str) -> int:
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM api_clients"))
    finally:
        await conn.close()
