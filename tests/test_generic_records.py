"""The generic ``records``/``record``/``recordHistory`` queries and ``correctRecord`` through the
real app: a matrix of callers × dataset sensitivity × grants × row filters, purpose handling,
corrections as new versions, and bad input."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from catalog.baseline import BUSINESS, CITIZEN, LAND_PARCEL
from hub.db import Database
from hub.demo import generate
from hub.keys import KeyStore
from tests.record_support import TUSON, Gql, approved_grant, codes, load

RECORDS = """
query($d: String!, $f: JSON, $first: Int, $after: String) {
  records(dataset: $d, filter: $f, first: $first, after: $after) {
    totalCount
    edges { cursor node { key version updatedAt values dataset { code } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
RECORD = """
query($d: String!, $k: String!, $asOf: DateTime) {
  record(dataset: $d, key: $k, asOf: $asOf) { key version updatedAt values dataset { code } }
}"""
HISTORY = """
query($d: String!, $k: String!) {
  recordHistory(dataset: $d, key: $k) { version hash changedAt source reason values }
}"""
RECORD_AND_LIST = """
query($d: String!, $k: String!) {
  record(dataset: $d, key: $k) { key values }
  records(dataset: $d, first: 5) { edges { node { key values } } }
}"""
CORRECT = """
mutation($d: String!, $k: String!, $v: JSON!, $r: String!) {
  correctRecord(dataset: $d, key: $k, values: $v, reason: $r) { version reason source values }
}"""

PURPOSE = "Giải quyết thủ tục hành chính"
BLIND = re.compile(r"^[0-9a-f]{64}$")


def _names(spec: Any, *sensitivities: str) -> set[str]:
    return {f.name for f in spec.fields if f.sensitivity in sensitivities}


@pytest.fixture
async def rows(app: Any, database: Database, keys: KeyStore) -> dict[str, list[dict[str, Any]]]:
    """A small province: businesses, parcels, citizens (some in Từ Sơn), insurance cards."""
    businesses = generate.businesses(12)
    citizens = generate.citizens(30)
    data = {
        "business": businesses,
        "land_parcel": generate.land_parcels(8, [str(b["tax_code"]) for b in businesses]),
        "citizen": citizens,
        "health_insurance": generate.health_insurance(citizens),
    }
    for code, batch in data.items():
        await load(database, keys, code, batch)
    assert any(c["district"] == TUSON for c in citizens)
    assert any(c["district"] != TUSON for c in citizens)
    return data


def _tuson(rows: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, Any], dict[str, Any]]:
    inside = next(c for c in rows["citizen"] if c["district"] == TUSON)
    outside = next(c for c in rows["citizen"] if c["district"] != TUSON)
    return inside, outside


def _values(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["node"]["values"] for e in body["data"]["records"]["edges"]]


# -- who reads what ------------------------------------------------------------------------------


async def test_anonymous_reads_public_fields_of_public_dataset_only(
    gql: Gql, rows: dict[str, Any]
) -> None:
    body = await gql(RECORDS, d="business", first=50)
    assert "errors" not in body
    values = _values(body)
    assert len(values) == len(rows["business"]) == body["data"]["records"]["totalCount"]
    public = _names(BUSINESS, "PUBLIC")
    assert all(set(v) <= public for v in values)
    assert any("name" in v for v in values)
    first = rows["business"][0]
    one = await gql(RECORD, d="business", k=first["tax_code"])
    assert one["data"]["record"]["values"]["name"] == first["name"]
    assert "legal_representative" not in one["data"]["record"]["values"]


async def test_anonymous_gets_nothing_of_internal_or_restricted_datasets(
    gql: Gql, rows: dict[str, Any]
) -> None:
    for code, key in (("land_parcel", "parcel_id"), ("citizen", "citizen_id")):
        body = await gql(RECORDS, d=code)
        assert body["data"]["records"] == {
            "totalCount": None,
            "edges": [],
            "pageInfo": {"hasNextPage": False, "endCursor": None},
        }
        single = await gql(RECORD, d=code, k=rows[code][0][key])
        assert single == {"data": {"record": None}}
        assert (await gql(HISTORY, d=code, k=rows[code][0][key])) == {"data": {"recordHistory": []}}


async def test_unknown_dataset_reads_like_a_hidden_one(gql: Gql, token: Callable[..., str]) -> None:
    reader = token("STNMT", "reader")
    body = await gql(RECORDS, token=reader, d="no_such_dataset")
    assert body["data"]["records"]["edges"] == []
    assert body["data"]["records"]["totalCount"] is None
    assert (await gql(RECORD, token=reader, d="no_such_dataset", k="x"))["data"] == {"record": None}


async def test_other_agency_reads_internal_fields_but_not_restricted(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = token("SKHDT", "reader")  # land_parcel is STNMT's
    body = await gql(RECORDS, token=reader, d="land_parcel", first=50)
    values = _values(body)
    assert len(values) == len(rows["land_parcel"])
    assert all("certificate_no" not in v for v in values)
    assert any("area_m2" in v for v in values)
    assert all(set(v) <= _names(LAND_PARCEL, "PUBLIC", "INTERNAL") for v in values)
    assert "errors" not in body  # nothing RESTRICTED was readable, so no purpose is asked
    business = await gql(RECORDS, token=token("STNMT", "reader"), d="business", first=50)
    assert any("legal_representative" in v for v in _values(business))
    assert all("representative_phone" not in v for v in _values(business))


async def test_restricted_dataset_needs_a_grant(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = token("STNMT", "reader")
    citizen = rows["citizen"][0]
    body = await gql(RECORDS, token=reader, d="citizen", purpose=PURPOSE)
    assert body["data"]["records"]["edges"] == []
    assert (await gql(RECORD, token=reader, d="citizen", k=citizen["citizen_id"]))["data"] == {
        "record": None
    }


async def test_owner_reads_everything_without_purpose(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    owner = token("SYT", "owner")
    with_phone = next(c for c in rows["citizen"] if c.get("phone"))
    body = await gql(RECORD, token=owner, d="citizen", k=with_phone["citizen_id"])
    assert "errors" not in body
    record = body["data"]["record"]
    assert record["key"] == with_phone["citizen_id"]
    assert record["values"]["phone"] == with_phone["phone"]  # encrypted at rest, decrypted here
    assert record["values"]["full_name"] == with_phone["full_name"]


async def test_row_filtered_grant_shows_only_its_rows(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    tuson = token("UBND-TX-TUSON", "reader")
    await approved_grant(
        gql,
        tuson,
        token("SYT", "owner"),
        "citizen",
        ["citizen_id", "full_name", "district", "sex"],
        {"district": TUSON},
    )
    inside, outside = _tuson(rows)
    body = await gql(RECORDS, token=tuson, purpose=PURPOSE, d="citizen", first=100)
    values = _values(body)
    expected = [c for c in rows["citizen"] if c["district"] == TUSON]
    assert body["data"]["records"]["totalCount"] == len(values) == len(expected)
    assert {v["citizen_id"] for v in values} == {c["citizen_id"] for c in expected}
    assert all(set(v) <= {"citizen_id", "full_name", "district", "sex"} for v in values)
    hit = await gql(RECORD, token=tuson, purpose=PURPOSE, d="citizen", k=inside["citizen_id"])
    assert hit["data"]["record"]["values"]["full_name"] == inside["full_name"]
    miss = await gql(RECORD, token=tuson, purpose=PURPOSE, d="citizen", k=outside["citizen_id"])
    assert miss == {"data": {"record": None}}
    history = await gql(HISTORY, token=tuson, purpose=PURPOSE, d="citizen", k=outside["citizen_id"])
    assert history == {"data": {"recordHistory": []}}
    # A client filter cannot reach past the grant's rows either.
    other = await gql(
        RECORDS, token=tuson, purpose=PURPOSE, d="citizen", f={"district": outside["district"]}
    )
    assert other["data"]["records"]["edges"] == []
    assert other["data"]["records"]["totalCount"] == 0


async def test_two_grants_combine_per_record_and_field(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    tuson, owner = token("UBND-TX-TUSON", "reader"), token("SYT", "owner")
    await approved_grant(gql, tuson, owner, "citizen", ["*"])
    await approved_grant(gql, tuson, owner, "citizen", ["full_name", "phone"], {"district": TUSON})
    body = await gql(RECORDS, token=tuson, purpose=PURPOSE, d="citizen", first=100)
    values = {v["citizen_id"]: v for v in _values(body)}
    assert len(values) == len(rows["citizen"])  # all rows through the first grant
    non_restricted = _names(CITIZEN, "PUBLIC", "INTERNAL")
    for citizen in rows["citizen"]:
        got = values[citizen["citizen_id"]]
        if citizen["district"] == TUSON:
            assert got["full_name"] == citizen["full_name"]
            assert got.get("phone") == citizen.get("phone")
        else:
            assert "full_name" not in got and "phone" not in got
        assert "birth_date" not in got and "address" not in got  # in no grant
        assert set(got) - {"citizen_id", "full_name", "phone"} <= non_restricted


async def test_missing_purpose_withholds_restricted_fields_with_one_error(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    tuson = token("UBND-TX-TUSON", "reader")
    await approved_grant(
        gql, tuson, token("SYT", "owner"), "citizen", ["citizen_id", "full_name", "district"]
    )
    inside, _ = _tuson(rows)
    body = await gql(RECORD_AND_LIST, token=tuson, d="citizen", k=inside["citizen_id"])
    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert "citizen_id, full_name" in message and "'citizen'" in message
    assert "X-Purpose" in message
    assert body["data"]["record"] is None  # the key itself is RESTRICTED: no lookup by it
    listed = [e["node"] for e in body["data"]["records"]["edges"]]
    assert listed and all(n["values"] == {"district": n["values"]["district"]} for n in listed)
    assert all(BLIND.fullmatch(n["key"]) for n in listed)  # the blind index stands in
    # The blind index shown finds the record again, still without RESTRICTED fields.
    again = await gql(RECORD, token=tuson, d="citizen", k=listed[0]["key"])
    assert again["data"]["record"]["key"] == listed[0]["key"]
    assert set(again["data"]["record"]["values"]) == {"district"}
    stated = await gql(RECORD, token=tuson, purpose=PURPOSE, d="citizen", k=inside["citizen_id"])
    assert "errors" not in stated
    assert stated["data"]["record"]["values"]["full_name"] == inside["full_name"]


async def test_pages_follow_the_cursor_in_key_order(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    seen: list[str] = []
    after = None
    for _ in range(10):
        body = await gql(RECORDS, d="business", first=5, after=after)
        page = body["data"]["records"]
        seen += [e["node"]["key"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == sorted(str(b["tax_code"]) for b in rows["business"])


async def test_filter_by_value_range_and_list(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    capitals = sorted(int(b["charter_capital"]) for b in rows["business"])
    middle = capitals[len(capitals) // 2]
    body = await gql(RECORDS, d="business", first=50, f={"charter_capital": {"gte": middle}})
    got = {v["tax_code"] for v in _values(body)}
    assert got == {b["tax_code"] for b in rows["business"] if int(b["charter_capital"]) >= middle}
    forms = sorted({str(b["legal_form"]) for b in rows["business"]})[:2]
    body = await gql(RECORDS, d="business", first=50, f={"legal_form": forms})
    assert {v["legal_form"] for v in _values(body)} <= set(forms)
    assert body["data"]["records"]["totalCount"] == sum(
        1 for b in rows["business"] if b["legal_form"] in forms
    )


# -- corrections ---------------------------------------------------------------------------------


async def test_owner_correction_is_a_new_version_and_as_of_shows_the_old(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    owner = token("SKHDT", "owner")
    business = rows["business"][0]
    fixed = await gql(
        CORRECT,
        token=owner,
        d="business",
        k=business["tax_code"],
        v={"name": "Công ty TNHH Sửa Tên"},
        r="Sai tên theo giấy chứng nhận",
    )
    assert "errors" not in fixed, fixed
    assert fixed["data"]["correctRecord"]["version"] == 2
    assert fixed["data"]["correctRecord"]["reason"] == "Sai tên theo giấy chứng nhận"
    assert fixed["data"]["correctRecord"]["values"]["name"] == "Công ty TNHH Sửa Tên"
    history = (await gql(HISTORY, d="business", k=business["tax_code"]))["data"]["recordHistory"]
    assert [h["version"] for h in history] == [2, 1]
    assert history[0]["reason"] == "Sai tên theo giấy chứng nhận"
    assert history[1]["reason"] is None and history[1]["source"] == "test"
    assert history[1]["values"]["name"] == business["name"]
    assert history[0]["hash"] != history[1]["hash"]
    now = await gql(RECORD, d="business", k=business["tax_code"])
    assert now["data"]["record"]["values"]["name"] == "Công ty TNHH Sửa Tên"
    before = await gql(RECORD, d="business", k=business["tax_code"], asOf=history[1]["changedAt"])
    assert before["data"]["record"]["version"] == 1
    assert before["data"]["record"]["values"]["name"] == business["name"]
    too_early = await gql(RECORD, d="business", k=business["tax_code"], asOf="2000-01-01T00:00:00Z")
    assert too_early == {"data": {"record": None}}


@pytest.mark.parametrize(
    ("agency", "roles"), [("STNMT", ("owner",)), ("SKHDT", ("reader",)), ("SYT", ("owner",))]
)
async def test_correction_by_a_non_owner_is_forbidden_and_changes_nothing(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any], agency: str, roles: tuple[str, ...]
) -> None:
    business = rows["business"][0]
    body = await gql(
        CORRECT,
        token=token(agency, *roles),
        d="business",
        k=business["tax_code"],
        v={"name": "Giả mạo"},
        r="không có thẩm quyền",
    )
    assert codes(body) == ["FORBIDDEN"]
    history = (await gql(HISTORY, d="business", k=business["tax_code"]))["data"]["recordHistory"]
    assert [h["version"] for h in history] == [1]


async def test_correction_of_unknown_dataset_or_key_is_not_found(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    owner = token("SKHDT", "owner")
    unknown = await gql(CORRECT, token=owner, d="nope", k="1", v={"name": "x"}, r="lý do")
    assert codes(unknown) == ["NOT_FOUND"]
    missing = await gql(
        CORRECT, token=owner, d="business", k="2300000000", v={"name": "x"}, r="lý do"
    )
    assert codes(missing) == ["NOT_FOUND"]
    anonymous = await gql(CORRECT, d="business", k="2300000000", v={"name": "x"}, r="lý do")
    assert codes(anonymous) == ["UNAUTHENTICATED"]


# -- bad input -----------------------------------------------------------------------------------


async def test_unknown_filter_field_names_the_field(gql: Gql, rows: dict[str, Any]) -> None:
    body = await gql(RECORDS, d="business", f={"colour": "đỏ"})
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "'colour'" in body["errors"][0]["message"]
    not_filterable = await gql(RECORDS, d="business", f={"address": "Từ Sơn"})
    assert codes(not_filterable) == ["BAD_USER_INPUT"]
    assert "'address'" in not_filterable["errors"][0]["message"]


@pytest.mark.parametrize(
    ("filter_", "field"),
    [
        ({"charter_capital": {"gte": "nhiều"}}, "charter_capital"),
        ({"registered_on": {"lte": "hôm qua"}}, "registered_on"),
        ({"legal_form": "CONG_TY_MA"}, "legal_form"),
        ({"status": {"between": [1, 2]}}, "status"),
        ({"district": {"eq": {"nested": 1}}}, "district"),
    ],
)
async def test_wrong_filter_value_is_bad_input_naming_the_field(
    gql: Gql, rows: dict[str, Any], filter_: dict[str, Any], field: str
) -> None:
    body = await gql(RECORDS, d="business", f=filter_)
    assert codes(body) == ["BAD_USER_INPUT"]
    assert field in body["errors"][0]["message"]


async def test_encrypted_field_filters_by_equality_only(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    owner = token("SYT", "owner")
    citizen = rows["citizen"][0]
    exact = await gql(RECORDS, token=owner, d="citizen", f={"citizen_id": citizen["citizen_id"]})
    assert [e["node"]["key"] for e in exact["data"]["records"]["edges"]] == [citizen["citizen_id"]]
    partial = await gql(RECORDS, token=owner, d="citizen", f={"citizen_id": {"gte": "027"}})
    assert codes(partial) == ["BAD_USER_INPUT"]
    assert "encrypted" in partial["errors"][0]["message"]


async def test_filter_on_a_field_the_caller_may_not_read_is_refused(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    tuson = token("UBND-TX-TUSON", "reader")
    await approved_grant(gql, tuson, token("SYT", "owner"), "citizen", ["district"])
    body = await gql(RECORDS, token=tuson, purpose=PURPOSE, d="citizen", f={"ethnicity": "Kinh"})
    assert codes(body) == ["FORBIDDEN"]
    assert "'ethnicity'" in body["errors"][0]["message"]
    restricted = await gql(
        RECORDS, token=tuson, d="citizen", f={"citizen_id": rows["citizen"][0]["citizen_id"]}
    )
    assert codes(restricted) == ["BAD_USER_INPUT"]
    assert "purpose" in restricted["errors"][0]["message"]


async def test_oversized_page_is_too_complex(gql: Gql, rows: dict[str, Any]) -> None:
    body = await gql(RECORDS, d="business", first=1000)
    assert codes(body) == ["QUERY_TOO_COMPLEX"]
    negative = await gql(RECORDS, d="business", first=-1)
    assert codes(negative) == ["BAD_USER_INPUT"]


async def test_forged_cursor_is_bad_input(gql: Gql, rows: dict[str, Any]) -> None:
    body = await gql(RECORDS, d="business", after="not-a-cursor!!")
    assert codes(body) == ["BAD_USER_INPUT"]
    number = await gql(RECORDS, d="business", after="MTI")  # base64 of the JSON number 12
    assert codes(number) == ["BAD_USER_INPUT"]
