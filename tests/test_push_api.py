"""``upsertRecords``: an owner system pushes a bounded batch through the sync engine, over the
real app: only the owning agency's ``owner`` role, validation failures quarantined (not
fatal), an unchanged batch writes nothing, and the records are then read under grants."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from catalog.models import Record, RecordVersion
from catalog.sync_models import QuarantinedRow, SyncRun
from hub.db import Database
from hub.demo import generate
from hub.settings import Settings
from tests.record_support import TUSON, Gql, approved_grant, codes

LIMIT = 25

UPSERT = """
mutation($dataset: String!, $records: [JSON!]!, $source: String) {
  upsertRecords(dataset: $dataset, records: $records, source: $source) {
    id connector status trigger read inserted updated unchanged deleted rejected error
    startedAt finishedAt
  }
}"""
CITIZENS = """
query { citizenList(first: 50) { totalCount edges { node { citizenId fullName district } } } }
"""
PURPOSE = "Giải quyết thủ tục hành chính"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The suite's settings with a small batch limit, so the limit is cheap to cross."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "hub",
        keys_file=tmp_path / "keys.json",
        public_url="http://hub.test",
        push_max_records=LIMIT,
    )


@pytest.fixture
def citizens() -> list[dict[str, Any]]:
    return generate.citizens(20, seed=11)


async def _stored(database: Database, code: str) -> tuple[int, int]:
    """(current records, versions) of a dataset."""
    async with database.sessions() as session:
        records = await session.scalar(
            select(func.count()).select_from(Record).where(Record.dataset_code == code)
        )
        versions = await session.scalar(
            select(func.count())
            .select_from(RecordVersion)
            .where(RecordVersion.dataset_code == code)
        )
    return int(records or 0), int(versions or 0)


async def test_owner_pushes_and_a_granted_reader_reads_them(
    gql: Gql, token: Callable[..., str], database: Database, citizens: list[dict[str, Any]]
) -> None:
    owner = token("SYT", "owner")
    body = await gql(UPSERT, token=owner, dataset="citizen", records=citizens, source="HIS")
    assert "errors" not in body, body
    run = body["data"]["upsertRecords"]
    assert run["connector"] == "push:citizen" and run["trigger"] == "push"
    assert run["status"] == "SUCCEEDED" and run["error"] is None
    assert (run["read"], run["inserted"], run["updated"], run["rejected"]) == (20, 20, 0, 0)
    assert run["finishedAt"] >= run["startedAt"]
    assert await _stored(database, "citizen") == (20, 20)
    async with database.sessions() as session:
        stored = await session.get(SyncRun, int(run["id"]))
        assert stored is not None and stored.status == "SUCCEEDED" and stored.inserted == 20
        sources = set(
            await session.scalars(
                select(RecordVersion.source).where(RecordVersion.dataset_code == "citizen")
            )
        )
    assert sources == {"HIS"}

    tuson = token("UBND-TX-TUSON", "reader")
    await approved_grant(
        gql, tuson, owner, "citizen", ["citizen_id", "full_name", "district"], {"district": TUSON}
    )
    read = await gql(CITIZENS, token=tuson, purpose=PURPOSE)
    assert "errors" not in read, read
    expected = sorted(c["citizen_id"] for c in citizens if c["district"] == TUSON)
    nodes = read["data"]["citizenList"]["edges"]
    assert sorted(n["node"]["citizenId"] for n in nodes) == expected
    assert read["data"]["citizenList"]["totalCount"] == len(expected)


async def test_repushing_the_same_batch_changes_nothing(
    gql: Gql, token: Callable[..., str], database: Database, citizens: list[dict[str, Any]]
) -> None:
    owner = token("SYT", "owner")
    first = await gql(UPSERT, token=owner, dataset="citizen", records=citizens)
    assert first["data"]["upsertRecords"]["inserted"] == 20
    again = (await gql(UPSERT, token=owner, dataset="citizen", records=citizens))["data"]
    run = again["upsertRecords"]
    assert (run["read"], run["inserted"], run["updated"], run["unchanged"]) == (20, 0, 0, 20)
    assert await _stored(database, "citizen") == (20, 20)
    changed = [{**citizens[0], "phone": "0912345678"}, *citizens[1:]]
    third = (await gql(UPSERT, token=owner, dataset="citizen", records=changed))["data"]
    assert (third["upsertRecords"]["updated"], third["upsertRecords"]["unchanged"]) == (1, 19)
    assert await _stored(database, "citizen") == (20, 21)


async def test_invalid_rows_are_quarantined_and_the_rest_written(
    gql: Gql, token: Callable[..., str], database: Database, citizens: list[dict[str, Any]]
) -> None:
    rows = [dict(c) for c in citizens[:6]]
    rows[1]["citizen_id"] = "12345"  # not 12 digits
    rows[3]["birth_date"] = "ngày mai"
    rows[4]["no_such_field"] = "x"
    body = await gql(UPSERT, token=token("SYT", "owner"), dataset="citizen", records=rows)
    run = body["data"]["upsertRecords"]
    assert run["status"] == "SUCCEEDED"
    assert (run["read"], run["inserted"], run["rejected"]) == (6, 3, 3)
    assert await _stored(database, "citizen") == (3, 3)
    async with database.sessions() as session:
        kept = (
            await session.scalars(
                select(QuarantinedRow)
                .where(QuarantinedRow.run_id == int(run["id"]))
                .order_by(QuarantinedRow.id)
            )
        ).all()
    assert [q.position for q in kept] == ["record 2", "record 4", "record 5"]
    assert "citizen_id" in kept[0].reason and "12 digits" in kept[0].reason
    assert "birth_date" in kept[1].reason
    assert "no_such_field" in kept[2].reason
    assert all(q.connector == "push:citizen" for q in kept)


async def test_batch_over_the_limit_is_refused_whole(
    gql: Gql, token: Callable[..., str], database: Database
) -> None:
    rows = generate.citizens(LIMIT + 1, seed=12)
    body = await gql(UPSERT, token=token("SYT", "owner"), dataset="citizen", records=rows)
    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert f"{LIMIT + 1} records" in message and f"at most {LIMIT}" in message
    assert "HUB_PUSH_MAX_RECORDS" in message
    assert await _stored(database, "citizen") == (0, 0)
    async with database.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SyncRun)) == 0
    at_limit = await gql(
        UPSERT, token=token("SYT", "owner"), dataset="citizen", records=rows[:LIMIT]
    )
    assert at_limit["data"]["upsertRecords"]["inserted"] == LIMIT


@pytest.mark.parametrize(
    ("agency", "roles"),
    [
        pytest.param("SKHDT", ("owner",), id="another-agency-owner"),
        pytest.param("SYT", ("reader",), id="owning-agency-reader"),
        pytest.param("STTTT", ("steward", "reader"), id="steward"),
    ],
)
async def test_only_the_owning_agency_owner_may_push(
    gql: Gql,
    token: Callable[..., str],
    database: Database,
    citizens: list[dict[str, Any]],
    agency: str,
    roles: tuple[str, ...],
) -> None:
    body = await gql(UPSERT, token=token(agency, *roles), dataset="citizen", records=citizens)
    assert codes(body) == ["FORBIDDEN"], body
    assert "'owner' role of agency 'SYT'" in body["errors"][0]["message"]
    assert await _stored(database, "citizen") == (0, 0)


async def test_anonymous_push_is_unauthenticated(
    gql: Gql, database: Database, citizens: list[dict[str, Any]]
) -> None:
    body = await gql(UPSERT, dataset="citizen", records=citizens)
    assert codes(body) == ["UNAUTHENTICATED"]
    assert await _stored(database, "citizen") == (0, 0)


async def test_unknown_dataset_is_not_found(gql: Gql, token: Callable[..., str]) -> None:
    body = await gql(UPSERT, token=token("SYT", "owner"), dataset="no_such", records=[{}])
    assert codes(body) == ["NOT_FOUND"]
    assert "no_such" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("records", "said"),
    [
        pytest.param([], "empty", id="empty"),
        pytest.param([{"citizen_id": "027203603920"}, "x"], "records[1] is a str", id="string"),
        pytest.param([[1, 2]], "records[0] is a list", id="list"),
    ],
)
async def test_malformed_batch_is_refused_before_anything_is_written(
    gql: Gql, token: Callable[..., str], database: Database, records: list[Any], said: str
) -> None:
    body = await gql(UPSERT, token=token("SYT", "owner"), dataset="citizen", records=records)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert said in body["errors"][0]["message"]
    assert await _stored(database, "citizen") == (0, 0)
