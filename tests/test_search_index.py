"""Indices, mappings and documents against a real osmem-server: Vietnamese text is found
with or without diacritics (and with đ), decomposed input matches once NFC-normalised, exact
diacritics rank first, and a reindex swaps the alias without a moment of missing results."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from opensearchpy import AsyncOpenSearch

from catalog.models import Dataset, DatasetField
from hub.db import Database
from hub.keys import KeyStore
from hub.search.documents import (
    catalogue_document,
    indexable_fields,
    nfc,
    record_document,
    record_mapping,
)
from hub.search.names import catalogue_alias, generation_of, record_alias
from hub.search.reindex import reindex_catalogue, reindex_dataset
from hub.settings import Settings
from tests.search_fixtures import PLACE, create_place, write_places

Drain = Callable[[], Awaitable[int]]

NAMES = {
    "p1": "Tỉnh Quảng Ngãi",
    "p2": "Quy hoạch đất đai",
    "p3": "Dak Lak",  # a legacy document typed without diacritics
    "p4": "Đắk Lắk",
    "p5": "Đà Lạt",
    "p6": "Đa Lat",
    "p7": "Hà Nội",
}


@pytest.fixture
async def places(database: Database, keys: KeyStore, seeded: None, index_outbox: Drain) -> None:
    await create_place(database)
    await write_places(database, keys, [{"place_id": k, "name": v} for k, v in NAMES.items()])
    await index_outbox()


async def _search(client: AsyncOpenSearch, prefix: str, query: str) -> list[str]:
    """Keys in rank order for ``query`` as the query side asks: NFC, exact subfield boosted."""
    body = {"query": {"multi_match": {"query": nfc(query), "fields": ["v.name.exact^3", "v.name"]}}}
    found = await client.search(index=record_alias(prefix, PLACE), body=body)
    return [hit["_id"] for hit in found["hits"]["hits"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Quang Ngai", "p1"),
        ("quảng ngãi", "p1"),
        ("dat dai", "p2"),
        ("ĐẤT ĐAI", "p2"),
        ("Dak Lak", "p4"),  # found beside p3; both match, see below
        ("Ha Noi", "p7"),
    ],
)
async def test_folded_text_is_found(
    places: None, search_client: AsyncOpenSearch, search_prefix: str, query: str, expected: str
) -> None:
    assert expected in await _search(search_client, search_prefix, query)


async def test_dak_lak_with_and_without_diacritics_find_each_other(
    places: None, search_client: AsyncOpenSearch, search_prefix: str
) -> None:
    accented = await _search(search_client, search_prefix, "Đắk Lắk")
    plain = await _search(search_client, search_prefix, "Dak Lak")
    assert set(accented) == set(plain) == {"p3", "p4"}
    assert accented[0] == "p4"  # typed with diacritics: the exact spelling first


async def test_exact_diacritics_rank_the_exact_match_first(
    places: None, search_client: AsyncOpenSearch, search_prefix: str
) -> None:
    ranked = await _search(search_client, search_prefix, "Đà Lạt")
    assert ranked[:2] == ["p5", "p6"]


async def test_decomposed_input_matches_once_normalised(
    places: None, search_client: AsyncOpenSearch, search_prefix: str
) -> None:
    decomposed = unicodedata.normalize("NFD", "Quảng Ngãi")
    assert decomposed != "Quảng Ngãi"
    assert (await _search(search_client, search_prefix, decomposed))[0] == "p1"
    assert (await _search(search_client, search_prefix, unicodedata.normalize("NFD", "đất")))[
        0
    ] == "p2"


async def test_no_match_for_text_that_is_not_there(
    places: None, search_client: AsyncOpenSearch, search_prefix: str
) -> None:
    assert await _search(search_client, search_prefix, "Cà Mau") == []


# -- documents and mappings, as pure functions --------------------------------------------------


def _dataset(*fields: DatasetField) -> Dataset:
    return Dataset(
        code="demo",
        title="Thử",
        description=None,
        sector="thu",
        owner_code="STP",
        status="PUBLISHED",
        version=1,
        key_field="id",
        fields=list(fields),
    )


def _field(name: str, kind: str, **extra: Any) -> DatasetField:
    values: dict[str, Any] = {
        "sensitivity": "PUBLIC",
        "searchable": False,
        "filterable": False,
        "encrypted": False,
        **extra,
    }
    return DatasetField(dataset_code="demo", name=name, type=kind, position=0, **values)


def test_mapping_types_each_kind_of_field() -> None:
    dataset = _dataset(
        _field("id", "string", filterable=True),
        _field("name", "string", searchable=True),
        _field("count", "int", filterable=True),
        _field("amount", "decimal", filterable=True),
        _field("day", "date", filterable=True),
        _field("at", "datetime", filterable=True),
        _field("ok", "bool", filterable=True),
        _field("kind", "enum", enum_values=["A"], filterable=True),
        _field("shown", "decimal"),  # neither searchable nor filterable: carried only
        _field("extra", "json"),
        _field("secret", "string", sensitivity="RESTRICTED", searchable=True),
        _field("phone", "string", sensitivity="INTERNAL", encrypted=True),
    )
    members = record_mapping(dataset)["properties"]["v"]["properties"]
    assert set(members) == {"id", "name", "count", "amount", "day", "at", "ok", "kind", "shown"}
    assert members["id"]["type"] == "keyword"
    assert members["name"]["analyzer"] == "hub_vi_folded"
    assert members["name"]["fields"]["exact"]["analyzer"] == "hub_vi_exact"
    assert members["name"]["fields"]["kw"]["type"] == "keyword"
    assert members["count"] == {"type": "long"}
    assert members["amount"]["type"] == "double" and "kw" in members["amount"]["fields"]
    assert members["day"]["type"] == members["at"]["type"] == "date"
    assert members["ok"] == {"type": "boolean"}
    assert members["shown"] == {"type": "double", "index": False, "doc_values": False}
    assert [f.name for f in indexable_fields(dataset)] == list(members)


def test_document_holds_only_indexable_values_in_nfc() -> None:
    dataset = _dataset(
        _field("id", "string"),
        _field("name", "string", searchable=True),
        _field("amount", "decimal"),
        _field("secret", "string", sensitivity="RESTRICTED"),
        _field("phone", "string", sensitivity="INTERNAL", encrypted=True),
    )
    row = {
        "key": "k1",
        "version": 7,
        "deleted": False,
        "data": {
            "id": "k1",
            "name": unicodedata.normalize("NFD", "Quảng Ngãi"),
            "amount": "1" + "0" * 400,  # beyond a double: left out rather than failing the doc
            "secret": "mật",
            "phone": {"kid": "k", "ct": "..."},
        },
    }
    doc = record_document(dataset, row)
    assert doc == {
        "_key": "k1",
        "_record_version": 7,
        "_dataset": "demo",
        "_sector": "thu",
        "v": {"id": "k1", "name": "Quảng Ngãi"},
    }
    assert record_document(dataset, {**row, "deleted": True}) is None


def test_catalogue_document_carries_status_and_owner() -> None:
    dataset = _dataset(_field("id", "string", description="Mã"), _field("name", "string"))
    doc = catalogue_document(dataset)
    assert doc["_status"] == "PUBLISHED" and doc["_owner"] == "STP" and doc["_sector"] == "thu"
    assert doc["fields"] == ["id Mã", "name"] and doc["description"] == ""


# -- reindex ----------------------------------------------------------------------------------


async def test_reindex_swaps_the_alias_with_no_window_and_keeps_concurrent_writes(
    database: Database,
    keys: KeyStore,
    seeded: None,
    search_client: AsyncOpenSearch,
    search_settings: Settings,
    search_prefix: str,
    index_outbox: Drain,
) -> None:
    await create_place(database)
    total = 3_000
    rows = [{"place_id": f"p{n:05d}", "name": f"Thửa {n}", "visitors": n} for n in range(total)]
    await write_places(database, keys, rows)
    await index_outbox()
    alias = record_alias(search_prefix, PLACE)
    counts: list[int] = []
    done = asyncio.Event()

    async def search_all_the_time() -> None:
        while not done.is_set():
            found = await search_client.count(index=alias)
            counts.append(int(found["count"]))
            await asyncio.sleep(0)

    async def write_while_copying() -> None:
        # Changes committed during the copy: the indexer sends them to the old index.
        for n in range(0, total, 300):
            await write_places(database, keys, [{**rows[n], "visitors": -n - 1}])
            await index_outbox()

    searching = asyncio.create_task(search_all_the_time())
    try:
        await asyncio.gather(
            reindex_dataset(database.sessions, search_client, search_prefix, PLACE, chunk_size=200),
            write_while_copying(),
        )
        await index_outbox()
    finally:
        done.set()
        await searching
    assert len(counts) > 10 and set(counts) == {total}  # never empty, never partial
    aliased = await search_client.indices.get_alias(name=alias)
    assert [generation_of(alias, index) for index in aliased] == [2]
    assert not await search_client.indices.exists(index=f"{alias}-1")  # dropped after the swap
    changed = await search_client.count(
        index=alias, body={"query": {"range": {"v.visitors": {"lt": 0}}}}
    )
    assert changed["count"] == len(range(0, total, 300))


async def test_catalogue_reindex_holds_every_dataset(
    database: Database,
    seeded: None,
    search_client: AsyncOpenSearch,
    search_prefix: str,
) -> None:
    assert await reindex_catalogue(database.sessions, search_client, search_prefix) == 5
    assert await reindex_catalogue(database.sessions, search_client, search_prefix) == 5
    alias = catalogue_alias(search_prefix)
    await search_client.indices.refresh(index=alias)
    assert (await search_client.count(index=alias))["count"] == 5
    hits = await search_client.search(index=alias, body={"query": {"match": {"title": "dat dai"}}})
    assert "land_parcel" in [h["_id"] for h in hits["hits"]["hits"]]


# -- health -----------------------------------------------------------------------------------


async def test_readyz_reports_search_and_its_backlog(search_http: httpx.AsyncClient) -> None:
    ready = (await search_http.get("/readyz")).json()
    assert ready["status"] == "ready"
    assert ready["search"]["status"] == "ok"
    assert ready["search"]["backlog"] >= 5  # the baseline catalogue's entries


async def test_readyz_shows_the_backlog_to_operators_only(search_app: Any) -> None:
    """The outbox backlog moves with agencies' writes: a caller from elsewhere, who may not
    scrape /metrics, sees the search status without it."""
    transport = httpx.ASGITransport(app=search_app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
        ready = (await http.get("/readyz")).json()
    assert ready["status"] == "ready"
    assert ready["search"] == {"status": "ok"}


async def test_readyz_stays_ready_while_search_is_down(
    hub: Any, seeded: None, search_settings: Settings
) -> None:
    from hub.app import create_app
    from hub.runtime import Hub

    dead = search_settings.model_copy(update={"opensearch_url": "http://127.0.0.1:9"})
    down = Hub(settings=dead, db=hub.db, keys=hub.keys)
    application = create_app(dead, down)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert response.json()["search"]["status"] == "unavailable"


def test_a_large_bulk_is_split_keeping_each_action_with_its_document() -> None:
    from hub.search.indices import Bulk

    bulk = Bulk()
    for n in range(10):
        bulk.index("i", f"k{n}", {"v": {"text": "x" * 1_000}}, n + 1)
        bulk.delete("i", f"d{n}", 1)
    bodies = bulk.bodies(max_bytes=2_500)
    assert len(bodies) > 1
    lines = [line for body in bodies for line in body.split(b"\n") if line]
    assert lines == bulk.lines
    for body in bodies:
        parts = body.split(b"\n")
        for i, line in enumerate(parts):
            if line.startswith(b'{"index"'):
                assert parts[i + 1].startswith(b'{"v"')  # its document follows in this body
    assert bulk.bodies() == [b"\n".join(bulk.lines) + b"\n"]
