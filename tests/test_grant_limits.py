"""Grant row filters are typed at ``requestGrant`` (issue 7 item 9), a stored filter that does
not fit its dataset matches nothing instead of breaking the hub, open requests are bounded per
agency and dataset, and grant listings page in a total order so nothing is lost behind a flood
(item 13)."""

from __future__ import annotations

import asyncio
import logging
import unicodedata
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from catalog.errors import InvalidInput
from catalog.models import DatasetField
from catalog.rowfilter import typed_row_filter
from hub.embedded_postgres import to_libpq_url
from hub.runtime import Hub
from tests.record_support import DECIDE_GRANT, REQUEST_GRANT, TUSON, Gql, codes
from tests.records_fixtures import load_demo_records

PURPOSE = "Đối chiếu hồ sơ giao đất cho hộ gia đình"
CITIZENS = 'query { records(dataset: "citizen", first: 5) { totalCount edges { node { key } } } }'
GRANTS = """
query($dataset: String, $status: GrantStatus, $first: Int, $after: ID) {
  grants(dataset: $dataset, status: $status, first: $first, after: $after) { id status }
}"""
GRANTS_PAGE = """
query($dataset: String, $status: GrantStatus, $first: Int, $after: String) {
  grantsPage(dataset: $dataset, status: $status, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id status } }
  }
}"""


async def _request(
    gql: Gql, token: str, row_filter: Any = None, dataset: str = "citizen", **extra: Any
) -> dict[str, Any]:
    fields = {"citizen": ["district"], "land_parcel": ["parcel_id"]}.get(dataset, ["*"])
    payload = {
        "dataset": dataset,
        "fields": fields,
        "rowFilter": row_filter,
        "purpose": PURPOSE,
        **extra,
    }
    return await gql(REQUEST_GRANT, token=token, input=payload)


def _refused(body: dict[str, Any], code: str, *needles: str) -> str:
    assert codes(body) == [code], body
    message: str = body["errors"][0]["message"]
    for needle in needles:
        assert needle in message, message
    return message


# -- row filters typed at requestGrant ----------------------------------------------------------


async def test_range_on_a_text_field_is_refused_naming_field_and_operator(
    gql: Gql, token: Callable[..., str]
) -> None:
    body = await _request(gql, token("STNMT", "reader"), {"district": {"gte": 0}})

    _refused(body, "BAD_USER_INPUT", "rowFilter.district", "'gte'", "string", "eq, in, contains")


async def test_number_for_a_text_field_is_refused_naming_the_value(
    gql: Gql, token: Callable[..., str]
) -> None:
    body = await _request(gql, token("STNMT", "reader"), {"district": 0})

    _refused(body, "BAD_USER_INPUT", "rowFilter.district.eq", "expected text, got 0")


async def test_nul_byte_in_a_filter_value_is_refused(gql: Gql, token: Callable[..., str]) -> None:
    body = await _request(gql, token("STNMT", "reader"), {"district": "Thị xã\x00Từ Sơn"})

    _refused(body, "BAD_USER_INPUT", "rowFilter.district", "NUL")


async def test_nul_byte_inside_an_in_list_is_refused(gql: Gql, token: Callable[..., str]) -> None:
    body = await _request(gql, token("STNMT", "reader"), {"commune": [TUSON, "a\x00"]})

    _refused(body, "BAD_USER_INPUT", "rowFilter.commune", "NUL")


async def test_control_character_in_a_filter_value_is_refused(
    gql: Gql, token: Callable[..., str]
) -> None:
    body = await _request(gql, token("STNMT", "reader"), {"commune": {"in": [TUSON, "a\x1b[2J"]}})

    _refused(body, "BAD_USER_INPUT", "rowFilter.commune.in", "control character")


def test_typed_row_filter_refuses_nul_where_the_edge_does_not_check() -> None:
    # Stored filters are typed again at load and approval: no NUL may pass there either.
    district = DatasetField(
        name="district", position=0, type="string", sensitivity="INTERNAL", filterable=True
    )
    district.encrypted = False
    fields = {"district": district}

    with pytest.raises(InvalidInput, match=r"rowFilter\.district\.eq: text contains a control"):
        typed_row_filter({"district": "a\x00b"}, fields, "citizen")


async def test_contains_on_an_enum_field_is_refused(gql: Gql, token: Callable[..., str]) -> None:
    body = await _request(gql, token("STNMT", "reader"), {"sex": {"contains": "N"}})

    _refused(body, "BAD_USER_INPUT", "rowFilter.sex", "'contains'", "enum", "eq, in")


async def test_enum_value_outside_the_enum_is_refused(gql: Gql, token: Callable[..., str]) -> None:
    body = await _request(gql, token("STNMT", "reader"), {"sex": "KHAC"})

    _refused(body, "BAD_USER_INPUT", "rowFilter.sex.eq", "expected one of NAM, NU", "'KHAC'")


async def test_encrypted_field_allows_only_eq_and_in(gql: Gql, token: Callable[..., str]) -> None:
    body = await _request(gql, token("STNMT", "reader"), {"citizen_id": {"contains": "0123"}})

    _refused(body, "BAD_USER_INPUT", "rowFilter.citizen_id", "encrypted", "use eq, in")


async def test_in_list_is_bounded(gql: Gql, token: Callable[..., str]) -> None:
    values = [f"Xã {n}" for n in range(1001)]

    body = await _request(gql, token("STNMT", "reader"), {"commune": {"in": values}})

    _refused(body, "BAD_USER_INPUT", "rowFilter.commune.in", "at most 1000 values, got 1001")


async def test_overlong_filter_text_is_refused(gql: Gql, token: Callable[..., str]) -> None:
    body = await _request(gql, token("STNMT", "reader"), {"commune": "x" * 1001})

    _refused(body, "BAD_USER_INPUT", "rowFilter.commune.eq", "longer than 1000 characters")


async def test_word_for_a_number_field_is_refused(gql: Gql, token: Callable[..., str]) -> None:
    body = await _request(
        gql, token("SYT", "reader"), {"area_m2": {"gte": "lớn"}}, dataset="land_parcel"
    )

    _refused(body, "BAD_USER_INPUT", "rowFilter.area_m2.gte", "expected a number", "'lớn'")


async def test_text_filter_value_is_stored_nfc_normalised(
    gql: Gql, token: Callable[..., str]
) -> None:
    decomposed = unicodedata.normalize("NFD", TUSON)  # typed with combining marks
    assert decomposed != TUSON

    body = await _request(gql, token("STNMT", "reader"), {"district": decomposed})

    assert "errors" not in body, body
    assert body["data"]["requestGrant"]["rowFilter"] == {"district": {"eq": TUSON}}


async def test_number_and_date_ranges_are_stored_in_canonical_form(
    gql: Gql, token: Callable[..., str]
) -> None:
    body = await _request(
        gql,
        token("SYT", "reader"),
        {"area_m2": {"gte": "100.50"}, "map_sheet": {"lte": "12"}, "valid_until": "2030-01-01"},
        dataset="land_parcel",
    )

    assert "errors" not in body, body
    assert body["data"]["requestGrant"]["rowFilter"] == {
        "area_m2": {"gte": "100.5"},
        "map_sheet": {"lte": 12},
        "valid_until": {"eq": "2030-01-01"},
    }


# -- stored filters that do not fit -----------------------------------------------------------


async def _insert_grant(
    database_url: str, status: str, row_filter: str, grantee: str = "STNMT"
) -> str:
    grant_id = str(uuid.uuid4())
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        await conn.execute(
            "INSERT INTO grants (id, dataset_code, grantee_code, fields, row_filter, purpose, "
            "status, valid_from) VALUES ($1, 'citizen', $2, '{district}', $3::jsonb, $4, $5, "
            "now() - interval '1 minute')",
            uuid.UUID(grant_id),
            grantee,
            row_filter,
            PURPOSE,
            status,
        )
    finally:
        await conn.close()
    return grant_id


async def test_stored_grant_with_a_mistyped_filter_matches_nothing_and_is_logged_by_id(
    gql: Gql,
    token: Callable[..., str],
    hub: Hub,
    database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await load_demo_records(hub, businesses=2, parcels=2, citizens=20)
    # Stored before filters were typed: SQL compared text, the evaluator numbers.
    grant_id = await _insert_grant(database_url, "APPROVED", '{"district": {"gte": 0}}')
    reader = token("STNMT", "reader")

    with caplog.at_level(logging.WARNING, logger="hub.snapshot"):
        body = await gql(CITIZENS, token=reader, purpose=PURPOSE)
    without_grant = await gql(CITIZENS, token=token("STP", "reader"), purpose=PURPOSE)

    assert body == without_grant and "INTERNAL" not in codes(body)
    assert not body["data"]["records"]["edges"]
    logged = [r.getMessage() for r in caplog.records if r.name == "hub.snapshot"]
    assert any(grant_id in line and "matches no record" in line for line in logged), logged
    assert not any("gte" in line for line in logged)


async def test_stored_grant_naming_a_field_no_longer_filterable_does_not_break_reads(
    gql: Gql, token: Callable[..., str], hub: Hub, database_url: str
) -> None:
    await load_demo_records(hub, businesses=2, parcels=2, citizens=5)
    await _insert_grant(database_url, "APPROVED", '{"address": "Từ Sơn"}')

    body = await gql(CITIZENS, token=token("STNMT", "reader"), purpose=PURPOSE)
    without_grant = await gql(CITIZENS, token=token("STP", "reader"), purpose=PURPOSE)
    public = await gql("{ datasets(first: 1) { totalCount } }")

    assert body == without_grant and not body["data"]["records"]["edges"]
    assert public["data"]["datasets"]["totalCount"] >= 1


async def test_approving_a_stored_request_with_a_mistyped_filter_is_refused(
    gql: Gql, token: Callable[..., str], database_url: str
) -> None:
    grant_id = await _insert_grant(database_url, "REQUESTED", '{"district": {"gte": 0}}')

    body = await gql(DECIDE_GRANT, token=token("SYT", "owner"), id=grant_id, approve=True)

    _refused(body, "BAD_USER_INPUT", f"grant {grant_id} rowFilter.district", "'gte'")
    denied = await gql(DECIDE_GRANT, token=token("SYT", "owner"), id=grant_id, approve=False)
    assert denied["data"]["decideGrant"]["status"] == "DENIED"


# -- open requests bounded per agency and dataset -----------------------------------------------


async def test_open_requests_are_bounded_per_agency_and_dataset(
    gql: Gql, token: Callable[..., str]
) -> None:
    reader = token("STNMT", "reader")
    for _ in range(10):
        assert "errors" not in await _request(gql, reader)

    eleventh = await _request(gql, reader)

    _refused(eleventh, "QUERY_TOO_COMPLEX", "'STNMT'", "10 open requests", "'citizen'", "limit 10")
    other_dataset = await _request(gql, reader, dataset="health_insurance")
    other_agency = await _request(gql, token("STP", "reader"))
    assert "errors" not in other_dataset and "errors" not in other_agency


async def test_a_decision_frees_a_place_for_a_new_request(
    gql: Gql, token: Callable[..., str]
) -> None:
    reader, owner = token("STNMT", "reader"), token("SYT", "owner")
    ids = [(await _request(gql, reader))["data"]["requestGrant"]["id"] for _ in range(10)]
    assert codes(await _request(gql, reader)) == ["QUERY_TOO_COMPLEX"]

    await gql(DECIDE_GRANT, token=owner, id=ids[0], approve=False)

    assert "errors" not in await _request(gql, reader)


async def test_concurrent_requests_cannot_overshoot_the_limit(
    gql: Gql, token: Callable[..., str], database_url: str
) -> None:
    reader = token("STNMT", "reader")

    bodies = await asyncio.gather(*(_request(gql, reader) for _ in range(16)))

    assert sum("errors" not in b for b in bodies) == 10
    assert sorted({c for b in bodies for c in codes(b)}) == ["QUERY_TOO_COMPLEX"]
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM grants WHERE status = 'REQUESTED'") == 10
    finally:
        await conn.close()


async def test_limit_follows_the_setting(
    gql: Gql, token: Callable[..., str], hub: Hub, app: Any
) -> None:
    app.state.services.settings = hub.settings.model_copy(update={"max_open_grant_requests": 2})
    reader = token("STNMT", "reader")
    for _ in range(2):
        assert "errors" not in await _request(gql, reader)

    _refused(await _request(gql, reader), "QUERY_TOO_COMPLEX", "limit 2")


# -- grants listings page in a total order ------------------------------------------------------


async def _flood(database_url: str, count: int) -> None:
    """``count`` REQUESTED grants from STNMT on citizen, newer than anything before (also
    than an earlier flood's, which runs a few milliseconds ahead of the clock)."""
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        await conn.execute(
            "INSERT INTO grants (id, dataset_code, grantee_code, fields, purpose, status, "
            "created_at) SELECT gen_random_uuid(), 'citizen', 'STNMT', '{district}', "
            "'flood ' || n, 'REQUESTED', greatest(now(), (SELECT max(created_at) FROM grants)) "
            "+ n * interval '1 millisecond' FROM generate_series(1, $1) n",
            count,
        )
    finally:
        await conn.close()


async def _approved(gql: Gql, token: Callable[..., str]) -> str:
    body = await _request(gql, token("STP", "reader"), {"district": TUSON})
    grant_id: str = body["data"]["requestGrant"]["id"]
    decided = await gql(DECIDE_GRANT, token=token("SYT", "owner"), id=grant_id, approve=True)
    assert decided["data"]["decideGrant"]["status"] == "APPROVED"
    return grant_id


async def test_approved_grant_stays_reachable_behind_a_thousand_requests(
    gql: Gql, token: Callable[..., str], database_url: str
) -> None:
    approved = await _approved(gql, token)
    await _flood(database_url, 1000)
    owner = token("SYT", "owner")

    by_status = await gql(GRANTS, token=owner, dataset="citizen", status="APPROVED")
    first_page = await gql(GRANTS, token=owner, dataset="citizen")
    seen: list[str] = []
    after: str | None = None
    while True:
        page = (await gql(GRANTS_PAGE, token=owner, dataset="citizen", first=400, after=after))[
            "data"
        ]["grantsPage"]
        seen.extend(e["node"]["id"] for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert [g["id"] for g in by_status["data"]["grants"]] == [approved]
    assert len(first_page["data"]["grants"]) == 500 and approved not in {
        g["id"] for g in first_page["data"]["grants"]
    }
    assert page["totalCount"] == 1001
    assert len(seen) == len(set(seen)) == 1001
    assert seen[-1] == approved  # the oldest, on the last page


async def test_grants_list_pages_with_after_the_last_id(
    gql: Gql, token: Callable[..., str], database_url: str
) -> None:
    approved = await _approved(gql, token)
    await _flood(database_url, 600)
    owner = token("SYT", "owner")

    first = (await gql(GRANTS, token=owner, dataset="citizen"))["data"]["grants"]
    rest = (await gql(GRANTS, token=owner, dataset="citizen", after=first[-1]["id"]))["data"][
        "grants"
    ]

    assert len(first) == 500 and len(rest) == 101
    assert rest[-1]["id"] == approved
    assert not {g["id"] for g in first} & {g["id"] for g in rest}


async def test_paging_never_repeats_or_skips_while_requests_arrive(
    gql: Gql, token: Callable[..., str], database_url: str
) -> None:
    await _flood(database_url, 30)
    owner = token("SYT", "owner")
    conn = await asyncpg.connect(to_libpq_url(database_url))
    try:
        expected = [
            str(r["id"])
            for r in await conn.fetch("SELECT id FROM grants ORDER BY created_at DESC, id DESC")
        ]
    finally:
        await conn.close()

    seen: list[str] = []
    after: str | None = None
    while True:
        body = await gql(GRANTS_PAGE, token=owner, dataset="citizen", first=7, after=after)
        page = body["data"]["grantsPage"]
        seen.extend(e["node"]["id"] for e in page["edges"])
        if len(seen) == 7:
            await _flood(database_url, 5)  # newer grants land before the cursor, not after it
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert seen == expected


async def test_page_size_above_the_limit_is_refused(gql: Gql, token: Callable[..., str]) -> None:
    owner = token("SYT", "owner")

    listed = await gql(GRANTS, token=owner, first=501)
    paged = await gql(GRANTS_PAGE, token=owner, first=501)

    _refused(listed, "QUERY_TOO_COMPLEX", "at most 500", "501")
    _refused(paged, "QUERY_TOO_COMPLEX", "at most 500", "501")


async def test_cursor_of_a_grant_the_caller_cannot_see_is_refused_like_an_unknown_one(
    gql: Gql, token: Callable[..., str]
) -> None:
    approved = await _approved(gql, token)  # STP's grant on SYT's citizen: none of SKHDT's
    outsider = token("SKHDT", "reader")

    hidden = await gql(GRANTS_PAGE, token=outsider, after=approved)
    unknown_id = str(uuid.uuid4())
    unknown = await gql(GRANTS_PAGE, token=outsider, after=unknown_id)
    malformed = await gql(GRANTS, token=outsider, after="not-an-id")

    message = "grants: argument 'after': no grant {} in this listing"
    assert _refused(hidden, "BAD_USER_INPUT") == message.format(approved)
    assert _refused(unknown, "BAD_USER_INPUT") == message.format(unknown_id)
    _refused(malformed, "BAD_USER_INPUT", "is not a grant id")
