"""The compiled typed read path answers on the caller's view (DESIGN.md §5): filters, ordering,
cursors, counts and ``asOf`` never depend on a value the caller may not read; directives,
odd filter values, many aliases and the ``purpose:`` argument are served, never INTERNAL."""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from catalog.audit_lists import unpack
from catalog.collation import vietnamese_sort_key
from catalog.grants import GrantRequest, decide_grant, request_grant
from catalog.models import Dataset
from catalog.principal import Principal
from catalog.records import correct_record
from hub.db import Database
from hub.runtime import Hub
from hub.settings import Settings
from schema.records.jsonsql import build_object, concat_reads
from tests.records_fixtures import field_keys, load_demo_records

Gql = Callable[..., Awaitable[dict[str, Any]]]
TUSON = "Thị xã Từ Sơn"
PURPOSE = "Giải quyết thủ tục hành chính"
READER = "UBND-TX-TUSON"
NODE_LIMIT = 2000

COUNT_BY_COMMUNE = """
query($c: String) { citizenList(filter: {commune: {eq: $c}}) { totalCount
  edges { node { district commune } } pageInfo { hasNextPage } } }
"""
BY_COMMUNE = """
query($after: String, $order: CitizenOrderBy) {
  citizenList(first: 7, orderBy: $order, after: $after) {
    edges { cursor node { district commune } } pageInfo { hasNextPage endCursor } } }
"""
CITIZEN_AS_OF = """
query($k: String!, $t: DateTime) { citizen(key: $k, asOf: $t) { district commune fullName } }
"""


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """As the shared fixture, with node and cost limits high enough for many aliases."""
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "hub",
        keys_file=tmp_path / "keys.json",
        public_url="http://hub.test",
        max_query_nodes=NODE_LIMIT,
        max_query_cost=1_000_000,
    )


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
) -> None:
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


async def district_and_tuson_communes(hub: Hub) -> None:
    """District readable everywhere; commune only on Từ Sơn's rows."""
    await grant(hub, READER, "SYT", "citizen", ["district"])
    await grant(hub, READER, "SYT", "citizen", ["commune"], {"district": TUSON})


async def correct(hub: Hub, code: str, owner: str, key: str, values: dict[str, Any]) -> None:
    async with hub.db.sessions.begin() as session:
        dataset = await session.get(Dataset, code)
        assert dataset is not None
        await correct_record(
            session,
            Principal(f"head:{owner}", owner, frozenset({"owner"})),
            dataset,
            key,
            values,
            "Cập nhật theo hồ sơ",
            field_keys(hub),
        )


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def raw(
    client: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any
) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    return response.content


# -- 1. filters ---------------------------------------------------------------------------------


async def test_filter_on_field_readable_on_no_row_is_forbidden_naming_it(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, READER, "SYT", "citizen", ["full_name", "district"])
    body = await gql(
        '{ citizenList(filter: {ethnicity: {eq: "Kinh"}}) { totalCount } }',
        token=token(READER, "reader"),
        purpose=PURPOSE,
    )
    assert codes(body) == ["FORBIDDEN"]
    assert "ethnicity" in body["errors"][0]["message"]
    assert body["data"] is None


async def test_filter_on_field_readable_on_some_rows_matches_only_where_readable(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await district_and_tuson_communes(hub)
    commune = next(c["commune"] for c in demo["citizen"] if c["district"] == TUSON)
    inside = [c for c in demo["citizen"] if c["commune"] == commune]
    outsider = next(c for c in demo["citizen"] if c["district"] != TUSON)
    # The hidden commune of a row outside Từ Sơn now holds the value filtered on.
    await correct(hub, "citizen", "SYT", outsider["citizen_id"], {"commune": commune})
    body = await gql(COUNT_BY_COMMUNE, token=token(READER, "reader"), c=commune)
    assert "errors" not in body, body
    listed = body["data"]["citizenList"]
    assert listed["totalCount"] == len(inside)
    assert [e["node"] for e in listed["edges"]] == [
        {"district": TUSON, "commune": commune} for _ in inside
    ]
    assert listed["pageInfo"]["hasNextPage"] is False


async def test_filter_on_restricted_field_without_purpose_is_refused(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, READER, "SYT", "citizen", ["district"])
    person = demo["citizen"][0]
    query = "query($k: String) { citizenList(filter: {citizenId: {eq: $k}}) { totalCount } }"
    reader = token(READER, "reader")
    without = await gql(query, token=reader, k=person["citizen_id"])
    assert codes(without) == ["BAD_USER_INPUT"]
    assert "purpose" in without["errors"][0]["message"]
    assert "citizen_id" in without["errors"][0]["message"]
    with_purpose = await gql(query, token=reader, purpose=PURPOSE, k=person["citizen_id"])
    assert with_purpose["data"]["citizenList"]["totalCount"] == 1


async def test_reverse_list_filter_on_unreadable_field_is_forbidden(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, READER, "SYT", "citizen", ["district"])
    await grant(hub, READER, "SYT", "health_insurance", ["card_no", "citizen_id"])
    body = await gql(
        """{ citizenList(first: 2) { edges { node {
             healthInsuranceList(filter: {hospitalCode: {eq: "x"}}) { totalCount } } } } }""",
        token=token(READER, "reader"),
        purpose=PURPOSE,
    )
    assert codes(body) == ["FORBIDDEN"]
    assert "hospital_code" in body["errors"][0]["message"]


CARDS_BY_HOSPITAL = """
query($k: String!, $h: String) { citizen(key: $k) {
  healthInsuranceList(filter: {hospitalCode: {eq: $h}}) { totalCount
    edges { node { cardNo hospitalCode } } pageInfo { hasNextPage } } } }
"""


async def test_reverse_list_filter_on_field_readable_on_some_rows_matches_only_there(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, READER, "SYT", "citizen", ["district"])
    await grant(hub, READER, "SYT", "health_insurance", ["card_no", "citizen_id"])
    await grant(hub, READER, "SYT", "health_insurance", ["hospital_code"], {"district": TUSON})
    cards = {c["citizen_id"]: c for c in demo["health_insurance"]}
    insider = next(
        c for c in demo["citizen"] if c["district"] == TUSON and c["citizen_id"] in cards
    )
    outsider = next(
        c for c in demo["citizen"] if c["district"] != TUSON and c["citizen_id"] in cards
    )
    code = cards[insider["citizen_id"]]["hospital_code"]
    reader = token(READER, "reader")
    before = await gql(
        CARDS_BY_HOSPITAL, token=reader, purpose=PURPOSE, k=outsider["citizen_id"], h=code
    )
    # The outsider's card is outside Từ Sơn: its hospital code is hidden; changing it is unseen.
    await correct(
        hub,
        "health_insurance",
        "SYT",
        cards[outsider["citizen_id"]]["card_no"],
        {"hospital_code": code},
    )
    after = await gql(
        CARDS_BY_HOSPITAL, token=reader, purpose=PURPOSE, k=outsider["citizen_id"], h=code
    )
    assert after == before
    assert after["data"]["citizen"]["healthInsuranceList"]["totalCount"] == 0
    inside = await gql(
        CARDS_BY_HOSPITAL, token=reader, purpose=PURPOSE, k=insider["citizen_id"], h=code
    )
    listed = inside["data"]["citizen"]["healthInsuranceList"]
    assert listed["totalCount"] == 1
    assert listed["edges"][0]["node"]["hospitalCode"] == code


# -- 2. ordering and cursors -------------------------------------------------------------------


async def test_order_by_field_readable_on_no_row_is_forbidden_naming_it(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, READER, "SYT", "citizen", ["full_name", "district"])
    body = await gql(
        "{ citizenList(orderBy: COMMUNE_ASC) { edges { cursor } } }",
        token=token(READER, "reader"),
        purpose=PURPOSE,
    )
    assert codes(body) == ["FORBIDDEN"]
    assert "commune" in body["errors"][0]["message"]


async def _all_pages(
    client: httpx.AsyncClient, reader: str, order: str
) -> tuple[list[bytes], list[dict[str, Any]]]:
    import orjson

    pages: list[bytes] = []
    nodes: list[dict[str, Any]] = []
    after = None
    for _ in range(50):
        body = await raw(client, BY_COMMUNE, reader, order=order, after=after)
        pages.append(body)
        listed = orjson.loads(body)["data"]["citizenList"]
        nodes.extend(e["node"] | {"cursor": e["cursor"]} for e in listed["edges"])
        if not listed["pageInfo"]["hasNextPage"]:
            break
        after = listed["pageInfo"]["endCursor"]
    return pages, nodes


@pytest.mark.parametrize("order", ["COMMUNE_ASC", "COMMUNE_DESC"])
async def test_order_by_field_readable_on_some_rows_sorts_hidden_as_null_and_pages_them_all(
    client: httpx.AsyncClient,
    token: Callable[..., str],
    hub: Hub,
    demo: dict[str, Any],
    order: str,
) -> None:
    await district_and_tuson_communes(hub)
    _pages, nodes = await _all_pages(client, token(READER, "reader"), order)
    assert len(nodes) == len(demo["citizen"])
    assert len({n["cursor"] for n in nodes}) == len(nodes)
    shown = [n["commune"] for n in nodes if n["commune"] is not None]
    assert len(shown) == sum(1 for c in demo["citizen"] if c["district"] == TUSON)
    # Hidden values sort as NULL, after every value, in both directions.
    assert [n["commune"] for n in nodes[: len(shown)]] == shown
    descending = order.endswith("DESC")
    assert shown == sorted(shown, key=vietnamese_sort_key, reverse=descending)  # Vietnamese order
    assert all(n["district"] != TUSON for n in nodes[len(shown) :])


async def test_cursors_and_order_do_not_change_when_only_a_hidden_value_changes(
    client: httpx.AsyncClient, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await district_and_tuson_communes(hub)
    reader = token(READER, "reader")
    before, _ = await _all_pages(client, reader, "COMMUNE_ASC")
    counted_before = await raw(client, COUNT_BY_COMMUNE, reader, c="Phường Đình Bảng")
    for person in [c for c in demo["citizen"] if c["district"] != TUSON][:5]:
        await correct(hub, "citizen", "SYT", person["citizen_id"], {"commune": "Phường Đình Bảng"})
    async with hub.db.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE records SET data = jsonb_set(data, '{commune}', '\"Xã Aaa\"') "
                "WHERE dataset_code = 'citizen' AND data->>'district' <> :d"
            ),
            {"d": TUSON},
        )
    after, _ = await _all_pages(client, reader, "COMMUNE_ASC")
    assert after == before
    assert await raw(client, COUNT_BY_COMMUNE, reader, c="Phường Đình Bảng") == counted_before


async def test_cursor_never_embeds_a_hidden_value(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    import base64

    await district_and_tuson_communes(hub)
    body = await gql(
        "{ citizenList(first: 100, orderBy: COMMUNE_DESC) { edges { cursor node { commune } } } }",
        token=token(READER, "reader"),
    )
    communes = {c["commune"] for c in demo["citizen"] if c["district"] != TUSON} - {
        c["commune"] for c in demo["citizen"] if c["district"] == TUSON
    }
    for edge in body["data"]["citizenList"]["edges"]:
        decoded = base64.b64decode(edge["cursor"]).decode()
        assert not any(commune in decoded for commune in communes)


# -- 3. asOf -------------------------------------------------------------------------------------


async def test_as_of_shows_nothing_once_the_record_left_the_callers_rows(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, READER, "SYT", "citizen", ["full_name", "district"], {"district": TUSON})
    person = next(c for c in demo["citizen"] if c["district"] == TUSON)
    reader = token(READER, "reader")
    await asyncio.sleep(0.01)
    before = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.01)
    shown = await gql(
        CITIZEN_AS_OF, token=reader, purpose=PURPOSE, k=person["citizen_id"], t=before
    )
    assert shown["data"]["citizen"]["fullName"] == person["full_name"]
    await correct(hub, "citizen", "SYT", person["citizen_id"], {"district": "Huyện Quế Võ"})
    old = await gql(CITIZEN_AS_OF, token=reader, purpose=PURPOSE, k=person["citizen_id"], t=before)
    assert old == {"data": {"citizen": None}}
    generic = await gql(
        'query($k: String!, $t: DateTime) { record(dataset: "citizen", key: $k, asOf: $t) '
        "{ key } }",
        token=reader,
        purpose=PURPOSE,
        k=person["citizen_id"],
        t=before,
    )
    assert generic["data"]["record"] is None


async def test_as_of_shows_nothing_when_the_old_version_is_outside_the_callers_rows(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, READER, "SYT", "citizen", ["full_name", "district"], {"district": TUSON})
    person = next(c for c in demo["citizen"] if c["district"] != TUSON)
    await asyncio.sleep(0.01)
    before = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.01)
    await correct(hub, "citizen", "SYT", person["citizen_id"], {"district": TUSON})
    reader = token(READER, "reader")
    now = await gql(CITIZEN_AS_OF, token=reader, purpose=PURPOSE, k=person["citizen_id"])
    assert now["data"]["citizen"]["district"] == TUSON
    old = await gql(CITIZEN_AS_OF, token=reader, purpose=PURPOSE, k=person["citizen_id"], t=before)
    assert old == {"data": {"citizen": None}}


async def test_as_of_reads_field_readability_on_the_versions_data(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await district_and_tuson_communes(hub)
    person = next(c for c in demo["citizen"] if c["district"] != TUSON)
    await asyncio.sleep(0.01)
    before = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.01)
    await correct(hub, "citizen", "SYT", person["citizen_id"], {"district": TUSON})
    reader = token(READER, "reader")
    # The key (citizen_id) is RESTRICTED: a lookup by it states a purpose.
    now = await gql(CITIZEN_AS_OF, token=reader, purpose=PURPOSE, k=person["citizen_id"])
    assert now["data"]["citizen"]["commune"] == person["commune"]
    old = await gql(CITIZEN_AS_OF, token=reader, purpose=PURPOSE, k=person["citizen_id"], t=before)
    assert old["data"]["citizen"]["district"] == person["district"]
    assert old["data"]["citizen"]["commune"] is None
    assert "FORBIDDEN" in codes(old)


async def test_as_of_of_a_deleted_record_shows_nothing(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    business = demo["business"][0]
    await asyncio.sleep(0.01)
    before = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.01)
    async with hub.db.sessions.begin() as session:
        await session.execute(
            text("UPDATE records SET deleted = true WHERE dataset_code = 'business' AND key = :k"),
            {"k": business["tax_code"]},
        )
    body = await gql(
        "query($k: String!, $t: DateTime) { business(key: $k, asOf: $t) { taxCode } }",
        k=business["tax_code"],
        t=before,
    )
    assert body == {"data": {"business": None}}


# -- 4. many aliases -----------------------------------------------------------------------------


async def test_150_root_aliases_of_a_list_field_are_served_in_order(
    client: httpx.AsyncClient, token: Callable[..., str], demo: dict[str, Any]
) -> None:
    import orjson

    aliases = [f"a{i}" for i in range(150)]
    query = (
        "{ "
        + " ".join(
            f"{a}: businessList(first: 1) {{ totalCount edges {{ node {{ taxCode }} }} }}"
            for a in aliases
        )
        + " }"
    )
    body = orjson.loads(await raw(client, query, token("STNMT", "reader")))
    assert "errors" not in body, body
    assert list(body["data"]) == aliases
    assert {body["data"][a]["totalCount"] for a in aliases} == {len(demo["business"])}


async def test_object_with_many_fields_is_served_in_order(
    gql: Gql, token: Callable[..., str], demo: dict[str, Any]
) -> None:
    fields = " ".join(f"f{i}: parcelId a{i}: areaM2" for i in range(120))
    held = " ".join(f"t{i}: taxCode" for i in range(120))
    body = await gql(
        f"""{{ landParcelList(first: 3) {{ edges {{ node {{ parcelId {fields}
              holder {{ taxCode {held} }} }} }} }} }}""",
        token=token("STNMT", "reader"),
    )
    assert "errors" not in body, body
    for edge in body["data"]["landParcelList"]["edges"]:
        node = edge["node"]
        assert list(node)[:3] == ["parcelId", "f0", "a0"]
        assert len(node) == 242
        assert {node[f"f{i}"] for i in range(120)} == {node["parcelId"]}
        holder = node["holder"]
        if holder is not None:
            assert {holder[f"t{i}"] for i in range(120)} == {holder["taxCode"]}


async def test_many_aliased_lookups_are_audited(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    keys = [b["tax_code"] for b in demo["business"][:40]] * 3
    query = (
        "{ "
        + " ".join(f'b{i}: business(key: "{k}") {{ taxCode }}' for i, k in enumerate(keys))
        + " }"
    )
    body = await gql(query, token=token("STNMT", "reader"))
    assert "errors" not in body, body
    async with hub.db.sessions() as session:
        logged = await session.scalar(
            text(
                "SELECT lists FROM audit_events WHERE action = 'record.read' "
                "AND agency = 'STNMT' ORDER BY seq DESC LIMIT 1"
            )
        )
    assert sorted(unpack(logged) or []) == sorted(set(keys))  # keys are stored packed


async def test_reads_list_of_many_parts_skips_null_chunks(database: Database) -> None:
    parts = ["NULL::text"] * 150 + ["'a'"] + ["NULL::text"] * 120 + ["'b'"]
    async with database.sessions() as session:
        joined = await session.scalar(text(f"SELECT {concat_reads(parts)}"))
        empty = await session.scalar(text(f"SELECT {concat_reads(['NULL::text'] * 250)}"))
    assert joined == "a\x1eb"
    assert empty == ""


async def test_object_of_many_pairs_keeps_order_and_value_types(database: Database) -> None:
    pairs = [
        (f"k{i}", v)
        for i, v in enumerate(["'x'::text", "NULL::json", "true", "3", "json_build_array(1)"] * 30)
    ]
    async with database.sessions() as session:
        built = await session.scalar(
            text(f"SELECT {build_object(pairs, ['NULL', chr(39) + 'F|k0|d.f' + chr(39)])}::text")
        )
    import orjson

    value = orjson.loads(built)
    assert list(value) == [k for k, _ in pairs] + ["__deny"]
    assert [value[f"k{i}"] for i in range(5)] == ["x", None, True, 3, [1]]
    assert value["__deny"] == ["F|k0|d.f"]


# -- 5. directives --------------------------------------------------------------------------------

DIRECTIVES = """
query($withName: Boolean!, $skipDistrict: Boolean!) {
  businessList(first: 2) { edges { node {
    taxCode
    name @include(if: $withName)
    district @skip(if: $skipDistrict)
    status @skip(if: true)
    ... on Business @include(if: $withName) { legalForm }
    ...Extra @skip(if: $skipDistrict)
  } } }
  listed: businessList(first: 1) @include(if: $withName) { totalCount }
}
fragment Extra on Business { industryCode }
"""


async def test_include_and_skip_on_typed_fields_follow_their_conditions(
    gql: Gql, demo: dict[str, Any]
) -> None:
    shown = await gql(DIRECTIVES, withName=True, skipDistrict=False)
    assert "errors" not in shown, shown
    node = shown["data"]["businessList"]["edges"][0]["node"]
    assert list(node) == ["taxCode", "name", "district", "legalForm", "industryCode"]
    assert shown["data"]["listed"]["totalCount"] == len(demo["business"])
    hidden = await gql(DIRECTIVES, withName=False, skipDistrict=True)
    assert "errors" not in hidden, hidden
    assert list(hidden["data"]) == ["businessList"]
    assert list(hidden["data"]["businessList"]["edges"][0]["node"]) == ["taxCode"]
    again = await gql(DIRECTIVES, withName=True, skipDistrict=False)
    assert again == shown


async def test_include_on_typed_root_field_beside_a_catalogue_field(
    gql: Gql, demo: dict[str, Any]
) -> None:
    query = """query($x: Boolean!) { datasets(first: 1) { totalCount }
      businessList(first: 1) @include(if: $x) { edges { node { taxCode name @skip(if: $x) } } } }"""
    shown = await gql(query, x=True)
    assert "errors" not in shown, shown
    assert list(shown["data"]["businessList"]["edges"][0]["node"]) == ["taxCode"]
    hidden = await gql(query, x=False)
    assert "errors" not in hidden, hidden
    assert "businessList" not in hidden["data"]


# -- 6. filter values -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["1e999999", "-1e999999", "1e-999999", "NaN", "Infinity", "-inf"])
async def test_absurd_number_in_filter_is_bad_input_naming_the_argument(
    gql: Gql, demo: dict[str, Any], value: str
) -> None:
    body = await gql(
        "query($v: String) { businessList(filter: {charterCapital: {gte: $v}}) { totalCount } }",
        v=value,
    )
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "businessList.filter.charterCapital.gte" in body["errors"][0]["message"]


async def post(
    client: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any
) -> dict[str, Any]:
    """The decoded body whatever the status: input refused at the edge may answer 400."""
    import orjson

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code in (200, 400), response.text
    body: dict[str, Any] = orjson.loads(response.content)
    return body


@pytest.mark.parametrize(
    "condition",
    [
        '{name: {eq: "a\\u0000b"}}',
        '{name: {contains: "\\u0000"}}',
        '{district: {in: ["x", "\\u0000"]}}',
        "{name: {contains: $v}}",
        "{district: {in: [$v]}}",
    ],
)
async def test_nul_byte_in_text_filter_is_bad_input(
    client: httpx.AsyncClient, demo: dict[str, Any], condition: str
) -> None:
    body = await post(
        client,
        f"query($v: String) {{ businessList(filter: {condition}) {{ totalCount }} }}",
        v="a\x00b",
    )
    assert codes(body) == ["BAD_USER_INPUT"]
    message = body["errors"][0]["message"]
    assert "NUL" in message
    assert "$v" in message or "column" in message or "businessList.filter." in message


async def test_nul_byte_in_lookup_key_or_cursor_is_bad_input(
    client: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    import base64

    lookup = await post(client, "query($k: String!) { business(key: $k) { taxCode } }", k="01\x00")
    assert codes(lookup) == ["BAD_USER_INPUT"]
    cursor = base64.b64encode(b'["tax_code:ASC", "x", "a\\u0000"]').decode()
    paged = await post(
        client, "query($c: String) { businessList(after: $c) { totalCount } }", c=cursor
    )
    assert codes(paged) == ["BAD_USER_INPUT"]
    assert "businessList.after" in paged["errors"][0]["message"]


async def test_contains_matches_nfd_input_against_nfc_text(gql: Gql, demo: dict[str, Any]) -> None:
    word = "Xây dựng"
    nfd = unicodedata.normalize("NFD", word)
    assert nfd != word
    expected = sum(1 for b in demo["business"] if word.casefold() in b["name"].casefold())
    assert expected
    body = await gql(
        "query($w: String) { businessList(filter: {name: {contains: $w}}) { totalCount } }", w=nfd
    )
    assert body["data"]["businessList"]["totalCount"] == expected


# -- 7. purpose argument ---------------------------------------------------------------------------

PHONES = """
query($p: String) {
  withPurpose: businessList(first: 2, purpose: $p) { edges { node { representativePhone } } }
  withoutPurpose: businessList(first: 2) { edges { node { representativePhone } } }
}
"""


async def test_purpose_argument_unlocks_restricted_fields_of_its_root_field_only(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, "STNMT", "SKHDT", "business", ["representative_phone"])
    body = await gql(PHONES, token=token("STNMT", "reader"), p=PURPOSE)
    withs = [e["node"]["representativePhone"] for e in body["data"]["withPurpose"]["edges"]]
    withouts = [e["node"]["representativePhone"] for e in body["data"]["withoutPurpose"]["edges"]]
    assert all(withs) and withouts == [None, None]
    assert set(codes(body)) == {"BAD_USER_INPUT"}
    assert all(e["path"][0] == "withoutPurpose" for e in body["errors"])


async def test_purpose_argument_on_single_lookup_is_logged_as_the_purpose(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, "STNMT", "SKHDT", "business", ["representative_phone"])
    business = demo["business"][0]
    body = await gql(
        "query($k: String!, $p: String) { business(key: $k, purpose: $p) { representativePhone } }",
        token=token("STNMT", "reader"),
        k=business["tax_code"],
        p=PURPOSE,
    )
    assert body == {"data": {"business": {"representativePhone": business["representative_phone"]}}}
    async with hub.db.sessions() as session:
        logged = await session.scalar(
            text(
                "SELECT purpose FROM audit_events WHERE action = 'record.read' "
                "AND agency = 'STNMT' ORDER BY seq DESC LIMIT 1"
            )
        )
    assert logged == PURPOSE


async def test_purpose_argument_allows_filtering_on_a_restricted_field(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    await grant(hub, READER, "SYT", "citizen", ["district"])
    person = demo["citizen"][0]
    body = await gql(
        "query($k: String, $p: String) { citizenList(filter: {citizenId: {eq: $k}}, purpose: $p) "
        "{ totalCount } }",
        token=token(READER, "reader"),
        k=person["citizen_id"],
        p=PURPOSE,
    )
    assert body == {"data": {"citizenList": {"totalCount": 1}}}


@pytest.mark.parametrize("purpose", ["", "   ", "x" * 501])
async def test_empty_or_oversized_purpose_argument_is_bad_input(
    gql: Gql, token: Callable[..., str], demo: dict[str, Any], purpose: str
) -> None:
    body = await gql(
        "query($p: String) { businessList(first: 1, purpose: $p) { totalCount } }",
        token=token("STNMT", "reader"),
        p=purpose,
    )
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "businessList.purpose" in body["errors"][0]["message"]


async def test_nul_byte_in_purpose_argument_is_bad_input(
    client: httpx.AsyncClient, token: Callable[..., str], demo: dict[str, Any]
) -> None:
    body = await post(
        client,
        'query { businessList(first: 1, purpose: "a\\u0000b") { totalCount } }',
        token("STNMT", "reader"),
    )
    assert codes(body) == ["BAD_USER_INPUT"]
    assert "NUL" in body["errors"][0]["message"]


async def test_lookup_by_restricted_key_without_purpose_is_refused_whether_or_not_it_exists(
    gql: Gql, token: Callable[..., str], hub: Hub, demo: dict[str, Any]
) -> None:
    # Answering null for an unknown id and an object for a known one would confirm a guess.
    await grant(hub, READER, "SYT", "citizen", ["district"], {"district": TUSON})
    person = next(c for c in demo["citizen"] if c["district"] == TUSON)
    reader = token(READER, "reader")
    lookup = "query($k: String!) { citizen(key: $k) { district } }"
    known = await gql(lookup, token=reader, k=person["citizen_id"])
    unknown = await gql(lookup, token=reader, k="027099000000")
    assert known == unknown
    assert [e["extensions"]["code"] for e in known["errors"]] == ["BAD_USER_INPUT"]
    assert "purpose" in known["errors"][0]["message"]
    with_purpose = await gql(lookup, token=reader, purpose=PURPOSE, k=person["citizen_id"])
    assert with_purpose["data"]["citizen"] == {"district": TUSON}
