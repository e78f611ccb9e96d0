"""Anonymous callers get a schema of what they may read (DESIGN.md §5, issue 7 item 4): the
PUBLIC fields of PUBLISHED or DEPRECATED PUBLIC datasets, nothing else; signed-in agencies
see every published type. Introspection, validation and the document caches follow it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import get_introspection_query

from catalog.baseline import CITIZEN

Gql = Callable[..., Awaitable[dict[str, Any]]]

TYPE_FIELDS = """query($name: String!) { __type(name: $name) { name
  fields(includeDeprecated: true) { name } inputFields { name } enumValues { name } } }"""
SCHEMA_NAMES = """{ __schema { types { name fields(includeDeprecated: true) { name
  args { name } } inputFields { name } enumValues(includeDeprecated: true) { name } } } }"""
NON_PUBLIC_TYPES = ("Citizen", "HealthInsurance", "LandParcel")
NON_PUBLIC_ROOTS = ("citizen", "citizenList", "healthInsurance", "healthInsuranceList")
# INTERNAL and RESTRICTED fields of the PUBLIC dataset ``business``.
NON_PUBLIC_BUSINESS_FIELDS = ("legalRepresentative", "representativePhone", "landParcelList")

CREATE = """
mutation($input: DatasetInput!) { createDataset(input: $input) { code status } }
"""
SITES = {
    "code": "vaccination_site",
    "title": "Điểm tiêm chủng",
    "sector": "y-te",
    "keyField": "site_code",
    "sensitivity": "PUBLIC",
    "fields": [
        {
            "name": "site_code",
            "type": "string",
            "required": True,
            "sensitivity": "PUBLIC",
            "filterable": True,
        },
        {"name": "site_name", "type": "string", "sensitivity": "PUBLIC", "filterable": True},
        {
            "name": "manager_citizen_id",
            "type": "reference",
            "references": "citizen",
            "sensitivity": "PUBLIC",
        },
        {"name": "stock_note", "type": "string", "sensitivity": "INTERNAL", "filterable": True},
    ],
}


async def _publish(gql: Gql, token: Callable[..., str], spec: dict[str, Any]) -> None:
    owner = token("SYT", "owner")
    created = await gql(CREATE, token=owner, input=spec)
    assert created["data"]["createDataset"]["status"] == "DRAFT", created
    code = spec["code"]
    submitted = await gql(f'mutation {{ submitDataset(code: "{code}") {{ status }} }}', token=owner)
    assert submitted["data"]["submitDataset"]["status"] == "SUBMITTED", submitted
    published = await gql(
        f'mutation {{ publishDataset(code: "{code}") {{ status }} }}',
        token=token("STTTT", "steward"),
    )
    assert published["data"]["publishDataset"]["status"] == "PUBLISHED", published


def _names(body: dict[str, Any]) -> dict[str, set[str]]:
    """Type name → its field, argument, input field and enum value names."""
    out: dict[str, set[str]] = {}
    for t in body["data"]["__schema"]["types"]:
        names: set[str] = set()
        for f in t["fields"] or ():
            names.add(f["name"])
            names.update(a["name"] for a in f["args"])
        names.update(f["name"] for f in t["inputFields"] or ())
        names.update(v["name"] for v in t["enumValues"] or ())
        out[t["name"]] = names
    return out


async def test_anonymous_type_lookup_of_non_public_dataset_is_null(gql: Gql) -> None:
    for name in (*NON_PUBLIC_TYPES, "HealthInsuranceFilter", "CitizenConnection"):
        body = await gql(TYPE_FIELDS, name=name)
        assert body == {"data": {"__type": None}}, name


async def test_anonymous_schema_lists_no_non_public_type_or_field(gql: Gql) -> None:
    names = _names(await gql(SCHEMA_NAMES))
    leaked = [t for t in names if t.startswith(NON_PUBLIC_TYPES)]
    assert leaked == []
    assert not set(NON_PUBLIC_ROOTS) & names["Query"]
    assert "landParcelList" not in names["Query"]
    assert not set(NON_PUBLIC_BUSINESS_FIELDS) & names["Business"]
    # No name anywhere in the anonymous schema comes from a non-public field.
    every_name = set().union(*names.values())
    assert not {"ethnicity", "cardNo", "representativePhone", "legalRepresentative"} & every_name


async def test_anonymous_schema_has_public_fields_of_public_datasets(gql: Gql) -> None:
    business = (await gql(TYPE_FIELDS, name="Business"))["data"]["__type"]
    fields = {f["name"] for f in business["fields"]}
    assert {"taxCode", "name", "legalForm", "district", "charterCapital", "history"} <= fields
    legal = (await gql(TYPE_FIELDS, name="LegalDocument"))["data"]["__type"]
    assert legal is not None and "number" in {f["name"] for f in legal["fields"]}
    filters = (await gql(TYPE_FIELDS, name="BusinessFilter"))["data"]["__type"]
    assert {"taxCode", "name", "district"} <= {f["name"] for f in filters["inputFields"]}
    listed = await gql("{ businessList(first: 1) { totalCount } }")
    assert listed["data"]["businessList"]["totalCount"] == 0


async def test_signed_in_agency_sees_every_published_type_and_field(
    gql: Gql, token: Callable[..., str]
) -> None:
    reader = token("STNMT", "reader")
    for name in NON_PUBLIC_TYPES:
        body = await gql(TYPE_FIELDS, token=reader, name=name)
        assert body["data"]["__type"]["name"] == name
    names = _names(await gql(SCHEMA_NAMES, token=reader))
    assert set(NON_PUBLIC_ROOTS) <= names["Query"]
    assert set(NON_PUBLIC_BUSINESS_FIELDS) <= names["Business"]
    citizen = (await gql(TYPE_FIELDS, token=reader, name="Citizen"))["data"]["__type"]
    assert "ethnicity" in {f["name"] for f in citizen["fields"]}


async def test_anonymous_typed_query_on_non_public_type_fails_validation(
    gql: Gql, token: Callable[..., str]
) -> None:
    query = "{ healthInsuranceList { totalCount } }"
    body = await gql(query)
    assert "data" not in body
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert "healthInsuranceList" in body["errors"][0]["message"]
    signed_in = await gql(query, token=token("SYT", "reader"))
    assert signed_in["data"]["healthInsuranceList"]["totalCount"] == 0


async def test_document_cache_is_per_schema(gql: Gql, token: Callable[..., str]) -> None:
    """The same document text, prepared first for a signed-in caller, is validated again
    against the anonymous schema (no shared cache entry, no shared compiled plan)."""
    query = "{ businessList(first: 1) { edges { node { taxCode legalRepresentative } } } }"
    signed_in = await gql(query, token=token("STNMT", "reader"))
    assert signed_in == {"data": {"businessList": {"edges": []}}}
    anonymous = await gql(query)
    assert "data" not in anonymous
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["BAD_USER_INPUT"]
    assert "legalRepresentative" in anonymous["errors"][0]["message"]


async def test_reference_to_non_public_dataset_is_absent_for_anonymous_callers(
    gql: Gql, token: Callable[..., str]
) -> None:
    await _publish(gql, token, SITES)
    site = (await gql(TYPE_FIELDS, name="VaccinationSite"))["data"]["__type"]
    assert {f["name"] for f in site["fields"]} == {
        "siteCode",
        "siteName",
        "managerCitizenId",
        "history",
    }
    site_filter = (await gql(TYPE_FIELDS, name="VaccinationSiteFilter"))["data"]["__type"]
    assert {f["name"] for f in site_filter["inputFields"]} == {"siteCode", "siteName"}
    reader = token("STNMT", "reader")
    full = (await gql(TYPE_FIELDS, token=reader, name="VaccinationSite"))["data"]["__type"]
    assert {"manager", "stockNote"} <= {f["name"] for f in full["fields"]}
    citizen = (await gql(TYPE_FIELDS, token=reader, name="Citizen"))["data"]["__type"]
    assert "vaccinationSiteList" in {f["name"] for f in citizen["fields"]}


async def test_anonymous_introspection_ignores_changes_to_non_public_datasets(
    gql: Gql, token: Callable[..., str]
) -> None:
    """Noninterference: redefining a RESTRICTED dataset and publishing an INTERNAL one leave
    the anonymous introspection answer byte for byte the same (signed-in callers see both)."""
    introspection = get_introspection_query(descriptions=True)
    before = orjson.dumps(await gql(introspection))
    signed_in_before = orjson.dumps(await gql(introspection, token=token("STNMT", "reader")))
    revised = await gql(
        """mutation($input: DatasetInput!) { reviseDataset(input: $input) { version } }""",
        token=token("SYT", "owner"),
        input=_citizen_input_with_new_field(),
    )
    assert revised["data"]["reviseDataset"]["version"] == 1, revised
    internal = {**SITES, "code": "clinic_stock", "sensitivity": "INTERNAL", "title": "Kho"}
    internal["fields"] = [f for f in SITES["fields"] if f["name"] != "manager_citizen_id"]
    await _publish(gql, token, internal)
    after = orjson.dumps(await gql(introspection))
    assert after == before
    signed_in_after = orjson.dumps(await gql(introspection, token=token("STNMT", "reader")))
    assert signed_in_after != signed_in_before
    assert b"clinicStockList" in signed_in_after and b"vaccinationNote" in signed_in_after


def _citizen_input_with_new_field() -> dict[str, Any]:
    """The baseline citizen definition plus one optional RESTRICTED field (compatible)."""
    fields: list[dict[str, Any]] = [
        {
            "name": f.name,
            "type": f.type,
            "required": f.required,
            "description": f.description,
            "sensitivity": f.sensitivity,
            "piiKind": f.pii_kind,
            "filterable": f.filterable,
            "encrypted": f.encrypted,
            "enumValues": list(f.enum_values) if f.enum_values else None,
        }
        for f in CITIZEN.fields
    ]
    fields.append({"name": "vaccination_note", "type": "string", "sensitivity": "RESTRICTED"})
    return {
        "code": CITIZEN.code,
        "title": CITIZEN.title,
        "description": CITIZEN.description,
        "sector": CITIZEN.sector,
        "keyField": CITIZEN.key_field,
        "sensitivity": CITIZEN.sensitivity,
        "entityKind": CITIZEN.entity_kind,
        "updateFrequency": CITIZEN.update_frequency,
        "legalBasis": CITIZEN.legal_basis,
        "fields": fields,
    }


async def test_public_dataset_with_internal_key_builds_without_order_or_filter(
    gql: Gql, token: Callable[..., str]
) -> None:
    """Nothing orderable or filterable is PUBLIC: the anonymous list has no ``orderBy`` (an
    enum needs a value) and no ``filter``, and the schema still builds and serves."""
    spec = {
        "code": "clinic_hours",
        "title": "Giờ mở cửa phòng khám",
        "sector": "y-te",
        "keyField": "clinic_code",
        "sensitivity": "PUBLIC",
        "fields": [
            {
                "name": "clinic_code",
                "type": "string",
                "required": True,
                "sensitivity": "INTERNAL",
                "filterable": True,
            },
            {"name": "opening_hours", "type": "string", "sensitivity": "PUBLIC"},
        ],
    }
    await _publish(gql, token, spec)
    body = await gql("""{ __type(name: "Query") { fields { name args { name } } } }""")
    args = {f["name"]: {a["name"] for a in f["args"]} for f in body["data"]["__type"]["fields"]}
    assert "orderBy" not in args["clinicHoursList"] and "filter" not in args["clinicHoursList"]
    assert {"first", "after"} <= args["clinicHoursList"]
    listed = await gql("{ clinicHoursList { totalCount edges { node { openingHours } } } }")
    assert listed == {"data": {"clinicHoursList": {"totalCount": 0, "edges": []}}}
    signed_in = await gql(TYPE_FIELDS, token=token("STNMT", "reader"), name="ClinicHoursOrderBy")
    assert {v["name"] for v in signed_in["data"]["__type"]["enumValues"]} == {
        "CLINIC_CODE_ASC",
        "CLINIC_CODE_DESC",
    }
