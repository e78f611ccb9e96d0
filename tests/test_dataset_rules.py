"""The catalogue's rules, each through ``createDataset`` or ``reviseDataset`` over GraphQL: a
refusal names the place, carries its code, and writes nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

Gql = Callable[..., Awaitable[dict[str, Any]]]
Token = Callable[..., str]

CREATE_MUTATION = """
mutation Create($input: DatasetInput!) {
  createDataset(input: $input) { code status version referenceOf fields { name } }
}
"""
REVISE_MUTATION = """
mutation Revise($input: DatasetInput!, $newVersion: Boolean!) {
  reviseDataset(input: $input, newVersion: $newVersion) { code status version fields { name } }
}
"""
SUBMIT_MUTATION = "mutation Submit($code: String!) { submitDataset(code: $code) { status } }"
PUBLISH_MUTATION = "mutation Publish($code: String!) { publishDataset(code: $code) { status } }"
CATALOGUE_QUERY = """
query Catalogue($code: String!) {
  dataset(code: $code) { code status version fields { name } }
  datasets(first: 100) { totalCount }
}
"""

CODE = "tax_debt"
KEY = {"name": "debt_id", "type": "string", "required": True}


def dataset_input(**changes: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "code": CODE,
        "title": "Nợ thuế",
        "sector": "tai-chinh",
        "keyField": "debt_id",
        "fields": [KEY, {"name": "amount", "type": "decimal"}],
    }
    value.update(changes)
    return value


@pytest.fixture
def owner(token: Token) -> str:
    return token("SKHDT", "owner", subject="skhdt-owner")


@pytest.fixture
def steward(token: Token) -> str:
    return token("STTTT", "steward", subject="stttt-steward")


async def refused(gql: Gql, owner: str, value: dict[str, Any]) -> tuple[str, str]:
    """Create ``value``; assert it was refused and nothing was written; return (code, message)."""
    body = await gql(CREATE_MUTATION, token=owner, input=value)
    assert body.get("data") is None, body
    after = await gql(CATALOGUE_QUERY, token=owner, code=value["code"])
    assert after["data"]["datasets"]["totalCount"] == 5
    if value["code"] not in ("business", "citizen"):
        assert after["data"]["dataset"] is None
    error = body["errors"][0]
    return error["extensions"]["code"], error["message"]


# -- createDataset --------------------------------------------------------------------------


async def test_code_must_be_snake_case(gql: Gql, owner: str) -> None:
    code, message = await refused(gql, owner, dataset_input(code="TaxDebt"))
    assert code == "BAD_USER_INPUT"
    assert "snake_case" in message and "'TaxDebt'" in message


async def test_code_longer_than_63_characters_is_refused(gql: Gql, owner: str) -> None:
    code, message = await refused(gql, owner, dataset_input(code="x" * 64))
    assert code == "BAD_USER_INPUT"
    assert "63" in message


async def test_duplicate_code_is_a_conflict(gql: Gql, owner: str) -> None:
    value = dataset_input(code="business")
    code, message = await refused(gql, owner, value)
    assert code == "CONFLICT"
    assert "'business' already exists" in message


async def test_key_field_must_be_one_of_the_fields(gql: Gql, owner: str) -> None:
    code, message = await refused(gql, owner, dataset_input(keyField="ma_no"))
    assert code == "BAD_USER_INPUT"
    assert message == "dataset 'tax_debt': key field 'ma_no' is not one of its fields"


async def test_key_field_must_be_required(gql: Gql, owner: str) -> None:
    value = dataset_input(fields=[{**KEY, "required": False}])
    code, message = await refused(gql, owner, value)
    assert code == "BAD_USER_INPUT"
    assert message == "dataset 'tax_debt': key field 'debt_id' must be required"


async def test_secret_field_is_refused_citing_dieu_12_7(gql: Gql, owner: str) -> None:
    secret = {"name": "ghi_chu_mat", "type": "string", "sensitivity": "SECRET"}
    code, message = await refused(gql, owner, dataset_input(fields=[KEY, secret]))
    assert code == "BAD_USER_INPUT"
    assert "field 'ghi_chu_mat' of dataset 'tax_debt'" in message
    assert "Điều 12.7" in message and "secret" in message


async def test_secret_dataset_is_refused(gql: Gql, owner: str) -> None:
    code, message = await refused(gql, owner, dataset_input(sensitivity="SECRET"))
    assert code == "BAD_USER_INPUT"
    assert "dataset 'tax_debt' is marked SECRET" in message and "Điều 12.7" in message


async def test_reference_to_missing_dataset_is_refused(gql: Gql, owner: str) -> None:
    ref = {"name": "tax_code", "type": "reference", "references": "no_such_dataset"}
    code, message = await refused(gql, owner, dataset_input(fields=[KEY, ref]))
    assert code == "BAD_USER_INPUT"
    assert "field 'tax_code' of dataset 'tax_debt'" in message
    assert "'no_such_dataset', which does not exist" in message


async def test_reference_to_a_non_key_field_is_refused(gql: Gql, owner: str) -> None:
    ref = {"name": "business_name", "type": "reference", "references": "business.name"}
    code, message = await refused(gql, owner, dataset_input(fields=[KEY, ref]))
    assert code == "BAD_USER_INPUT"
    assert "field 'business_name' of dataset 'tax_debt'" in message
    assert "key field of 'business' ('tax_code'), not 'name'" in message


async def test_enum_without_values_is_refused(gql: Gql, owner: str) -> None:
    enum = {"name": "kind", "type": "enum"}
    code, message = await refused(gql, owner, dataset_input(fields=[KEY, enum]))
    assert code == "BAD_USER_INPUT"
    assert message == "field 'kind' of dataset 'tax_debt': an enum field needs enumValues"


async def test_duplicate_field_names_are_refused(gql: Gql, owner: str) -> None:
    amount = {"name": "amount", "type": "decimal"}
    code, message = await refused(gql, owner, dataset_input(fields=[KEY, amount, amount]))
    assert code == "BAD_USER_INPUT"
    assert message == "dataset 'tax_debt': field 'amount' is defined twice"


async def test_unknown_field_type_is_refused(gql: Gql, owner: str) -> None:
    blob = {"name": "scan", "type": "blob"}
    code, message = await refused(gql, owner, dataset_input(fields=[KEY, blob]))
    assert code == "BAD_USER_INPUT"
    assert "field 'scan' of dataset 'tax_debt': type must be one of" in message
    assert "'blob'" in message


async def test_unknown_reference_of_is_bad_input(gql: Gql, owner: str) -> None:
    code, message = await refused(gql, owner, dataset_input(referenceOf="no_such_dataset"))
    assert code == "BAD_USER_INPUT"
    assert "referenceOf names 'no_such_dataset', which does not exist" in message


SECOND_BUSINESS_REGISTRY = dataset_input(
    code="business_registry_2",
    title="Sổ doanh nghiệp thứ hai",
    entityKind="business",
    keyField="mst",
    fields=[{"name": "mst", "type": "string", "required": True, "piiKind": "tax_code"}],
)


async def test_second_authority_for_businesses_by_tax_code_is_a_conflict(
    gql: Gql, owner: str
) -> None:
    code, message = await refused(gql, owner, SECOND_BUSINESS_REGISTRY)
    assert code == "CONFLICT"
    assert "dataset 'business'" in message
    assert 'referenceOf: "business"' in message and "Điều 4.4" in message


async def test_second_business_dataset_declaring_reference_of_is_accepted(
    gql: Gql, owner: str
) -> None:
    body = await gql(
        CREATE_MUTATION, token=owner, input={**SECOND_BUSINESS_REGISTRY, "referenceOf": "business"}
    )
    assert "errors" not in body, body
    created = body["data"]["createDataset"]
    assert created["code"] == "business_registry_2"
    assert created["referenceOf"] == "business"
    assert created["status"] == "DRAFT"


@pytest.mark.parametrize("code", ["record", "dataset"])
async def test_code_taking_a_root_field_of_the_contract_is_refused(
    gql: Gql, owner: str, code: str
) -> None:
    error, message = await refused(gql, owner, dataset_input(code=code))
    assert error == "BAD_USER_INPUT"
    assert f"GraphQL name '{code}' is taken by the hub's own API" in message


@pytest.mark.parametrize(
    ("code", "type_name"),
    [("page_info", "PageInfo"), ("dataset_filter", "DatasetFilter"), ("sync_status", "SyncStatus")],
)
async def test_code_taking_a_type_of_the_contract_is_refused(
    gql: Gql, owner: str, code: str, type_name: str
) -> None:
    error, message = await refused(gql, owner, dataset_input(code=code))
    assert error == "BAD_USER_INPUT"
    assert f"GraphQL type '{type_name}' is taken" in message


async def test_code_taking_another_datasets_graphql_name_is_refused(gql: Gql, owner: str) -> None:
    # business_list would be `businessList`, the root list of `business`.
    error, message = await refused(gql, owner, dataset_input(code="business_list"))
    assert error == "BAD_USER_INPUT"
    assert "'businessList' is already used by dataset 'business'" in message


async def test_code_taking_another_datasets_generated_type_is_refused(gql: Gql, owner: str) -> None:
    error, message = await refused(gql, owner, dataset_input(code="business_filter"))
    assert error == "BAD_USER_INPUT"
    assert "'BusinessFilter' is already used by dataset 'business'" in message


# -- reviseDataset --------------------------------------------------------------------------


@pytest.fixture
async def published(gql: Gql, owner: str, steward: str) -> str:
    for document, who, variables in (
        (CREATE_MUTATION, owner, {"input": dataset_input()}),
        (SUBMIT_MUTATION, owner, {"code": CODE}),
        (PUBLISH_MUTATION, steward, {"code": CODE}),
    ):
        body = await gql(document, token=who, **variables)
        assert "errors" not in body, body
    return CODE


async def test_adding_an_optional_field_keeps_it_published(
    gql: Gql, owner: str, published: str
) -> None:
    grown = dataset_input(fields=[*dataset_input()["fields"], {"name": "note", "type": "string"}])
    body = await gql(REVISE_MUTATION, token=owner, input=grown, newVersion=False)
    assert body == {
        "data": {
            "reviseDataset": {
                "code": published,
                "status": "PUBLISHED",
                "version": 1,
                "fields": [{"name": "debt_id"}, {"name": "amount"}, {"name": "note"}],
            }
        }
    }


async def test_restating_a_reference_with_its_key_is_compatible(
    gql: Gql, owner: str, steward: str
) -> None:
    def with_reference(target: str) -> dict[str, Any]:
        ref = {"name": "tax_code", "type": "reference", "references": target}
        return dataset_input(fields=[KEY, ref])

    await gql(CREATE_MUTATION, token=owner, input=with_reference("business"))
    await gql(SUBMIT_MUTATION, token=owner, code=CODE)
    await gql(PUBLISH_MUTATION, token=steward, code=CODE)
    body = await gql(
        REVISE_MUTATION, token=owner, input=with_reference("business.tax_code"), newVersion=False
    )
    assert "errors" not in body, body
    assert body["data"]["reviseDataset"]["status"] == "PUBLISHED"


async def test_adding_a_required_field_to_published_is_a_conflict(
    gql: Gql, owner: str, published: str
) -> None:
    grown = dataset_input(
        fields=[*dataset_input()["fields"], {"name": "due", "type": "date", "required": True}]
    )
    body = await gql(REVISE_MUTATION, token=owner, input=grown, newVersion=False)
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "new field 'due' is required" in body["errors"][0]["message"]


async def test_removing_a_field_from_published_is_a_conflict(
    gql: Gql, owner: str, published: str
) -> None:
    shrunk = dataset_input(fields=[KEY])
    body = await gql(REVISE_MUTATION, token=owner, input=shrunk, newVersion=False)
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "CONFLICT"
    assert "field 'amount' is removed" in body["errors"][0]["message"]
    assert "newVersion: true" in body["errors"][0]["message"]
    after = await gql(CATALOGUE_QUERY, token=owner, code=published)
    assert after["data"]["dataset"] == {
        "code": published,
        "status": "PUBLISHED",
        "version": 1,
        "fields": [{"name": "debt_id"}, {"name": "amount"}],
    }


async def test_removing_a_field_with_new_version_starts_a_draft(
    gql: Gql, owner: str, published: str
) -> None:
    shrunk = dataset_input(fields=[KEY])
    body = await gql(REVISE_MUTATION, token=owner, input=shrunk, newVersion=True)
    assert body == {
        "data": {
            "reviseDataset": {
                "code": published,
                "status": "DRAFT",
                "version": 2,
                "fields": [{"name": "debt_id"}],
            }
        }
    }


async def test_reader_cannot_revise(gql: Gql, token: Token, owner: str, published: str) -> None:
    grown = dataset_input(fields=[*dataset_input()["fields"], {"name": "note", "type": "string"}])
    body = await gql(REVISE_MUTATION, token=token("SKHDT", "reader"), input=grown, newVersion=False)
    assert body.get("data") is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    after = await gql(CATALOGUE_QUERY, token=owner, code=published)
    assert after["data"]["dataset"]["fields"] == [{"name": "debt_id"}, {"name": "amount"}]
