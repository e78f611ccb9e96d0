"""Helpers of the sync engine tests: a source table in the machine's PostgreSQL
(127.0.0.1:5432), a small dataset of the test's own, connectors added through the store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from sqlalchemy import text

from catalog.datasets import create_dataset
from catalog.indexes import ensure_indexes
from catalog.models import Dataset
from catalog.seed import SYSTEM
from catalog.specs import DatasetSpec, FieldSpec
from connectors.engine import RunOutcome, run_connector
from connectors.spec import parse_connector
from connectors.store import add_connector
from hub.runtime import Hub

SOURCE_DSN = "postgresql://root@127.0.0.1:5432/postgres"

ITEM_FIELDS = (
    FieldSpec("code", "string", True, "Mã", "PUBLIC", filterable=True),
    FieldSpec("name", "string", True, "Tên", "PUBLIC"),
    FieldSpec("amount", "int", False, "Số lượng", "PUBLIC"),
    FieldSpec("tax_code", "string", False, "Mã số thuế", "PUBLIC", "tax_code"),
)


async def make_dataset(
    hub: Hub, code: str, fields: Sequence[FieldSpec] = ITEM_FIELDS, key: str = "code"
) -> None:
    spec = DatasetSpec(
        code=code, title=f"Dữ liệu {code}", sector="test", key_field=key, fields=tuple(fields)
    )
    async with hub.db.sessions.begin() as session:
        dataset = await create_dataset(session, SYSTEM, spec, owner_code="SKHDT")
        dataset.status = "PUBLISHED"
        await session.flush()
        await ensure_indexes(session, dataset)


@asynccontextmanager
async def source_table(columns: str) -> AsyncIterator[tuple[asyncpg.Connection, str]]:
    """A fresh table in the machine's PostgreSQL, dropped afterwards."""
    name = f"sync_src_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(SOURCE_DSN)
    try:
        await conn.execute(f"CREATE TABLE {name} ({columns})")
        yield conn, name
    finally:
        await conn.execute(f"DROP TABLE IF EXISTS {name}")
        await conn.close()


def connector_toml(
    name: str,
    dataset: str,
    table: str,
    mapping: dict[str, str],
    *,
    cursor: str | None = None,
    soft_delete: str | None = None,
    batch_size: int = 1000,
) -> str:
    lines = [
        f'name = "{name}"',
        f'dataset = "{dataset}"',
        'kind = "postgres"',
        f"batch_size = {batch_size}",
    ]
    if soft_delete:
        lines.append(f'soft_delete = "{soft_delete}"')
    lines += ["[source]", f'dsn = "{SOURCE_DSN}"', f'table = "{table}"']
    if cursor:
        lines.append(f'cursor = "{cursor}"')
    lines.append("[mapping]")
    lines += [f'{field} = "{column}"' for field, column in mapping.items()]
    return "\n".join(lines) + "\n"


async def add(hub: Hub, toml: str, *, check_source: bool = True) -> None:
    spec = parse_connector(toml, fmt="toml", origin="test.toml")
    async with hub.db.sessions.begin() as session:
        await add_connector(
            session,
            hub.keys.sealing_keys(),
            spec,
            actor=None,
            environ={},
            check_source=check_source,
        )


async def sync(hub: Hub, name: str, **options: Any) -> RunOutcome:
    return await run_connector(hub.db.sessions, hub.keys.sealing_keys(), name, **options)


async def rows(hub: Hub, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with hub.db.sessions() as session:
        found = await session.execute(text(sql), params)
        return [dict(row._mapping) for row in found]


async def live(hub: Hub, dataset: str) -> dict[str, dict[str, Any]]:
    """The dataset's live records: key -> data."""
    found = await rows(
        hub,
        "SELECT key, data FROM records WHERE dataset_code = :d AND NOT deleted",
        d=dataset,
    )
    return {r["key"]: r["data"] for r in found}


async def get_dataset_row(hub: Hub, code: str) -> Dataset:
    async with hub.db.sessions() as session:
        dataset = await session.get(Dataset, code)
        assert dataset is not None
        return dataset
