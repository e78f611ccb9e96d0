"""``hub sync run NAME``: run one connector now, with a live progress bar.

Exit 0 when the run SUCCEEDED (rows quarantined included: they are counted and kept);
non-zero with a one-line reason when it FAILED or the connector is already running.
"""

from __future__ import annotations

import json
import os
import socket

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from connectors.engine import RunOutcome, RunProgress, run_connector
from hub.cli import HubContext, pass_hub, run
from hub.runtime import hub_session
from hub.settings import Settings


@click.group()
def sync() -> None:
    """Run connectors (sources synced into datasets)."""


@sync.command("run")
@click.argument("name")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the run's outcome as one JSON object and no progress bar. Default: a "
    "progress bar, then a summary.",
)
@pass_hub
def run_(ctx: HubContext, name: str, as_json: bool) -> None:
    """Run connector NAME once: read its source, write what changed, report the counts."""
    console = Console(stderr=True)
    if as_json:
        outcome = run(_run(ctx.settings, name, None))
        click.echo(json.dumps(outcome.as_dict(), ensure_ascii=False))
    else:
        with Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as bar:
            task = bar.add_task(escape(name), total=None, counts="starting")

            def show(p: RunProgress) -> None:
                bar.update(task, counts=_counts_line(p), completed=p.read)

            outcome = run(_run(ctx.settings, name, show))
            _final(bar, task, outcome)
    if outcome.status != "SUCCEEDED":
        raise click.ClickException(
            f"run {outcome.run_id} of connector '{name}' failed: {outcome.error}"
        )
    if not as_json:
        console.print(_summary(outcome))


def _counts_line(p: RunProgress) -> str:
    rate = p.read / p.elapsed if p.elapsed > 0 else 0.0
    return (
        f"read {p.read:,} ({rate:,.0f} rows/s) · new {p.inserted:,} · changed {p.updated:,} "
        f"· unchanged {p.unchanged:,} · deleted {p.deleted:,} · quarantined {p.rejected:,}"
    )


def _final(bar: Progress, task: TaskID, outcome: RunOutcome) -> None:
    seconds = max(outcome.seconds, 1e-9)
    rate = outcome.read / seconds
    bar.update(
        task,
        counts=(
            f"read {outcome.read:,} ({rate:,.0f} rows/s) · new {outcome.inserted:,} · changed "
            f"{outcome.updated:,} · unchanged {outcome.unchanged:,} · deleted "
            f"{outcome.deleted:,} · quarantined {outcome.rejected:,}"
        ),
    )


def _summary(outcome: RunOutcome) -> str:
    lines = [
        f"run {outcome.run_id} {outcome.status} in {outcome.seconds:.1f}s: "
        f"{outcome.read:,} read, {outcome.inserted:,} new, {outcome.updated:,} changed, "
        f"{outcome.unchanged:,} unchanged, {outcome.deleted:,} deleted, "
        f"{outcome.rejected:,} quarantined"
    ]
    if outcome.unresolved or outcome.disagreeing:
        lines.append(
            f"reconciliation: {outcome.unresolved:,} references resolve to nothing, "
            f"{outcome.disagreeing:,} values disagree with master data"
        )
    return "\n".join(escape(line) for line in lines)


async def _run(settings: Settings, name: str, show: object) -> RunOutcome:
    async with hub_session(settings) as hub:
        return await run_connector(
            hub.db.sessions,
            hub.keys.sealing_keys(),
            name,
            trigger="manual",
            started_by=f"operator:{os.environ.get('USER', 'cli')}",
            environ=os.environ,
            progress=show if callable(show) else None,
            worker=f"{socket.gethostname()}:{os.getpid()}",
        )


COMMANDS = [sync]

__all__ = ["COMMANDS"]
