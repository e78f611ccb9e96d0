"""On a PostgreSQL server with ICU (the machine's, as most clusters), text orders by the
collation ``vi-x-icu`` (migration 0008, ``hub_state.text_order = 'icu'``): the same
Vietnamese order as the sort key of servers without ICU, read from an index on the text, with
nothing computed per returned row. The rest of the suite runs on the embedded server, which has
no ICU and keeps the sort key; this module runs the hub on the machine's server."""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from catalog.collation import vietnamese_sort_key
from catalog.models import Dataset
from catalog.record_sql import typed_value
from hub.db import Database
from hub.demo import generate
from hub.embedded_postgres import to_asyncpg_url
from hub.migrate import upgrade
from hub.runtime import Hub
from schema.records.keyset import Ordering
from tests.database_copies import database_copy, downgrade_to, migrated_template
from tests.records_fixtures import load_rows
from tests.vietnamese_names import (
    NAME_PAGE,
    NAMES,
    all_name_pages,
    load_named_businesses,
    name_order,
)

Gql = Callable[..., Awaitable[dict[str, Any]]]
MACHINE_SERVER = to_asyncpg_url("postgresql://postgres@127.0.0.1:5432/postgres")
_copies = itertools.count()


@pytest.fixture(scope="module")
async def icu_template() -> AsyncIterator[str]:
    """A database on the machine's server migrated to head (so with text_order 'icu')."""
    async with migrated_template(MACHINE_SERVER, "hub_icu_tpl") as name:
        yield name


@pytest.fixture
async def database_url(icu_template: str) -> AsyncIterator[str]:
    """This module's tests run on the machine's server: a fresh copy of the template each."""
    async with database_copy(MACHINE_SERVER, icu_template, "hub_icu_") as url:
        yield url


@pytest.fixture
async def named_businesses(hub: Hub, app: Any) -> list[dict[str, Any]]:
    return await load_named_businesses(hub, NAMES)


async def test_a_server_with_icu_orders_text_by_its_collation_indexes(
    database: Database, seeded: None
) -> None:
    async with database.sessions() as session:
        order = await session.scalar(text("SELECT text_order FROM hub_state WHERE id = 1"))
        rows = await session.execute(
            text(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename = 'records_business' AND indexdef LIKE '%vi-x-icu%'"
            )
        )
        icu = {r.indexname: r.indexdef for r in rows}
        keyed = await session.scalar(
            text("SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%hub_vi_sort_key%'")
        )
    assert order == "icu"
    assert {name.split("_")[3] for name in icu} >= {"name", "status"}, icu
    assert keyed == 0


@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_pages_ordered_by_name_follow_vietnamese_order(
    gql: Gql, named_businesses: list[dict[str, Any]], direction: str
) -> None:
    seen = await all_name_pages(gql, f"NAME_{direction}")
    expected = name_order(named_businesses, direction)
    assert seen == expected  # the order servers without ICU give, page after page
    names = [name for name, _ in seen]
    if direction == "ASC":
        assert names.index("Dương") < names.index("Đà Lạt") < names.index("Zeta")


async def test_a_cursor_value_continues_at_its_place_in_vietnamese_order(
    gql: Gql, named_businesses: list[dict[str, Any]]
) -> None:
    cursor = base64.b64encode(orjson.dumps(["name:ASC", "Đ", ""])).decode()
    body = await gql(NAME_PAGE, order="NAME_ASC", after=cursor)
    assert "errors" not in body, body
    names = [e["node"]["name"] for e in body["data"]["businessList"]["edges"]]
    assert names[0] == "Đà Lạt"
    assert all(vietnamese_sort_key(n) > vietnamese_sort_key("Đ") for n in names)


async def test_order_by_text_reads_the_icu_index_without_computing_keys(hub: Hub, app: Any) -> None:
    await load_rows(hub, "business", generate.businesses(3000, seed=5))
    async with hub.db.sessions() as session:
        business = await session.get(Dataset, "business")
        assert business is not None
        name = next(f for f in business.fields if f.name == "name")
        ordering = Ordering(
            typed_value("c", name),
            "c.key",
            "ASC",
            nullable=False,
            by_key=False,
            vietnamese=True,
            text_order="icu",
        )
        base = "SELECT c.key FROM records c WHERE c.dataset_code = 'business' AND NOT c.deleted"
        after = ordering.after("'Đà Lạt'", "'0100000000'", "text")
        later = f"{base} AND {after} ORDER BY {ordering.order_by} LIMIT 20"
        await session.execute(text("ANALYZE records"))
        rows = await session.execute(text("EXPLAIN (VERBOSE) " + later))
        plan = "\n".join(r[0] for r in rows)
    assert "ix_icu_business_name_" in plan and "Sort" not in plan, plan
    assert "Index Cond" in plan and "hub_vi_sort_key" not in plan, plan


async def _index_kinds(database: Database) -> tuple[int, int]:
    """(ICU indexes, sort key indexes) on the records partitions."""
    async with database.sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT count(*) FILTER (WHERE indexdef LIKE '%vi-x-icu%'),"
                    " count(*) FILTER (WHERE indexdef LIKE '%hub_vi_sort_key%')"
                    " FROM pg_indexes WHERE tablename LIKE 'records_%'"
                )
            )
        ).one()
    return int(row[0]), int(row[1])


async def test_the_migration_moves_published_fields_between_the_two_orders(
    database: Database, seeded: None
) -> None:
    icu, keyed = await _index_kinds(database)
    assert icu >= 3 and keyed == 0
    async with database.engine.begin() as conn:
        await conn.run_sync(downgrade_to, "0007")
    assert await _index_kinds(database) == (0, icu)  # the sort key index of each field again
    await upgrade(database.engine)
    assert await _index_kinds(database) == (icu, 0)
    async with database.sessions() as session:
        assert await session.scalar(text("SELECT text_order FROM hub_state")) == "icu"
