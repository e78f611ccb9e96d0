"""Dataloaders of connectors: fresh per request, a short session per batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiodataloader import DataLoader

from catalog.sync_models import SyncRun
from schema.connectors.queries import last_runs

if TYPE_CHECKING:
    from schema.context import Context


class LastRunByConnectorLoader(DataLoader[str, SyncRun | None]):
    def __init__(self, context: Context) -> None:
        super().__init__()
        self.sessions = context.sessions

    async def batch_load_fn(self, keys: Sequence[str]) -> list[SyncRun | None]:
        async with self.sessions() as session:
            by_name = await last_runs(session, list(keys))
        return [by_name.get(k) for k in keys]


def last_run_loader(context: Context) -> LastRunByConnectorLoader:
    loader: LastRunByConnectorLoader = context.loader(
        "last_run_by_connector", LastRunByConnectorLoader
    )
    return loader


__all__ = ["last_run_loader"]
