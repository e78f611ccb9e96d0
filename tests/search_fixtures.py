"""Fixtures for tests that talk to the search server: a real osmem-server through opensearch-py.

The osmem plugin starts one server per session (``osmem_server``) and gives each test a clone
of it (``osmem_clone``): an empty cluster of its own on its own port, closed afterwards.

- ``search_settings``: the test hub's settings pointing at that clone, with a prefix of its
  own, the indexer *not* in process (tests drain the outbox themselves with ``index_outbox``,
  so what is indexed when is deterministic) and no reindex at start.
- ``search_client``: an AsyncOpenSearch on the clone.
- ``search_hub`` / ``search_app`` / ``search_http``: the hub, the running app and an httpx
  client on it, with search configured (``services.search`` is the client).
- ``index_outbox``: drains ``search_outbox`` into the clone and refreshes, returning the
  number of entries handled.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
from opensearchpy import AsyncOpenSearch
from starlette.applications import Starlette

from catalog.datasets import create_dataset, publish_dataset, submit_dataset
from catalog.models import Dataset
from catalog.principal import Principal
from catalog.records import write_records
from catalog.specs import DatasetSpec, FieldSpec
from hub.app import create_app
from hub.db import Database
from hub.keys import KeyStore
from hub.runtime import Hub
from hub.search.client import open_search
from hub.search.indexer import Indexer
from hub.search.outbox import backlog
from hub.settings import Settings


@pytest.fixture
def search_url(osmem_clone: Any) -> str:
    """URL of an empty search cluster for this test."""
    return str(osmem_clone.url)


@pytest.fixture
def search_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}-"


@pytest.fixture
def search_settings(settings: Settings, search_url: str, search_prefix: str) -> Settings:
    return settings.model_copy(
        update={
            "opensearch_url": search_url,
            "search_index_prefix": search_prefix,
            "search_indexer_in_process": False,
            "search_reindex_at_start": False,
            "search_poll_seconds": 0.05,
        }
    )


@pytest.fixture
async def search_client(search_settings: Settings) -> AsyncIterator[AsyncOpenSearch]:
    client = open_search(search_settings)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
def search_hub(search_settings: Settings, database: Database, keys: KeyStore) -> Hub:
    return Hub(settings=search_settings, db=database, keys=keys)


@pytest.fixture
async def search_app(search_hub: Hub, seeded: None) -> AsyncIterator[Starlette]:
    """The real app with search configured, lifespan running."""
    application = create_app(search_hub.settings, search_hub)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def search_http(search_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=search_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        yield http


@pytest.fixture
def index_outbox(
    database: Database, search_client: AsyncOpenSearch, search_settings: Settings
) -> Callable[[], Awaitable[int]]:
    """Drain the outbox into the test's cluster now; the entries handled."""

    async def drain() -> int:
        indexer = Indexer(database.sessions, search_client, search_settings)
        handled = await indexer.drain()
        await search_client.indices.refresh(index=f"{search_settings.search_index_prefix}*")
        return handled

    return drain


# -- a dataset with every kind of field --------------------------------------------------------

PLACE = "place"
# The owner agency's head, also a steward: may create, submit, publish, revise and correct.
OWNER = Principal(
    subject="test:stnmt", agency="STNMT", roles=frozenset({"owner", "steward", "admin"})
)
PLACE_SPEC = DatasetSpec(
    code=PLACE,
    title="Địa danh thử nghiệm",
    description="Địa danh, đất đai và ghi chú dùng cho các bài kiểm thử tìm kiếm.",
    sector="dat-dai",
    key_field="place_id",
    sensitivity="INTERNAL",
    fields=(
        FieldSpec("place_id", "string", True, "Mã địa danh", "INTERNAL", filterable=True),
        FieldSpec("name", "string", True, "Tên địa danh", "PUBLIC", searchable=True),
        FieldSpec("note", "string", False, "Ghi chú", "INTERNAL", searchable=True),
        FieldSpec("kind", "enum", False, "Loại", "PUBLIC", filterable=True, enum_values=("A", "B")),
        FieldSpec("visitors", "int", False, "Lượt khách", "PUBLIC", filterable=True),
        FieldSpec("area", "decimal", False, "Diện tích", "PUBLIC", filterable=True),
        FieldSpec("founded", "date", False, "Ngày thành lập", "PUBLIC", filterable=True),
        FieldSpec("checked_at", "datetime", False, "Kiểm tra lúc", "PUBLIC"),
        FieldSpec("open", "bool", False, "Đang mở", "PUBLIC"),
        FieldSpec("phone", "string", False, "Điện thoại", "INTERNAL", "phone", encrypted=True),
        FieldSpec("secret", "string", False, "Ghi chú mật", "RESTRICTED", searchable=True),
    ),
)


async def create_place(database: Database, *, publish: bool = True) -> None:
    """The ``place`` dataset, owned by STNMT (published unless asked otherwise)."""
    async with database.sessions.begin() as session:
        dataset = await create_dataset(session, OWNER, PLACE_SPEC, owner_code="STNMT")
        if publish:
            await submit_dataset(session, OWNER, PLACE)
            await publish_dataset(session, OWNER, PLACE)
        await session.flush()
        assert dataset.code == PLACE


@pytest.fixture
async def place(database: Database, seeded: None) -> None:
    """The ``place`` dataset, published, on the test database."""
    await create_place(database)


def place_row(key: str, name: str, **values: Any) -> dict[str, Any]:
    """A ``place`` row: its key and name, and any other values."""
    return {"place_id": key, "name": name, **values}


async def outbox_backlog(database: Database) -> int:
    """Entries waiting in ``search_outbox``, as the hub counts them."""
    async with database.sessions() as session:
        return await backlog(session)


async def write_places(database: Database, keys: KeyStore, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` to ``place`` as the sync engine does (outbox rows included)."""
    async with database.sessions.begin() as session:
        dataset = await session.get(Dataset, PLACE)
        assert dataset is not None
        await write_records(
            session, dataset, rows, source="test", keys=keys.sealing_keys(), outbox=True
        )
