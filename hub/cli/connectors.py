"""``hub connectors add/list/show/remove``: connector definitions, managed by the operator.

Invariant: no secret of a connector reaches the terminal or the logs. ``show`` prints the
stored definition, where every secret source value is ``<secret>``; refusals at ``add`` name
the key, field or column at fault, never a value of ``[source]``.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from hub.cli import HubContext, pass_hub, run
from hub.cli.clients import printable
from hub.cli.connector_reports import findings, quarantine
from hub.settings import Settings

MAX_LIST = 1000
MAX_RUNS = 100
_COUNTS = ("read", "inserted", "updated", "unchanged", "deleted", "rejected")

_LAST_RUNS = """
SELECT DISTINCT ON (connector) connector, id, status, started_at, finished_at
FROM sync_runs WHERE connector = ANY(:names) ORDER BY connector, id DESC
"""
_RUNS = """
SELECT id, trigger, status, started_at, finished_at, read, inserted, updated, unchanged,
       deleted, rejected, error
FROM sync_runs WHERE connector = :name ORDER BY id DESC LIMIT :limit
"""


@click.group()
def connectors() -> None:
    """Manage connector definitions (sources synced into datasets)."""


@connectors.command("add")
@click.option(
    "--file",
    "path",
    required=True,
    type=click.Path(path_type=Path),
    help="Connector definition, TOML (or YAML for .yaml/.yml), as in DESIGN.md §7. Required.",
)
@click.option(
    "--no-check-source",
    is_flag=True,
    help="Store without opening the source to check its columns. Default: the source is "
    "opened and every mapped column must exist.",
)
@pass_hub
def add(ctx: HubContext, path: Path, no_check_source: bool) -> None:
    """Add a connector from its definition file (checked against the dataset and source)."""
    shown = run(_add(ctx.settings, path, check_source=not no_check_source))
    click.echo(
        f"added connector {printable(shown['name'])}: dataset {printable(shown['dataset'])}, "
        f"kind {shown['kind']}, schedule {printable(shown['schedule'] or 'manual only')}"
        + (f", first run due {shown['next_run_at']}" if shown["next_run_at"] else "")
    )


@connectors.command("list")
@click.option(
    "--limit",
    default=100,
    show_default=True,
    type=click.IntRange(1, MAX_LIST),
    help=f"Most connectors listed (at most {MAX_LIST}).",
)
@click.option("--after", default=None, help="List names after this one (the next page).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list. Default: a table.")
@pass_hub
def list_(ctx: HubContext, limit: int, after: str | None, as_json: bool) -> None:
    """List connectors by name with their last run."""
    rows, more = run(_list(ctx.settings, limit, after))
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=True))
        return
    table = Table()
    for heading in ("name", "dataset", "kind", "schedule", "last run", "at"):
        table.add_column(heading)
    for row in rows:
        last = row["last_run"]
        cells = (
            row["name"],
            row["dataset"],
            row["kind"],
            row["schedule"] or "manual",
            f"{last['status']} #{last['id']}" if last else "never",
            _short(last["started_at"]) if last else "",
        )
        table.add_row(*(escape(printable(cell)) for cell in cells))
    Console().print(table)
    if more:
        click.echo(f"more connectors follow: --after {rows[-1]['name']}", err=True)


@connectors.command("show")
@click.argument("name")
@click.option(
    "--runs",
    default=5,
    show_default=True,
    type=click.IntRange(0, MAX_RUNS),
    help=f"How many of its latest runs to show (at most {MAX_RUNS}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON. Default: readable text.")
@pass_hub
def show(ctx: HubContext, name: str, runs: int, as_json: bool) -> None:
    """Show a connector's definition (secrets as <secret>) and its latest runs."""
    shown = run(_show(ctx.settings, name, runs))
    if as_json:
        click.echo(json.dumps(shown, ensure_ascii=True))
        return
    console = Console(soft_wrap=True)  # long lines stay whole for grep and copy
    for key in ("name", "agency", "dataset", "kind", "schedule", "next_run_at", "created_by"):
        value = shown[key]
        console.print(f"{key}: {escape(printable(str(value) if value is not None else '-'))}")
    console.print("definition:")
    for line in json.dumps(shown["definition"], ensure_ascii=False, indent=2).splitlines():
        console.print(escape(printable(line)), highlight=False)
    if not shown["runs"]:
        console.print("runs: none yet")
        return
    console.print("latest runs:")
    for r in shown["runs"]:
        finished = f" to {_short(r['finished_at'])}" if r["finished_at"] else ""
        counts = ", ".join(f"{k} {r[k]}" for k in _COUNTS)
        line = f"  #{r['id']} {r['status']} ({r['trigger']}) {_short(r['started_at'])}{finished}"
        console.print(escape(printable(f"{line}: {counts}")), highlight=False)
        if r["error"]:
            console.print(escape(printable(f"    error: {r['error']}")), highlight=False)


@connectors.command("remove")
@click.argument("name")
@pass_hub
def remove(ctx: HubContext, name: str) -> None:
    """Remove a connector; its past runs, quarantined rows and findings stay as history."""
    run(_remove(ctx.settings, name))
    click.echo(f"removed connector {printable(name)}")


async def _add(settings: Settings, path: Path, *, check_source: bool) -> dict[str, Any]:
    from connectors.spec import read_connector_file
    from connectors.store import add_connector
    from hub.runtime import hub_session
    from hub.worker import wake_workers

    spec = await asyncio.to_thread(read_connector_file, path)
    async with hub_session(settings) as hub, hub.db.sessions.begin() as session:
        row = await add_connector(
            session,
            hub.keys.sealing_keys(),
            spec,
            actor=None,
            environ=os.environ,  # ${VAR} in [source] expand from the operator's environment
            check_source=check_source,
        )
        await wake_workers(session, row.name)  # a scheduled one is due now
        return {
            "name": row.name,
            "dataset": row.dataset_code,
            "kind": row.kind,
            "schedule": row.schedule,
            "next_run_at": _iso(row.next_run_at),
        }


async def _list(
    settings: Settings, limit: int, after: str | None
) -> tuple[list[dict[str, Any]], bool]:
    from connectors.store import list_connectors
    from hub.runtime import hub_session

    async with hub_session(settings) as hub, hub.db.sessions() as session:
        rows = await list_connectors(session, limit=limit + 1, after=after)
        more = len(rows) > limit
        rows = rows[:limit]
        last = await _last_runs(session, [r.name for r in rows])
    listed = [
        {
            "name": r.name,
            "agency": r.agency_code,
            "dataset": r.dataset_code,
            "kind": r.kind,
            "schedule": r.schedule,
            "next_run_at": _iso(r.next_run_at),
            "last_run": last.get(r.name),
        }
        for r in rows
    ]
    return listed, more


async def _last_runs(session: AsyncSession, names: list[str]) -> dict[str, dict[str, Any]]:
    if not names:
        return {}
    result = await session.execute(text(_LAST_RUNS), {"names": names})
    return {
        connector: {
            "id": run_id,
            "status": status,
            "started_at": _iso(started),
            "finished_at": _iso(finished),
        }
        for connector, run_id, status, started, finished in result
    }


async def _show(settings: Settings, name: str, runs: int) -> dict[str, Any]:
    from catalog.errors import NotFound
    from catalog.sync_models import Connector
    from connectors.store import shown_definition
    from hub.runtime import hub_session

    async with hub_session(settings) as hub, hub.db.sessions() as session:
        row = await session.get(Connector, name)
        if row is None:
            raise NotFound(f"connector '{name}' does not exist")
        result = await session.execute(text(_RUNS), {"name": name, "limit": runs})
        latest = [
            {
                **dict(r._mapping),
                "started_at": _iso(r.started_at),
                "finished_at": _iso(r.finished_at),
            }
            for r in result
        ]
        return {
            "name": row.name,
            "agency": row.agency_code,
            "dataset": row.dataset_code,
            "kind": row.kind,
            "schedule": row.schedule,
            "next_run_at": _iso(row.next_run_at),
            "created_by": row.created_by,
            "definition": shown_definition(row),
            "runs": latest,
        }


async def _remove(settings: Settings, name: str) -> None:
    from connectors.store import remove_connector
    from hub.runtime import hub_session

    async with hub_session(settings) as hub, hub.db.sessions.begin() as session:
        await remove_connector(session, name, actor=None)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _short(iso: str) -> str:
    return iso[:16].replace("T", " ")


connectors.add_command(quarantine)
connectors.add_command(findings)

COMMANDS = [connectors]

__all__ = ["COMMANDS"]
