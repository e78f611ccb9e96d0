"""Typed lookups read a record as it was (``asOf``) and list its versions (``history``);
a correction is a new version with a reason, never an edit in place."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from catalog.models import Dataset
from catalog.principal import Principal
from catalog.records import correct_record
from hub.runtime import Hub
from tests.records_fixtures import field_keys, load_demo_records

Gql = Callable[..., Awaitable[dict[str, Any]]]

AS_OF = """
query($k: String!, $t: DateTime) { business(key: $k, asOf: $t) { taxCode address } }
"""
HISTORY = """
query($k: String!) { business(key: $k) { taxCode address history { version reason source
  values } } datasets(first: 1) { totalCount } }
"""


async def _correct(hub: Hub, tax_code: str, address: str) -> None:
    async with hub.db.sessions.begin() as session:
        dataset = await session.get(Dataset, "business")
        assert dataset is not None
        await correct_record(
            session,
            Principal("head:skhdt", "SKHDT", frozenset({"owner"})),
            dataset,
            tax_code,
            {"address": address},
            "Sai địa chỉ trụ sở",
            field_keys(hub),
        )


async def test_as_of_reads_the_version_current_at_that_time(gql: Gql, hub: Hub, app: Any) -> None:
    business = (await load_demo_records(hub, businesses=3, parcels=1, citizens=1))["business"][0]
    await asyncio.sleep(0.01)
    before = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.01)
    await _correct(hub, business["tax_code"], "Số 1 đường Lý Thái Tổ, phường Suối Hoa")
    old = await gql(AS_OF, k=business["tax_code"], t=before)
    new = await gql(AS_OF, k=business["tax_code"])
    assert old["data"]["business"]["address"] == business["address"]
    assert new["data"]["business"]["address"] == "Số 1 đường Lý Thái Tổ, phường Suối Hoa"


async def test_history_lists_versions_with_the_correction_reason(
    gql: Gql, token: Callable[..., str], hub: Hub, app: Any
) -> None:
    business = (await load_demo_records(hub, businesses=3, parcels=1, citizens=1))["business"][0]
    await _correct(hub, business["tax_code"], "Lô CN-05, KCN Quế Võ")
    body = await gql(HISTORY, token=token("STNMT", "reader"), k=business["tax_code"])
    assert "errors" not in body, body
    versions = body["data"]["business"]["history"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[0]["reason"] == "Sai địa chỉ trụ sở"
    assert versions[0]["values"]["address"] == "Lô CN-05, KCN Quế Võ"
    assert versions[1]["values"]["address"] == business["address"]
    # RESTRICTED fields stay out of history for a reader without a grant.
    assert "representative_phone" not in versions[1]["values"]


DATES_BESIDE_HISTORY = """
query($k: String!) { business(key: $k) { registeredOn updatedAt history { version } } }
"""
DATES_FAST = "query($k: String!) { business(key: $k) { registeredOn updatedAt } }"


async def test_dates_beside_history_are_served_as_stored_like_the_fast_path(
    gql: Gql, hub: Hub, app: Any
) -> None:
    # `history` runs under normal execution: the date scalars must pass stored text through.
    business = (await load_demo_records(hub, businesses=2, parcels=1, citizens=1))["business"][0]
    slow = await gql(DATES_BESIDE_HISTORY, k=business["tax_code"])
    fast = await gql(DATES_FAST, k=business["tax_code"])
    assert "errors" not in slow, slow
    assert slow["data"]["business"]["updatedAt"] == fast["data"]["business"]["updatedAt"]
    assert slow["data"]["business"]["registeredOn"] == business["registered_on"]
