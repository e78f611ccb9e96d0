"""``hub serve --demo`` fills the five core datasets through the real connectors: a
PostgreSQL database beside the hub's, an XLSX file, a CSV in TCVN3, a CSV in Windows-1258 and
a local HTTP JSON API; a second load adds nothing. The fixture files are the generator's
output, byte for byte."""

from __future__ import annotations

import unicodedata
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select

from catalog.models import Record, RecordVersion
from catalog.sync_models import Connector, SyncRun
from connectors.spec import read_connector_file
from hub.demo import make_fixtures
from hub.demo.load import CONNECTOR_FILES, CONNECTORS, load_demo
from hub.demo.sources import source_database_url
from hub.embedded_postgres import to_libpq_url
from hub.runtime import Hub
from tests.record_support import Gql

EXPECTED = {
    "business": make_fixtures.SIZES["business"],
    "land_parcel": make_fixtures.SIZES["land_parcel"],
    "citizen": make_fixtures.SIZES["citizen"],
    "legal_document": make_fixtures.SIZES["legal_document"],
}
KINDS = {
    "demo_dkkd_postgres": ("business", "postgres"),
    "demo_thua_dat_xlsx": ("land_parcel", "xlsx"),
    "demo_cong_dan_csv": ("citizen", "csv"),
    "demo_the_bhyt_csv": ("health_insurance", "csv"),
    "demo_van_ban_http": ("legal_document", "http"),
}
PARCEL = "query($k: String!) { landParcel(key: $k) { parcelId areaM2 validUntil holder { name } } }"


@pytest.fixture
async def loaded(hub: Hub) -> AsyncIterator[list[str]]:
    """The demo loaded once into the test database; its source database dropped after."""
    try:
        yield await load_demo(hub)
    finally:
        url = source_database_url(hub.db.url)
        name = url.partition("?")[0].rpartition("/")[2]
        admin = await asyncpg.connect(to_libpq_url(hub.db.url))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


async def _counts(hub: Hub) -> dict[str, tuple[int, int]]:
    async with hub.db.sessions() as session:
        records = dict(
            (
                await session.execute(
                    select(Record.dataset_code, func.count()).group_by(Record.dataset_code)
                )
            ).all()
        )
        versions = dict(
            (
                await session.execute(
                    select(RecordVersion.dataset_code, func.count()).group_by(
                        RecordVersion.dataset_code
                    )
                )
            ).all()
        )
    return {code: (records[code], versions[code]) for code in records}


def test_fixture_files_are_the_generators_output(tmp_path: Path) -> None:
    sizes = make_fixtures.write_fixtures(tmp_path)
    for name in sizes:
        shipped = (make_fixtures.FIXTURES / name).read_bytes()
        assert (tmp_path / name).read_bytes() == shipped, f"{name}: run make_fixtures"
    assert sum(sizes.values()) < 1_000_000


def test_the_citizen_file_is_tcvn3_and_the_cards_windows_1258() -> None:
    citizens = (make_fixtures.FIXTURES / make_fixtures.FILES["citizen"]).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        citizens.decode("utf-8")
    first = make_fixtures.data()["citizen"][0]
    assert make_fixtures.encode_tcvn3(str(first["full_name"])) in citizens
    cards = (make_fixtures.FIXTURES / make_fixtures.FILES["health_insurance"]).read_bytes()
    text = unicodedata.normalize("NFC", cards.decode("cp1258"))
    assert str(make_fixtures.data()["health_insurance"][0]["hospital_name"]) in text


def test_every_demo_connector_file_parses() -> None:
    names = {read_connector_file(CONNECTORS / file).name for file in CONNECTOR_FILES}
    assert names == set(KINDS)


async def test_demo_fills_the_core_datasets_through_connectors(hub: Hub, loaded: list[str]) -> None:
    stored = await _counts(hub)
    for code, size in EXPECTED.items():
        assert stored[code] == (size, size), code
    cards = len(make_fixtures.data()["health_insurance"])
    assert stored["health_insurance"] == (cards, cards)
    async with hub.db.sessions() as session:
        connectors = {
            c.name: (c.dataset_code, c.kind) for c in await session.scalars(select(Connector))
        }
        runs = list(await session.scalars(select(SyncRun).order_by(SyncRun.id)))
        sources = set(await session.scalars(select(RecordVersion.source).distinct()))
    assert connectors == KINDS
    assert [r.status for r in runs] == ["SUCCEEDED"] * len(KINDS)
    assert all(r.rejected == 0 for r in runs), [(r.connector, r.error) for r in runs]
    assert len(sources) == len(KINDS)  # each version names the run that wrote it
    assert any("make token AS=demo-tuson-app" in line for line in loaded)


async def test_demo_values_survive_their_encodings(
    hub: Hub, loaded: list[str], gql: Gql, token: Callable[..., str]
) -> None:
    expected = make_fixtures.data()
    citizen = expected["citizen"][0]
    purpose = "Kiểm tra dữ liệu mẫu"
    owner = token("SYT", "owner")
    query = "query($k: String!) { citizen(key: $k) { fullName birthDate address } }"
    body = await gql(query, token=owner, purpose=purpose, k=citizen["citizen_id"])
    assert body["data"]["citizen"] == {
        "fullName": citizen["full_name"],
        "birthDate": citizen["birth_date"],
        "address": citizen["address"],
    }
    parcel = expected["land_parcel"][0]
    read = await gql(PARCEL, token=token("STNMT", "reader"), k=parcel["parcel_id"])
    assert "errors" not in read, read
    assert read["data"]["landParcel"]["validUntil"] == parcel["valid_until"]
    assert float(read["data"]["landParcel"]["areaM2"]) == float(str(parcel["area_m2"]))
    document = expected["legal_document"][3]
    doc = await gql(
        "query($k: String!) { legalDocument(key: $k) { title fullText } }", k=document["number"]
    )
    assert doc["data"]["legalDocument"] == {
        "title": document["title"],
        "fullText": document["full_text"],
    }


async def test_a_second_demo_load_writes_nothing(hub: Hub, loaded: list[str]) -> None:
    before = await _counts(hub)
    await load_demo(hub)
    assert await _counts(hub) == before
    async with hub.db.sessions() as session:
        connectors = await session.scalar(select(func.count()).select_from(Connector))
        last: list[Any] = list(
            await session.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(len(KINDS)))
        )
    assert connectors == len(KINDS)
    for run in last:
        assert run.status == "SUCCEEDED", (run.connector, run.error)
        assert run.inserted == run.updated == run.deleted == run.rejected == 0, run.connector
        assert run.unchanged == run.read, run.connector
        dataset = KINDS[run.connector][0]
        if run.connector == "demo_dkkd_postgres":  # incremental: from its cursor on
            assert 0 < run.read < 10
        else:  # snapshots: the whole source again, nothing tombstoned
            assert run.read == before[dataset][0], run.connector
