"""Reads that return nothing are audited (DESIGN.md §6): a single-key lookup that serves no
record (no grant, outside the row filter, unknown key) on the typed and the generic path, and
count-only typed queries, each leave a ``record.read`` event of zero records with the keys
asked (stored keys: blind indexes for encrypted identifiers) or the list's filter shape and
count; ``usageReport`` counts the lookups as refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select

from catalog.models import AuditEvent
from catalog.reads import asked_digest
from catalog.values import VIETNAM
from hub.runtime import Hub
from tests.record_support import TUSON, Gql, approved_grant
from tests.records_fixtures import load_demo_records

PURPOSE = "Giải quyết thủ tục hành chính"
TYPED_CITIZEN = "query($k: String!) { citizen(key: $k) { citizenId fullName } }"
GENERIC_CITIZEN = 'query($k: String!) { record(dataset: "citizen", key: $k) { key } }'
GENERIC_HISTORY = 'query($k: String!) { recordHistory(dataset: "citizen", key: $k) { version } }'
TYPED_BUSINESS = "query($k: String!) { business(key: $k) { taxCode name } }"
COUNT_ONLY = "{ citizenList { totalCount } }"
COUNT_FILTERED = "query($d: String!) { citizenList(filter: {district: {eq: $d}}) { totalCount } }"
USAGE = """
query($month: String!) {
  usageReport(month: $month) { rows { agency dataset requests recordsServed refused } }
}"""
EVENTS = """
query { auditEvents(dataset: "citizen", first: 20) {
  edges { node { action agency dataset keys missedKeys recordsServed } } } }"""
NEVER_SEEN_ID = "001099000999"


@pytest.fixture
async def demo(hub: Hub, app: Any) -> dict[str, list[dict[str, Any]]]:
    return await load_demo_records(hub, businesses=6, parcels=4, citizens=24)


@pytest.fixture
async def tuson(gql: Gql, token: Callable[..., str], demo: dict[str, Any]) -> str:
    """A Từ Sơn reader with a grant on citizens of its own district only."""
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


async def _reads(hub: Hub, dataset: str | None = None) -> list[AuditEvent]:
    async with hub.db.sessions() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == "record.read")
        if dataset is not None:
            stmt = stmt.where(AuditEvent.dataset == dataset)
        return list(await session.scalars(stmt.order_by(AuditEvent.seq)))


def _blind(hub: Hub, value: str) -> str:
    return hub.keys.sealing_keys().blind(value)


def _digest(hub: Hub, value: str) -> str:
    return asked_digest(value, hub.keys.sealing_keys())


def _outside(demo: dict[str, Any]) -> str:
    return str(next(c for c in demo["citizen"] if c["district"] != TUSON)["citizen_id"])


def _inside(demo: dict[str, Any]) -> str:
    return str(next(c for c in demo["citizen"] if c["district"] == TUSON)["citizen_id"])


def _month() -> str:
    return datetime.now(VIETNAM).strftime("%Y-%m")


@pytest.mark.parametrize("query", [TYPED_CITIZEN, GENERIC_CITIZEN, GENERIC_HISTORY])
async def test_lookup_without_a_grant_is_a_read_of_zero_records(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any], query: str
) -> None:
    citizen_id = str(demo["citizen"][0]["citizen_id"])
    body = await gql(query, token=token("STNMT", "reader"), purpose=PURPOSE, k=citizen_id)
    assert "errors" not in body, body
    assert next(iter(body["data"].values())) in (None, [])
    (event,) = await _reads(hub, "citizen")
    assert event.agency == "STNMT" and event.purpose == PURPOSE
    # The encrypted identifier is kept as a keyed digest, never in plaintext.
    assert event.key_list == [_digest(hub, citizen_id)]
    assert event.detail is not None
    assert event.detail["count"] == 0
    assert event.detail["missed"] == [_digest(hub, citizen_id)]


@pytest.mark.parametrize("query", [TYPED_CITIZEN, GENERIC_CITIZEN])
async def test_lookup_outside_the_row_filter_is_audited_like_an_unknown_key(
    gql: Gql, tuson: str, hub: Hub, demo: dict[str, Any], query: str
) -> None:
    outside = await gql(query, token=tuson, purpose=PURPOSE, k=_outside(demo))
    unknown = await gql(query, token=tuson, purpose=PURPOSE, k=NEVER_SEEN_ID)
    assert next(iter(outside["data"].values())) is None
    assert next(iter(unknown["data"].values())) is None
    first, second = await _reads(hub, "citizen")
    assert first.key_list == [_digest(hub, _outside(demo))]
    assert second.key_list == [_digest(hub, NEVER_SEEN_ID)]
    # Nothing in the event tells the caller which of the two keys exists.
    assert (first.fields, first.detail and set(first.detail)) == (
        second.fields,
        second.detail and set(second.detail),
    )
    assert first.detail == {"count": 0, "missed": first.key_list}
    assert second.detail == {"count": 0, "missed": second.key_list}


async def test_served_and_missed_keys_share_one_event_per_dataset(
    gql: Gql, tuson: str, hub: Hub, demo: dict[str, Any]
) -> None:
    query = """query($a: String!, $b: String!) {
      inside: citizen(key: $a) { fullName } outside: citizen(key: $b) { fullName } }"""
    body = await gql(query, token=tuson, purpose=PURPOSE, a=_inside(demo), b=_outside(demo))
    assert body["data"]["inside"]["fullName"] and body["data"]["outside"] is None
    (event,) = await _reads(hub, "citizen")
    assert event.key_list == [_blind(hub, _inside(demo)), _digest(hub, _outside(demo))]
    assert event.detail == {"count": 1, "missed": [_digest(hub, _outside(demo))]}


async def test_generic_lookup_served_by_value_is_not_a_miss(
    gql: Gql, tuson: str, hub: Hub, demo: dict[str, Any]
) -> None:
    query = """query($a: String!, $b: String!) {
      inside: record(dataset: "citizen", key: $a) { key }
      outside: record(dataset: "citizen", key: $b) { key } }"""
    body = await gql(query, token=tuson, purpose=PURPOSE, a=f" {_inside(demo)} ", b=_outside(demo))
    assert body["data"]["inside"]["key"] == _inside(demo) and body["data"]["outside"] is None
    (event,) = await _reads(hub, "citizen")
    assert event.key_list == [_blind(hub, _inside(demo)), _digest(hub, _outside(demo))]
    assert event.detail == {"count": 1, "missed": [_digest(hub, _outside(demo))]}


async def test_plain_key_of_unencrypted_key_field_is_kept_as_asked(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    body = await gql(TYPED_BUSINESS, token=token("STNMT", "reader"), k="9999999999")
    assert body["data"]["business"] is None
    (event,) = await _reads(hub, "business")
    assert event.key_list == ["9999999999"]
    assert event.detail == {"count": 0, "missed": ["9999999999"]}


async def test_anonymous_lookup_of_restricted_dataset_is_audited(
    gql: Gql, hub: Hub, demo: dict[str, Any]
) -> None:
    citizen_id = str(demo["citizen"][0]["citizen_id"])
    assert await gql(GENERIC_CITIZEN, k=citizen_id) == {"data": {"record": None}}
    (event,) = await _reads(hub, "citizen")
    assert (event.subject, event.agency) == (None, None)
    assert event.key_list == [_digest(hub, citizen_id)]


async def test_unknown_and_hidden_datasets_read_alike_in_the_callers_audit(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    draft = """mutation { createDataset(input: {code: "secret_register", title: "Sổ riêng",
      sector: "y_te", keyField: "code", fields: [{name: "code", type: "string",
      required: true}]}) { code } }"""
    created = await gql(draft, token=token("SYT", "owner"))
    assert "errors" not in created, created
    reader = token("STNMT", "reader")
    lookup = 'query($d: String!) { record(dataset: $d, key: "A-1") { key } }'
    hidden = await gql(lookup, token=reader, d="secret_register")
    missing = await gql(lookup, token=reader, d="no_such_register")
    assert hidden == missing == {"data": {"record": None}}
    first = (await _reads(hub, "secret_register"))[0]
    second = (await _reads(hub, "no_such_register"))[0]
    assert first.key_list == second.key_list == [_digest(hub, "A-1")]
    assert first.detail == second.detail == {"count": 0, "missed": [_digest(hub, "A-1")]}


async def test_lookup_of_a_name_no_dataset_could_have_leaves_no_event(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    lookup = 'query($d: String!) { record(dataset: $d, key: "A-1") { key } }'
    body = await gql(lookup, token=token("STNMT", "reader"), d="Not A Dataset\u0007")
    assert body == {"data": {"record": None}}
    assert await _reads(hub) == []


async def test_overlong_key_is_kept_as_a_digest(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    key = "9" * 5000
    body = await gql(TYPED_BUSINESS, token=token("STNMT", "reader"), k=key)
    assert body["data"]["business"] is None
    (event,) = await _reads(hub, "business")
    assert event.key_list == [_digest(hub, key)]


async def test_count_only_typed_query_is_audited_with_the_count(
    gql: Gql, tuson: str, hub: Hub, demo: dict[str, Any]
) -> None:
    inside = sum(1 for c in demo["citizen"] if c["district"] == TUSON)
    body = await gql(COUNT_ONLY, token=tuson, purpose=PURPOSE)
    assert body == {"data": {"citizenList": {"totalCount": inside}}}
    (event,) = await _reads(hub, "citizen")
    assert event.agency == "UBND-TX-TUSON" and event.key_list == []
    assert event.detail == {"count": 0, "lists": [{"filter": [], "totalCount": inside}]}


async def test_count_with_filter_keeps_the_filter_shape_not_its_values(
    gql: Gql, tuson: str, hub: Hub, demo: dict[str, Any]
) -> None:
    body = await gql(COUNT_FILTERED, token=tuson, purpose=PURPOSE, d=TUSON)
    count = body["data"]["citizenList"]["totalCount"]
    (event,) = await _reads(hub, "citizen")
    assert event.detail == {
        "count": 0,
        "lists": [{"filter": ["district:eq"], "totalCount": count}],
    }
    assert TUSON not in str(event.detail)


async def test_anonymous_count_is_audited(gql: Gql, hub: Hub, demo: dict[str, Any]) -> None:
    body = await gql("{ businessList { totalCount } }")
    assert body == {"data": {"businessList": {"totalCount": len(demo["business"])}}}
    (event,) = await _reads(hub, "business")
    assert event.agency is None
    assert event.detail == {
        "count": 0,
        "lists": [{"filter": [], "totalCount": len(demo["business"])}],
    }


async def test_generic_list_that_matched_nothing_keeps_the_filter_shape(
    gql: Gql, tuson: str, hub: Hub, demo: dict[str, Any]
) -> None:
    query = """query($f: JSON) { records(dataset: "citizen", filter: $f) { totalCount
      edges { node { key } } } }"""
    body = await gql(query, token=tuson, purpose=PURPOSE, f={"district": "Huyện Không Có"})
    assert body["data"]["records"] == {"totalCount": 0, "edges": []}
    (event,) = await _reads(hub, "citizen")
    assert event.key_list == []
    assert event.detail == {"count": 0, "lists": [{"filter": ["district:eq"]}]}


async def test_generic_list_without_a_grant_is_audited(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    query = 'query { records(dataset: "citizen") { edges { node { key } } } }'
    body = await gql(query, token=token("STNMT", "reader"), purpose=PURPOSE)
    assert body["data"]["records"]["edges"] == []
    (event,) = await _reads(hub, "citizen")
    assert event.agency == "STNMT"
    assert event.detail == {"count": 0, "lists": [{"filter": []}]}


async def test_generic_filter_names_no_field_could_have_are_not_stored(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    query = 'query($f: JSON) { records(dataset: "citizen", filter: $f) { totalCount } }'
    body = await gql(query, token=token("STNMT", "reader"), f={"Bad Name\u0001": {"zz": 1}})
    assert body["data"]["records"]["totalCount"] is None
    (event,) = await _reads(hub, "citizen")
    assert event.detail == {"count": 0, "lists": [{"filter": ["?:?"]}]}


async def test_list_that_served_records_is_audited_as_before(
    gql: Gql, tuson: str, hub: Hub, demo: dict[str, Any]
) -> None:
    body = await gql(
        "{ citizenList(first: 50) { edges { node { fullName } } } }", token=tuson, purpose=PURPOSE
    )
    served = len(body["data"]["citizenList"]["edges"])
    (event,) = await _reads(hub, "citizen")
    assert event.detail == {"count": served}


async def test_usage_report_counts_lookups_that_served_nothing_as_refused(
    gql: Gql, tuson: str, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await gql(TYPED_CITIZEN, token=tuson, purpose=PURPOSE, k=_inside(demo))  # served
    await gql(TYPED_CITIZEN, token=tuson, purpose=PURPOSE, k=_outside(demo))  # refused
    await gql(GENERIC_CITIZEN, token=tuson, purpose=PURPOSE, k=NEVER_SEEN_ID)  # refused
    await gql(COUNT_ONLY, token=tuson, purpose=PURPOSE)  # a count: not refused
    body = await gql(USAGE, token=token("SYT", "owner"), month=_month())
    assert body["data"]["usageReport"]["rows"] == [
        {
            "agency": "UBND-TX-TUSON",
            "dataset": "citizen",
            "requests": 4,
            "recordsServed": 1,
            "refused": 2,
        }
    ]


async def test_owner_sees_which_keys_were_asked_in_vain(
    gql: Gql, tuson: str, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await gql(TYPED_CITIZEN, token=tuson, purpose=PURPOSE, k=_outside(demo))
    body = await gql(EVENTS, token=token("SYT", "owner"))
    nodes = [e["node"] for e in body["data"]["auditEvents"]["edges"]]
    assert nodes[0] == {
        "action": "record.read",
        "agency": "UBND-TX-TUSON",
        "dataset": "citizen",
        "keys": [_digest(hub, _outside(demo))],
        "missedKeys": [_digest(hub, _outside(demo))],
        "recordsServed": 0,
    }


async def test_callers_own_audit_is_no_oracle_for_blind_indexes(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    """A reader that holds blind indexes in place of citizen ids it may not read (RESTRICTED,
    no purpose stated) must not get the blind index of a guessed value back from its own
    audit events: it could match the two and confirm the guess."""
    reader = token("STNMT", "reader", subject="guesser")
    await approved_grant(gql, reader, token("SYT", "owner"), "citizen", ["district"])
    listed = await gql(
        'query { records(dataset: "citizen", first: 100) { edges { node { key } } } }',
        token=reader,
    )
    shown = {e["node"]["key"] for e in listed["data"]["records"]["edges"]}
    guess = str(demo["citizen"][0]["citizen_id"])
    assert _blind(hub, guess) in shown  # the opaque key the reader holds for that citizen
    for query in (GENERIC_CITIZEN, GENERIC_HISTORY):
        body = await gql(query, token=reader, k=guess)
        assert next(iter(body["data"].values())) in (None, [])
    own = await gql("{ auditEvents(first: 50) { edges { node { missedKeys } } } }", token=reader)
    missed = [e["node"]["missedKeys"] for e in own["data"]["auditEvents"]["edges"]]
    assert missed[:2] == [[_digest(hub, guess)]] * 2
    assert all(_blind(hub, guess) not in (keys or []) for keys in missed)
