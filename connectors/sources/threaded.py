"""Rows of a synchronous reader (a parsed file) taken a batch at a time in a worker thread, so
the event loop never waits on parsing and memory holds one batch."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Generator
from typing import Any, Self

from connectors.sources.base import SourceRow


async def batches_in_thread(
    rows: Generator[SourceRow, None, None], size: int
) -> AsyncIterator[list[SourceRow]]:
    """``rows`` in lists of at most ``size``; the generator is closed (its file with it) when
    the caller stops early."""
    try:
        while batch := await asyncio.to_thread(_take, rows, size):
            yield batch
    finally:
        with contextlib.suppress(ValueError):  # still running in a cancelled worker thread
            rows.close()


def _take(rows: Generator[SourceRow, None, None], size: int) -> list[SourceRow]:
    batch: list[SourceRow] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            break
    return batch


class FileSource:
    """What a file source adds to its ``_rows`` generator: batches read in a worker thread,
    and nothing to release (the generator closes its file)."""

    def _rows(self) -> Generator[SourceRow, None, None]:
        raise NotImplementedError

    async def batches(
        self, since: Any | None = None, size: int = 5000
    ) -> AsyncIterator[list[SourceRow]]:
        async for batch in batches_in_thread(self._rows(), size):
            yield batch

    async def aclose(self) -> None:
        return None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["FileSource", "batches_in_thread"]
