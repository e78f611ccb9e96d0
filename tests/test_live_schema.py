"""Publishing a dataset changes the live schema without a restart, in every hub process;
filters and key lookups are index-backed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy import text

from catalog.models import Dataset
from catalog.record_sql import typed_value
from hub.app import create_app
from hub.runtime import Hub
from tests.records_fixtures import load_demo_records, load_rows
from tests.request_ids import checked_client

Gql = Callable[..., Awaitable[dict[str, Any]]]

CREATE = """
mutation($input: DatasetInput!) { createDataset(input: $input) { code status graphqlList } }
"""
ROAD_WORKS = {
    "code": "road_work",
    "title": "Công trình sửa chữa đường bộ",
    "sector": "giao-thong",
    "keyField": "permit_no",
    "sensitivity": "PUBLIC",
    "fields": [
        {
            "name": "permit_no",
            "type": "string",
            "required": True,
            "sensitivity": "PUBLIC",
            "filterable": True,
        },
        {"name": "street", "type": "string", "sensitivity": "PUBLIC", "filterable": True},
        {
            "name": "holder_tax_code",
            "type": "reference",
            "references": "business",
            "sensitivity": "PUBLIC",
            "filterable": True,
        },
    ],
}
LIST = "{ roadWorkList { edges { node { permitNo street holder { taxCode } } } } }"


async def _publish(gql: Gql, token: Callable[..., str]) -> None:
    owner = token("STNMT", "owner")
    created = await gql(CREATE, token=owner, input=ROAD_WORKS)
    assert created["data"]["createDataset"]["status"] == "DRAFT", created
    submitted = await gql('mutation { submitDataset(code: "road_work") { status } }', token=owner)
    assert submitted["data"]["submitDataset"]["status"] == "SUBMITTED"
    published = await gql(
        'mutation { publishDataset(code: "road_work") { status } }', token=token("STTTT", "steward")
    )
    assert published["data"]["publishDataset"]["status"] == "PUBLISHED"


async def test_published_dataset_is_queryable_at_once_in_this_and_another_process(
    gql: Gql, token: Callable[..., str], hub: Hub
) -> None:
    other_app = create_app(hub.settings, hub)
    async with other_app.router.lifespan_context(other_app):
        transport = httpx.ASGITransport(app=other_app)
        async with checked_client(transport, "http://other") as other:
            before = (await other.post("/graphql", json={"query": LIST})).json()
            assert before["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
            await _publish(gql, token)
            business = (await load_demo_records(hub, businesses=3, parcels=1, citizens=1))[
                "business"
            ][0]
            await load_rows(
                hub,
                "road_work",
                [
                    {
                        "permit_no": "GP-01/2026",
                        "street": "Đường Lý Thái Tổ",
                        "holder_tax_code": business["tax_code"],
                    },
                ],
            )
            here = await gql(LIST)
            assert here["data"]["roadWorkList"]["edges"][0]["node"]["holder"] == {
                "taxCode": business["tax_code"]
            }
            body: dict[str, Any] = {}
            for _ in range(50):  # the other process learns by NOTIFY within milliseconds
                body = (await other.post("/graphql", json={"query": LIST})).json()
                if body.get("data"):
                    break
                await asyncio.sleep(0.05)
            assert body["data"]["roadWorkList"]["edges"][0]["node"]["permitNo"] == "GP-01/2026"


async def test_filters_and_key_lookups_use_indexes(hub: Hub, app: Any) -> None:
    await load_demo_records(hub, businesses=200, parcels=300, citizens=5)
    async with hub.db.sessions() as session:
        parcel = await session.get(Dataset, "land_parcel")
        assert parcel is not None
        fields = {f.name: f for f in parcel.fields}
        district = typed_value("r", fields["district"])
        area = typed_value("r", fields["area_m2"])
        holder = typed_value("r", fields["holder_tax_code"])
        base = "FROM records r WHERE r.dataset_code = 'land_parcel' AND NOT r.deleted AND "
        queries = {
            "filter": f"SELECT r.key {base}{district} = 'Thị xã Từ Sơn' "
            f"ORDER BY {district}, r.key LIMIT 50",
            "range": f"SELECT r.key {base}{area} >= 1000000",
            "reverse": f"SELECT r.key {base}{holder} = '2300000001'",
            "key": "SELECT data FROM records WHERE dataset_code = 'business' AND key = 'x'",
        }
        await session.execute(text("ANALYZE records"))
        await session.execute(text("SET enable_seqscan = off"))
        plans = {}
        for name, sql in queries.items():
            rows = await session.execute(text("EXPLAIN " + sql))
            plans[name] = "\n".join(r[0] for r in rows)
    for name, plan in plans.items():
        assert "Index" in plan and "Seq Scan" not in plan, (name, plan)
    assert "ix_rec_land_parcel_district" in plans["filter"]
    assert "ix_rec_land_parcel_area_m2" in plans["range"]
    assert "ix_rec_land_parcel_holder_tax_code" in plans["reverse"]
    assert "records_business" in plans["key"]  # pruned to the dataset's own partition


INTROSPECT = """{ __type(name: "Query") { fields(includeDeprecated: true) {
  name isDeprecated deprecationReason } } }"""


async def test_deprecating_marks_typed_fields_deprecated_without_removing_them(
    gql: Gql, token: Callable[..., str]
) -> None:
    deprecated = await gql(
        'mutation { deprecateDataset(code: "legal_document", reason: "Thay bằng CSDL quốc gia")'
        " { status } }",
        token=token("STP", "owner"),
    )
    assert deprecated["data"]["deprecateDataset"]["status"] == "DEPRECATED"
    fields = {f["name"]: f for f in (await gql(INTROSPECT))["data"]["__type"]["fields"]}
    assert fields["legalDocumentList"]["isDeprecated"] is True
    assert fields["legalDocumentList"]["deprecationReason"] == "Thay bằng CSDL quốc gia"
    assert fields["businessList"]["isDeprecated"] is False
    still = await gql("{ legalDocumentList { totalCount } }")
    assert still["data"]["legalDocumentList"]["totalCount"] == 0
