"""Connectors through the real app over HTTP: who sees ``connectors`` and ``syncRuns``, who
may ``runSync``, and who reads what a run set aside (quarantined rows, reconciliation
findings). Sources are real CSV files; runs go through the real engine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from connectors.engine import run_connector
from connectors.spec import parse_connector
from connectors.store import add_connector
from hub.embedded_postgres import to_libpq_url
from hub.runtime import Hub
from tests.record_support import Gql

CONNECTORS = """
query { connectors { name kind schedule nextRunAt dataset { code owner { code } }
  lastRun { id status read inserted rejected } } }"""
SYNC_RUNS = """
query($connector: String!, $first: Int, $after: ID) {
  syncRuns(connector: $connector, first: $first, after: $after) { id status trigger read } }"""
SYNC_RUN = "query($id: ID!) { syncRun(id: $id) { id status read inserted error } }"
RUN_SYNC = """
mutation($connector: String!) {
  runSync(connector: $connector) { id connector status startedAt trigger } }"""
QUARANTINE = """
query($run: ID!, $first: Int, $after: String) {
  quarantinedRows(run: $run, first: $first, after: $after) {
    edges { cursor node { position reason row } } pageInfo { hasNextPage endCursor } } }"""
FINDINGS = """
query($run: ID!) {
  reconciliationFindings(run: $run) { edges { node { field kind authority key value } } } }"""
TOTALS = "query($run: ID!) { reconciliationTotals(run: $run) { field kind authority count } }"

BUSINESS_CSV = (
    "mst,ten,loai_hinh,ngay_cap,tinh_trang\n"
    "0100000001,Công ty TNHH Một,TNHH_1TV,2020-01-02,DANG_HOAT_DONG\n"
    "0100000002,Công ty Hai,CO_PHAN,not-a-date,DANG_HOAT_DONG\n"
    "0100000003,Công ty Ba,CO_PHAN,2021-05-06,NO_SUCH_STATUS\n"
    "0100000004,Công ty Bốn,TU_NHAN,2022-07-08,DANG_HOAT_DONG\n"
)
BUSINESS_MAPPING = {
    "tax_code": "mst",
    "name": "ten",
    "legal_form": "loai_hinh",
    "registered_on": "ngay_cap",
    "status": "tinh_trang",
}
PARCEL_CSV = (
    "ma_thua,to,thua,huyen,xa,dien_tich,muc_dich,mst_chu\n"
    "27-TS-1-1,1,1,Thị xã Từ Sơn,Phường Đông Ngàn,120.5,ODT,0109999999\n"
)
PARCEL_MAPPING = {
    "parcel_id": "ma_thua",
    "map_sheet": "to",
    "parcel_number": "thua",
    "district": "huyen",
    "commune": "xa",
    "area_m2": "dien_tich",
    "land_use": "muc_dich",
    "holder_tax_code": "mst_chu",
}


def _toml(name: str, dataset: str, path: Path, mapping: dict[str, str], schedule: str) -> str:
    lines = [f'name = "{name}"', f'dataset = "{dataset}"', 'kind = "csv"']
    lines.append(f'schedule = "{schedule}"')
    lines += ["[source]", f'path = "{path}"', "[mapping]"]
    lines += [f'{field} = "{column}"' for field, column in mapping.items()]
    return "\n".join(lines) + "\n"


async def _add(hub: Hub, toml: str) -> None:
    spec = parse_connector(toml, fmt="toml", origin="test.toml")
    async with hub.db.sessions.begin() as session:
        await add_connector(session, hub.keys.sealing_keys(), spec, actor=None, environ={})


@pytest.fixture
async def connectors(app: Any, hub: Hub, tmp_path: Path) -> None:
    """``dkkd_csv`` into SKHDT's business, ``parcels_csv`` into STNMT's land parcels."""
    business = tmp_path / "business.csv"
    business.write_text(BUSINESS_CSV, encoding="utf-8")
    parcels = tmp_path / "parcels.csv"
    parcels.write_text(PARCEL_CSV, encoding="utf-8")
    await _add(hub, _toml("dkkd_csv", "business", business, BUSINESS_MAPPING, "every 1h"))
    await _add(hub, _toml("parcels_csv", "land_parcel", parcels, PARCEL_MAPPING, "0 2 * * *"))


async def _run(hub: Hub, name: str) -> int:
    outcome = await run_connector(hub.db.sessions, hub.keys.sealing_keys(), name, environ={})
    assert outcome.status == "SUCCEEDED", outcome
    return outcome.run_id


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_owner_agency_and_stewards_see_connectors_others_none(
    gql: Gql, token: Callable[..., str], connectors: None, hub: Hub
) -> None:
    await _run(hub, "dkkd_csv")
    skhdt = (await gql(CONNECTORS, token=token("SKHDT", "owner")))["data"]["connectors"]
    assert [(c["name"], c["kind"], c["schedule"]) for c in skhdt] == [
        ("dkkd_csv", "csv", "every 1h")
    ]
    assert skhdt[0]["dataset"] == {"code": "business", "owner": {"code": "SKHDT"}}
    assert skhdt[0]["lastRun"]["status"] == "SUCCEEDED"
    assert (skhdt[0]["lastRun"]["read"], skhdt[0]["lastRun"]["rejected"]) == (4, 2)
    stnmt = (await gql(CONNECTORS, token=token("STNMT", "owner")))["data"]["connectors"]
    assert [c["name"] for c in stnmt] == ["parcels_csv"]
    assert stnmt[0]["lastRun"] is None and stnmt[0]["nextRunAt"] is not None
    steward = (await gql(CONNECTORS, token=token("STTTT", "steward")))["data"]["connectors"]
    assert [c["name"] for c in steward] == ["dkkd_csv", "parcels_csv"]
    for caller in (token("SKHDT", "reader"), token("STNMT", "reader"), None):
        assert await gql(CONNECTORS, token=caller) == {"data": {"connectors": []}}


async def test_connectors_are_paged_by_name_and_bounded(
    gql: Gql, token: Callable[..., str], connectors: None
) -> None:
    steward = token("STTTT", "steward")
    page = (
        "query($first: Int, $after: String) { connectors(first: $first, after: $after) { name } }"
    )
    first = await gql(page, token=steward, first=1)
    assert first == {"data": {"connectors": [{"name": "dkkd_csv"}]}}
    rest = await gql(page, token=steward, first=5, after="dkkd_csv")
    assert rest == {"data": {"connectors": [{"name": "parcels_csv"}]}}
    assert _codes(await gql(page, token=steward, first=101)) == ["QUERY_TOO_COMPLEX"]


async def test_sync_runs_are_bounded_and_paged_newest_first(
    gql: Gql, token: Callable[..., str], connectors: None, hub: Hub
) -> None:
    ids = [await _run(hub, "dkkd_csv") for _ in range(3)]
    owner = token("SKHDT", "owner")
    too_many = await gql(SYNC_RUNS, token=owner, connector="dkkd_csv", first=101)
    assert _codes(too_many) == ["QUERY_TOO_COMPLEX"]
    first = (await gql(SYNC_RUNS, token=owner, connector="dkkd_csv", first=2))["data"]
    assert [r["id"] for r in first["syncRuns"]] == [str(ids[2]), str(ids[1])]
    assert {r["trigger"] for r in first["syncRuns"]} == {"manual"}
    rest = await gql(SYNC_RUNS, token=owner, connector="dkkd_csv", first=2, after=str(ids[1]))
    assert [r["id"] for r in rest["data"]["syncRuns"]] == [str(ids[0])]
    for caller in (token("STNMT", "owner"), token("SKHDT", "reader"), None):
        body = await gql(SYNC_RUNS, token=caller, connector="dkkd_csv")
        assert body == {"data": {"syncRuns": []}}
    steward = await gql(SYNC_RUNS, token=token("STTTT", "steward"), connector="dkkd_csv")
    assert len(steward["data"]["syncRuns"]) == 3


async def test_run_sync_by_a_reader_is_forbidden_and_hidden_from_other_agencies(
    gql: Gql, token: Callable[..., str], connectors: None
) -> None:
    reader = await gql(RUN_SYNC, token=token("SKHDT", "reader"), connector="dkkd_csv")
    assert reader.get("data") is None and _codes(reader) == ["FORBIDDEN"]
    other = await gql(RUN_SYNC, token=token("STNMT", "owner"), connector="dkkd_csv")
    assert _codes(other) == ["NOT_FOUND"]
    anonymous = await gql(RUN_SYNC, connector="dkkd_csv")
    assert _codes(anonymous) == ["UNAUTHENTICATED"]
    missing = await gql(RUN_SYNC, token=token("STTTT", "steward"), connector="no_such")
    assert _codes(missing) == ["NOT_FOUND"]


async def test_run_sync_starts_in_the_background_and_is_audited(
    gql: Gql, token: Callable[..., str], connectors: None, hub: Hub
) -> None:
    owner = token("SKHDT", "owner", subject="skhdt-head")
    started = await gql(RUN_SYNC, token=owner, connector="dkkd_csv")
    assert "errors" not in started, started
    run = started["data"]["runSync"]
    assert run["connector"] == "dkkd_csv" and run["trigger"] == "api"
    assert run["status"] in {"RUNNING", "SUCCEEDED"}  # a four-row file may already be done
    for _ in range(200):
        polled = (await gql(SYNC_RUN, token=owner, id=run["id"]))["data"]["syncRun"]
        if polled["status"] != "RUNNING":
            break
        await asyncio.sleep(0.05)
    assert polled == {
        "id": run["id"],
        "status": "SUCCEEDED",
        "read": 4,
        "inserted": 2,
        "error": None,
    }
    async with hub.db.sessions() as session:
        events = (
            await session.execute(
                text(
                    "SELECT action, subject, detail FROM audit_events "
                    "WHERE action LIKE 'sync.%' ORDER BY seq"
                )
            )
        ).all()
    assert ("sync.start", "skhdt-head") in [(e.action, e.subject) for e in events]
    start = next(e for e in events if e.action == "sync.start")
    assert start.detail == {"connector": "dkkd_csv", "run": int(run["id"])}
    other = await gql(SYNC_RUN, token=token("STNMT", "owner"), id=run["id"])
    assert other == {"data": {"syncRun": None}}


async def test_run_sync_while_a_run_holds_the_lock_is_conflict(
    gql: Gql, token: Callable[..., str], connectors: None, database_url: str
) -> None:
    holder = await asyncpg.connect(to_libpq_url(database_url))
    try:
        await holder.execute(
            "SELECT pg_advisory_lock(hashtext('hub-connector'), hashtext('dkkd_csv'))"
        )
        body = await gql(RUN_SYNC, token=token("STTTT", "steward"), connector="dkkd_csv")
    finally:
        await holder.close()
    assert _codes(body) == ["CONFLICT"]
    assert "already running" in body["errors"][0]["message"]


async def test_quarantined_rows_only_for_the_owning_agency(
    gql: Gql, token: Callable[..., str], connectors: None, hub: Hub
) -> None:
    run_id = await _run(hub, "dkkd_csv")
    owner = token("SKHDT", "owner")
    page = (await gql(QUARANTINE, token=owner, run=str(run_id), first=1))["data"]
    rows = page["quarantinedRows"]
    assert rows["pageInfo"]["hasNextPage"] is True
    first = rows["edges"][0]["node"]
    assert first["position"] == "line 3" and "registered_on" in first["reason"]
    assert first["row"]["ngay_cap"] == "not-a-date"
    after = rows["pageInfo"]["endCursor"]
    rest = (await gql(QUARANTINE, token=owner, run=str(run_id), first=5, after=after))["data"]
    [second] = rest["quarantinedRows"]["edges"]
    assert second["node"]["position"] == "line 4" and "status" in second["node"]["reason"]
    assert rest["quarantinedRows"]["pageInfo"]["hasNextPage"] is False
    too_many = await gql(QUARANTINE, token=owner, run=str(run_id), first=1000)
    assert _codes(too_many) == ["QUERY_TOO_COMPLEX"]
    steward = await gql(QUARANTINE, token=token("STTTT", "steward"), run=str(run_id))
    assert _codes(steward) == ["FORBIDDEN"] and steward.get("data") is None
    for caller in (token("STNMT", "owner"), token("SKHDT", "reader")):
        assert _codes(await gql(QUARANTINE, token=caller, run=str(run_id))) == ["NOT_FOUND"]
    assert _codes(await gql(QUARANTINE, run=str(run_id))) == ["UNAUTHENTICATED"]
    bad = await gql(QUARANTINE, token=owner, run=str(run_id), after="not-a-cursor")
    assert _codes(bad) == ["BAD_USER_INPUT"]


async def test_reconciliation_findings_for_the_owner_totals_for_stewards(
    gql: Gql, token: Callable[..., str], connectors: None, hub: Hub
) -> None:
    run_id = str(await _run(hub, "parcels_csv"))
    owner = token("STNMT", "owner")
    findings = (await gql(FINDINGS, token=owner, run=run_id))["data"]["reconciliationFindings"]
    assert [e["node"] for e in findings["edges"]] == [
        {
            "field": "holder_tax_code",
            "kind": "UNRESOLVED_REFERENCE",
            "authority": "business",
            "key": "27-TS-1-1",
            "value": "0109999999",
        }
    ]
    steward = token("STTTT", "steward")
    assert _codes(await gql(FINDINGS, token=steward, run=run_id)) == ["FORBIDDEN"]
    totals = (await gql(TOTALS, token=steward, run=run_id))["data"]["reconciliationTotals"]
    assert totals == [
        {
            "field": "holder_tax_code",
            "kind": "UNRESOLVED_REFERENCE",
            "authority": "business",
            "count": 1,
        }
    ]
    assert _codes(await gql(TOTALS, token=token("SKHDT", "owner"), run=run_id)) == ["NOT_FOUND"]
    async with hub.db.sessions() as session:
        reads = await session.scalar(
            text("SELECT count(*) FROM audit_events WHERE action = 'sync.findings.read'")
        )
    assert reads == 1
