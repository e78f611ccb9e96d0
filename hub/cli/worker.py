"""``hub worker``: run scheduled connectors until stopped (see ``hub.worker``)."""

from __future__ import annotations

import asyncio
import os
import signal

import click

from hub.cli import HubContext, pass_hub, run
from hub.logs import configure_logging
from hub.settings import Settings


@click.command()
@click.option(
    "--once",
    is_flag=True,
    help="Take over stale runs, run what is due now, wait for those runs and exit. "
    "Default: poll every HUB_WORKER_POLL_SECONDS until SIGTERM or Ctrl-C.",
)
@pass_hub
def worker(ctx: HubContext, once: bool) -> None:
    """Run scheduled connectors; any number of workers may share one database."""
    settings = ctx.settings
    configure_logging(settings.log_level, settings.log_format)
    from hub.search.embedded import search_configured

    with search_configured(settings) as configured:
        started = run(_work(configured, once))
    if once:
        click.echo(f"connectors run: {', '.join(started) or 'none due'}")


async def _work(settings: Settings, once: bool) -> list[str]:
    from hub.backup_schedule import BackupSchedule
    from hub.embedded_postgres import to_libpq_url
    from hub.runtime import hub_session
    from hub.search.service import SearchService
    from hub.worker import Worker

    async with hub_session(settings) as hub:
        worker = Worker(
            hub.db.sessions,
            hub.keys.sealing_keys,
            dict(os.environ),  # connector files may name ${VAR}s of the worker's environment
            poll_seconds=settings.worker_poll_seconds,
            stale_seconds=settings.worker_stale_seconds,
            concurrency=settings.worker_concurrency,
            listen_url=to_libpq_url(hub.db.url),  # woken early when a connector is added
            # Scheduled backups when HUB_BACKUP_DIR is set; one worker takes each.
            backups=BackupSchedule.from_settings(settings, hub.db.url, hub.keys.backup_key),
        )
        if once:
            started = await worker.tick()
            await worker.drain()
            return started
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            # The first signal stops polling and abandons the runs in flight (their open
            # batch rolls back; the next worker runs them again); a kill is safe too.
            loop.add_signal_handler(signum, stop.set)
        # The search indexer drains the outbox beside the runs (HUB_SEARCH_INDEXER_IN_PROCESS).
        searching = SearchService(
            settings.model_copy(update={"search_reindex_at_start": False}), hub.db.sessions
        )
        await searching.start()
        try:
            await worker.run(stop)
        finally:
            await searching.stop()
        return []


COMMANDS = [worker]

__all__ = ["COMMANDS"]
