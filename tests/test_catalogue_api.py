"""The catalogue over GraphQL, end to end: the real app on a real PostgreSQL, tokens from the
embedded issuer. Visibility (anonymous: PUBLISHED PUBLIC only), pagination, filters, the
dataset lifecycle with its roles, request limits and the HTTP edge."""

from __future__ import annotations

import logging
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from graphql import get_introspection_query
from sqlalchemy import text

from hub.db import Database

Gql = Callable[..., Awaitable[dict[str, Any]]]
Token = Callable[..., str]

BASELINE = ["business", "citizen", "health_insurance", "land_parcel", "legal_document"]

DATASETS_QUERY = """
query Datasets($filter: DatasetFilter, $first: Int, $after: String) {
  datasets(filter: $filter, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { code status sensitivity owner { code } } }
  }
}
"""
DATASET_QUERY = """
query Dataset($code: String!) {
  dataset(code: $code) { code status version sensitivity }
}
"""
DATASET_FIELDS_QUERY = """
query DatasetFields($code: String!) {
  dataset(code: $code) { fields { name references { code keyField } } }
}
"""
AGENCIES_QUERY = "query { agencies { code name level } }"
AGENCY_QUERY = """
query Agency($code: String!) {
  agency(code: $code) { code name level parent { code level } datasets { code } }
}
"""
ME_QUERY = "query { me { anonymous subject roles agency { code } } }"
CREATE_MUTATION = """
mutation Create($input: DatasetInput!) {
  createDataset(input: $input) { code status version owner { code } fields { name } }
}
"""
SUBMIT_MUTATION = """
mutation Submit($code: String!) { submitDataset(code: $code) { code status } }
"""
PUBLISH_MUTATION = """
mutation Publish($code: String!) { publishDataset(code: $code) { code status } }
"""
DEPRECATE_MUTATION = """
mutation Deprecate($code: String!, $reason: String!) {
  deprecateDataset(code: $code, reason: $reason) { code status }
}
"""
# Nine levels: agency > parent × 7 > code.
TOO_DEEP_QUERY = """
query {
  agency(code: "SKHDT") { parent { parent { parent { parent { parent { parent { parent {
    code
  } } } } } } } }
}
"""
# Eight levels, the most the hub serves.
DEEPEST_ALLOWED_QUERY = """
query {
  agency(code: "SKHDT") { parent { parent { parent { parent { parent { parent { code } } } } } } }
}
"""
INTROSPECTION_QUERY = get_introspection_query(descriptions=True)
# 501 fields, one more than max_query_nodes.
TOO_WIDE_QUERY = "query { " + " ".join(f"a{i}: __typename" for i in range(501)) + " }"
BAD_DATETIME_QUERY = """
query Corrections($since: DateTime!) { corrections(since: $since) { key } }
"""
BAD_INT_QUERY = "query Page($first: Int) { datasets(first: $first) { totalCount } }"
SYNTAX_ERROR_QUERY = "query { datasets { edges "
UNKNOWN_FIELD_QUERY = "query { datasets { nope } }"

NEW_DATASET: dict[str, Any] = {
    "code": "enterprise_tax_debt",
    "title": "Nợ thuế của doanh nghiệp",
    "description": "Khoản nợ thuế còn phải nộp, theo mã số thuế.",
    "sector": "tai-chinh",
    "entityKind": "other",
    "keyField": "debt_id",
    "fields": [
        {"name": "debt_id", "type": "string", "required": True},
        {"name": "tax_code", "type": "reference", "references": "business"},
        {"name": "amount", "type": "decimal"},
    ],
}
CODE = NEW_DATASET["code"]


def _codes(body: dict[str, Any]) -> list[str]:
    return [edge["node"]["code"] for edge in body["data"]["datasets"]["edges"]]


def _code_of(body: dict[str, Any]) -> str | None:
    assert "errors" in body, body
    code: str | None = body["errors"][0]["extensions"]["code"]
    return code


async def _status(gql: Gql, owner_token: str, code: str = CODE) -> str | None:
    """The dataset's status as its owner agency sees it (None: it does not exist)."""
    body = await gql(DATASET_QUERY, token=owner_token, code=code)
    dataset = body["data"]["dataset"]
    return dataset["status"] if dataset else None


@pytest.fixture
def owner(token: Token) -> str:
    return token("SKHDT", "owner", subject="skhdt-owner")


@pytest.fixture
def steward(token: Token) -> str:
    return token("STTTT", "steward", subject="stttt-steward")


@pytest.fixture
async def draft(gql: Gql, owner: str) -> str:
    body = await gql(CREATE_MUTATION, token=owner, input=NEW_DATASET)
    assert body["data"]["createDataset"]["status"] == "DRAFT", body
    return str(CODE)


@pytest.fixture
async def submitted(gql: Gql, owner: str, draft: str) -> str:
    body = await gql(SUBMIT_MUTATION, token=owner, code=draft)
    assert body["data"]["submitDataset"]["status"] == "SUBMITTED", body
    return draft


@pytest.fixture
async def published(gql: Gql, steward: str, submitted: str) -> str:
    body = await gql(PUBLISH_MUTATION, token=steward, code=submitted)
    assert body["data"]["publishDataset"]["status"] == "PUBLISHED", body
    return submitted


# -- visibility ---------------------------------------------------------------------------------


async def test_anonymous_sees_only_published_public_datasets(gql: Gql) -> None:
    body = await gql(DATASETS_QUERY)
    assert "errors" not in body
    assert _codes(body) == ["business", "legal_document"]
    assert body["data"]["datasets"]["totalCount"] == 2
    nodes = [e["node"] for e in body["data"]["datasets"]["edges"]]
    assert {(n["status"], n["sensitivity"]) for n in nodes} == {("PUBLISHED", "PUBLIC")}


async def test_anonymous_gets_null_for_restricted_dataset(gql: Gql) -> None:
    body = await gql(DATASET_QUERY, code="citizen")
    assert body == {"data": {"dataset": None}}


async def test_signed_in_agency_sees_all_five_datasets(gql: Gql, token: Token) -> None:
    body = await gql(DATASETS_QUERY, token=token("STP", "reader"))
    assert "errors" not in body
    assert _codes(body) == BASELINE
    assert body["data"]["datasets"]["totalCount"] == 5


async def test_signed_in_agency_sees_restricted_dataset_entry(gql: Gql, token: Token) -> None:
    body = await gql(DATASET_QUERY, token=token("STP", "reader"), code="citizen")
    assert "errors" not in body
    assert body["data"]["dataset"] == {
        "code": "citizen",
        "status": "PUBLISHED",
        "version": 1,
        "sensitivity": "RESTRICTED",
    }


async def test_no_token_is_the_anonymous_caller(gql: Gql) -> None:
    body = await gql(ME_QUERY)
    assert body == {
        "data": {"me": {"anonymous": True, "subject": None, "roles": [], "agency": None}}
    }


async def test_token_names_the_caller_and_its_agency(gql: Gql, token: Token) -> None:
    body = await gql(ME_QUERY, token=token("SKHDT", "owner", "reader", subject="app-1"))
    assert body == {
        "data": {
            "me": {
                "anonymous": False,
                "subject": "app-1",
                "roles": ["owner", "reader"],
                "agency": {"code": "SKHDT"},
            }
        }
    }


# -- pagination ---------------------------------------------------------------------------------


async def test_datasets_pages_follow_the_cursor_to_the_end(gql: Gql, token: Token) -> None:
    caller = token("STP", "reader")
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        body = await gql(DATASETS_QUERY, token=caller, first=2, after=after)
        assert "errors" not in body, body
        connection = body["data"]["datasets"]
        assert connection["totalCount"] == 5
        assert len(connection["edges"]) <= 2
        seen.extend(_codes(body))
        pages += 1
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]
    assert pages == 3
    assert seen == BASELINE


async def test_page_larger_than_maximum_is_too_complex(gql: Gql) -> None:
    body = await gql(DATASETS_QUERY, first=101)
    assert body.get("data") is None
    assert _code_of(body) == "QUERY_TOO_COMPLEX"
    assert "100" in body["errors"][0]["message"]


async def test_page_of_exactly_the_maximum_is_served(gql: Gql) -> None:
    body = await gql(DATASETS_QUERY, first=100)
    assert "errors" not in body
    assert _codes(body) == ["business", "legal_document"]


async def test_negative_page_size_is_bad_input(gql: Gql) -> None:
    body = await gql(DATASETS_QUERY, first=-1)
    assert body.get("data") is None
    assert _code_of(body) == "BAD_USER_INPUT"
    assert "'first'" in body["errors"][0]["message"]


@pytest.mark.parametrize("cursor", ["garbage!!", "MTI", "bm90IGpzb24"])
async def test_cursor_the_hub_did_not_issue_is_bad_input(gql: Gql, cursor: str) -> None:
    body = await gql(DATASETS_QUERY, after=cursor)
    assert body.get("data") is None
    assert _code_of(body) == "BAD_USER_INPUT"
    assert "'after'" in body["errors"][0]["message"]


# -- filters ------------------------------------------------------------------------------------


async def test_datasets_filter_by_sector(gql: Gql, token: Token) -> None:
    body = await gql(DATASETS_QUERY, token=token("STP", "reader"), filter={"sector": "dat-dai"})
    assert _codes(body) == ["land_parcel"]
    assert body["data"]["datasets"]["totalCount"] == 1


async def test_datasets_filter_by_owner(gql: Gql, token: Token) -> None:
    body = await gql(DATASETS_QUERY, token=token("STP", "reader"), filter={"owner": "SKHDT"})
    assert _codes(body) == ["business"]
    assert body["data"]["datasets"]["edges"][0]["node"]["owner"] == {"code": "SKHDT"}


async def test_datasets_filter_by_status(gql: Gql, owner: str, draft: str) -> None:
    body = await gql(DATASETS_QUERY, token=owner, filter={"status": "DRAFT"})
    assert _codes(body) == [draft]
    assert body["data"]["datasets"]["totalCount"] == 1


async def test_datasets_filter_by_vietnamese_text(gql: Gql) -> None:
    body = await gql(DATASETS_QUERY, filter={"text": "doanh nghiệp"})
    assert "errors" not in body
    assert _codes(body) == ["business"]


async def test_datasets_text_filter_matches_decomposed_vietnamese(gql: Gql) -> None:
    decomposed = unicodedata.normalize("NFD", "doanh nghiệp")
    body = await gql(DATASETS_QUERY, filter={"text": decomposed})
    assert _codes(body) == ["business"]


async def test_datasets_text_filter_treats_percent_literally(gql: Gql) -> None:
    body = await gql(DATASETS_QUERY, filter={"text": "%"})
    assert "errors" not in body
    assert _codes(body) == []


async def test_datasets_text_filter_keeps_anonymous_visibility(gql: Gql) -> None:
    # citizen's title says "dân cư"; anonymous callers must not find it by text either.
    body = await gql(DATASETS_QUERY, filter={"text": "dân cư"})
    assert _codes(body) == []
    assert body["data"]["datasets"]["totalCount"] == 0


# -- agencies and fields ------------------------------------------------------------------------


async def test_agencies_lists_the_baseline_departments(gql: Gql) -> None:
    body = await gql(AGENCIES_QUERY)
    assert "errors" not in body
    codes = {a["code"] for a in body["data"]["agencies"]}
    assert {"SKHDT", "STNMT", "SYT", "STP", "STTTT", "VPUBND"} <= codes


async def test_agency_has_parent_and_owned_datasets(gql: Gql) -> None:
    body = await gql(AGENCY_QUERY, code="SKHDT")
    assert "errors" not in body
    agency = body["data"]["agency"]
    assert agency["name"] == "Sở Kế hoạch và Đầu tư"
    assert agency["level"] == "department"
    assert agency["parent"] == {"code": "UBND-TINH", "level": "province"}
    assert agency["datasets"] == [{"code": "business"}]


async def test_agency_datasets_hide_internal_ones_from_anonymous(gql: Gql, token: Token) -> None:
    anonymous = await gql(AGENCY_QUERY, code="STNMT")
    signed_in = await gql(AGENCY_QUERY, token=token("STP", "reader"), code="STNMT")
    assert anonymous["data"]["agency"]["datasets"] == []
    assert signed_in["data"]["agency"]["datasets"] == [{"code": "land_parcel"}]


async def test_unknown_agency_is_null(gql: Gql) -> None:
    body = await gql(AGENCY_QUERY, code="NO-SUCH-AGENCY")
    assert body == {"data": {"agency": None}}


async def test_reference_field_names_its_target_dataset(gql: Gql, token: Token) -> None:
    body = await gql(DATASET_FIELDS_QUERY, token=token("STNMT", "reader"), code="land_parcel")
    assert "errors" not in body
    fields = {f["name"]: f["references"] for f in body["data"]["dataset"]["fields"]}
    assert fields["holder_tax_code"] == {"code": "business", "keyField": "tax_code"}
    assert fields["parcel_id"] is None


# -- the lifecycle ------------------------------------------------------------------------------


async def test_owner_creates_a_draft_of_its_agency(gql: Gql, owner: str) -> None:
    body = await gql(CREATE_MUTATION, token=owner, input=NEW_DATASET)
    assert "errors" not in body, body
    assert body["data"]["createDataset"] == {
        "code": CODE,
        "status": "DRAFT",
        "version": 1,
        "owner": {"code": "SKHDT"},
        "fields": [{"name": "debt_id"}, {"name": "tax_code"}, {"name": "amount"}],
    }


async def test_draft_is_invisible_to_other_agencies(gql: Gql, token: Token, draft: str) -> None:
    other = token("STNMT", "owner")
    single = await gql(DATASET_QUERY, token=other, code=draft)
    listed = await gql(DATASETS_QUERY, token=other)
    assert single == {"data": {"dataset": None}}
    assert draft not in _codes(listed)
    assert listed["data"]["datasets"]["totalCount"] == 5


async def test_draft_is_invisible_to_anonymous(gql: Gql, draft: str) -> None:
    assert await gql(DATASET_QUERY, code=draft) == {"data": {"dataset": None}}


async def test_draft_is_visible_to_its_own_agency(gql: Gql, token: Token, draft: str) -> None:
    body = await gql(DATASET_QUERY, token=token("SKHDT", "reader"), code=draft)
    assert body["data"]["dataset"]["status"] == "DRAFT"


async def test_owner_submits_its_draft(gql: Gql, owner: str, draft: str) -> None:
    body = await gql(SUBMIT_MUTATION, token=owner, code=draft)
    assert body == {"data": {"submitDataset": {"code": draft, "status": "SUBMITTED"}}}


async def test_steward_publishes_a_submitted_dataset(
    gql: Gql, owner: str, steward: str, submitted: str
) -> None:
    body = await gql(PUBLISH_MUTATION, token=steward, code=submitted)
    assert body == {"data": {"publishDataset": {"code": submitted, "status": "PUBLISHED"}}}
    assert await _status(gql, owner) == "PUBLISHED"


async def test_published_dataset_is_listed_for_other_agencies(
    gql: Gql, token: Token, published: str
) -> None:
    body = await gql(DATASETS_QUERY, token=token("STNMT", "reader"), filter={"status": "PUBLISHED"})
    assert published in _codes(body)
    assert body["data"]["datasets"]["totalCount"] == 6
    node = next(e["node"] for e in body["data"]["datasets"]["edges"] if e["node"]["code"] == CODE)
    assert node["status"] == "PUBLISHED"


async def test_internal_published_dataset_stays_hidden_from_anonymous(
    gql: Gql, published: str
) -> None:
    assert await gql(DATASET_QUERY, code=published) == {"data": {"dataset": None}}


async def test_owner_deprecates_with_a_reason(gql: Gql, owner: str, published: str) -> None:
    body = await gql(DEPRECATE_MUTATION, token=owner, code=published, reason="Thay bằng v2")
    assert body == {"data": {"deprecateDataset": {"code": published, "status": "DEPRECATED"}}}
    assert await _status(gql, owner) == "DEPRECATED"


async def test_deprecation_without_reason_is_refused(gql: Gql, owner: str, published: str) -> None:
    body = await gql(DEPRECATE_MUTATION, token=owner, code=published, reason="   ")
    assert body.get("data") is None
    assert _code_of(body) == "BAD_USER_INPUT"
    assert await _status(gql, owner) == "PUBLISHED"


async def test_reader_cannot_create_dataset(gql: Gql, token: Token, owner: str) -> None:
    body = await gql(CREATE_MUTATION, token=token("SKHDT", "reader"), input=NEW_DATASET)
    assert body.get("data") is None
    assert _code_of(body) == "FORBIDDEN"
    assert await _status(gql, owner) is None


async def test_anonymous_cannot_create_dataset(gql: Gql, owner: str) -> None:
    body = await gql(CREATE_MUTATION, input=NEW_DATASET)
    assert body.get("data") is None
    assert _code_of(body) == "UNAUTHENTICATED"
    assert await _status(gql, owner) is None


async def test_owner_cannot_create_dataset_for_another_agency(
    gql: Gql, owner: str, steward: str
) -> None:
    body = await gql(CREATE_MUTATION, token=owner, input={**NEW_DATASET, "owner": "STNMT"})
    assert body.get("data") is None
    assert _code_of(body) == "FORBIDDEN"
    assert await _status(gql, steward) is None


async def test_owner_of_another_agency_cannot_submit_draft(
    gql: Gql, token: Token, owner: str, draft: str
) -> None:
    # The draft does not exist for STNMT (no existence oracle), so it cannot be submitted.
    body = await gql(SUBMIT_MUTATION, token=token("STNMT", "owner"), code=draft)
    assert body.get("data") is None
    assert _code_of(body) == "NOT_FOUND"
    assert await _status(gql, owner) == "DRAFT"


async def test_reader_of_owning_agency_cannot_submit(
    gql: Gql, token: Token, owner: str, draft: str
) -> None:
    body = await gql(SUBMIT_MUTATION, token=token("SKHDT", "reader"), code=draft)
    assert body.get("data") is None
    assert _code_of(body) == "FORBIDDEN"
    assert await _status(gql, owner) == "DRAFT"


async def test_owner_of_another_agency_cannot_deprecate(
    gql: Gql, token: Token, owner: str, published: str
) -> None:
    body = await gql(
        DEPRECATE_MUTATION, token=token("STNMT", "owner"), code=published, reason="không dùng"
    )
    assert body.get("data") is None
    assert _code_of(body) == "FORBIDDEN"
    assert await _status(gql, owner) == "PUBLISHED"


async def test_owner_cannot_publish(gql: Gql, owner: str, submitted: str) -> None:
    body = await gql(PUBLISH_MUTATION, token=owner, code=submitted)
    assert body.get("data") is None
    assert _code_of(body) == "FORBIDDEN"
    assert await _status(gql, owner) == "SUBMITTED"


async def test_publishing_a_draft_is_a_conflict(
    gql: Gql, owner: str, steward: str, draft: str
) -> None:
    body = await gql(PUBLISH_MUTATION, token=steward, code=draft)
    assert body.get("data") is None
    assert _code_of(body) == "CONFLICT"
    assert "DRAFT" in body["errors"][0]["message"]
    assert await _status(gql, owner) == "DRAFT"


async def test_self_referencing_dataset_can_be_published(
    gql: Gql, owner: str, steward: str
) -> None:
    tree = {
        "code": "industry_code",
        "title": "Hệ thống ngành kinh tế",
        "sector": "kinh-te",
        "keyField": "code",
        "fields": [
            {"name": "code", "type": "string", "required": True},
            {"name": "parent_code", "type": "reference", "references": "industry_code"},
        ],
    }
    await gql(CREATE_MUTATION, token=owner, input=tree)
    await gql(SUBMIT_MUTATION, token=owner, code="industry_code")
    body = await gql(PUBLISH_MUTATION, token=steward, code="industry_code")
    assert body == {"data": {"publishDataset": {"code": "industry_code", "status": "PUBLISHED"}}}


# -- limits and the HTTP edge -------------------------------------------------------------------


async def test_syntax_error_is_bad_input_without_data(gql: Gql) -> None:
    body = await gql(SYNTAX_ERROR_QUERY)
    assert "data" not in body
    assert _code_of(body) == "BAD_USER_INPUT"
    assert "Syntax Error" in body["errors"][0]["message"]


async def test_unknown_field_is_bad_input(gql: Gql) -> None:
    body = await gql(UNKNOWN_FIELD_QUERY)
    assert "data" not in body
    assert _code_of(body) == "BAD_USER_INPUT"
    assert "'nope'" in body["errors"][0]["message"]


async def test_malformed_datetime_variable_is_bad_input(gql: Gql) -> None:
    body = await gql(BAD_DATETIME_QUERY, since="hôm qua")
    assert "data" not in body
    assert _code_of(body) == "BAD_USER_INPUT"
    assert "'$since'" in body["errors"][0]["message"]


async def test_malformed_int_variable_is_bad_input(gql: Gql) -> None:
    body = await gql(BAD_INT_QUERY, first="hai")
    assert "data" not in body
    assert _code_of(body) == "BAD_USER_INPUT"
    assert "'$first'" in body["errors"][0]["message"]


async def test_query_deeper_than_the_limit_is_too_complex(gql: Gql) -> None:
    body = await gql(TOO_DEEP_QUERY)
    assert "data" not in body
    assert _code_of(body) == "QUERY_TOO_COMPLEX"
    assert "8" in body["errors"][0]["message"]


async def test_query_at_the_depth_limit_is_served(gql: Gql) -> None:
    body = await gql(DEEPEST_ALLOWED_QUERY)
    assert "errors" not in body
    assert body["data"]["agency"]["parent"] == {"parent": None}


async def test_standard_introspection_query_is_served(gql: Gql) -> None:
    # GraphiQL and code generators send it; its ofType chain nests 15 levels deep.
    body = await gql(INTROSPECTION_QUERY)
    assert "errors" not in body, body.get("errors")
    schema = body["data"]["__schema"]
    assert schema["queryType"]["name"] == "Query"
    assert "Dataset" in {t["name"] for t in schema["types"]}


async def test_query_selecting_too_many_fields_is_too_complex(gql: Gql) -> None:
    body = await gql(TOO_WIDE_QUERY)
    assert "data" not in body
    assert _code_of(body) == "QUERY_TOO_COMPLEX"
    assert "500" in body["errors"][0]["message"]


async def test_mutation_sent_with_get_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": SUBMIT_MUTATION.strip()})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    body = response.json()
    assert "data" not in body
    assert _code_of(body) == "BAD_USER_INPUT"


async def test_query_sent_with_get_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", params={"query": "{ me { anonymous } }"})
    assert response.status_code == 200
    assert response.json() == {"data": {"me": {"anonymous": True}}}


async def test_body_that_is_not_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", content=b"query { me }", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert "data" not in body
    assert _code_of(body) == "BAD_USER_INPUT"


async def test_healthz_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_ready(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"


async def test_bad_bearer_token_is_401_never_anonymous(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql",
        json={"query": ME_QUERY},
        headers={"Authorization": "Bearer abc.def.ghi"},
    )
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    body = response.json()
    assert "data" not in body
    assert _code_of(body) == "UNAUTHENTICATED"


async def test_unexpected_failure_is_internal_with_request_id_and_no_traceback(
    client: httpx.AsyncClient, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    # A real failure: the table behind `agencies` disappears under the running hub.
    async with database.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE agencies RENAME TO agencies_gone"))
    with caplog.at_level(logging.ERROR, logger="hub.errors"):
        response = await client.post(
            "/graphql", json={"query": AGENCIES_QUERY}, headers={"X-Request-Id": "req-boom-1"}
        )
    assert response.status_code == 200
    body = response.json()
    assert body.get("data") is None
    error = body["errors"][0]
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-boom-1"}
    assert error["path"] == ["agencies"]
    assert error["message"] == "internal error; quote request id req-boom-1"
    assert "Traceback" not in response.text
    assert "agencies_gone" not in response.text and "sqlalchemy" not in response.text.lower()
    logged = [r for r in caplog.records if "req-boom-1" in r.getMessage()]
    assert logged and logged[0].exc_info is not None
