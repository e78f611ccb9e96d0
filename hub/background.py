"""Background tasks of a hub process: stopped together, each given the chance to finish its
cancellation (a task's own errors at that point are of no interest any more)."""

from __future__ import annotations

import asyncio
import contextlib


async def cancel_tasks(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel every task, wait for each, and empty the list."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    tasks.clear()


__all__ = ["cancel_tasks"]
