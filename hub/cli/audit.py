"""``hub audit verify``: recompute the audit chain and name the first broken link."""

from __future__ import annotations

import click

from catalog.audit import ChainReport
from hub.cli import HubContext, pass_hub, run
from hub.settings import Settings


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command()
@pass_hub
def verify(ctx: HubContext) -> None:
    """Chain pending events, then recompute every hash; exit 1 at the first broken link."""
    report = run(_verify(ctx.settings))
    if not report.ok:
        click.echo(
            f"audit chain BROKEN at position {report.broken_at}: {report.reason} "
            f"({report.checked} events verified before it)",
            err=True,
        )
        raise SystemExit(1)
    click.echo(f"audit chain intact: {report.checked} events verified")


async def _verify(settings: Settings) -> ChainReport:
    from catalog.audit import chain_pending, verify_chain
    from hub.runtime import hub_session

    async with hub_session(settings) as hub:
        async with hub.db.sessions() as session:
            report = await verify_chain(session)
        if not report.ok:
            return report
        while True:
            async with hub.db.sessions.begin() as session:
                if await chain_pending(session) == 0:
                    break
        async with hub.db.sessions() as session:
            return await verify_chain(session)


COMMANDS = [audit]
