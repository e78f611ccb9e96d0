"""``hub search reindex [DATASET]``: rebuild the search index from PostgreSQL.

Each dataset is copied into a new index while searches keep using the old one, which the
alias then leaves atomically (``hub.search.reindex``). Exit 0 when done; 1 with one line
for an unknown or unpublished dataset or an unreachable search server.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from hub.cli import HubContext, pass_hub, run
from hub.settings import Settings


@click.group()
def search() -> None:
    """Search index management (OpenSearch, or the embedded search server)."""


@search.command()
@click.argument("dataset", required=False)
@pass_hub
def reindex(ctx: HubContext, dataset: str | None) -> None:
    """Rebuild the search index from PostgreSQL: DATASET's records, or (without DATASET) the
    catalogue and every published dataset."""
    from hub.logs import configure_logging
    from hub.search.embedded import search_configured

    settings = ctx.settings
    # Warnings only: the bar reports progress, and info lines would tear it.
    configure_logging("WARNING", settings.log_format)
    console = Console(stderr=True)
    with (
        search_configured(settings) as configured,
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
        ) as bar,
    ):
        counts, retried = run(_reindex(configured, dataset, bar))
    total = sum(counts.values())
    click.echo(f"reindexed {len(counts)} index(es), {total:,} documents")
    if retried:
        click.echo(f"{retried:,} entries the index had refused are due again")


async def _reindex(
    settings: Settings, dataset: str | None, bar: Progress
) -> tuple[dict[str, int], int]:
    """Documents per index rebuilt, and the parked outbox entries of the rebuilt datasets
    made due again (the cause may be what the rebuild fixed)."""
    from catalog.errors import InvalidInput, NotFound
    from hub.runtime import hub_session
    from hub.search.client import is_unavailable, open_search
    from hub.search.documents import has_record_index
    from hub.search.outbox import retry_parked
    from hub.search.reindex import (
        count_records,
        indexed_datasets,
        load_dataset,
        reindex_catalogue,
        reindex_dataset,
    )

    async with hub_session(settings) as hub:
        sessions = hub.db.sessions
        if dataset is not None:
            async with sessions() as session:
                found = await load_dataset(session, dataset)
            if found is None:
                raise NotFound(f"dataset '{dataset}' does not exist")
            if not has_record_index(found):
                raise InvalidInput(
                    f"dataset '{dataset}' is {found.status}: its records are indexed once "
                    "it is published"
                )
        client = open_search(settings)
        try:
            counts: dict[str, int] = {}
            if dataset is None:
                counts["(catalogue)"] = await reindex_catalogue(
                    sessions, client, settings.search_index_prefix
                )
            for code in [dataset] if dataset else await indexed_datasets(sessions):
                total = await count_records(sessions, code)
                task = bar.add_task(escape(code), total=max(total, 1), rate="")
                counts[code] = await reindex_dataset(
                    sessions,
                    client,
                    settings.search_index_prefix,
                    code,
                    _progress(bar, task),
                )
                bar.update(task, completed=max(total, 1))
            async with sessions.begin() as session:
                retried = await retry_parked(session, [dataset] if dataset else None)
            return counts, retried
        except Exception as error:
            if is_unavailable(error):
                raise click.ClickException(
                    f"search server at {settings.opensearch_url} cannot be reached; "
                    "check HUB_OPENSEARCH_URL and try again"
                ) from None
            raise
        finally:
            await client.close()


def _progress(bar: Progress, task: TaskID) -> Callable[[int], None]:
    started = time.monotonic()

    def show(done: int) -> None:
        elapsed = time.monotonic() - started
        rate = f"{done / elapsed:,.0f} docs/s" if elapsed > 0 else ""
        bar.update(task, completed=done, rate=rate)

    return show


COMMANDS = [search]

__all__ = ["COMMANDS"]
