"""Dataloaders of the catalogue: one per key, fresh per request, a short session per batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiodataloader import DataLoader
from sqlalchemy import select

from catalog.models import Agency, Dataset

if TYPE_CHECKING:
    from schema.context import Context


class AgencyByCodeLoader(DataLoader[str, Agency | None]):
    def __init__(self, context: Context) -> None:
        super().__init__()
        self.sessions = context.sessions

    async def batch_load_fn(self, keys: Sequence[str]) -> list[Agency | None]:
        async with self.sessions() as session:
            rows = await session.scalars(select(Agency).where(Agency.code.in_(keys)))
            by_code = {row.code: row for row in rows}
        return [by_code.get(k) for k in keys]


class DatasetByCodeLoader(DataLoader[str, Dataset | None]):
    def __init__(self, context: Context) -> None:
        super().__init__()
        self.sessions = context.sessions

    async def batch_load_fn(self, keys: Sequence[str]) -> list[Dataset | None]:
        async with self.sessions() as session:
            rows = await session.scalars(select(Dataset).where(Dataset.code.in_(keys)))
            by_code = {row.code: row for row in rows}
        return [by_code.get(k) for k in keys]


class DatasetsByOwnerLoader(DataLoader[str, list[Dataset]]):
    def __init__(self, context: Context) -> None:
        super().__init__()
        self.sessions = context.sessions

    async def batch_load_fn(self, keys: Sequence[str]) -> list[list[Dataset]]:
        grouped: dict[str, list[Dataset]] = defaultdict(list)
        async with self.sessions() as session:
            rows = await session.scalars(
                select(Dataset).where(Dataset.owner_code.in_(keys)).order_by(Dataset.code)
            )
            for row in rows:
                grouped[row.owner_code].append(row)
        return [grouped.get(k, []) for k in keys]


def agency_loader(context: Context) -> AgencyByCodeLoader:
    loader: AgencyByCodeLoader = context.loader("agency_by_code", AgencyByCodeLoader)
    return loader


def dataset_loader(context: Context) -> DatasetByCodeLoader:
    loader: DatasetByCodeLoader = context.loader("dataset_by_code", DatasetByCodeLoader)
    return loader


def datasets_by_owner_loader(context: Context) -> DatasetsByOwnerLoader:
    loader: DatasetsByOwnerLoader = context.loader("datasets_by_owner", DatasetsByOwnerLoader)
    return loader


__all__ = ["agency_loader", "dataset_loader", "datasets_by_owner_loader"]
