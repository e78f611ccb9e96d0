"""The catalogue cannot be used to loosen access, break the live schema, learn of another
agency's drafts, or store unreadable text (issue 7 items 6, 10, 11 and 14): each refusal names
the place and carries its code, and the hub keeps serving whatever a dataset row holds."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from catalog.baseline import BUSINESS, CITIZEN
from catalog.datasets import create_dataset, deprecate_dataset, get_dataset, submit_dataset
from catalog.errors import InvalidInput, NotFound
from catalog.indexes import ensure_indexes, ensure_partition
from catalog.models import Dataset, DatasetField
from catalog.naming import (
    HUB_HELPER_TYPE_NAMES,
    RESERVED_ROOT_FIELDS,
    RESERVED_TYPE_NAMES,
    generated_type_names,
)
from catalog.principal import Principal
from catalog.specs import DatasetSpec, FieldSpec
from hub.app import create_app
from hub.demo import generate
from hub.runtime import Hub
from schema.build import build_schema
from schema.catalogue.buildcheck import hub_names
from schema.records.generated import GeneratedSchema
from tests.records_fixtures import load_rows
from tests.request_ids import checked_client

Gql = Callable[..., Awaitable[dict[str, Any]]]
Token = Callable[..., str]

CREATE = """
mutation Create($input: DatasetInput!) {
  createDataset(input: $input) {
    code status title description legalBasis fields { name description enumValues }
  }
}
"""
REVISE = """
mutation Revise($input: DatasetInput!, $newVersion: Boolean!) {
  reviseDataset(input: $input, newVersion: $newVersion) {
    code status version sensitivity fields { name sensitivity }
  }
}
"""
SUBMIT = "mutation Submit($code: String!) { submitDataset(code: $code) { status } }"
PUBLISH = "mutation Publish($code: String!) { publishDataset(code: $code) { status } }"
DEPRECATE = """
mutation Deprecate($code: String!, $reason: String!) {
  deprecateDataset(code: $code, reason: $reason) { status }
}
"""
DATASET = """
query Dataset($code: String!) {
  dataset(code: $code) { code status version sensitivity fields { name sensitivity } }
}
"""
RECORDS = """
query Records($dataset: String!) {
  records(dataset: $dataset, first: 100) { edges { node { key values } } }
}
"""
BUSINESS_LIST = "{ businessList(first: 5) { edges { node { taxCode name } } } }"


def spec_input(spec: DatasetSpec, **changes: Any) -> dict[str, Any]:
    """A baseline spec as the ``DatasetInput`` its owner would send."""
    fields = [_field_input(f) for f in spec.fields]
    value: dict[str, Any] = {
        "code": spec.code,
        "title": spec.title,
        "description": spec.description,
        "sector": spec.sector,
        "sensitivity": spec.sensitivity,
        "entityKind": spec.entity_kind,
        "keyField": spec.key_field,
        "updateFrequency": spec.update_frequency,
        "licence": spec.licence,
        "legalBasis": spec.legal_basis,
        "fields": fields,
    }
    value.update(changes)
    return value


def _field_input(spec: FieldSpec) -> dict[str, Any]:
    raw = asdict(spec)
    return {
        "name": raw["name"],
        "type": raw["type"],
        "required": raw["required"],
        "description": raw["description"],
        "sensitivity": raw["sensitivity"],
        "piiKind": raw["pii_kind"],
        "searchable": raw["searchable"],
        "filterable": raw["filterable"],
        "encrypted": raw["encrypted"],
        "references": raw["references"],
        "enumValues": list(raw["enum_values"]) if raw["enum_values"] else None,
    }


def with_field(spec: DatasetSpec, name: str, **changes: Any) -> list[dict[str, Any]]:
    return [
        {**_field_input(f), **changes} if f.name == name else _field_input(f) for f in spec.fields
    ]


def small(code: str = "road_sign", **changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "code": code,
        "title": "Biển báo giao thông",
        "sector": "giao-thong",
        "keyField": "sign_no",
        "sensitivity": "PUBLIC",
        "fields": [
            {
                "name": "sign_no",
                "type": "string",
                "required": True,
                "sensitivity": "PUBLIC",
                "filterable": True,
            },
            {"name": "street", "type": "string", "sensitivity": "PUBLIC", "filterable": True},
        ],
    }
    value.update(changes)
    return value


def error_of(body: dict[str, Any]) -> tuple[str, str]:
    assert body.get("data") is None, body
    error = body["errors"][0]
    return error["extensions"]["code"], error["message"]


@pytest.fixture
def syt_owner(token: Token) -> str:
    return token("SYT", "owner", subject="syt-owner")


@pytest.fixture
def skhdt_owner(token: Token) -> str:
    return token("SKHDT", "owner", subject="skhdt-owner")


@pytest.fixture
def steward(token: Token) -> str:
    return token("STTTT", "steward", subject="stttt-steward")


@pytest.fixture
async def citizens(hub: Hub, app: Any) -> list[dict[str, Any]]:
    rows = generate.citizens(3)
    await load_rows(hub, "citizen", rows)
    return rows


async def anonymous_citizen_keys(gql: Gql) -> list[str]:
    body = await gql(RECORDS, dataset="citizen")
    if body.get("data") is None:
        return []
    return [edge["node"]["key"] for edge in body["data"]["records"]["edges"]]


# -- item 6: loosening sensitivity needs a new version and a steward's publication ------------


async def test_loosening_dataset_sensitivity_without_new_version_is_refused(
    gql: Gql, syt_owner: str, citizens: list[dict[str, Any]]
) -> None:
    body = await gql(
        REVISE, token=syt_owner, input=spec_input(CITIZEN, sensitivity="PUBLIC"), newVersion=False
    )
    code, message = error_of(body)
    assert code == "CONFLICT"
    assert "dataset 'citizen'" in message
    assert "from RESTRICTED to PUBLIC" in message
    assert "newVersion: true" in message and "steward" in message
    after = await gql(DATASET, token=syt_owner, code="citizen")
    assert after["data"]["dataset"]["sensitivity"] == "RESTRICTED"
    assert after["data"]["dataset"]["status"] == "PUBLISHED"
    assert await anonymous_citizen_keys(gql) == []


async def test_loosening_field_sensitivity_without_new_version_is_refused(
    gql: Gql, syt_owner: str, citizens: list[dict[str, Any]]
) -> None:
    fields = with_field(CITIZEN, "phone", sensitivity="INTERNAL")
    body = await gql(
        REVISE, token=syt_owner, input=spec_input(CITIZEN, fields=fields), newVersion=False
    )
    code, message = error_of(body)
    assert code == "CONFLICT"
    assert "field 'phone'" in message and "from RESTRICTED to INTERNAL" in message
    assert "newVersion: true" in message and "steward" in message
    after = await gql(DATASET, token=syt_owner, code="citizen")
    phone = next(f for f in after["data"]["dataset"]["fields"] if f["name"] == "phone")
    assert phone["sensitivity"] == "RESTRICTED"


async def test_tightening_field_sensitivity_takes_effect_at_once(
    gql: Gql, skhdt_owner: str, app: Any
) -> None:
    readable = '{ dataset(code: "business") { fields { name readable } } }'
    before = await gql(readable)
    assert {f["name"]: f["readable"] for f in before["data"]["dataset"]["fields"]}["english_name"]
    fields = with_field(BUSINESS, "english_name", sensitivity="RESTRICTED")
    body = await gql(
        REVISE, token=skhdt_owner, input=spec_input(BUSINESS, fields=fields), newVersion=False
    )
    assert "errors" not in body, body
    revised = body["data"]["reviseDataset"]
    assert (revised["status"], revised["version"]) == ("PUBLISHED", 1)
    english = next(f for f in revised["fields"] if f["name"] == "english_name")
    assert english["sensitivity"] == "RESTRICTED"
    after = await gql(readable)
    flags = {f["name"]: f["readable"] for f in after["data"]["dataset"]["fields"]}
    assert flags["english_name"] is False and flags["name"] is True


async def test_tightening_dataset_sensitivity_takes_effect_at_once(
    gql: Gql, skhdt_owner: str, app: Any
) -> None:
    before = await gql(DATASET, code="business")
    assert before["data"]["dataset"]["sensitivity"] == "PUBLIC"
    body = await gql(
        REVISE,
        token=skhdt_owner,
        input=spec_input(BUSINESS, sensitivity="INTERNAL"),
        newVersion=False,
    )
    assert "errors" not in body, body
    assert body["data"]["reviseDataset"]["status"] == "PUBLISHED"
    assert body["data"]["reviseDataset"]["sensitivity"] == "INTERNAL"
    after = await gql(DATASET, code="business")
    assert after == {"data": {"dataset": None}}


async def test_loosening_with_new_version_waits_for_the_stewards_publication(
    gql: Gql, syt_owner: str, steward: str, citizens: list[dict[str, Any]]
) -> None:
    fields = [{**_field_input(f), "sensitivity": "PUBLIC"} for f in CITIZEN.fields]
    loosened = spec_input(CITIZEN, sensitivity="PUBLIC", fields=fields)
    body = await gql(REVISE, token=syt_owner, input=loosened, newVersion=True)
    assert "errors" not in body, body
    revised = body["data"]["reviseDataset"]
    assert (revised["status"], revised["version"]) == ("DRAFT", 2)
    assert await anonymous_citizen_keys(gql) == []
    assert (await gql(SUBMIT, token=syt_owner, code="citizen"))["data"]["submitDataset"] == {
        "status": "SUBMITTED"
    }
    assert await anonymous_citizen_keys(gql) == []
    published = await gql(PUBLISH, token=steward, code="citizen")
    assert published["data"]["publishDataset"] == {"status": "PUBLISHED"}
    keys = await anonymous_citizen_keys(gql)
    assert sorted(keys) == sorted(str(row["citizen_id"]) for row in citizens)


# -- item 10: generated names never collide --------------------------------------------------

CLASHING_CODES = [
    ("string_exact", "StringExactFilter"),
    ("int_range", "IntRangeFilter"),
    ("string_range", "StringRangeFilter"),
    ("date_range", "DateRangeFilter"),
    ("date_time_range", "DateTimeRangeFilter"),
    ("string_filter", "StringFilter"),
    ("boolean", "Boolean"),
    ("date_time", "DateTime"),
]


@pytest.mark.parametrize(("code", "type_name"), CLASHING_CODES)
async def test_code_clashing_with_a_hub_generated_type_is_refused(
    gql: Gql, skhdt_owner: str, code: str, type_name: str
) -> None:
    body = await gql(CREATE, token=skhdt_owner, input=small(code))
    error, message = error_of(body)
    assert error == "BAD_USER_INPUT"
    assert f"dataset '{code}'" in message and f"'{type_name}'" in message
    assert (await gql(DATASET, token=skhdt_owner, code=code))["data"]["dataset"] is None


async def test_codes_colliding_after_camel_case_are_refused(gql: Gql, skhdt_owner: str) -> None:
    assert "errors" not in await gql(CREATE, token=skhdt_owner, input=small("road_sign_1"))
    error, message = error_of(await gql(CREATE, token=skhdt_owner, input=small("road_sign1")))
    assert error == "BAD_USER_INPUT"
    assert "'roadSign1'" in message and "dataset 'road_sign_1'" in message


async def test_field_names_colliding_after_camel_case_are_refused(
    gql: Gql, skhdt_owner: str
) -> None:
    value = small()
    value["fields"] += [{"name": "x_1", "type": "int"}, {"name": "x1", "type": "int"}]
    error, message = error_of(await gql(CREATE, token=skhdt_owner, input=value))
    assert error == "BAD_USER_INPUT"
    assert "'x_1'" in message and "'x1'" in message


@pytest.mark.parametrize("name", ["history"])
async def test_field_named_like_a_generated_field_is_refused(
    gql: Gql, skhdt_owner: str, name: str
) -> None:
    value = small()
    value["fields"] += [{"name": name, "type": "string"}]
    error, message = error_of(await gql(CREATE, token=skhdt_owner, input=value))
    assert error == "BAD_USER_INPUT"
    assert f"field '{name}'" in message and "the hub generates" in message


async def test_field_named_like_a_reference_field_is_refused(gql: Gql, skhdt_owner: str) -> None:
    value = small()
    value["fields"] += [
        {"name": "holder_tax_code", "type": "reference", "references": "business"},
        {"name": "holder", "type": "string"},
    ]
    error, message = error_of(await gql(CREATE, token=skhdt_owner, input=value))
    assert error == "BAD_USER_INPUT"
    assert "'holder_tax_code'" in message and "'holder'" in message


async def test_two_references_exposed_under_one_name_are_refused(
    gql: Gql, skhdt_owner: str
) -> None:
    value = small()
    value["fields"] += [
        {"name": "owner_tax_code", "type": "reference", "references": "business"},
        {"name": "owner_id", "type": "reference", "references": "business"},
    ]
    error, message = error_of(await gql(CREATE, token=skhdt_owner, input=value))
    assert error == "BAD_USER_INPUT"
    assert "'owner_tax_code'" in message and "'owner_id'" in message and "'owner'" in message


async def test_revising_in_a_clashing_field_is_refused(
    gql: Gql, skhdt_owner: str, steward: str
) -> None:
    await _publish(gql, skhdt_owner, steward, small())
    value = small()
    value["fields"] += [{"name": "history", "type": "string"}]
    body = await gql(REVISE, token=skhdt_owner, input=value, newVersion=False)
    error, message = error_of(body)
    assert error == "BAD_USER_INPUT" and "field 'history'" in message


def test_every_type_the_hub_generates_is_named_by_the_catalogue() -> None:
    """``generated_type_names`` is what creation checks; it must cover the real build."""
    fields = [
        DatasetField(name="k", type="string", required=True, filterable=True, position=0),
        DatasetField(name="s", type="string", filterable=True, position=1),
        DatasetField(name="e", type="string", filterable=True, encrypted=True, position=2),
        DatasetField(name="i", type="int", required=True, filterable=True, position=3),
        DatasetField(name="m", type="decimal", filterable=True, position=4),
        DatasetField(name="b", type="bool", filterable=True, position=5),
        DatasetField(name="d", type="date", filterable=True, position=6),
        DatasetField(name="t", type="datetime", filterable=True, position=7),
        DatasetField(name="n", type="enum", filterable=True, enum_values=["A", "B"], position=8),
        DatasetField(name="j", type="json", position=9),
        DatasetField(name="r", type="reference", references="all_kinds", position=10),
    ]
    dataset = Dataset(
        code="all_kinds",
        title="t",
        sector="s",
        owner_code="SKHDT",
        status="PUBLISHED",
        sensitivity="PUBLIC",
        entity_kind="other",
        key_field="k",
        version=1,
        graphql_single="allKinds",
        graphql_list="allKindsList",
        fields=fields,
    )
    generated = GeneratedSchema.build(build_schema(), [dataset], None, 100)
    static = set(build_schema()._schema.type_map)
    names = set(generated.schema.type_map) - static
    assert names <= generated_type_names("all_kinds") | HUB_HELPER_TYPE_NAMES | RESERVED_TYPE_NAMES
    # Creation checks the running build's own names too, so a type added later is reserved.
    assert static <= hub_names().types
    query = generated.schema.query_type
    assert query is not None
    assert set(query.fields) - {"allKinds", "allKindsList"} <= hub_names().root_fields
    assert hub_names().root_fields >= RESERVED_ROOT_FIELDS


# -- item 10: a failing build never takes the live schema down --------------------------------


async def _insert_unchecked(
    hub: Hub,
    code: str,
    status: str,
    owner: str = "SKHDT",
    key: str = "sign_no",
    extra: tuple[DatasetField, ...] = (),
) -> None:
    """A dataset row written as an old, unchecking version of the hub could have."""
    async with hub.db.sessions.begin() as session:
        session.add(
            Dataset(
                code=code,
                title="Không kiểm tra",
                sector="giao-thong",
                owner_code=owner,
                status=status,
                sensitivity="PUBLIC",
                entity_kind="other",
                key_field=key,
                version=1,
                graphql_single=_camel(code),
                graphql_list=_camel(code) + "List",
                fields=[
                    DatasetField(
                        name=key,
                        position=0,
                        type="string",
                        required=True,
                        sensitivity="PUBLIC",
                        filterable=True,
                    ),
                    *extra,
                ],
            )
        )
        await session.flush()
        await ensure_partition(session, code)
        dataset = await session.get(Dataset, code)
        assert dataset is not None
        if status == "PUBLISHED":
            await ensure_indexes(session, dataset)


def _camel(code: str) -> str:
    head, *rest = code.split("_")
    return head + "".join(part.capitalize() for part in rest)


async def _serves(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.post("/graphql", json={"query": BUSINESS_LIST})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _restart(hub: Hub) -> dict[str, Any]:
    """Start a second hub process on the same database and ask it for businesses."""
    other = create_app(hub.settings, hub)
    async with other.router.lifespan_context(other):
        transport = httpx.ASGITransport(app=other)
        async with checked_client(transport, "http://restarted") as http:
            return await _serves(http)


@pytest.mark.parametrize(("code", "type_name"), CLASHING_CODES[:5])
async def test_publishing_a_clashing_row_is_refused_and_the_hub_keeps_serving(
    gql: Gql, hub: Hub, steward: str, client: httpx.AsyncClient, code: str, type_name: str
) -> None:
    await load_rows(hub, "business", generate.businesses(2))
    await _insert_unchecked(hub, code, "SUBMITTED")
    body = await gql(PUBLISH, token=steward, code=code)
    error, message = error_of(body)
    assert error == "CONFLICT"
    assert f"dataset '{code}'" in message and type_name in message
    status = await gql(DATASET, token=steward, code=code)
    assert status["data"]["dataset"]["status"] == "SUBMITTED"
    served = await _serves(client)
    assert len(served["data"]["businessList"]["edges"]) == 2
    restarted = await _restart(hub)
    assert len(restarted["data"]["businessList"]["edges"]) == 2


async def test_hub_starts_and_serves_with_a_clashing_published_row(
    hub: Hub, seeded: None, caplog: pytest.LogCaptureFixture
) -> None:
    await load_rows(hub, "business", generate.businesses(2))
    await _insert_unchecked(hub, "string_exact", "PUBLISHED")
    await _insert_unchecked(hub, "road_sign", "PUBLISHED")
    await load_rows(hub, "road_sign", [{"sign_no": "BS-1"}])
    with caplog.at_level(logging.WARNING):
        app = create_app(hub.settings, hub)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with checked_client(transport, "http://hub") as http:
                served = await _serves(http)
                assert len(served["data"]["businessList"]["edges"]) == 2
                signs = await http.post(
                    "/graphql", json={"query": "{ roadSignList { edges { node { signNo } } } }"}
                )
                assert signs.json() == {
                    "data": {"roadSignList": {"edges": [{"node": {"signNo": "BS-1"}}]}}
                }
                ready = await http.get("/readyz")
                assert ready.status_code == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("string_exact" in w for w in warnings), warnings


def unbuildable() -> tuple[DatasetField, ...]:
    """A field type no version of the hub knows, filterable: its types fail to build."""
    return (DatasetField(name="scan", position=1, type="blob", filterable=True),)


async def test_publishing_a_row_whose_types_fail_to_build_is_a_conflict(
    gql: Gql, hub: Hub, steward: str, client: httpx.AsyncClient
) -> None:
    await _insert_unchecked(hub, "road_scan", "SUBMITTED", extra=unbuildable())
    error, message = error_of(await gql(PUBLISH, token=steward, code="road_scan"))
    assert error == "CONFLICT"
    assert "dataset 'road_scan' cannot be built" in message
    status = await gql(DATASET, token=steward, code="road_scan")
    assert status["data"]["dataset"]["status"] == "SUBMITTED"
    assert "errors" not in await _serves(client)


async def test_hub_starts_without_a_published_row_whose_types_fail_to_build(
    hub: Hub, seeded: None, caplog: pytest.LogCaptureFixture
) -> None:
    await load_rows(hub, "business", generate.businesses(2))
    await _insert_unchecked(hub, "road_scan", "PUBLISHED", extra=unbuildable())
    with caplog.at_level(logging.WARNING):
        restarted = await _restart(hub)
    assert len(restarted["data"]["businessList"]["edges"]) == 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("road_scan left out" in w for w in warnings), warnings


async def test_hub_serves_the_first_of_two_published_rows_with_the_same_names(
    hub: Hub, seeded: None, caplog: pytest.LogCaptureFixture
) -> None:
    await _insert_unchecked(hub, "road_sign_1", "PUBLISHED")
    await load_rows(hub, "road_sign_1", [{"sign_no": "BS-1"}])
    await _insert_unchecked(hub, "road_sign1", "PUBLISHED")
    app = create_app(hub.settings, hub)
    with caplog.at_level(logging.WARNING):
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with checked_client(transport, "http://hub") as http:
                signs = await http.post(
                    "/graphql", json={"query": "{ roadSign1List { edges { node { signNo } } } }"}
                )
                assert "errors" not in await _serves(http)
    assert signs.json() == {"data": {"roadSign1List": {"edges": [{"node": {"signNo": "BS-1"}}]}}}
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("road_sign1 left out" in w and "road_sign_1" in w for w in warnings), warnings


async def test_later_catalogue_changes_work_beside_a_clashing_published_row(
    gql: Gql, hub: Hub, skhdt_owner: str, steward: str, client: httpx.AsyncClient
) -> None:
    await _insert_unchecked(hub, "int_range", "PUBLISHED")
    await gql("{ __typename }")  # the running process notices the row
    await _publish(gql, skhdt_owner, steward, small())
    body = await gql(DEPRECATE, token=steward, code="int_range", reason="tên trùng kiểu của hub")
    assert body["data"]["deprecateDataset"] == {"status": "DEPRECATED"}
    signs = await gql("{ roadSignList { edges { node { signNo } } } }")
    assert signs == {"data": {"roadSignList": {"edges": []}}}
    restarted = await _restart(hub)
    assert "errors" not in restarted, restarted


async def _publish(gql: Gql, owner: str, steward: str, value: dict[str, Any]) -> None:
    for document, who, variables in (
        (CREATE, owner, {"input": value}),
        (SUBMIT, owner, {"code": value["code"]}),
        (PUBLISH, steward, {"code": value["code"]}),
    ):
        body = await gql(document, token=who, **variables)
        assert "errors" not in body, body


# -- item 11: another agency's draft does not exist for the caller ----------------------------

HIDDEN = "syt_private_register"


@pytest.fixture
async def hidden_draft(gql: Gql, syt_owner: str, skhdt_owner: str) -> str:
    value = small(
        HIDDEN,
        keyField="register_no",
        entityKind="business",
        fields=[{"name": "register_no", "type": "string", "required": True, "filterable": True}],
    )
    body = await gql(CREATE, token=syt_owner, input=value)
    assert "errors" not in body, body
    assert (await gql(DATASET, token=skhdt_owner, code=HIDDEN))["data"]["dataset"] is None
    return HIDDEN


def _reference_to(target: str) -> dict[str, Any]:
    value = small("skhdt_links")
    value["fields"] += [{"name": "link_id", "type": "reference", "references": target}]
    return value


@pytest.mark.parametrize("field", ["", ".register_no", ".wrong_name"])
async def test_reference_to_a_hidden_draft_is_answered_as_missing(
    gql: Gql, skhdt_owner: str, hidden_draft: str, field: str
) -> None:
    hidden = error_of(
        await gql(CREATE, token=skhdt_owner, input=_reference_to(hidden_draft + field))
    )
    missing = error_of(
        await gql(CREATE, token=skhdt_owner, input=_reference_to("no_such_dataset" + field))
    )
    assert hidden[0] == missing[0] == "BAD_USER_INPUT"
    assert hidden[1] == missing[1].replace("no_such_dataset", hidden_draft)
    assert "register_no" not in hidden[1]


async def test_reference_of_a_hidden_draft_is_answered_as_missing(
    gql: Gql, skhdt_owner: str, hidden_draft: str
) -> None:
    hidden = error_of(await gql(CREATE, token=skhdt_owner, input=small(referenceOf=hidden_draft)))
    missing = error_of(
        await gql(CREATE, token=skhdt_owner, input=small(referenceOf="no_such_dataset"))
    )
    assert hidden[0] == missing[0] == "BAD_USER_INPUT"
    assert hidden[1] == missing[1].replace("no_such_dataset", hidden_draft)


async def test_code_of_a_hidden_draft_is_taken_without_revealing_it(
    gql: Gql, skhdt_owner: str, hidden_draft: str
) -> None:
    hidden = error_of(await gql(CREATE, token=skhdt_owner, input=small(hidden_draft)))
    visible = error_of(await gql(CREATE, token=skhdt_owner, input=small("business")))
    assert hidden[0] == visible[0] == "CONFLICT"
    assert hidden[1] == visible[1].replace("business", hidden_draft)
    assert "SYT" not in hidden[1] and "register_no" not in hidden[1]


async def test_graphql_name_of_a_hidden_draft_is_taken_without_naming_it(
    gql: Gql, skhdt_owner: str, hidden_draft: str
) -> None:
    error, message = error_of(
        await gql(CREATE, token=skhdt_owner, input=small(hidden_draft + "_list"))
    )
    assert error == "BAD_USER_INPUT"
    assert "'sytPrivateRegisterList'" in message
    assert f"'{hidden_draft}'" not in message and "SYT" not in message


async def test_hidden_draft_is_no_authority_for_other_agencies(
    gql: Gql, skhdt_owner: str, steward: str, hidden_draft: str, syt_owner: str
) -> None:
    value = small(
        "skhdt_register",
        entityKind="business",
        keyField="register_no",
        fields=[{"name": "register_no", "type": "string", "required": True}],
    )
    body = await gql(CREATE, token=skhdt_owner, input=value)
    assert "errors" not in body, body
    # Whichever is published first is the authority; the steward, who sees both, is told.
    await gql(SUBMIT, token=skhdt_owner, code="skhdt_register")
    assert "errors" not in await gql(PUBLISH, token=steward, code="skhdt_register")
    await gql(SUBMIT, token=syt_owner, code=hidden_draft)
    error, message = error_of(await gql(PUBLISH, token=steward, code=hidden_draft))
    assert error == "CONFLICT" and "'skhdt_register'" in message


# -- item 14: control characters in catalogue text --------------------------------------------


def _spec_with_nul(place: str) -> tuple[DatasetSpec, str | None]:
    """A valid spec with a NUL byte in ``place`` (``owner``: the owner agency argument)."""
    fields = (
        FieldSpec("sign_no", "string", True, sensitivity="PUBLIC"),
        FieldSpec("street", "string", description="Phố", pii_kind="address"),
        FieldSpec("kind", "enum", enum_values=("A", "B")),
        FieldSpec("holder_tax_code", "reference", references="business"),
    )
    spec = DatasetSpec(
        code="road_sign",
        title="Biển báo",
        sector="giao-thong",
        key_field="sign_no",
        fields=fields,
        description="Mô tả",
        legal_basis="Luật",
        licence="CC-BY-4.0",
        update_frequency="hằng ngày",
        entity_kind="other",
        reference_of=None,
    )
    if place == "owner":
        return spec, "SKHDT\x00"
    if place.startswith("fields."):
        index, attribute = place.split(".")[1:]
        field = spec.fields[int(index)]
        current = getattr(field, attribute)
        if attribute == "enum_values":
            bad: Any = (*current, "C\x00")
        else:
            bad = (current or "x") + "\x00"
        changed = replace(field, **{attribute: bad})
        new_fields = tuple(changed if f is field else f for f in spec.fields)
        return replace(spec, fields=new_fields), None
    return replace(spec, **{place: (getattr(spec, place) or "x") + "\x00"}), None


NUL_PLACES = [
    ("title", "title"),
    ("description", "description"),
    ("sector", "sector"),
    ("legal_basis", "legalBasis"),
    ("licence", "licence"),
    ("update_frequency", "updateFrequency"),
    ("code", "code"),
    ("key_field", "keyField"),
    ("entity_kind", "entityKind"),
    ("reference_of", "referenceOf"),
    ("owner", "owner"),
    ("fields.1.name", "name"),
    ("fields.1.description", "description"),
    ("fields.1.type", "type"),
    ("fields.1.pii_kind", "piiKind"),
    ("fields.3.references", "references"),
    ("fields.2.enum_values", "enumValues"),
]
SKHDT_OWNER = Principal(subject="skhdt-owner", agency="SKHDT", roles=frozenset({"owner"}))


@pytest.mark.parametrize(("place", "named"), NUL_PLACES)
async def test_nul_byte_in_catalogue_text_is_refused_by_the_catalogue_naming_the_place(
    hub: Hub, seeded: None, place: str, named: str
) -> None:
    spec, owner = _spec_with_nul(place)
    with pytest.raises(InvalidInput) as refused:
        async with hub.db.sessions.begin() as session:
            await create_dataset(session, SKHDT_OWNER, spec, owner)
    assert refused.value.code == "BAD_USER_INPUT"
    assert named in refused.value.message and "U+0000" in refused.value.message
    assert "\x00" not in refused.value.message
    async with hub.db.sessions() as session:
        assert await session.get(Dataset, "road_sign") is None


async def post(client: httpx.AsyncClient, query: str, token: str, **variables: Any) -> Any:
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code in (200, 400), response.text
    return response.json()


@pytest.mark.parametrize(("place", "named"), [("title", "title"), ("enumValues", "enumValues")])
async def test_nul_byte_in_catalogue_text_over_graphql_is_bad_input(
    client: httpx.AsyncClient, skhdt_owner: str, place: str, named: str
) -> None:
    value = small()
    if place == "enumValues":
        value["fields"] += [{"name": "kind", "type": "enum", "enumValues": ["A", "B\x00"]}]
    else:
        value[place] = "Biển\x00báo"
    error, message = error_of(await post(client, CREATE, skhdt_owner, input=value))
    assert error == "BAD_USER_INPUT" and named in message


@pytest.mark.parametrize("character", ["\x07", "\x1b", "\x7f", "\x85", "\u202e"])
async def test_control_character_in_a_title_is_refused(
    gql: Gql, skhdt_owner: str, character: str
) -> None:
    body = await gql(CREATE, token=skhdt_owner, input=small(title=f"Biển{character}báo"))
    error, message = error_of(body)
    assert error == "BAD_USER_INPUT"
    assert "title" in message and f"U+{ord(character):04X}" in message


async def test_sector_longer_than_its_column_is_bad_input(gql: Gql, skhdt_owner: str) -> None:
    error, message = error_of(await gql(CREATE, token=skhdt_owner, input=small(sector="x" * 65)))
    assert error == "BAD_USER_INPUT" and "sector must be at most 64 characters, got 65" in message


async def test_line_breaks_in_a_description_are_kept(gql: Gql, skhdt_owner: str) -> None:
    body = await gql(CREATE, token=skhdt_owner, input=small(description="Dòng 1\nDòng 2\tcột"))
    assert body["data"]["createDataset"]["description"] == "Dòng 1\nDòng 2\tcột"


async def test_line_break_in_a_title_is_refused(gql: Gql, skhdt_owner: str) -> None:
    error, message = error_of(await gql(CREATE, token=skhdt_owner, input=small(title="A\nB")))
    assert error == "BAD_USER_INPUT" and "title" in message and "U+000A" in message


async def test_catalogue_text_is_stored_nfc(gql: Gql, skhdt_owner: str) -> None:
    nfd = unicodedata.normalize("NFD", "Biển báo đường Lý Thái Tổ")
    value = small(title=nfd, description=nfd, legalBasis=nfd)
    value["fields"] += [
        {"name": "kind", "type": "enum", "description": nfd, "enumValues": [nfd, "KHÁC"]}
    ]
    created = (await gql(CREATE, token=skhdt_owner, input=value))["data"]["createDataset"]
    nfc = unicodedata.normalize("NFC", nfd)
    assert nfc != nfd
    assert (created["title"], created["description"], created["legalBasis"]) == (nfc, nfc, nfc)
    kind = created["fields"][-1]
    assert kind["description"] == nfc and kind["enumValues"] == [nfc, "KHÁC"]


async def test_nul_byte_in_a_deprecation_reason_is_bad_input(hub: Hub, seeded: None) -> None:
    with pytest.raises(InvalidInput) as refused:
        async with hub.db.sessions.begin() as session:
            await deprecate_dataset(session, SKHDT_OWNER, "business", "cũ\x00")
    assert "reason" in refused.value.message and "U+0000" in refused.value.message


async def test_nul_byte_in_a_dataset_code_is_no_dataset(hub: Hub, seeded: None) -> None:
    async with hub.db.sessions() as session:
        assert await get_dataset(session, "business\x00") is None
        with pytest.raises(NotFound) as missing:
            await submit_dataset(session, SKHDT_OWNER, "business\x00")
    assert missing.value.message == "dataset 'business\\x00' does not exist"


async def test_nul_byte_in_an_agency_code_is_no_agency(gql: Gql) -> None:
    body = await gql('{ agency(code: "SKHDT\\u0000") { code } }')
    assert body.get("data") in (None, {"agency": None})
    assert all(e["extensions"]["code"] == "BAD_USER_INPUT" for e in body.get("errors", []))


async def test_control_character_in_the_datasets_filter_is_bad_input(gql: Gql) -> None:
    body = await gql(
        "query($f: DatasetFilter) { datasets(filter: $f) { totalCount } }",
        f={"text": "thuế\x1b[2J"},
    )
    error, message = error_of(body)
    assert error == "BAD_USER_INPUT" and "filter.text" in message and "U+001B" in message


async def test_revise_checks_text_like_create(gql: Gql, skhdt_owner: str) -> None:
    error, message = error_of(
        await gql(
            REVISE,
            token=skhdt_owner,
            input=spec_input(BUSINESS, title="Doanh\x07nghiệp"),
            newVersion=False,
        )
    )
    assert error == "BAD_USER_INPUT" and "title" in message and "U+0007" in message


# -- the database stays as it was after a refusal ---------------------------------------------


async def test_refusals_write_nothing(gql: Gql, hub: Hub, skhdt_owner: str) -> None:
    async with hub.db.sessions() as session:
        before = await session.scalar(text("SELECT count(*) FROM datasets"))
    await gql(CREATE, token=skhdt_owner, input=small("string_exact"))
    await gql(CREATE, token=skhdt_owner, input=small(title="A\x07"))
    async with hub.db.sessions() as session:
        after = await session.scalar(text("SELECT count(*) FROM datasets"))
    assert before == after == 5
