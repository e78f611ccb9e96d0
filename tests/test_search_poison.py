"""Entries the search index refuses for reasons of their own (a value the mapping cannot take,
a document that cannot be built) against a real osmem-server: they are set aside with their
reason while the rest of the batch, later batches and other datasets go through; retried with
growing delays, then parked and counted in /metrics; retried again when an operator asks or
a later version indexes. An unreachable server still sets nothing aside."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from opensearchpy import AsyncOpenSearch
from sqlalchemy import text

import hub.search.indexer as indexer_module
from catalog.models import Dataset
from hub.db import Database
from hub.keys import KeyStore
from hub.search.client import open_search
from hub.search.documents import record_document
from hub.search.indexer import RETRY_DELAYS_SECONDS, Indexer
from hub.search.indices import item_outcome
from hub.search.names import catalogue_alias, record_alias
from hub.search.outbox import failure_counts, retry_parked
from hub.search.reindex import reindex_dataset
from hub.settings import Settings
from tests.live_server import free_port
from tests.search_fixtures import PLACE, outbox_backlog, place_row, write_places

Drain = Callable[[], Awaitable[int]]


async def _corrupt(database: Database, key: str, field: str, value: str) -> None:
    """Give ``key``'s stored row a ``field`` value its index mapping refuses (as a row written
    before a type was tightened would have) and announce it in the outbox."""
    async with database.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE records SET data = jsonb_set(data, ARRAY[:field], to_jsonb(CAST(:value"
                " AS text))), version = version + 1 WHERE dataset_code = :code AND key = :key"
            ),
            {"field": field, "value": value, "code": PLACE, "key": key},
        )
        await session.execute(
            text(
                "INSERT INTO search_outbox (dataset_code, key, version) SELECT dataset_code,"
                " key, version FROM records WHERE dataset_code = :code AND key = :key"
            ),
            {"code": PLACE, "key": key},
        )


async def _failures(database: Database) -> dict[str, dict[str, Any]]:
    async with database.sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT dataset_code, key, version, attempts, reason, first_failed_at,"
                    " failed_at, retry_at, retry_at > now() AS later, index_name"
                    " FROM search_outbox_failures"
                )
            )
        ).mappings()
        return {f"{r['dataset_code']}/{r['key']}": dict(r) for r in rows}


async def _keys(client: AsyncOpenSearch, prefix: str) -> set[str]:
    await client.indices.refresh(index=f"{prefix}*")
    found = await client.search(index=record_alias(prefix, PLACE), body={"size": 100})
    return {hit["_id"] for hit in found["hits"]["hits"]}


async def _make_due(database: Database) -> None:
    async with database.sessions.begin() as session:
        await session.execute(
            text("UPDATE search_outbox_failures SET retry_at = now() WHERE retry_at IS NOT NULL")
        )


def _indexer(database: Database, client: AsyncOpenSearch, settings: Settings) -> Indexer:
    return Indexer(database.sessions, client, settings)


async def test_a_value_the_mapping_refuses_is_set_aside_and_the_rest_goes_through(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_settings: Settings,
    search_prefix: str,
) -> None:
    await write_places(database, keys, [place_row(f"p{n}", f"Địa danh {n}") for n in range(4)])
    await _indexer(database, search_client, search_settings).drain()
    await _corrupt(database, "p1", "checked_at", "rất sớm")  # text where the mapping has a date
    await _corrupt(database, "p2", "checked_at", "có lẽ")
    await write_places(database, keys, [place_row(f"q{n}", f"Sau {n}") for n in range(6)])
    small = search_settings.model_copy(update={"search_batch_size": 3})
    indexer = _indexer(database, search_client, small)
    assert await indexer.drain() >= 8  # several batches, none of them stuck
    assert await outbox_backlog(database) == 0
    indexed = await _keys(search_client, search_prefix)
    assert {f"q{n}" for n in range(6)} <= indexed
    failures = await _failures(database)
    assert set(failures) == {f"{PLACE}/p1", f"{PLACE}/p2"}
    p1 = failures[f"{PLACE}/p1"]
    assert p1["attempts"] == 1 and p1["later"]  # retried later, not at once
    assert p1["reason"].startswith(
        "400 mapper_parsing_exception: failed to parse field [v.checked_at]"
    )
    assert "rất sớm" not in p1["reason"]  # the refused value is not kept
    assert "có lẽ" not in failures[f"{PLACE}/p2"]["reason"]
    assert indexer.set_aside == 2
    # The retry is due only after the first delay.
    delay = (p1["retry_at"] - p1["failed_at"]).total_seconds()
    assert delay == pytest.approx(RETRY_DELAYS_SECONDS[0], abs=1)
    assert await indexer.drain() == 0


async def test_attempts_grow_then_the_entry_is_parked_and_shown_in_metrics(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_settings: Settings,
    search_prefix: str,
    search_http: httpx.AsyncClient,
) -> None:
    await write_places(database, keys, [place_row("p1", "Huế"), place_row("p2", "Vinh")])
    await _corrupt(database, "p1", "checked_at", "nhiều")
    indexer = _indexer(database, search_client, search_settings)
    # Long enough that no retry falls due within a drain on a slow machine; the test makes
    # each one due itself.
    indexer.retry_delays = (30.0, 60.0)
    await indexer.drain()
    retry_at: list[datetime] = []
    for attempts in (1, 2):
        row = (await _failures(database))[f"{PLACE}/p1"]
        assert row["attempts"] == attempts
        retry_at.append(row["retry_at"])
        gap = (row["retry_at"] - row["failed_at"]).total_seconds()
        assert gap == pytest.approx(indexer.retry_delays[attempts - 1], abs=0.5)
        await _make_due(database)
        assert await indexer.drain() == 1  # the retry, nothing else
    row = (await _failures(database))[f"{PLACE}/p1"]
    assert row["attempts"] == 3 and row["retry_at"] is None  # parked after its last attempt
    assert row["first_failed_at"] < row["failed_at"]
    await _make_due(database)
    assert await indexer.drain() == 0  # a parked entry is not retried by itself
    async with database.sessions() as session:
        assert await failure_counts(session) == (0, 1)
    scrape = (await search_http.get("/metrics")).text
    assert "hub_search_outbox_parked 1.0" in scrape
    assert "hub_search_outbox_retrying 0.0" in scrape
    assert await _keys(search_client, search_prefix) == {"p2"}


async def test_a_document_that_cannot_be_built_waits_while_other_datasets_go_through(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_settings: Settings,
    search_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(dataset: Dataset, row: Any) -> dict[str, Any] | None:
        if row["key"] == "p1":
            raise ValueError("no document for this row")
        return record_document(dataset, row)

    monkeypatch.setattr(indexer_module, "record_document", broken)
    await write_places(database, keys, [place_row(f"p{n}", f"Nơi {n}") for n in range(3)])
    indexer = _indexer(database, search_client, search_settings)
    await indexer.drain()  # the catalogue entries of every seeded dataset ride along
    assert await outbox_backlog(database) == 0
    assert await _keys(search_client, search_prefix) == {"p0", "p2"}
    catalogue = await search_client.count(index=catalogue_alias(search_prefix))
    assert catalogue["count"] >= 5
    failures = await _failures(database)
    assert list(failures) == [f"{PLACE}/p1"]
    assert failures[f"{PLACE}/p1"]["reason"] == "document: ValueError: no document for this row"
    # Fixed (a new release of the builder): the retry indexes it and the row goes.
    monkeypatch.setattr(indexer_module, "record_document", record_document)
    await _make_due(database)
    assert await indexer.drain() == 1
    assert await _keys(search_client, search_prefix) == {"p0", "p1", "p2"}
    assert await _failures(database) == {}


async def test_a_later_version_that_indexes_clears_the_entry_set_aside(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_settings: Settings,
    search_prefix: str,
) -> None:
    await write_places(database, keys, [place_row("p1", "Huế")])
    await _corrupt(database, "p1", "checked_at", "nhiều")
    indexer = _indexer(database, search_client, search_settings)
    indexer.retry_delays = ()  # parked at once
    await indexer.drain()
    assert (await _failures(database))[f"{PLACE}/p1"]["retry_at"] is None
    await write_places(database, keys, [place_row("p1", "Huế", visitors=12)])  # corrected
    await indexer.drain()
    assert await _failures(database) == {}
    assert await _keys(search_client, search_prefix) == {"p1"}


async def test_a_new_failing_version_starts_its_attempts_again(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_settings: Settings,
) -> None:
    await write_places(database, keys, [place_row("p1", "Huế")])
    await _corrupt(database, "p1", "checked_at", "nhiều")
    indexer = _indexer(database, search_client, search_settings)
    indexer.retry_delays = ()
    await indexer.drain()
    parked = (await _failures(database))[f"{PLACE}/p1"]
    await _corrupt(database, "p1", "checked_at", "rất nhiều")
    indexer.retry_delays = (60.0,)
    await indexer.drain()
    row = (await _failures(database))[f"{PLACE}/p1"]
    assert row["version"] == parked["version"] + 1
    assert row["attempts"] == 1 and row["later"]
    assert row["first_failed_at"] == parked["first_failed_at"]


async def test_parked_entries_are_retried_when_an_operator_asks(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_settings: Settings,
    search_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(indexer_module, "record_document", _refuse_all)
    await write_places(database, keys, [place_row("p1", "Huế"), place_row("p2", "Vinh")])
    indexer = _indexer(database, search_client, search_settings)
    indexer.retry_delays = ()
    await indexer.drain()
    async with database.sessions() as session:
        assert await failure_counts(session) == (0, 2)
    monkeypatch.setattr(indexer_module, "record_document", record_document)
    async with database.sessions.begin() as session:
        assert await retry_parked(session, ["other"]) == 0
        assert await retry_parked(session, [PLACE]) == 2
    assert await indexer.drain() == 2
    assert await _keys(search_client, search_prefix) == {"p1", "p2"}
    async with database.sessions() as session:
        assert await failure_counts(session) == (0, 0)


async def test_a_reindex_retries_the_parked_entries_of_the_dataset_it_rebuilt(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_settings: Settings,
    search_prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(indexer_module, "record_document", _refuse_all)
    await write_places(database, keys, [place_row("p1", "Huế")])
    indexer = _indexer(database, search_client, search_settings)
    indexer.retry_delays = ()
    indexer.rebuilt_check_seconds = 0.0
    await indexer.drain()
    alias = record_alias(search_prefix, PLACE)
    parked = (await _failures(database))[f"{PLACE}/p1"]
    assert parked["retry_at"] is None and parked["index_name"] == f"{alias}-1"
    monkeypatch.setattr(indexer_module, "record_document", record_document)  # fixed
    assert await indexer.drain() == 0  # the same index: nothing to retry by itself
    await reindex_dataset(database.sessions, search_client, search_prefix, PLACE)
    assert await indexer.drain() == 1  # the index was rebuilt: the parked entry is retried
    assert await _failures(database) == {}
    assert await _keys(search_client, search_prefix) == {"p1"}


async def test_an_unreachable_server_sets_nothing_aside(
    database: Database,
    keys: KeyStore,
    place: None,
    search_client: AsyncOpenSearch,
    search_settings: Settings,
) -> None:
    await write_places(database, keys, [place_row("p1", "Huế")])
    await _corrupt(database, "p1", "checked_at", "nhiều")
    await _indexer(database, search_client, search_settings).drain()
    before = (await _failures(database))[f"{PLACE}/p1"]
    await _make_due(database)
    await write_places(database, keys, [place_row("p2", "Vinh")])
    waiting = await outbox_backlog(database)
    dead = open_search(search_settings, url=f"http://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(Exception):  # noqa: B017 - the driver's connection error
            await _indexer(database, dead, search_settings).drain_once()
    finally:
        await dead.close()
    after = (await _failures(database))[f"{PLACE}/p1"]
    assert after["attempts"] == before["attempts"] == 1  # the failed batch counts no attempt
    assert list(await _failures(database)) == [f"{PLACE}/p1"]
    assert await outbox_backlog(database) == waiting


def test_item_outcomes_tell_the_items_fault_from_the_servers() -> None:
    def item(status: int, kind: str | None = None, op: str = "index") -> dict[str, Any]:
        result: dict[str, Any] = {"_index": "i", "_id": "k", "status": status}
        if kind is not None:
            result["error"] = {"type": kind, "reason": "why. Preview of field's value: 'x'"}
        return {op: result}

    assert item_outcome(item(201)) is None
    assert item_outcome(item(409, "version_conflict_engine_exception")) is None  # newer is there
    assert item_outcome(item(404, op="delete")) is None
    for status, kind in (
        (429, "es_rejected_execution_exception"),
        (500, "internal_server_error"),
        (503, "unavailable_shards_exception"),
        (404, "index_not_found_exception"),
    ):
        assert item_outcome(item(status, kind)) == "retry"  # the batch is delivered again
    refused = item_outcome(item(400, "mapper_parsing_exception"))
    assert refused == "400 mapper_parsing_exception: why"
    assert item_outcome(item(413, "too_long")) == "413 too_long: why"


def _refuse_all(dataset: Dataset, row: Any) -> dict[str, Any] | None:
    raise RuntimeError("refused")
