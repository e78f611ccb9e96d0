"""Typed GraphQL over published datasets, compiled to one SQL statement with access rules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from hub.runtime import Hub
from tests.records_fixtures import load_demo_records

Gql = Callable[..., Awaitable[dict[str, Any]]]

BUSINESS_PAGE = """
query Page($district: String, $after: String) {
  businessList(first: 3, orderBy: REGISTERED_ON_DESC, filter: {district: {eq: $district}},
               after: $after) {
    totalCount
    edges { cursor node { taxCode name registeredOn district } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


@pytest.fixture
async def demo(hub: Hub, app: Any) -> dict[str, list[dict[str, Any]]]:
    return await load_demo_records(hub)


async def test_anonymous_reads_public_business_page_ordered_and_filtered(
    gql: Gql, demo: dict[str, list[dict[str, Any]]]
) -> None:
    district = "Thị xã Từ Sơn"
    expected = sorted(
        (b for b in demo["business"] if b["district"] == district),
        key=lambda b: (b["registered_on"], b["tax_code"]),
        reverse=True,
    )
    body = await gql(BUSINESS_PAGE, district=district)
    assert "errors" not in body, body
    page = body["data"]["businessList"]
    assert page["totalCount"] == len(expected)
    assert [e["node"]["taxCode"] for e in page["edges"]] == [b["tax_code"] for b in expected[:3]]
    second = await gql(BUSINESS_PAGE, district=district, after=page["pageInfo"]["endCursor"])
    assert [e["node"]["taxCode"] for e in second["data"]["businessList"]["edges"]] == [
        b["tax_code"] for b in expected[3:6]
    ]


NESTED = """
query Nested($n: Int!) {
  businessList(first: $n) {
    edges { node { taxCode name landParcelList(first: 20) { totalCount edges { node {
      parcelId areaM2 holder { taxCode name } } } } } }
  }
}
"""


async def test_nested_page_runs_one_statement_whatever_its_size(
    gql: Gql, token: Callable[..., str], demo: dict[str, list[dict[str, Any]]]
) -> None:
    from schema.records.runner import RECORD_STATEMENTS

    reader = token("STTTT", "reader")
    for size in (2, 10, 40):
        before = RECORD_STATEMENTS._value.get()
        body = await gql(NESTED, token=reader, n=size)
        assert "errors" not in body, body
        assert RECORD_STATEMENTS._value.get() - before == 1
        assert len(body["data"]["businessList"]["edges"]) == size


async def test_reverse_list_and_reference_agree_with_the_data(
    gql: Gql, token: Callable[..., str], demo: dict[str, list[dict[str, Any]]]
) -> None:
    holders: dict[str, list[str]] = {}
    for parcel in demo["land_parcel"]:
        if parcel.get("holder_tax_code"):
            holders.setdefault(str(parcel["holder_tax_code"]), []).append(str(parcel["parcel_id"]))
    body = await gql(NESTED, token=token("STTTT", "reader"), n=60)
    for edge in body["data"]["businessList"]["edges"]:
        node = edge["node"]
        listed = node["landParcelList"]
        assert listed["totalCount"] == len(holders.get(node["taxCode"], []))
        for child in listed["edges"]:
            assert child["node"]["holder"]["taxCode"] == node["taxCode"]
            assert child["node"]["parcelId"] in holders[node["taxCode"]]


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_oversized_page_is_refused_with_query_too_complex(
    gql: Gql, demo: dict[str, list[dict[str, Any]]]
) -> None:
    body = await gql("{ businessList(first: 1000) { edges { node { taxCode } } } }")
    assert _codes(body) == ["QUERY_TOO_COMPLEX"]
    assert body["data"] is None


async def test_unknown_filter_field_and_wrong_value_type_are_bad_input(
    gql: Gql, demo: dict[str, list[dict[str, Any]]]
) -> None:
    unknown = await gql('{ businessList(filter: {colour: {eq: "x"}}) { totalCount } }')
    assert _codes(unknown) == ["BAD_USER_INPUT"]
    assert "colour" in unknown["errors"][0]["message"]
    wrong = await gql(
        "query($d: Date) { businessList(filter: {registeredOn: {gte: $d}}) { totalCount } }",
        d="hôm qua",
    )
    assert _codes(wrong) == ["BAD_USER_INPUT"]
    not_a_number = await gql(
        '{ businessList(filter: {charterCapital: {gte: "nhiều"}}) { totalCount } }'
    )
    assert _codes(not_a_number) == ["BAD_USER_INPUT"]
    assert "charter_capital" in not_a_number["errors"][0]["message"]


async def test_forged_cursor_and_cursor_of_another_ordering_are_bad_input(
    gql: Gql, demo: dict[str, list[dict[str, Any]]]
) -> None:
    forged = await gql('{ businessList(after: "not-a-cursor") { totalCount } }')
    assert _codes(forged) == ["BAD_USER_INPUT"]
    page = await gql("{ businessList(first: 2, orderBy: NAME_ASC) { pageInfo { endCursor } } }")
    cursor = page["data"]["businessList"]["pageInfo"]["endCursor"]
    other = await gql(
        "query($c: String) { businessList(after: $c, orderBy: REGISTERED_ON_DESC) { totalCount } }",
        c=cursor,
    )
    assert _codes(other) == ["BAD_USER_INPUT"]
    assert "ordering" in other["errors"][0]["message"]


async def test_same_document_serves_different_filters_from_one_plan(
    gql: Gql, demo: dict[str, list[dict[str, Any]]]
) -> None:
    for district in ("Thị xã Từ Sơn", "Huyện Quế Võ", "Huyện Gia Bình"):
        body = await gql(BUSINESS_PAGE, district=district)
        expected = sum(1 for b in demo["business"] if b["district"] == district)
        assert body["data"]["businessList"]["totalCount"] == expected
