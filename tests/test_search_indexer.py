"""The outbox indexer against a real osmem-server: record versions, corrections, tombstones
and catalogue changes reach the index in order; RESTRICTED and encrypted values never do;
an unreachable server leaves the backlog in the outbox until it answers again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from opensearchpy import AsyncOpenSearch
from opensearchpy.exceptions import NotFoundError
from osmem_server import OsmemServer
from sqlalchemy import text

from catalog.datasets import deprecate_dataset, revise_dataset
from catalog.errors import SearchUnavailable
from catalog.models import Dataset
from catalog.records import correct_record
from catalog.specs import FieldSpec
from connectors.tombstones import tombstone_keys
from hub.db import Database
from hub.keys import KeyStore
from hub.search.client import open_search, search_errors
from hub.search.indexer import Indexer
from hub.search.indices import Bulk, send_bulk
from hub.search.names import catalogue_alias, record_alias
from hub.settings import Settings
from tests.live_server import free_port
from tests.search_fixtures import (
    OWNER,
    PLACE,
    PLACE_SPEC,
    create_place,
    outbox_backlog,
    place_row,
    write_places,
)

Drain = Callable[[], Awaitable[int]]

PHONE = "0912345678"
SECRET = "Mậtkhẩuzq"


async def _doc(client: AsyncOpenSearch, prefix: str, key: str) -> dict[str, Any] | None:
    try:
        found = await client.get(index=record_alias(prefix, PLACE), id=key)
    except NotFoundError:
        return None
    return dict(found)


async def test_versions_reach_the_index_with_their_record_version(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_prefix: str,
    index_outbox: Drain,
) -> None:
    await write_places(database, keys, [place_row("p1", "Quảng Ngãi", visitors=3, area="12.50")])
    await write_places(database, keys, [place_row("p1", "Quảng Ngãi", visitors=4, area="12.5")])
    assert await index_outbox() >= 2
    doc = await _doc(search_client, search_prefix, "p1")
    assert doc is not None
    assert doc["_version"] == 2
    source = doc["_source"]
    assert source["_key"] == "p1" and source["_record_version"] == 2 and source["_dataset"] == PLACE
    assert source["_sector"] == "dat-dai"
    assert source["v"]["visitors"] == 4
    assert source["v"]["area"] == "12.5"  # the stored canonical text
    assert await outbox_backlog(database) == 0


async def test_restricted_and_encrypted_values_never_reach_the_index(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_prefix: str,
    index_outbox: Drain,
) -> None:
    await write_places(
        database, keys, [place_row("p1", "Đà Lạt", phone=PHONE, secret=SECRET, note="ghi chú")]
    )
    await index_outbox()
    alias = record_alias(search_prefix, PLACE)
    everything = await search_client.search(index=alias, body={"query": {"match_all": {}}})
    raw = orjson.dumps(everything).decode()
    assert "ghi chú" in raw  # the INTERNAL, unencrypted field is there
    assert PHONE not in raw and SECRET not in raw
    # Nor the ciphertext of the encrypted field.
    assert "phone" not in everything["hits"]["hits"][0]["_source"]["v"]
    assert "secret" not in everything["hits"]["hits"][0]["_source"]["v"]
    for term in (PHONE, SECRET, "mậtkhẩuzq", "matkhauzq"):
        found = await search_client.search(
            index=alias, body={"query": {"query_string": {"query": term}}}
        )
        assert found["hits"]["total"]["value"] == 0, term
    mapping = orjson.dumps(await search_client.indices.get_mapping(index=alias)).decode()
    assert '"phone"' not in mapping and '"secret"' not in mapping


async def test_tombstone_deletes_the_document_and_a_later_write_brings_it_back(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_prefix: str,
    index_outbox: Drain,
) -> None:
    await write_places(database, keys, [place_row("p1", "Hà Nội"), place_row("p2", "Huế")])
    await index_outbox()
    async with database.sessions.begin() as session:
        connection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        await tombstone_keys(raw, PLACE, "test", ["p1"])
    await index_outbox()
    assert await _doc(search_client, search_prefix, "p1") is None
    assert await _doc(search_client, search_prefix, "p2") is not None
    await write_places(database, keys, [place_row("p1", "Hà Nội mới")])
    await index_outbox()
    doc = await _doc(search_client, search_prefix, "p1")
    assert doc is not None and doc["_version"] == 3
    assert doc["_source"]["v"]["name"] == "Hà Nội mới"


async def test_many_versions_in_one_batch_leave_the_last(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_prefix: str,
    index_outbox: Drain,
) -> None:
    await index_outbox()  # the catalogue's entries
    for n in range(1, 6):
        await write_places(database, keys, [place_row("p1", f"Tên {n}", visitors=n)])
    assert await index_outbox() == 5
    doc = await _doc(search_client, search_prefix, "p1")
    assert doc is not None and doc["_source"]["v"]["visitors"] == 5 and doc["_version"] == 5


async def test_an_older_version_never_overwrites_a_newer_one(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_prefix: str,
    index_outbox: Drain,
) -> None:
    await write_places(database, keys, [place_row("p1", "Một")])
    await write_places(database, keys, [place_row("p1", "Hai")])
    await index_outbox()
    alias = record_alias(search_prefix, PLACE)
    late = Bulk()  # what a slower process holding version 1 would send after version 2
    late.index(alias, "p1", {"_key": "p1", "_record_version": 1, "v": {"name": "Một"}}, 1)
    late.delete(alias, "p1", 1)
    assert await send_bulk(search_client, late, refresh=True) == 0  # conflicts are expected
    doc = await _doc(search_client, search_prefix, "p1")
    assert doc is not None and doc["_source"]["v"]["name"] == "Hai"


async def test_correction_is_indexed(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_prefix: str,
    index_outbox: Drain,
) -> None:
    await write_places(database, keys, [place_row("p1", "Quang Ngai")])
    await index_outbox()
    async with database.sessions.begin() as session:
        dataset = await session.get(Dataset, PLACE)
        assert dataset is not None
        await correct_record(
            session, OWNER, dataset, "p1", {"name": "Quảng Ngãi"}, "sửa dấu", keys.sealing_keys()
        )
    assert await outbox_backlog(database) == 1
    await index_outbox()
    doc = await _doc(search_client, search_prefix, "p1")
    assert doc is not None and doc["_source"]["v"]["name"] == "Quảng Ngãi"


async def test_catalogue_changes_are_indexed(
    database: Database,
    seeded: None,
    search_client: AsyncOpenSearch,
    search_prefix: str,
    index_outbox: Drain,
) -> None:
    await create_place(database, publish=False)
    await index_outbox()
    alias = catalogue_alias(search_prefix)
    entry = (await search_client.get(index=alias, id=PLACE))["_source"]
    assert entry["_status"] == "DRAFT" and entry["_owner"] == "STNMT"
    assert entry["title"] == "Địa danh thử nghiệm"
    assert "name Tên địa danh" in entry["fields"]
    # A draft has no record index yet.
    assert not await search_client.indices.exists_alias(name=record_alias(search_prefix, PLACE))
    # The baseline catalogue, written before, is there too.
    assert (await search_client.get(index=alias, id="land_parcel"))["_source"]["_sector"]

    async with database.sessions.begin() as session:
        from catalog.datasets import publish_dataset, submit_dataset

        await submit_dataset(session, OWNER, PLACE)
        await publish_dataset(session, OWNER, PLACE)
    await index_outbox()
    entry = (await search_client.get(index=alias, id=PLACE))["_source"]
    assert entry["_status"] == "PUBLISHED"
    assert await search_client.indices.exists_alias(name=record_alias(search_prefix, PLACE))

    async with database.sessions.begin() as session:
        await deprecate_dataset(session, OWNER, PLACE, "thay bằng bộ mới")
    await index_outbox()
    entry = (await search_client.get(index=alias, id=PLACE))["_source"]
    assert entry["_status"] == "DEPRECATED"


async def test_a_field_made_restricted_is_purged_from_the_index(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_prefix: str,
    index_outbox: Drain,
) -> None:
    await write_places(database, keys, [place_row("p1", "Đà Lạt", note="ghi chú riêng")])
    await index_outbox()
    fields = tuple(
        FieldSpec(f.name, f.type, f.required, f.description, "RESTRICTED", f.pii_kind, f.searchable)
        if f.name == "note"
        else f
        for f in PLACE_SPEC.fields
    )
    from dataclasses import replace

    async with database.sessions.begin() as session:
        await revise_dataset(session, OWNER, replace(PLACE_SPEC, fields=fields))
    await index_outbox()
    doc = await _doc(search_client, search_prefix, "p1")
    assert doc is not None and "note" not in doc["_source"]["v"]
    raw = orjson.dumps(
        await search_client.search(index=record_alias(search_prefix, PLACE), body={})
    ).decode()
    assert "ghi chú riêng" not in raw


async def test_indexer_keeps_the_backlog_while_search_is_down_and_catches_up(
    database: Database,
    keys: KeyStore,
    place: None,
    search_settings: Settings,
    search_prefix: str,
) -> None:
    port = free_port()
    down = search_settings.model_copy(update={"opensearch_url": f"http://127.0.0.1:{port}"})
    client = open_search(down)
    indexer = Indexer(database.sessions, client, down)
    running = asyncio.create_task(indexer.run())
    try:
        await write_places(database, keys, [place_row(f"p{n}", f"Địa danh {n}") for n in range(50)])
        await asyncio.sleep(1.0)
        assert await outbox_backlog(database) >= 50  # nothing lost while nobody answers
        with pytest.raises(SearchUnavailable), search_errors():
            await client.info()
        server = OsmemServer.start(addr=f"127.0.0.1:{port}", japanese=False)
        try:
            for _ in range(200):
                if await outbox_backlog(database) == 0:
                    break
                await asyncio.sleep(0.1)
            assert await outbox_backlog(database) == 0
            await client.indices.refresh(index=f"{search_prefix}*")
            count = await client.count(index=record_alias(search_prefix, PLACE))
            assert count["count"] == 50
        finally:
            running.cancel()
            server.close()
    finally:
        running.cancel()
        await client.close()


async def test_a_crash_before_the_bulk_request_delivers_the_batch_again(
    database: Database,
    keys: KeyStore,
    place: None,
    search_settings: Settings,
    search_client: AsyncOpenSearch,
    search_prefix: str,
) -> None:
    await write_places(database, keys, [place_row("p1", "Cần Thơ")])
    before = await outbox_backlog(database)
    dead = open_search(search_settings, url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Exception):  # noqa: B017 - the driver's connection error
        await Indexer(database.sessions, dead, search_settings).drain_once()
    await dead.close()
    assert await outbox_backlog(database) == before  # the claim rolled back
    await Indexer(database.sessions, search_client, search_settings).drain()
    assert await outbox_backlog(database) == 0


async def test_two_indexers_share_the_outbox(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_settings: Settings,
    search_prefix: str,
) -> None:
    rows = [place_row(f"p{n:04d}", f"Thửa {n}", visitors=n) for n in range(2_000)]
    await write_places(database, keys, rows)
    await write_places(database, keys, [{**r, "visitors": 10_000 + i} for i, r in enumerate(rows)])
    small = search_settings.model_copy(update={"search_batch_size": 150})
    first = Indexer(database.sessions, search_client, small)
    second = Indexer(database.sessions, search_client, small)
    await asyncio.gather(first.drain(), second.drain())
    assert first.indexed and second.indexed  # both took batches
    await search_client.indices.refresh(index=f"{search_prefix}*")
    alias = record_alias(search_prefix, PLACE)
    old = await search_client.count(
        index=alias, body={"query": {"range": {"v.visitors": {"lt": 10_000}}}}
    )
    assert old["count"] == 0
    assert (await search_client.count(index=alias))["count"] == 2_000
    async with database.sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM search_outbox")) == 0


async def test_a_serving_hub_indexes_by_itself_and_reindexes_at_start(
    database: Database,
    keys: KeyStore,
    place: None,
    search_settings: Settings,
    search_client: AsyncOpenSearch,
    search_prefix: str,
) -> None:
    from hub.app import create_app
    from hub.runtime import Hub

    await write_places(database, keys, [place_row("p1", "Bắc Ninh")])
    serving = search_settings.model_copy(
        update={"search_indexer_in_process": True, "search_reindex_at_start": True}
    )
    application = create_app(serving, Hub(settings=serving, db=database, keys=keys))
    async with application.router.lifespan_context(application):
        alias = record_alias(search_prefix, PLACE)
        await _until(lambda: _count(search_client, alias), 1)  # the reindex at start
        await write_places(database, keys, [place_row("p2", "Từ Sơn")])
        await _until(lambda: _count(search_client, alias), 2)  # the in-process indexer
        await _until(lambda: outbox_backlog(database), 0)


async def test_embedded_search_is_shared_and_stopped_by_its_starter(tmp_path: Path) -> None:
    from hub.search.embedded import STATE_FILE, embedded_search

    with embedded_search(tmp_path) as url, embedded_search(tmp_path) as joined:
        assert joined == url
        client = AsyncOpenSearch(hosts=[url])
        assert (await client.info())["version"]["distribution"] == "opensearch"
        await client.close()
    assert not (tmp_path / STATE_FILE).exists()
    client = AsyncOpenSearch(hosts=[url], max_retries=0)
    with pytest.raises(SearchUnavailable), search_errors():
        await client.info()
    await client.close()


async def _count(client: AsyncOpenSearch, alias: str) -> int:
    try:
        await client.indices.refresh(index=alias)
        return int((await client.count(index=alias))["count"])
    except NotFoundError:
        return -1


async def _until(probe: Callable[[], Awaitable[int]], wanted: int) -> None:
    deadline = asyncio.get_running_loop().time() + 30  # a loaded machine starts slowly
    while asyncio.get_running_loop().time() < deadline:
        if await probe() == wanted:
            return
        await asyncio.sleep(0.05)
    assert await probe() == wanted


async def test_hub_worker_drains_the_outbox_until_stopped(
    database: Database,
    database_url: str,
    keys: KeyStore,
    place: None,
    tmp_path: Path,
    search_url: str,
    search_prefix: str,
    search_client: AsyncOpenSearch,
) -> None:
    import os
    import signal
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_KEYS_FILE=str(keys.path),
        HUB_OPENSEARCH_URL=search_url,
        HUB_SEARCH_INDEX_PREFIX=search_prefix,
        HUB_SEARCH_POLL_SECONDS="0.1",
    )
    worker = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("hub")),
        "worker",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await write_places(database, keys, [place_row(f"w{n}", f"Xã {n}") for n in range(3)])
        await _until(lambda: _count(search_client, record_alias(search_prefix, PLACE)), 3)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(worker.communicate(), timeout=30)
    assert worker.returncode == 0, err.decode()
    assert "Traceback" not in err.decode()


async def test_an_index_deleted_behind_the_hubs_back_is_made_again(
    database: Database,
    keys: KeyStore,
    place: None,
    search_settings: Settings,
    search_client: AsyncOpenSearch,
    search_prefix: str,
    index_outbox: Drain,
) -> None:
    await write_places(database, keys, [place_row("p1", "Huế")])
    await index_outbox()
    alias = record_alias(search_prefix, PLACE)
    indexer = Indexer(database.sessions, search_client, search_settings)
    await indexer.drain()  # it now believes the alias exists
    await search_client.indices.delete(index=f"{alias}-*")
    await write_places(database, keys, [place_row("p2", "Vinh")])
    running = asyncio.create_task(indexer.run())
    try:
        await _until(lambda: outbox_backlog(database), 0)
    finally:
        running.cancel()
    # A write to the missing alias failed instead of creating an index under its name.
    assert list(await search_client.indices.get_alias(name=alias)) == [f"{alias}-1"]
    assert await _count(search_client, alias) == 1  # p2; p1 returns with a reindex


def test_a_missing_ca_file_is_a_settings_error(tmp_path: Path) -> None:
    from hub.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="HUB_OPENSEARCH_CA_FILE: no such file"):
        load_settings(opensearch_ca_file=tmp_path / "ca.pem")
    with pytest.raises(SettingsError, match="HUB_OPENSEARCH_URL: expected an http"):
        load_settings(opensearch_url="localhost:9200")


async def test_tls_with_an_unusable_ca_file_is_search_unavailable(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    settings = Settings(
        opensearch_url="https://127.0.0.1:9",
        opensearch_username="hub",
        opensearch_password="secret",
        opensearch_ca_file=bad,
    )
    client = open_search(settings)
    try:
        with pytest.raises(SearchUnavailable) as caught, search_errors():
            await client.info()
        assert "secret" not in str(caught.value)
    finally:
        await client.close()
