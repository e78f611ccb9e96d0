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
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from hub.search.client import open_search
from hub.settings import Settings

log = logging.getLogger(__name__)

# Seconds /readyz waits for the search server before calling it unavailable.
HEALTH_TIMEOUT_SECONDS = 2.0


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

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.close()
            self.client = None


__all__ = ["SearchService"]
