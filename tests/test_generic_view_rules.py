"""The caller's view on the generic paths (issue 7 items 2, 3 and 5): ``recordHistory`` and
``record(asOf:)`` show a version only while the record is visible now and that version passes
the caller's rules, versions that differ only in hidden values collapse into one entry, the
``records`` filter and ``totalCount`` are evaluated on the view, and ``holders`` answers from
the same view. Noninterference: an owner's change to values the caller may not read leaves
its answers identical."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from hub.db import Database
from hub.demo import generate
from hub.keys import KeyStore
from tests.record_support import TUSON, Gql, approved_grant, codes, field_keys, load

RECORDS = """
query($d: String!, $f: JSON) {
  records(dataset: $d, filter: $f, first: 100) { totalCount edges { node { key values } } }
}"""
RECORD = """
query($d: String!, $k: String!, $asOf: DateTime) {
  record(dataset: $d, key: $k, asOf: $asOf) { key version updatedAt values }
}"""
HISTORY = """
query($d: String!, $k: String!) {
  recordHistory(dataset: $d, key: $k) { version hash changedAt source reason values }
}"""
CORRECT = """
mutation($d: String!, $k: String!, $v: JSON!, $r: String!) {
  correctRecord(dataset: $d, key: $k, values: $v, reason: $r) { version changedAt }
}"""
PAGE = """
query($d: String!, $first: Int, $after: String) {
  records(dataset: $d, first: $first, after: $after) {
    edges { cursor node { key values } } pageInfo { endCursor }
  }
}"""
HOLDERS = """
query($i: String!) { holders(identifier: $i) { dataset { code } key canRead } }
"""
PURPOSE = "Giải quyết thủ tục hành chính"
YEN_PHONG = "Huyện Yên Phong"


@pytest.fixture
async def rows(app: Any, database: Database, keys: KeyStore) -> dict[str, list[dict[str, Any]]]:
    citizens = generate.citizens(30)
    cards = generate.health_insurance(citizens)
    for card in cards:  # a card is issued where its holder lives, for readable tests
        card["district"] = next(c for c in citizens if c["citizen_id"] == card["citizen_id"])[
            "district"
        ]
    data = {"citizen": citizens, "health_insurance": cards}
    for code, batch in data.items():
        await load(database, keys, code, batch)
    assert any(c["district"] == TUSON for c in cards) and any(c["district"] != TUSON for c in cards)
    return data


def _citizen(rows: dict[str, Any], inside: bool) -> dict[str, Any]:
    cards = {c["citizen_id"] for c in rows["health_insurance"]}
    return next(
        c
        for c in rows["citizen"]
        if (c["district"] == TUSON) == inside and c["citizen_id"] in cards
    )


def _card(rows: dict[str, Any], citizen: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in rows["health_insurance"] if c["citizen_id"] == citizen["citizen_id"])


async def _tuson_reader(gql: Gql, token: Callable[..., str], fields: list[str]) -> str:
    reader = token("UBND-TX-TUSON", "reader")
    await approved_grant(gql, reader, token("SYT", "owner"), "citizen", fields, {"district": TUSON})
    return reader


async def _correct(
    gql: Gql, token: Callable[..., str], code: str, key: str, values: dict[str, Any]
) -> dict[str, Any]:
    body = await gql(
        CORRECT, token=token("SYT", "owner"), d=code, k=key, v=values, r="Cập nhật theo nguồn"
    )
    assert "errors" not in body, body
    fixed: dict[str, Any] = body["data"]["correctRecord"]
    return fixed


def _versions(body: dict[str, Any]) -> list[int]:
    return [v["version"] for v in body["data"]["recordHistory"]]


def _found(body: dict[str, Any]) -> list[tuple[str, str, bool]]:
    return [(h["dataset"]["code"], h["key"], h["canRead"]) for h in body["data"]["holders"]]


# -- history and asOf ----------------------------------------------------------------------------


async def test_as_of_and_history_are_empty_after_the_citizen_moved_out_of_the_district(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = await _tuson_reader(gql, token, ["citizen_id", "full_name"])
    citizen = _citizen(rows, inside=True)
    key = citizen["citizen_id"]
    first = await gql(HISTORY, token=reader, purpose=PURPOSE, d="citizen", k=key)
    assert _versions(first) == [1]
    moved_at = first["data"]["recordHistory"][0]["changedAt"]
    await _correct(gql, token, "citizen", key, {"district": YEN_PHONG})
    as_of = await gql(RECORD, token=reader, purpose=PURPOSE, d="citizen", k=key, asOf=moved_at)
    assert as_of == {"data": {"record": None}}
    history = await gql(HISTORY, token=reader, purpose=PURPOSE, d="citizen", k=key)
    assert history == {"data": {"recordHistory": []}}


async def test_history_omits_versions_the_callers_rules_do_not_pass(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = await _tuson_reader(gql, token, ["citizen_id", "full_name"])
    citizen = _citizen(rows, inside=False)
    key = citizen["citizen_id"]
    await _correct(gql, token, "citizen", key, {"district": TUSON})
    history = await gql(HISTORY, token=reader, purpose=PURPOSE, d="citizen", k=key)
    (shown,) = history["data"]["recordHistory"]
    assert shown["version"] == 2
    assert shown["values"] == {"citizen_id": key, "full_name": citizen["full_name"]}
    owner = await gql(HISTORY, token=token("SYT", "owner"), d="citizen", k=key)
    old_time = owner["data"]["recordHistory"][1]["changedAt"]
    as_of = await gql(RECORD, token=reader, purpose=PURPOSE, d="citizen", k=key, asOf=old_time)
    assert as_of == {"data": {"record": None}}


async def test_history_omits_a_version_outside_the_row_filter_between_visible_ones(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = await _tuson_reader(gql, token, ["citizen_id", "full_name"])
    key = _citizen(rows, inside=True)["citizen_id"]
    await _correct(gql, token, "citizen", key, {"district": YEN_PHONG})
    await _correct(gql, token, "citizen", key, {"district": TUSON, "full_name": "Lê Thị Hoa"})
    history = await gql(HISTORY, token=reader, purpose=PURPOSE, d="citizen", k=key)
    assert _versions(history) == [3, 1]
    assert all(v["values"] for v in history["data"]["recordHistory"])


async def test_a_deleted_record_has_no_history_and_no_as_of(
    gql: Gql, token: Callable[..., str], database: Database, keys: KeyStore, rows: dict[str, Any]
) -> None:
    owner = token("SYT", "owner")
    key = _citizen(rows, inside=True)["citizen_id"]
    before = await gql(HISTORY, token=owner, d="citizen", k=key)
    changed_at = before["data"]["recordHistory"][0]["changedAt"]
    async with database.sessions.begin() as session:  # as a sync run marks a deletion
        marked = await session.execute(
            text(
                "UPDATE records SET deleted = true WHERE dataset_code = 'citizen' AND key = :k "
                "RETURNING key"
            ),
            {"k": field_keys(keys).blind(key)},  # citizen_id is encrypted: stored blind
        )
        assert len(marked.all()) == 1
    assert await gql(HISTORY, token=owner, d="citizen", k=key) == {"data": {"recordHistory": []}}
    as_of = await gql(RECORD, token=owner, d="citizen", k=key, asOf=changed_at)
    assert as_of == {"data": {"record": None}}


async def test_changing_only_a_hidden_field_leaves_history_and_as_of_identical(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = await _tuson_reader(gql, token, ["citizen_id", "full_name"])
    key = _citizen(rows, inside=True)["citizen_id"]
    history = await gql(HISTORY, token=reader, purpose=PURPOSE, d="citizen", k=key)
    later = "2100-01-01T00:00:00Z"
    as_of = await gql(RECORD, token=reader, purpose=PURPOSE, d="citizen", k=key, asOf=later)
    assert as_of["data"]["record"]["version"] == 1
    fixed = await _correct(gql, token, "citizen", key, {"phone": "0911222333", "sex": "NU"})
    assert fixed["version"] == 2
    assert await gql(HISTORY, token=reader, purpose=PURPOSE, d="citizen", k=key) == history
    assert await gql(RECORD, token=reader, purpose=PURPOSE, d="citizen", k=key, asOf=later) == as_of


async def test_collapsed_versions_keep_the_earliest_version_of_the_run(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = await _tuson_reader(gql, token, ["citizen_id", "full_name"])
    key = _citizen(rows, inside=True)["citizen_id"]
    await _correct(gql, token, "citizen", key, {"phone": "0911222333"})
    await _correct(gql, token, "citizen", key, {"full_name": "Trần Văn Minh"})
    await _correct(gql, token, "citizen", key, {"ethnicity": "Tày"})
    history = await gql(HISTORY, token=reader, purpose=PURPOSE, d="citizen", k=key)
    assert _versions(history) == [3, 1]
    assert history["data"]["recordHistory"][0]["values"]["full_name"] == "Trần Văn Minh"
    owner = await gql(HISTORY, token=token("SYT", "owner"), d="citizen", k=key)
    assert _versions(owner) == [4, 3, 2, 1]


# -- the records filter --------------------------------------------------------------------------


async def test_filter_on_a_field_readable_on_no_row_is_forbidden_naming_it(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = await _tuson_reader(gql, token, ["citizen_id", "full_name"])
    body = await gql(RECORDS, token=reader, purpose=PURPOSE, d="citizen", f={"sex": "NAM"})
    assert codes(body) == ["FORBIDDEN"]
    assert "'sex'" in body["errors"][0]["message"]
    assert body.get("data") is None  # records is non-null: the whole answer is null


async def _split_reader(gql: Gql, token: Callable[..., str]) -> str:
    """Ethnicity readable in Từ Sơn only; every citizen visible through a district grant."""
    reader = await _tuson_reader(gql, token, ["citizen_id", "ethnicity"])
    await approved_grant(gql, reader, token("SYT", "owner"), "citizen", ["district"])
    return reader


async def test_filter_on_a_field_readable_on_some_rows_matches_only_there(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = await _split_reader(gql, token)
    everyone = await gql(RECORDS, token=reader, purpose=PURPOSE, d="citizen")
    assert everyone["data"]["records"]["totalCount"] == len(rows["citizen"])
    body = await gql(RECORDS, token=reader, purpose=PURPOSE, d="citizen", f={"ethnicity": "Kinh"})
    assert "errors" not in body, body
    expected = sorted(
        c["citizen_id"]
        for c in rows["citizen"]
        if c["district"] == TUSON and c["ethnicity"] == "Kinh"
    )
    assert expected and len(expected) < len(rows["citizen"])
    found = body["data"]["records"]
    assert sorted(e["node"]["key"] for e in found["edges"]) == expected
    assert found["totalCount"] == len(expected)


async def test_filter_ignores_a_hidden_value_changed_by_the_owner(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = await _split_reader(gql, token)
    ask = {"token": reader, "purpose": PURPOSE, "d": "citizen", "f": {"ethnicity": "Tày"}}
    before = await gql(RECORDS, **ask)
    assert before["data"]["records"]["totalCount"] == 0
    outside = _citizen(rows, inside=False)
    await _correct(gql, token, "citizen", outside["citizen_id"], {"ethnicity": "Tày"})
    assert await gql(RECORDS, **ask) == before


# -- holders -------------------------------------------------------------------------------------


async def _card_reader(gql: Gql, token: Callable[..., str], *, all_rows: bool) -> str:
    """Reads the cardholder's citizen id in Từ Sơn only; with ``all_rows``, sees every card."""
    reader = token("UBND-TX-TUSON", "reader")
    owner = token("SYT", "owner")
    await approved_grant(
        gql, reader, owner, "health_insurance", ["card_no", "citizen_id"], {"district": TUSON}
    )
    if all_rows:
        await approved_grant(gql, reader, owner, "health_insurance", ["hospital_code"])
    return reader


@pytest.mark.parametrize("all_rows", [False, True])
async def test_holders_match_an_identifier_only_where_the_caller_reads_it(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any], all_rows: bool
) -> None:
    reader = await _card_reader(gql, token, all_rows=all_rows)
    inside, outside = _citizen(rows, inside=True), _citizen(rows, inside=False)
    hit = await gql(HOLDERS, token=reader, purpose=PURPOSE, i=inside["citizen_id"])
    assert _found(hit) == [("health_insurance", _card(rows, inside)["card_no"], True)]
    # The outside card is visible with all_rows, but its citizen_id is not readable there.
    miss = await gql(HOLDERS, token=reader, purpose=PURPOSE, i=outside["citizen_id"])
    assert miss == {"data": {"holders": []}}


@pytest.mark.parametrize("all_rows", [False, True])
async def test_holders_do_not_change_when_a_hidden_identifier_changes(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any], all_rows: bool
) -> None:
    reader = await _card_reader(gql, token, all_rows=all_rows)
    inside, outside = _citizen(rows, inside=True), _citizen(rows, inside=False)
    before = await gql(HOLDERS, token=reader, purpose=PURPOSE, i=inside["citizen_id"])
    await _correct(
        gql,
        token,
        "health_insurance",
        _card(rows, outside)["card_no"],
        {"citizen_id": inside["citizen_id"]},
    )
    assert await gql(HOLDERS, token=reader, purpose=PURPOSE, i=inside["citizen_id"]) == before


# -- a key the caller may not read ---------------------------------------------------------------

CREATE = """
mutation($input: DatasetInput!) { createDataset(input: $input) { code } }
"""
SUBMIT = "mutation($code: String!) { submitDataset(code: $code) { status } }"
PUBLISH = "mutation($code: String!) { publishDataset(code: $code) { status } }"
INSPECTION: dict[str, Any] = {
    "code": "site_inspection",
    "title": "Kiểm tra tại cơ sở kinh doanh",
    "sector": "kinh-te",
    "sensitivity": "PUBLIC",
    "keyField": "visit_no",
    "fields": [
        # A public dataset keyed by an internal visit number: anonymous callers see outcomes.
        {"name": "visit_no", "type": "string", "required": True, "sensitivity": "INTERNAL"},
        {
            "name": "business_tax_code",
            "type": "string",
            "sensitivity": "PUBLIC",
            "piiKind": "tax_code",
            "filterable": True,
        },
        {"name": "outcome", "type": "string", "sensitivity": "PUBLIC"},
    ],
}
VISITS = [
    {"visit_no": "KT-2025-0001", "business_tax_code": "2300100001", "outcome": "Đạt"},
    {"visit_no": "KT-2025-0002", "business_tax_code": "2300100002", "outcome": "Nhắc nhở"},
]


@pytest.fixture
async def inspections(
    app: Any, gql: Gql, token: Callable[..., str], database: Database, keys: KeyStore
) -> None:
    owner = token("SKHDT", "owner")
    assert "errors" not in await gql(CREATE, token=owner, input=INSPECTION)
    assert "errors" not in await gql(SUBMIT, token=owner, code="site_inspection")
    published = await gql(PUBLISH, token=token("STTTT", "steward"), code="site_inspection")
    assert published["data"]["publishDataset"]["status"] == "PUBLISHED", published
    await load(database, keys, "site_inspection", VISITS)


async def test_a_key_the_caller_may_not_read_is_shown_as_its_blind_index(
    gql: Gql, token: Callable[..., str], keys: KeyStore, inspections: None
) -> None:
    body = await gql(RECORDS, d="site_inspection")
    shown = [e["node"] for e in body["data"]["records"]["edges"]]
    assert sorted(n["key"] for n in shown) == sorted(
        field_keys(keys).blind(v["visit_no"]) for v in VISITS
    )
    assert all("visit_no" not in n["values"] and n["values"]["outcome"] for n in shown)
    owner = await gql(RECORDS, token=token("SKHDT", "owner"), d="site_inspection")
    assert [e["node"]["key"] for e in owner["data"]["records"]["edges"]] == [
        v["visit_no"] for v in VISITS
    ]


async def test_cursors_do_not_carry_a_key_the_caller_may_not_read(
    gql: Gql, inspections: None
) -> None:
    first = await gql(PAGE, d="site_inspection", first=1, after=None)
    page = first["data"]["records"]
    cursor = page["pageInfo"]["endCursor"]
    assert page["edges"][0]["cursor"] == cursor
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    assert not any(v["visit_no"] in raw for v in VISITS)
    second = await gql(PAGE, d="site_inspection", first=1, after=cursor)
    assert "errors" not in second, second
    (node,) = [e["node"] for e in second["data"]["records"]["edges"]]
    assert node["values"]["outcome"] == VISITS[1]["outcome"]
    forged = base64.urlsafe_b64encode(b'{"$enc":"k1","n":"AAAA","c":"AAAA"}').decode()
    assert codes(await gql(PAGE, d="site_inspection", first=1, after=forged)) == ["BAD_USER_INPUT"]


async def test_lookup_by_a_key_value_the_caller_may_not_read_finds_nothing(
    gql: Gql, token: Callable[..., str], inspections: None
) -> None:
    visit = VISITS[0]["visit_no"]
    assert await gql(RECORD, d="site_inspection", k=visit) == {"data": {"record": None}}
    assert await gql(HISTORY, d="site_inspection", k=visit) == {"data": {"recordHistory": []}}
    later = "2100-01-01T00:00:00Z"
    as_of = await gql(RECORD, d="site_inspection", k=visit, asOf=later)
    assert as_of == {"data": {"record": None}}
    reader = await gql(RECORD, token=token("STNMT", "reader"), d="site_inspection", k=visit)
    assert reader["data"]["record"]["key"] == visit  # INTERNAL: any signed-in agency


async def test_holders_show_a_key_the_caller_may_not_read_as_its_blind_index(
    gql: Gql, keys: KeyStore, inspections: None
) -> None:
    body = await gql(HOLDERS, i=VISITS[0]["business_tax_code"])
    assert _found(body) == [
        ("site_inspection", field_keys(keys).blind(VISITS[0]["visit_no"]), True)
    ]


# -- corrections ---------------------------------------------------------------------------------

CORRECTIONS = """
query($since: DateTime!) { corrections(since: $since) { key versionRead currentVersion } }
"""


async def test_corrections_leave_out_a_change_to_values_the_reader_cannot_read(
    gql: Gql, token: Callable[..., str], rows: dict[str, Any]
) -> None:
    reader = await _tuson_reader(gql, token, ["citizen_id", "full_name"])
    key = _citizen(rows, inside=True)["citizen_id"]
    since = "2000-01-01T00:00:00Z"
    read = await gql(RECORD, token=reader, purpose=PURPOSE, d="citizen", k=key)
    assert read["data"]["record"]["version"] == 1
    await _correct(gql, token, "citizen", key, {"phone": "0911222333"})
    hidden = await gql(CORRECTIONS, token=reader, purpose=PURPOSE, since=since)
    assert hidden == {"data": {"corrections": []}}
    await _correct(gql, token, "citizen", key, {"full_name": "Trần Văn Minh"})
    seen = await gql(CORRECTIONS, token=reader, purpose=PURPOSE, since=since)
    assert seen["data"]["corrections"] == [{"key": key, "versionRead": 1, "currentVersion": 3}]
