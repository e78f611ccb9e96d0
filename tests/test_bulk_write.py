"""The set-based record writer (catalog.bulk_write through catalog.records.write_records):
counts, versions, hashes, current rows, rejected rows, sealing, idempotence, chunking."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import pytest
from sqlalchemy import text

from catalog.errors import InvalidInput
from catalog.models import Dataset
from catalog.records import WriteResult, content_hash, unseal, write_records
from catalog.values import normalise_record
from hub.demo import generate
from hub.runtime import Hub
from tests.records_fixtures import field_keys

pytestmark = pytest.mark.usefixtures("seeded")


async def write(
    hub: Hub,
    code: str,
    rows: Iterable[Mapping[str, Any]] | AsyncIterator[Mapping[str, Any]],
    **options: Any,
) -> WriteResult:
    async with hub.db.sessions.begin() as session:
        dataset = await session.get(Dataset, code)
        assert dataset is not None
        return await write_records(
            session, dataset, rows, source="test-bulk", keys=field_keys(hub), **options
        )


async def versions(hub: Hub, code: str, key: str) -> list[dict[str, Any]]:
    async with hub.db.sessions() as session:
        found = await session.execute(
            text(
                "SELECT version, supersedes, source, hash, data, deleted FROM record_versions "
                "WHERE dataset_code = :d AND key = :k ORDER BY version"
            ),
            {"d": code, "k": key},
        )
        return [dict(row._mapping) for row in found]


async def current(hub: Hub, code: str, key: str) -> dict[str, Any] | None:
    async with hub.db.sessions() as session:
        found = await session.execute(
            text(
                "SELECT version, hash, data, blind, deleted FROM records "
                "WHERE dataset_code = :d AND key = :k"
            ),
            {"d": code, "k": key},
        )
        row = found.first()
        return None if row is None else dict(row._mapping)


async def count_versions(hub: Hub, code: str) -> int:
    async with hub.db.sessions() as session:
        return int(
            await session.scalar(
                text("SELECT count(*) FROM record_versions WHERE dataset_code = :d"), {"d": code}
            )
            or 0
        )


async def normalised(hub: Hub, code: str, row: Mapping[str, Any]) -> dict[str, Any]:
    async with hub.db.sessions() as session:
        dataset = await session.get(Dataset, code)
        assert dataset is not None
        return normalise_record(dataset, row)


@pytest.fixture
def businesses() -> list[dict[str, Any]]:
    return generate.businesses(8)


async def mixed_batch(hub: Hub, businesses: list[dict[str, Any]]) -> WriteResult:
    """First 4 businesses stored; then a batch with an unchanged row, a changed row, a new row
    given twice (last wins), and two invalid rows (bad tax code, unknown field)."""
    await write(hub, "business", businesses[:4])
    changed = {**businesses[1], "name": "Công ty TNHH Đổi Tên"}
    new_first = {**businesses[4], "name": "Tên tạm"}
    batch = [
        businesses[0],  # 0: unchanged
        changed,  # 1: changed
        new_first,  # 2: new, superseded by position 5
        {**businesses[5], "tax_code": "12345"},  # 3: invalid key
        {**businesses[6], "colour": "xanh"},  # 4: unknown field
        businesses[4],  # 5: new, wins over position 2
    ]
    return await write(hub, "business", batch, reject_invalid=True)


async def test_mixed_batch_counts_read_inserted_updated_unchanged_duplicates(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    result = await mixed_batch(hub, businesses)
    assert (result.read, result.inserted, result.updated, result.unchanged) == (6, 1, 1, 1)
    assert result.duplicates == 1
    assert sorted(result.keys_written) == sorted(
        [(businesses[1]["tax_code"], 2), (businesses[4]["tax_code"], 1)]
    )


async def test_mixed_batch_returns_invalid_rows_with_position_and_reason(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    result = await mixed_batch(hub, businesses)
    assert [r.position for r in result.rejected] == [3, 4]
    assert "field 'tax_code' of dataset 'business'" in result.rejected[0].reason
    assert "expected 10 or 13 digits" in result.rejected[0].reason
    assert "unknown field(s) colour" in result.rejected[1].reason
    assert result.rejected[1].row["colour"] == "xanh"
    assert await current(hub, "business", businesses[6]["tax_code"]) is None
    assert await current(hub, "business", "12345") is None


async def test_changed_row_gets_next_version_superseding_the_old(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    await mixed_batch(hub, businesses)
    key = businesses[1]["tax_code"]
    history = await versions(hub, "business", key)
    assert [(v["version"], v["supersedes"], v["source"]) for v in history] == [
        (1, None, "test-bulk"),
        (2, 1, "test-bulk"),
    ]
    expected = await normalised(hub, "business", {**businesses[1], "name": "Công ty TNHH Đổi Tên"})
    assert history[1]["data"] == expected
    assert history[1]["hash"] == content_hash(expected)
    assert history[0]["hash"] == content_hash(await normalised(hub, "business", businesses[1]))
    now = await current(hub, "business", key)
    assert now is not None
    assert (now["version"], now["hash"], now["data"], now["deleted"]) == (
        2,
        content_hash(expected),
        expected,
        False,
    )


async def test_unchanged_row_keeps_its_single_version(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    await mixed_batch(hub, businesses)
    history = await versions(hub, "business", businesses[0]["tax_code"])
    assert [v["version"] for v in history] == [1]


async def test_duplicate_key_in_batch_last_row_wins(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    await mixed_batch(hub, businesses)
    key = businesses[4]["tax_code"]
    history = await versions(hub, "business", key)
    expected = await normalised(hub, "business", businesses[4])
    assert [(v["version"], v["data"]) for v in history] == [(1, expected)]
    now = await current(hub, "business", key)
    assert now is not None and now["data"]["name"] == expected["name"] != "Tên tạm"


async def test_second_identical_write_changes_nothing(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    first = await write(hub, "business", businesses)
    assert (first.inserted, first.updated, first.unchanged) == (8, 0, 0)
    before = await count_versions(hub, "business")
    again = await write(hub, "business", businesses)
    assert (again.inserted, again.updated, again.unchanged, again.keys_written) == (0, 0, 8, [])
    assert await count_versions(hub, "business") == before == 8


async def test_invalid_row_raises_with_position_by_default_and_nothing_is_stored(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    rows = [businesses[0], businesses[1], {**businesses[2], "registered_on": "not a date"}]
    with pytest.raises(InvalidInput) as raised:
        await write(hub, "business", rows)
    assert raised.value.code == "BAD_USER_INPUT"
    assert str(raised.value).startswith("row 2: field 'registered_on' of dataset 'business'")
    assert await count_versions(hub, "business") == 0


async def test_deleted_record_written_again_becomes_a_new_live_version(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    await write(hub, "business", businesses[:1])
    key = businesses[0]["tax_code"]
    async with hub.db.sessions.begin() as session:
        await session.execute(
            text("UPDATE records SET deleted = true WHERE dataset_code = 'business' AND key = :k"),
            {"k": key},
        )
    result = await write(hub, "business", businesses[:1])
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 0)
    now = await current(hub, "business", key)
    assert now is not None and (now["version"], now["deleted"]) == (2, False)


async def test_encrypted_fields_sealed_and_found_by_blind_index(hub: Hub) -> None:
    citizens = generate.citizens(5)
    result = await write(hub, "citizen", citizens)
    assert result.inserted == 5
    keys = field_keys(hub)
    person = next(c for c in citizens if c.get("phone"))
    async with hub.db.sessions() as session:
        stored = await session.execute(
            text(
                "SELECT r.key, r.data::text AS data_text, r.blind, v.data::text AS version_text "
                "FROM records r JOIN record_versions v USING (dataset_code, key, version) "
                "WHERE r.dataset_code = 'citizen'"
            )
        )
        rows = [dict(r._mapping) for r in stored]
        dataset = await session.get(Dataset, "citizen")
        assert dataset is not None
        found = await session.execute(
            text("SELECT data FROM records WHERE dataset_code = 'citizen' AND blind @> :b"),
            {"b": f'{{"phone": "{keys.blind(person["phone"])}"}}'},
        )
        matches = [unseal(dataset, r.data, keys) for r in found]
    for row in rows:
        for citizen in citizens:
            for secret in (citizen["citizen_id"], citizen.get("phone")):
                if secret:
                    assert secret not in row["key"]
                    assert secret not in row["data_text"]
                    assert secret not in row["version_text"]
    assert {r["key"] for r in rows} == {keys.blind(c["citizen_id"]) for c in citizens}
    assert [m["citizen_id"] for m in matches] == [person["citizen_id"]]
    assert matches[0]["phone"] == normalise_record(dataset, person)["phone"]


async def test_encrypted_dataset_rewritten_unchanged_makes_no_version(hub: Hub) -> None:
    citizens = generate.citizens(4)
    await write(hub, "citizen", citizens)
    again = await write(hub, "citizen", citizens)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 4)
    assert await count_versions(hub, "citizen") == 4


async def test_small_chunks_write_every_row_and_repeat_keys_across_chunks_in_order(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    renamed = {**businesses[0], "name": "Công ty Cổ phần Tên Mới"}
    rows = [*businesses[:5], renamed]
    result = await write(hub, "business", rows, chunk_size=2, track_keys=False)
    assert (result.read, result.inserted, result.updated, result.duplicates) == (6, 5, 1, 0)
    assert result.keys_written == []
    history = await versions(hub, "business", businesses[0]["tax_code"])
    assert [(v["version"], v["data"]["name"]) for v in history] == [
        (1, (await normalised(hub, "business", businesses[0]))["name"]),
        (2, "Công ty Cổ phần Tên Mới"),
    ]


async def test_async_iterable_input_is_written(hub: Hub, businesses: list[dict[str, Any]]) -> None:
    async def stream() -> AsyncIterator[Mapping[str, Any]]:
        for row in businesses:
            yield row

    result = await write(hub, "business", stream(), chunk_size=3)
    assert (result.read, result.inserted) == (8, 8)
    assert await count_versions(hub, "business") == 8


async def test_invalid_row_in_a_later_chunk_raises_with_its_input_position(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    # The error comes while the previous chunk's statement may be in flight: the writer lets
    # it finish, the caller's transaction rolls back whole and the connection stays usable.
    rows = [*businesses[:4], {**businesses[4], "status": "KHONG_CO"}, *businesses[5:]]
    with pytest.raises(InvalidInput) as raised:
        await write(hub, "business", rows, chunk_size=2)
    assert str(raised.value).startswith("row 4: field 'status' of dataset 'business'")
    assert await count_versions(hub, "business") == 0
    result = await write(hub, "business", businesses, chunk_size=2)
    assert result.inserted == 8


async def test_rejected_positions_count_across_chunks(
    hub: Hub, businesses: list[dict[str, Any]]
) -> None:
    rows = [*businesses[:5], {**businesses[5], "charter_capital": "nhiều"}, businesses[6]]
    result = await write(hub, "business", rows, chunk_size=2, reject_invalid=True)
    assert [(r.position, r.row["tax_code"]) for r in result.rejected] == [
        (5, businesses[5]["tax_code"])
    ]
    assert "field 'charter_capital' of dataset 'business': expected a number" in (
        result.rejected[0].reason
    )
    assert (result.read, result.inserted) == (7, 6)
    assert await count_versions(hub, "business") == 6
