"""``hub connectors quarantine NAME`` and ``hub connectors findings NAME``: what a run set
aside, for the operator. A run's quarantined rows (position, reason, the row as the source
sent it) and its reconciliation report (totals per field, then the findings), a bounded page
at a time. Stored text reaches the terminal escaped only."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from hub.cli import HubContext, pass_hub, run
from hub.cli.clients import printable
from hub.settings import Settings

MAX_PAGE = 1000

_run_option = click.option(
    "--run",
    "run_id",
    type=click.IntRange(1),
    default=None,
    help="The run's id (see 'hub connectors show'). Default: the connector's latest run.",
)
_limit_option = click.option(
    "--limit",
    default=50,
    show_default=True,
    type=click.IntRange(1, MAX_PAGE),
    help=f"Most entries printed (at most {MAX_PAGE}).",
)
_after_option = click.option(
    "--after",
    type=click.IntRange(0),
    default=None,
    help="Print entries after this entry id (the next page; ids are printed with --json).",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON. Default: text.")


@click.command("quarantine")
@click.argument("name")
@_run_option
@_limit_option
@_after_option
@_json_option
@pass_hub
def quarantine(
    ctx: HubContext, name: str, run_id: int | None, limit: int, after: int | None, as_json: bool
) -> None:
    """Print the rows a run quarantined: where the source holds them, why, and the row."""
    report = run(_quarantine(ctx.settings, name, run_id, limit, after))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=True))
        return
    console = Console(soft_wrap=True)
    console.print(f"run {report['run']}: {report['rejected']} row(s) quarantined")
    for row in report["rows"]:
        console.print(escape(printable(f"{row['position']}: {row['reason']}")), highlight=False)
        values = json.dumps(row["row"], ensure_ascii=False)
        console.print(escape(printable(f"    {values}")), highlight=False)
    if report["more"]:
        click.echo(f"more rows follow: --after {report['rows'][-1]['id']}", err=True)


@click.command("findings")
@click.argument("name")
@_run_option
@_limit_option
@_after_option
@_json_option
@pass_hub
def findings(
    ctx: HubContext, name: str, run_id: int | None, limit: int, after: int | None, as_json: bool
) -> None:
    """Print a run's reconciliation report: totals per field, then the findings."""
    report = run(_findings(ctx.settings, name, run_id, limit, after))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=True))
        return
    console = Console(soft_wrap=True)
    console.print(
        f"run {report['run']}: {report['unresolved']} unresolved reference(s), "
        f"{report['disagreeing']} value(s) disagreeing with master data"
    )
    for total in report["totals"]:
        line = (
            f"  {total['field']}: {total['count']} {total['kind']} (against {total['authority']})"
        )
        console.print(escape(printable(line)), highlight=False)
    for finding in report["findings"]:
        line = f"{finding['key']}: {finding['field']} {finding['kind']} value {finding['value']}"
        console.print(escape(printable(line)), highlight=False)
    if report["more"]:
        click.echo(f"more findings follow: --after {report['findings'][-1]['id']}", err=True)


async def _quarantine(
    settings: Settings, name: str, run_id: int | None, limit: int, after: int | None
) -> dict[str, Any]:
    from hub.runtime import hub_session
    from schema.connectors.queries import quarantine_page

    async with hub_session(settings) as hub, hub.db.sessions() as session:
        chosen = await _chosen_run(session, name, run_id)
        rows, more = await quarantine_page(session, chosen.id, limit, after)
        return {
            "run": chosen.id,
            "rejected": chosen.rejected,
            "rows": [
                {"id": r.id, "position": r.position, "reason": r.reason, "row": r.row} for r in rows
            ],
            "more": more,
        }


async def _findings(
    settings: Settings, name: str, run_id: int | None, limit: int, after: int | None
) -> dict[str, Any]:
    from hub.runtime import hub_session
    from schema.connectors.queries import findings_page, findings_totals

    async with hub_session(settings) as hub, hub.db.sessions() as session:
        chosen = await _chosen_run(session, name, run_id)
        rows, more = await findings_page(session, chosen.id, limit, after)
        return {
            "run": chosen.id,
            "unresolved": chosen.unresolved,
            "disagreeing": chosen.disagreeing,
            "totals": await findings_totals(session, chosen.id),
            "findings": [
                {
                    "id": r.id,
                    "field": r.field,
                    "kind": r.kind,
                    "authority": r.authority,
                    "key": r.key,
                    "value": r.value,
                }
                for r in rows
            ],
            "more": more,
        }


async def _chosen_run(session: Any, name: str, run_id: int | None) -> Any:
    """The named run of connector ``name``, or its latest; NotFound naming what is missing."""
    from catalog.errors import NotFound
    from schema.connectors.queries import list_runs, run_by_id

    if run_id is None:
        latest, _ = await list_runs(session, name, 1, None)
        if not latest:
            raise NotFound(f"connector '{name}' has no runs")
        return latest[0]
    chosen = await run_by_id(session, run_id)
    if chosen is None or chosen.connector != name:
        raise NotFound(f"connector '{name}' has no run {run_id}")
    return chosen


__all__ = ["findings", "quarantine"]
