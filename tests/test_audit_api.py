"""Reads are audited (one ``record.read`` event per dataset per request, with keys, fields and
purpose) and remembered per agency; owners see who used their data; the monthly usage
report counts it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import func, select

from catalog.models import AuditEvent, RecordRead
from catalog.principal import Principal
from catalog.reads import MAX_KEYS, record_reads
from catalog.values import VIETNAM
from hub.db import Database
from hub.demo import generate
from hub.keys import KeyStore
from hub.runtime import Hub
from tests.record_support import TUSON, Gql, approved_grant, codes, load

RECORDS_TWICE = """
query($k: String!) {
  records(dataset: "citizen", first: 100) { edges { node { key } } }
  record(dataset: "citizen", key: $k) { key }
  business: records(dataset: "business", first: 3) { edges { node { key } } }
}"""
CITIZENS = 'query { records(dataset: "citizen", first: 100) { edges { node { key values } } } }'
EVENTS = """
query($dataset: String, $agency: String, $first: Int, $after: String, $since: DateTime) {
  auditEvents(dataset: $dataset, agency: $agency, first: $first, after: $after, since: $since) {
    edges { cursor node { seq at subject agency action dataset keys fields purpose hash } }
    pageInfo { hasNextPage endCursor }
  }
}"""
USAGE = """
query($month: String!) {
  usageReport(month: $month) { month rows { agency dataset requests recordsServed refused } }
}"""
PURPOSE = "Xác minh nơi thường trú"


@pytest.fixture
async def citizens(app: Any, database: Database, keys: KeyStore) -> list[dict[str, Any]]:
    rows = generate.citizens(30)
    await load(database, keys, "citizen", rows)
    await load(database, keys, "business", generate.businesses(5))
    return rows


@pytest.fixture
async def tuson(gql: Gql, token: Callable[..., str], citizens: list[dict[str, Any]]) -> str:
    """A Từ Sơn town app with a row-filtered grant on citizens."""
    reader = token("UBND-TX-TUSON", "reader", subject="tuson-app")
    await approved_grant(
        gql,
        reader,
        token("SYT", "owner"),
        "citizen",
        ["citizen_id", "full_name", "district"],
        {"district": TUSON},
    )
    return reader


async def _reads(database: Database, request_id: str | None = None) -> list[AuditEvent]:
    async with database.sessions() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == "record.read")
        if request_id:
            stmt = stmt.where(AuditEvent.request_id == request_id)
        return list(await session.scalars(stmt.order_by(AuditEvent.seq)))


def _month() -> str:
    return datetime.now(VIETNAM).strftime("%Y-%m")  # the report's months are Vietnam time


async def test_reads_are_audited_once_per_dataset_per_request(
    client: httpx.AsyncClient,
    tuson: str,
    citizens: list[dict[str, Any]],
    database: Database,
) -> None:
    inside = [c for c in citizens if c["district"] == TUSON]
    response = await client.post(
        "/graphql",
        json={"query": RECORDS_TWICE, "variables": {"k": inside[0]["citizen_id"]}},
        headers={
            "Authorization": f"Bearer {tuson}",
            "X-Purpose": quote(PURPOSE),  # headers are Latin-1: percent-encoded UTF-8
            "X-Request-Id": "req-audit-1",
        },
    )
    body = response.json()
    assert "errors" not in body, body
    events = await _reads(database, "req-audit-1")
    assert sorted(e.dataset or "" for e in events) == ["business", "citizen"]
    citizen = next(e for e in events if e.dataset == "citizen")
    assert citizen.subject == "tuson-app" and citizen.agency == "UBND-TX-TUSON"
    assert citizen.purpose == PURPOSE
    assert citizen.fields == ["citizen_id", "district", "full_name"]
    assert citizen.detail == {"count": len(inside)}
    assert citizen.key_list is not None and len(citizen.key_list) == len(inside)
    # Keys are stored keys: blind indexes for the encrypted citizen id, never plaintext.
    assert not {c["citizen_id"] for c in citizens} & set(citizen.key_list)
    async with database.sessions() as session:
        remembered = await session.scalar(
            select(func.count()).select_from(RecordRead).where(RecordRead.agency == "UBND-TX-TUSON")
        )
    assert remembered == len(inside) + 3  # citizens and the three businesses, version 1 each


async def test_purpose_missing_is_logged_as_refused(
    gql: Gql, tuson: str, database: Database
) -> None:
    body = await gql(CITIZENS, token=tuson)
    assert codes(body) == ["BAD_USER_INPUT"]
    (event,) = await _reads(database)
    assert event.purpose is None
    assert event.fields == ["district"]
    assert event.detail is not None and event.detail["refused"] == ["citizen_id", "full_name"]


async def test_anonymous_reads_are_audited_but_not_remembered(
    gql: Gql, citizens: list[dict[str, Any]], database: Database
) -> None:
    await gql('query { records(dataset: "business") { edges { node { key } } } }')
    (event,) = await _reads(database)
    assert (event.subject, event.agency, event.dataset) == (None, None, "business")
    async with database.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(RecordRead)) == 0


async def test_owner_sees_who_read_its_data(
    gql: Gql, token: Callable[..., str], tuson: str, database: Database
) -> None:
    await gql(CITIZENS, token=tuson, purpose=PURPOSE)
    owner = token("SYT", "owner")
    body = await gql(EVENTS, token=owner, dataset="citizen")
    nodes = [e["node"] for e in body["data"]["auditEvents"]["edges"]]
    actions = [n["action"] for n in nodes]
    assert actions[0] == "record.read"  # newest first
    assert {"grant.request", "grant.approve"} <= set(actions)
    read = nodes[0]
    assert (read["agency"], read["purpose"]) == ("UBND-TX-TUSON", PURPOSE)
    assert read["keys"] and len(read["hash"]) == 64
    seqs = [n["seq"] for n in nodes]
    assert seqs == sorted(seqs, reverse=True)
    # Another agency's owner sees none of it; the reader sees its own events.
    other = await gql(EVENTS, token=token("SKHDT", "owner"), dataset="citizen")
    assert other["data"]["auditEvents"]["edges"] == []
    own = await gql(EVENTS, token=tuson)
    assert {e["node"]["agency"] for e in own["data"]["auditEvents"]["edges"]} == {"UBND-TX-TUSON"}
    admin = await gql(EVENTS, token=token("VPUBND", "admin"), agency="SYT")
    assert {e["node"]["action"] for e in admin["data"]["auditEvents"]["edges"]} == {"grant.approve"}


async def test_audit_events_page_by_cursor(gql: Gql, token: Callable[..., str], tuson: str) -> None:
    for _ in range(3):
        await gql(CITIZENS, token=tuson, purpose=PURPOSE)
    owner = token("SYT", "owner")
    seen: list[int] = []
    after = None
    while True:
        body = await gql(EVENTS, token=owner, first=2, after=after)
        page = body["data"]["auditEvents"]
        seen += [e["node"]["seq"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    everything = await gql(EVENTS, token=owner, first=100)
    assert seen == [e["node"]["seq"] for e in everything["data"]["auditEvents"]["edges"]]
    assert len(seen) >= 5
    future = await gql(EVENTS, token=owner, since="2999-01-01T00:00:00Z")
    assert future["data"]["auditEvents"]["edges"] == []


async def test_audit_events_refuse_anonymous_and_bad_cursors(
    gql: Gql, token: Callable[..., str], app: Any
) -> None:
    assert codes(await gql(EVENTS)) == ["UNAUTHENTICATED"]
    assert codes(await gql(EVENTS, token=token("SYT", "owner"), after="bm9wZQ")) == [
        "BAD_USER_INPUT"
    ]
    assert codes(await gql(EVENTS, token=token("SYT", "owner"), first=1000)) == [
        "QUERY_TOO_COMPLEX"
    ]


async def test_usage_report_counts_requests_records_and_refusals(
    gql: Gql, token: Callable[..., str], tuson: str, citizens: list[dict[str, Any]]
) -> None:
    in_tuson = sum(1 for c in citizens if c["district"] == TUSON)
    await gql(CITIZENS, token=tuson, purpose=PURPOSE)
    await gql(CITIZENS, token=tuson, purpose=PURPOSE)
    await gql(CITIZENS, token=tuson)  # no purpose: refused fields
    await gql('query { records(dataset: "business") { edges { node { key } } } }')
    month = _month()
    body = await gql(USAGE, token=token("SYT", "owner"), month=month)
    assert body["data"]["usageReport"] == {
        "month": month,
        "rows": [
            {
                "agency": "UBND-TX-TUSON",
                "dataset": "citizen",
                "requests": 3,
                "recordsServed": 3 * in_tuson,
                "refused": 1,
            }
        ],
    }
    steward = await gql(USAGE, token=token("STTTT", "steward"), month=month)
    assert [(r["agency"], r["dataset"]) for r in steward["data"]["usageReport"]["rows"]] == [
        ("UBND-TX-TUSON", "citizen"),
        ("anonymous", "business"),
    ]
    business_owner = await gql(USAGE, token=token("SKHDT", "owner"), month=month)
    assert [
        (r["agency"], r["dataset"], r["requests"], r["recordsServed"])
        for r in business_owner["data"]["usageReport"]["rows"]
    ] == [("anonymous", "business", 1, 5)]
    other = await gql(USAGE, token=token("STP", "owner"), month=month)
    assert other["data"]["usageReport"]["rows"] == []
    reader = await gql(USAGE, token=tuson, month=month)  # an agency sees its own use
    assert [r["dataset"] for r in reader["data"]["usageReport"]["rows"]] == ["citizen"]
    last_year = await gql(USAGE, token=token("VPUBND", "admin"), month="2001-01")
    assert last_year["data"]["usageReport"]["rows"] == []


@pytest.mark.parametrize("month", ["2025-13", "2025-6", "06/2025", "", "tháng sáu"])
async def test_usage_report_rejects_a_bad_month(
    gql: Gql, token: Callable[..., str], app: Any, month: str
) -> None:
    body = await gql(USAGE, token=token("VPUBND", "admin"), month=month)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "YYYY-MM" in body["errors"][0]["message"]


async def test_usage_report_needs_a_signed_in_caller(gql: Gql, app: Any) -> None:
    assert codes(await gql(USAGE, month="2025-06")) == ["UNAUTHENTICATED"]


async def test_record_reads_caps_keys_and_keeps_the_count(hub: Hub, seeded: None) -> None:
    principal = Principal("app", "STNMT", frozenset({"reader"}))
    reads = [("business", f"{n:010d}", 1) for n in range(MAX_KEYS + 200)]
    async with hub.db.sessions.begin() as session:
        await record_reads(session, principal, reads, {"business": ["name"]}, "kiểm tra", "req-big")
    async with hub.db.sessions() as session:
        (event,) = (
            await session.scalars(select(AuditEvent).where(AuditEvent.request_id == "req-big"))
        ).all()
        remembered = await session.scalar(select(func.count()).select_from(RecordRead))
    assert event.key_list is not None and len(event.key_list) == MAX_KEYS
    assert event.detail == {"count": MAX_KEYS + 200}
    assert remembered == MAX_KEYS + 200
