"""``hub db upgrade`` and ``hub seed``."""

from __future__ import annotations

import click

from hub.cli import HubContext, pass_hub, run
from hub.settings import Settings


@click.group()
def db() -> None:
    """Database schema management."""


@db.command()
@pass_hub
def upgrade(ctx: HubContext) -> None:
    """Apply migrations to the hub database (embedded or HUB_DATABASE_URL)."""
    revision = run(_upgrade(ctx.settings))
    click.echo(f"database at revision {revision}")


async def _upgrade(settings: Settings) -> str | None:
    from hub.migrate import current_revision
    from hub.runtime import hub_session

    async with hub_session(settings, migrate=True) as hub:
        return await current_revision(hub.db.engine)


@click.command()
@pass_hub
def seed(ctx: HubContext) -> None:
    """Load the baseline catalogue (agencies, five core datasets), idempotently."""
    agencies, created = run(_seed(ctx.settings))
    click.echo(f"{agencies} agencies; datasets created: {', '.join(created) or 'none (present)'}")


async def _seed(settings: Settings) -> tuple[int, list[str]]:
    from catalog.seed import seed_baseline
    from hub.runtime import hub_session

    async with hub_session(settings, migrate=True) as hub, hub.db.sessions.begin() as session:
        report = await seed_baseline(session)
    return report.agencies, report.datasets_created


COMMANDS = [db, seed]
