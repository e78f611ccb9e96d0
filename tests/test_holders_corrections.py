"""``holders(identifier)`` answers "already collected, and where?" under exactly the caller's
access; ``corrections(since:)`` tells an agency which records it read were corrected since."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.db import Database
from hub.demo import generate
from hub.keys import KeyStore
from tests.record_support import TUSON, Gql, approved_grant, codes, load

HOLDERS = """
query($i: String!) { holders(identifier: $i) { dataset { code } key canRead } }
"""
CORRECTIONS = """
query($since: DateTime!, $first: Int) {
  corrections(since: $since, first: $first) {
    dataset { code } key versionRead currentVersion reason correctedAt
  }
}"""
CORRECT = """
mutation($d: String!, $k: String!, $v: JSON!, $r: String!) {
  correctRecord(dataset: $d, key: $k, values: $v, reason: $r) { version }
}"""
RECORD = """
query($d: String!, $k: String!) { record(dataset: $d, key: $k) { version values } }
"""
PURPOSE = "Giải quyết thủ tục hành chính"


@pytest.fixture
async def rows(app: Any, database: Database, keys: KeyStore) -> dict[str, list[dict[str, Any]]]:
    businesses = generate.businesses(8)
    citizens = generate.citizens(30)
    # Every business holds a parcel, so a tax code is found in two datasets.
    parcels = generate.land_parcels(16, [str(b["tax_code"]) for b in businesses])
    for i, parcel in enumerate(parcels[: len(businesses)]):
        parcel["holder_tax_code"] = businesses[i]["tax_code"]
    data = {
        "business": businesses,
        "land_parcel": parcels,
        "citizen": citizens,
        "health_insurance": generate.health_insurance(citizens),
    }
    for code, batch in data.items():
        await load(database, keys, code, batch)
    return data


def _found(body: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(h["dataset"]["code"], h["key"], h["canRead"]) for h in body["data"]["holders"]]


def _insured(rows: dict[str, Any], inside: bool) -> dict[str, Any]:
    cards = {c["citizen_id"] for c in rows["health_insurance"]}
    return next(
        c
        for c in rows["citizen"]
        if (c["district"] == TUSON) == inside and c["citizen_id"] in cards
    )


# -- holders -------------------------------------------------------------------------------------


async def test_anonymous_finds_public_holdings_only(gql: Gql, rows: dict[str, Any]) -> None:
    business = rows["business"][0]
    body = await gql(HOLDERS, i=business["tax_code"])
    # land_parcel also holds this tax code, but it is INTERNAL: invisible to anonymous callers.
    assert _found(body) == [("business", business["tax_code"], True)]


async def test_agency_finds_the_identifier_in_every_dataset_it_may_see(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    business = rows["business"][0]
    parcels = sorted(
        p["parcel_id"] for p in rows["land_parcel"] if p["holder_tax_code"] == business["tax_code"]
    )
    body = await gql(HOLDERS, token=token("SKHDT", "reader"), i=f"  {business['tax_code']} ")
    assert _found(body) == [("business", business["tax_code"], True)] + [
        ("land_parcel", p, True) for p in parcels
    ]


async def test_unknown_identifier_finds_nothing(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    body = await gql(HOLDERS, token=token("SYT", "owner"), i="0000000000")
    assert body == {"data": {"holders": []}}
    empty = await gql(HOLDERS, i="   ")
    assert codes(empty) == ["BAD_USER_INPUT"]


async def test_owner_finds_a_citizen_id_in_encrypted_fields(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    citizen = _insured(rows, inside=True)
    card = next(c for c in rows["health_insurance"] if c["citizen_id"] == citizen["citizen_id"])
    body = await gql(HOLDERS, token=token("SYT", "owner"), i=citizen["citizen_id"])
    assert _found(body) == [
        ("citizen", citizen["citizen_id"], True),
        ("health_insurance", card["card_no"], True),
    ]


async def test_no_grant_means_no_holding(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    citizen = _insured(rows, inside=True)
    body = await gql(
        HOLDERS, token=token("STNMT", "reader"), purpose=PURPOSE, i=citizen["citizen_id"]
    )
    assert body == {"data": {"holders": []}}


async def test_row_filter_hides_holdings_outside_it(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    tuson = token("UBND-TX-TUSON", "reader")
    await approved_grant(
        gql,
        tuson,
        token("SYT", "owner"),
        "citizen",
        ["citizen_id", "district"],
        {"district": TUSON},
    )
    inside, outside = _insured(rows, inside=True), _insured(rows, inside=False)
    hit = await gql(HOLDERS, token=tuson, purpose=PURPOSE, i=inside["citizen_id"])
    # canRead: district too, beyond the key. health_insurance: no grant, so not listed.
    assert _found(hit) == [("citizen", inside["citizen_id"], True)]
    miss = await gql(HOLDERS, token=tuson, purpose=PURPOSE, i=outside["citizen_id"])
    assert miss == {"data": {"holders": []}}


async def test_key_only_grant_holding_cannot_be_read(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    tuson = token("UBND-TX-TUSON", "reader")
    await approved_grant(gql, tuson, token("SYT", "owner"), "citizen", ["citizen_id"])
    citizen = rows["citizen"][0]
    body = await gql(HOLDERS, token=tuson, purpose=PURPOSE, i=citizen["citizen_id"])
    assert _found(body) == [("citizen", citizen["citizen_id"], False)]


async def test_holders_without_purpose_skip_restricted_identifiers(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    tuson = token("UBND-TX-TUSON", "reader")
    await approved_grant(gql, tuson, token("SYT", "owner"), "citizen", ["citizen_id", "district"])
    citizen = rows["citizen"][0]
    body = await gql(HOLDERS, token=tuson, i=citizen["citizen_id"])
    assert body["data"]["holders"] == []
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "citizen_id" in body["errors"][0]["message"]


# -- corrections ---------------------------------------------------------------------------------


async def test_agency_that_read_version_1_is_told_of_the_correction(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    tuson, owner = token("UBND-TX-TUSON", "reader"), token("SYT", "owner")
    await approved_grant(
        gql, tuson, owner, "citizen", ["citizen_id", "full_name"], {"district": TUSON}
    )
    inside = _insured(rows, inside=True)
    read = await gql(RECORD, token=tuson, purpose=PURPOSE, d="citizen", k=inside["citizen_id"])
    assert read["data"]["record"]["version"] == 1
    assert (await gql(CORRECTIONS, token=tuson, since=since))["data"]["corrections"] == []
    fixed = await gql(
        CORRECT,
        token=owner,
        d="citizen",
        k=inside["citizen_id"],
        v={"full_name": "Nguyễn Văn Đúng"},
        r="Sai họ tên so với CSDL quốc gia về dân cư",
    )
    assert fixed["data"]["correctRecord"]["version"] == 2
    body = await gql(CORRECTIONS, token=tuson, purpose=PURPOSE, since=since)
    assert "errors" not in body, body
    (correction,) = body["data"]["corrections"]
    assert correction["dataset"] == {"code": "citizen"}
    assert correction["key"] == inside["citizen_id"]
    assert (correction["versionRead"], correction["currentVersion"]) == (1, 2)
    assert correction["reason"] == "Sai họ tên so với CSDL quốc gia về dân cư"
    assert correction["correctedAt"] >= since
    # Without a purpose the RESTRICTED key is shown as its blind index, as everywhere.
    blind = (await gql(CORRECTIONS, token=tuson, since=since))["data"]["corrections"][0]["key"]
    assert len(blind) == 64 and blind != inside["citizen_id"]
    # Other agencies read nothing; a later `since` excludes it; reading v2 settles it.
    assert (await gql(CORRECTIONS, token=token("STNMT", "reader"), since=since))["data"] == {
        "corrections": []
    }
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (await gql(CORRECTIONS, token=tuson, since=later))["data"]["corrections"] == []
    await gql(RECORD, token=tuson, purpose=PURPOSE, d="citizen", k=inside["citizen_id"])
    assert (await gql(CORRECTIONS, token=tuson, since=since))["data"]["corrections"] == []


async def test_correction_of_a_record_no_longer_visible_is_not_listed(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    tuson, owner = token("UBND-TX-TUSON", "reader"), token("SYT", "owner")
    await approved_grant(gql, tuson, owner, "citizen", ["citizen_id"], {"district": TUSON})
    inside = _insured(rows, inside=True)
    await gql(RECORD, token=tuson, purpose=PURPOSE, d="citizen", k=inside["citizen_id"])
    moved = await gql(
        CORRECT,
        token=owner,
        d="citizen",
        k=inside["citizen_id"],
        v={"district": "Huyện Yên Phong"},
        r="Chuyển hộ khẩu",
    )
    assert moved["data"]["correctRecord"]["version"] == 2
    assert (await gql(CORRECTIONS, token=tuson, since=since))["data"]["corrections"] == []


async def test_corrections_need_a_signed_in_agency_and_a_bounded_page(
    gql: Gql, token: Callable[..., str]
) -> None:
    since = "2025-01-01T00:00:00Z"
    assert codes(await gql(CORRECTIONS, since=since)) == ["UNAUTHENTICATED"]
    too_many = await gql(CORRECTIONS, token=token("STNMT", "reader"), since=since, first=501)
    assert codes(too_many) == ["QUERY_TOO_COMPLEX"]


async def test_malformed_since_is_bad_input(gql: Gql, token: Callable[..., str]) -> None:
    bad_time = await gql(CORRECTIONS, token=token("STNMT", "reader"), since="yesterday")
    assert codes(bad_time) == ["BAD_USER_INPUT"]
