"""Access rules inside compiled typed queries: allowed fields, row filters, unions of grants,
purpose, references, encryption, revocation — each checked against the data itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest
from sqlalchemy import text

from catalog.audit_lists import unpack
from catalog.grants import GrantRequest, decide_grant, request_grant, revoke_grant
from catalog.principal import Principal
from hub.runtime import Hub
from tests.records_fixtures import load_demo_records

Gql = Callable[..., Awaitable[dict[str, Any]]]
TUSON = "Thị xã Từ Sơn"
PURPOSE = "Giải quyết thủ tục hành chính"

CITIZENS = """
query { citizenList(first: 100) { totalCount edges { node { citizenId fullName district } } } }
"""
CITIZEN = "query($k: String!) { citizen(key: $k) { citizenId fullName district } }"
BUSINESS_PHONES = """
query { businessList(first: 3) { edges { node { taxCode legalRepresentative
  representativePhone } } } }
"""


@pytest.fixture
async def demo(hub: Hub, app: Any) -> dict[str, list[dict[str, Any]]]:
    return await load_demo_records(hub)


async def grant(
    hub: Hub,
    grantee: str,
    owner: str,
    dataset: str,
    fields: Sequence[str],
    row_filter: dict[str, Any] | None = None,
) -> str:
    async with hub.db.sessions.begin() as session:
        requested = await request_grant(
            session,
            Principal(f"app:{grantee}", grantee, frozenset({"reader"})),
            GrantRequest(
                dataset=dataset, fields=list(fields), purpose=PURPOSE, row_filter=row_filter
            ),
        )
        await decide_grant(
            session,
            Principal(f"head:{owner}", owner, frozenset({"owner"})),
            str(requested.id),
            True,
        )
    return str(requested.id)


def codes(body: dict[str, Any]) -> set[str]:
    return {e["extensions"]["code"] for e in body.get("errors", [])}


async def test_anonymous_cannot_list_restricted_or_internal_datasets(
    gql: Gql, demo: dict[str, Any]
) -> None:
    # The anonymous schema has no such fields (DESIGN.md §5): refused by validation.
    body = await gql(CITIZENS)
    assert "data" not in body and codes(body) == {"BAD_USER_INPUT"}
    assert "citizenList" in body["errors"][0]["message"]
    parcels = await gql("{ landParcelList { totalCount edges { node { parcelId } } } }")
    assert "data" not in parcels and codes(parcels) == {"BAD_USER_INPUT"}
    assert "landParcelList" in parcels["errors"][0]["message"]


async def test_anonymous_cannot_query_internal_field_of_public_dataset(
    gql: Gql, demo: dict[str, Any]
) -> None:
    body = await gql(BUSINESS_PHONES)
    assert "data" not in body and codes(body) == {"BAD_USER_INPUT"}
    messages = " ".join(e["message"] for e in body["errors"])
    assert "legalRepresentative" in messages and "representativePhone" in messages
    public = await gql("{ businessList(first: 3) { edges { node { taxCode name } } } }")
    nodes = [e["node"] for e in public["data"]["businessList"]["edges"]]
    assert len(nodes) == 3 and all(n["taxCode"] and n["name"] for n in nodes)


async def test_other_agency_reads_internal_but_not_restricted_without_grant(
    gql: Gql, token: Callable[..., str], demo: dict[str, Any]
) -> None:
    body = await gql(BUSINESS_PHONES, token=token("STNMT", "reader"), purpose=PURPOSE)
    nodes = [e["node"] for e in body["data"]["businessList"]["edges"]]
    assert all(n["legalRepresentative"] for n in nodes)
    assert all(n["representativePhone"] is None for n in nodes)
    assert codes(body) == {"FORBIDDEN"}


async def test_grant_naming_restricted_field_needs_a_purpose(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, "STNMT", "SKHDT", "business", ["representative_phone"])
    reader = token("STNMT", "reader")
    without = await gql(BUSINESS_PHONES, token=reader)
    assert all(
        e["node"]["representativePhone"] is None for e in without["data"]["businessList"]["edges"]
    )
    assert codes(without) == {"BAD_USER_INPUT"}
    assert "X-Purpose" in without["errors"][0]["message"]
    with_purpose = await gql(BUSINESS_PHONES, token=reader, purpose=PURPOSE)
    assert "errors" not in with_purpose
    assert all(
        e["node"]["representativePhone"] for e in with_purpose["data"]["businessList"]["edges"]
    )


async def test_row_filtered_grant_shows_only_rows_in_the_district(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(
        hub, "UBND-TX-TUSON", "SYT", "citizen", ["full_name", "district"], {"district": TUSON}
    )
    inside = [c for c in demo["citizen"] if c["district"] == TUSON]
    outside = [c for c in demo["citizen"] if c["district"] != TUSON]
    reader = token("UBND-TX-TUSON", "reader")
    body = await gql(CITIZENS, token=reader, purpose=PURPOSE)
    assert "errors" not in body, body
    listed = body["data"]["citizenList"]
    assert listed["totalCount"] == len(inside)
    assert sorted(e["node"]["citizenId"] for e in listed["edges"]) == sorted(
        c["citizen_id"] for c in inside
    )
    hidden = await gql(CITIZEN, token=reader, purpose=PURPOSE, k=outside[0]["citizen_id"])
    assert hidden == {"data": {"citizen": None}}
    shown = await gql(CITIZEN, token=reader, purpose=PURPOSE, k=inside[0]["citizen_id"])
    assert shown["data"]["citizen"]["fullName"] == inside[0]["full_name"]


async def test_two_grants_combine_per_record_and_field(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, "UBND-TX-TUSON", "SYT", "citizen", ["district"])
    await grant(hub, "UBND-TX-TUSON", "SYT", "citizen", ["full_name"], {"district": TUSON})
    body = await gql(CITIZENS, token=token("UBND-TX-TUSON", "reader"), purpose=PURPOSE)
    listed = body["data"]["citizenList"]
    assert listed["totalCount"] == len(demo["citizen"])
    by_id = {c["citizen_id"]: c for c in demo["citizen"]}
    forbidden_rows = set()
    for i, edge in enumerate(listed["edges"]):
        node = edge["node"]
        source = by_id[node["citizenId"]]
        assert node["district"] == source["district"]
        if source["district"] == TUSON:
            assert node["fullName"] == source["full_name"]
        else:
            assert node["fullName"] is None
            forbidden_rows.add(i)
    denied = {e["path"][2] for e in body["errors"] if e["path"][-1] == "fullName"}
    assert denied == forbidden_rows
    assert codes(body) == {"FORBIDDEN"}


async def test_reference_never_shows_more_than_a_direct_query(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(
        hub, "UBND-TX-TUSON", "SYT", "citizen", ["full_name", "district"], {"district": TUSON}
    )
    await grant(hub, "UBND-TX-TUSON", "SYT", "health_insurance", ["card_no", "citizen_id"])
    query = """{ healthInsuranceList(first: 100) { edges { node { cardNo citizenId
                 citizen { fullName district } } } } }"""
    body = await gql(query, token=token("UBND-TX-TUSON", "reader"), purpose=PURPOSE)
    district_of = {c["citizen_id"]: c["district"] for c in demo["citizen"]}
    edges = body["data"]["healthInsuranceList"]["edges"]
    assert edges
    for edge in edges:
        node = edge["node"]
        if district_of[node["citizenId"]] == TUSON:
            assert node["citizen"]["district"] == TUSON
        else:
            assert node["citizen"] is None


async def test_owner_reads_encrypted_fields_decrypted_and_database_holds_no_plaintext(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    person = demo["citizen"][0]
    body = await gql(
        "query($k: String!) { citizen(key: $k) { citizenId phone } }",
        token=token("SYT", "owner"),
        k=person["citizen_id"],
    )
    assert body["data"]["citizen"]["citizenId"] == person["citizen_id"]
    async with hub.db.sessions() as session:
        raw = await session.scalar(
            text("SELECT count(*) FROM records WHERE data::text LIKE :p OR key = :k"),
            {"p": f"%{person['citizen_id']}%", "k": person["citizen_id"]},
        )
    assert raw == 0


async def test_revoked_grant_stops_reads_on_the_next_request(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    grant_id = await grant(hub, "UBND-TX-TUSON", "SYT", "citizen", ["full_name"])
    reader = token("UBND-TX-TUSON", "reader")
    before = await gql(CITIZENS, token=reader, purpose=PURPOSE)
    assert before["data"]["citizenList"]["totalCount"] == len(demo["citizen"])
    async with hub.db.sessions.begin() as session:
        await revoke_grant(
            session, Principal("head", "SYT", frozenset({"owner"})), grant_id, "Hết nhu cầu"
        )
    after = await gql(CITIZENS, token=reader, purpose=PURPOSE)
    assert after["data"]["citizenList"] == {"totalCount": 0, "edges": []}


async def test_typed_reads_are_audited_with_keys_and_purpose(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    query = "{ businessList(first: 4) { edges { node { taxCode } } } }"
    body = await gql(query, token=token("STNMT", "reader"), purpose=PURPOSE)
    served = [e["node"]["taxCode"] for e in body["data"]["businessList"]["edges"]]
    async with hub.db.sessions() as session:
        row = (
            await session.execute(
                text(
                    "SELECT lists, purpose, agency, detail FROM audit_events "
                    "WHERE action = 'record.read' ORDER BY seq DESC LIMIT 1"
                )
            )
        ).one()
        reads = await session.scalar(
            text(
                "SELECT count(*) FROM record_reads "
                "WHERE agency = 'STNMT' AND dataset_code = 'business'"
            )
        )
    assert sorted(unpack(row.lists) or []) == sorted(served)  # keys are stored packed
    assert row.purpose == PURPOSE and row.agency == "STNMT"
    assert row.detail["count"] == 4
    assert reads == 4


async def test_anonymous_lookup_of_non_public_dataset_is_refused_by_validation(
    gql: Gql, demo: dict[str, Any]
) -> None:
    person = demo["citizen"][0]
    body = await gql(CITIZEN, k=person["citizen_id"])
    assert "data" not in body and codes(body) == {"BAD_USER_INPUT"}
    parcel = demo["land_parcel"][0]
    lookup = "query($k: String!) { landParcel(key: $k) { parcelId holder { name } } }"
    parcels = await gql(lookup, k=parcel["parcel_id"])
    assert "data" not in parcels and codes(parcels) == {"BAD_USER_INPUT"}
