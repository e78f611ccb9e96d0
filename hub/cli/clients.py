"""``hub clients add/list/roles/remove`` and ``hub token``: the embedded issuer's clients and
tokens.

Invariant: a client secret is printed once, by ``add``; nothing else can show it again. Names
reach the terminal only escaped: stored text never runs as a terminal escape code.
"""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from catalog.errors import Unauthenticated
from catalog.models import ApiClient
from hub.auth.clients import (
    add_client,
    authenticate_client,
    list_clients,
    remove_client,
    update_client,
)
from hub.auth.issuer import issue_token
from hub.cli import HubContext, pass_hub, run
from hub.runtime import hub_session
from hub.settings import Settings


@click.group()
def clients() -> None:
    """Manage the clients of the embedded token issuer."""


@clients.command("add")
@click.argument("name")
@click.option(
    "--agency",
    required=True,
    help="Code of the agency the client acts for (must exist in the catalogue). Required.",
)
@click.option(
    "--roles",
    default="",
    show_default=False,
    help="Comma-separated roles: reader, owner, steward, admin. Default: none (the client "
    "still reads what every authenticated agency may).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help='Print only {"client_id": …, "client_secret": …} as JSON. Default: readable text.',
)
@pass_hub
def add(ctx: HubContext, name: str, agency: str, roles: str, as_json: bool) -> None:
    """Register a client; prints its id and secret once."""
    client_id, secret = run(_add(ctx.settings, name, agency, _role_list(roles)))
    if as_json:
        click.echo(json.dumps({"client_id": client_id, "client_secret": secret}))
        return
    click.echo(f"client id:     {client_id}")
    click.echo(f"client secret: {secret}")
    click.echo("The secret is shown only now; store it where the client can read it.", err=True)


@clients.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list. Default: a table.")
@pass_hub
def list_(ctx: HubContext, as_json: bool) -> None:
    """List the registered clients (at most 1000), oldest first."""
    rows = run(_list(ctx.settings))
    if as_json:
        click.echo(_terminal_safe_json(rows))
        return
    table = Table()
    # The id is what operators copy into other commands: never cut it short.
    table.add_column("id", no_wrap=True, min_width=20)
    for heading in ("name", "agency", "roles", "created"):
        table.add_column(heading)
    for row in rows:
        created = row["created"][:16].replace("T", " ")
        # Names stored before names were checked may hold escape codes: print them inert.
        cells = (row["client_id"], row["name"], row["agency"], ", ".join(row["roles"]), created)
        table.add_row(*(escape(printable(cell)) for cell in cells))
    Console().print(table)


@clients.command("roles")
@click.argument("client_id")
@click.argument("roles")
@pass_hub
def roles_(ctx: HubContext, client_id: str, roles: str) -> None:
    """Set a client's roles (comma-separated; "" for none). Its tokens that carry a removed
    role are refused from the next request on, in every hub process."""
    granted = run(_update(ctx.settings, client_id, _role_list(roles)))
    click.echo(f"client {printable(client_id)} now has roles: {', '.join(granted) or '(none)'}")


@clients.command("remove")
@click.argument("client_id")
@pass_hub
def remove(ctx: HubContext, client_id: str) -> None:
    """Remove a client; its tokens are refused from the next request on, in every hub process."""
    run(_remove(ctx.settings, client_id))
    click.echo(f"removed client {printable(client_id)}")


@click.command()
@click.option("--client-id", required=True, help="Id printed by 'hub clients add'. Required.")
@click.option(
    "--client-secret",
    prompt=True,
    hide_input=True,
    help="The client's secret. Default: prompted for, so it stays out of the shell history.",
)
@pass_hub
def token(ctx: HubContext, client_id: str, client_secret: str) -> None:
    """Print an access token from the embedded issuer."""
    settings = ctx.settings
    if not settings.uses_embedded_issuer:
        raise click.ClickException(
            "HUB_OIDC_ISSUER is set, so the embedded issuer is off; get a token from that IdP"
        )
    click.echo(run(_token(settings, client_id, client_secret)))


async def _add(settings: Settings, name: str, agency: str, roles: list[str]) -> tuple[str, str]:
    async with hub_session(settings) as hub, hub.db.sessions() as session, session.begin():
        client, secret = await add_client(session, name, agency, roles)
        return client.client_id, secret


async def _list(settings: Settings) -> list[dict[str, Any]]:
    async with hub_session(settings) as hub, hub.db.sessions() as session:
        return [_row(c) for c in await list_clients(session)]


async def _update(settings: Settings, client_id: str, roles: list[str]) -> list[str]:
    async with hub_session(settings) as hub, hub.db.sessions() as session, session.begin():
        client = await update_client(session, client_id, roles=roles)
        return list(client.roles)


async def _remove(settings: Settings, client_id: str) -> None:
    async with hub_session(settings) as hub, hub.db.sessions() as session, session.begin():
        await remove_client(session, client_id)


async def _token(settings: Settings, client_id: str, secret: str) -> str:
    async with hub_session(settings) as hub:
        async with hub.db.sessions() as session:
            client = await authenticate_client(session, client_id, secret)
        if client is None:
            raise Unauthenticated(f"client {client_id!r}: unknown client id or wrong secret")
        access_token, _ = issue_token(settings, hub.keys, client)
        return access_token


def printable(text: str) -> str:
    """``text`` with control and format characters shown as ``\\x1b``-style escapes, so no
    stored byte is ever interpreted by the terminal."""
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _terminal_safe_json(value: Any) -> str:
    """JSON with every non-printable character as a ``\\uXXXX`` escape (``json`` leaves C1
    controls such as U+009B CSI and bidi overrides raw when ``ensure_ascii`` is off)."""
    text = json.dumps(value, ensure_ascii=False)
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else json.dumps(ch, ensure_ascii=True)[1:-1] for ch in text
    )


def _role_list(roles: str) -> list[str]:
    return [r.strip() for r in roles.split(",") if r.strip()]


def _row(client: ApiClient) -> dict[str, Any]:
    return {
        "client_id": client.client_id,
        "name": client.name,
        "agency": client.agency_code,
        "roles": list(client.roles),
        "created": client.created_at.isoformat(timespec="seconds"),
    }


COMMANDS = [clients, token]

__all__ = ["COMMANDS"]
