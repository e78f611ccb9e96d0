"""Search in a running hub process: the client, the outbox indexer, the reindex at start, and
the health ``/readyz`` reports.

Search is optional to a running hub: with no OpenSearch URL there is no client (searches
answer SEARCH_UNAVAILABLE), and an unreachable server never stops record queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from opensearchpy import AsyncOpenSearch
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.background import cancel_tasks
from hub.search.client import is_unavailable, open_search
from hub.settings import Settings

log = logging.getLogger(__name__)

# Seconds /readyz waits for the search server before calling it unavailable.
HEALTH_TIMEOUT_SECONDS = 2.0
_START_LOCK = "SELECT pg_try_advisory_xact_lock(hashtext('hub-search-reindex-at-start'))"


class SearchService:
    """Owns one process's search client and background indexing tasks."""

    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.settings = settings
        self.sessions = sessions
        self.prefix = settings.search_index_prefix
        self.client: AsyncOpenSearch | None = None
        self._tasks: list[asyncio.Task[Any]] = []

    async def start(self) -> None:
        """Open the client (when a URL is configured) and start the indexer and, if asked,
        a reindex in the background: the hub serves at once."""
        if self.settings.opensearch_url is None:
            return
        self.client = open_search(self.settings)
        if self.settings.search_indexer_in_process:
            from hub.search.indexer import Indexer

            indexer = Indexer(self.sessions, self.client, self.settings)
            self._tasks.append(asyncio.create_task(indexer.run(), name="hub-search-indexer"))
        if self.settings.reindexes_search_at_start:
            self._tasks.append(asyncio.create_task(self._reindex(), name="hub-search-reindex"))

    async def stop(self) -> None:
        await cancel_tasks(self._tasks)
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None

    async def health(self) -> dict[str, Any]:
        """``{"status": "ok" | "unavailable" | "off", "backlog": <outbox entries>}``."""
        from hub.search.outbox import backlog

        report: dict[str, Any] = {}
        try:
            async with self.sessions() as session:
                report["backlog"] = await backlog(session)
        except Exception:  # the database's own health is reported beside this
            report["backlog"] = None
        if self.client is None:
            report["status"] = "off"
            return report
        try:
            async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
                answered = await self.client.ping()  # HEAD /: no cluster privileges needed
        except Exception as error:
            if not (is_unavailable(error) or isinstance(error, TimeoutError)):
                log.warning("search health check failed (%s)", type(error).__name__)
            answered = False
        report["status"] = "ok" if answered else "unavailable"
        return report

    async def _reindex(self) -> None:
        """Rebuild everything from PostgreSQL once the server answers (DESIGN.md §8: the
        embedded server keeps nothing across restarts); retried with back-off."""
        from hub.search.reindex import reindex_all

        assert self.client is not None
        delay = 0.5
        while True:
            try:
                async with self.sessions.begin() as session:
                    # Several `hub serve --workers` processes start together: one rebuilds.
                    if not await session.scalar(text(_START_LOCK)):
                        return
                    counts = await reindex_all(self.sessions, self.client, self.prefix)
                log.info("search: reindexed %d datasets at start", len(counts) - 1)
                return
            except asyncio.CancelledError:
                raise
            except Exception as error:
                if not is_unavailable(error):
                    log.exception("search reindex at start failed; run `hub search reindex`")
                    return
                log.warning("search unavailable at start; reindexing in %.0fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


__all__ = ["SearchService"]
