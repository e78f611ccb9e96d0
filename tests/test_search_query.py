"""The ``search`` query against a real osmem-server and PostgreSQL: Vietnamese folding, exact
matches first, row-filtered grants, values only the caller may not read, catalogue entries,
highlights, facets, paging, audit, and the row-filter translation checked row by row against
``RowFilter.matches`` on real documents."""

from __future__ import annotations

import itertools
import sys
from typing import Any

import httpx
import pytest
from opensearchpy import AsyncOpenSearch
from sqlalchemy import select, text

from catalog.access import Access, AccessRule
from catalog.errors import InvalidInput
from catalog.models import AuditEvent, Dataset, DatasetField
from catalog.rowfilter import Condition, RowFilter, typed_row_filter
from hub.demo import generate
from hub.runtime import Hub
from hub.search import row_filters
from hub.search.documents import record_document
from hub.search.names import record_alias
from hub.search.query import parse_terms, record_scope, search_body
from hub.search.results import HIGHLIGHT_WINDOW, highlights, query_words
from tests.record_support import approved_grant
from tests.records_fixtures import load_rows
from tests.search_support import Ask, asker, keys_of, reindex
from tests.test_catalogue_api import CREATE_MUTATION, NEW_DATASET

LAND_DOC = {
    "number": "12/2024/QĐ-UBND",
    "doc_type": "QUYET_DINH",
    "title": "Quy định về quản lý đất đai tỉnh Quảng Ngãi",
    "issuer": "UBND tỉnh Quảng Ngãi",
    "signer": "Trần Văn Bình",
    "issued_on": "2024-03-01",
    "effective_on": "2024-03-15",
    "status": "CON_HIEU_LUC",
    "sector": "Đất đai",
    "full_text": "Quy định chi tiết về đất đai, bồi thường khi Nhà nước thu hồi đất.",
}
RECORD = "query($d: String!, $k: String!) { record(dataset: $d, key: $k) { values } }"
_STORED = "SELECT key, version, data, deleted FROM records WHERE dataset_code = 'business'"


def _doc(number: str, title: str, full_text: str = "Văn bản") -> dict[str, Any]:
    return {**LAND_DOC, "number": number, "title": title, "full_text": full_text}


@pytest.fixture
async def ask(search_http: httpx.AsyncClient) -> Ask:
    return asker(search_http)


@pytest.fixture
async def indexed(search_hub: Hub, search_app: Any, search_client: AsyncOpenSearch) -> Hub:
    """Legal documents (PUBLIC) and businesses (PUBLIC with an INTERNAL searchable field)."""
    await load_rows(
        search_hub,
        "legal_document",
        [
            LAND_DOC,
            _doc("1/2024/QĐ-UBND", "Quy hoạch Đà Lạt"),
            _doc("2/2024/QĐ-UBND", "Quy hoạch Da Lat"),
            _doc("3/2024/QĐ-UBND", "Quy hoạch Đa Lát"),
            _doc("4/2024/QĐ-UBND", 'Ký tự "lạ" * ~ \\ ( [ {'),
        ],
    )
    await load_rows(search_hub, "business", generate.businesses(12))
    await reindex(search_hub, search_client)
    return search_hub


async def test_folded_query_finds_vietnamese_text_for_the_portal(indexed: Hub, ask: Ask) -> None:
    body = await ask(None, q="dat dai quang ngai")
    assert "errors" not in body, body
    result = body["data"]["search"]
    found = keys_of(body)
    assert ("legal_document", "12/2024/QĐ-UBND") in found
    hit = next(h for h in result["hits"] if h["key"] == "12/2024/QĐ-UBND")
    assert hit["values"]["title"] == LAND_DOC["title"]
    assert "<em>Quảng</em>" in hit["highlights"]["title"][0]
    assert result["total"] == len(found)


async def test_query_typed_with_diacritics_ranks_exact_matches_first(
    indexed: Hub, ask: Ask
) -> None:
    body = await ask(None, q="Đà Lạt", filter={"datasets": ["legal_document"]})
    hits = body["data"]["search"]["hits"]
    assert [h["key"] for h in hits][:1] == ["1/2024/QĐ-UBND"]
    assert {h["key"] for h in hits} >= {"1/2024/QĐ-UBND", "2/2024/QĐ-UBND", "3/2024/QĐ-UBND"}
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] > scores[-1]


async def test_value_only_in_a_field_the_caller_may_not_read_finds_nothing(
    indexed: Hub, ask: Ask, token: Any
) -> None:
    # legal_representative is INTERNAL and searchable: signed-in agencies find it, the
    # anonymous portal does not, though the business itself is PUBLIC.
    rows = generate.businesses(12)
    person = rows[0]["legal_representative"]
    anonymous = await ask(None, q=person, filter={"datasets": ["business"]})
    assert anonymous["data"]["search"]["hits"] == []
    assert anonymous["data"]["search"]["total"] == 0
    agency = await ask(token("STC", "reader"), q=person, filter={"datasets": ["business"]})
    assert ("business", rows[0]["tax_code"]) in keys_of(agency)


async def test_catalogue_entries_are_hits_without_a_key(indexed: Hub, ask: Ask) -> None:
    body = await ask(None, q="văn bản pháp luật")
    hits = body["data"]["search"]["hits"]
    catalogue = [h for h in hits if h["key"] is None]
    assert catalogue, body
    assert all(h["values"]["code"] == h["dataset"]["code"] for h in catalogue)
    # Anonymous callers see PUBLIC published datasets only.
    assert {h["dataset"]["code"] for h in catalogue} <= {"business", "legal_document"}


async def test_row_filtered_grant_finds_only_its_rows(
    search_hub: Hub,
    search_app: Any,
    search_client: AsyncOpenSearch,
    search_http: httpx.AsyncClient,
    token: Any,
) -> None:
    citizens = generate.citizens(40)
    cards = generate.health_insurance(citizens)
    await load_rows(search_hub, "citizen", citizens)
    await load_rows(search_hub, "health_insurance", cards)
    district = cards[0]["district"]
    reader, owner = token("STC", "reader"), token("SYT", "owner")
    await approved_grant(
        asker_gql(search_http),
        reader,
        owner,
        "health_insurance",
        ["hospital_name", "district"],
        {"district": district},
    )
    await reindex(search_hub, search_client)
    ask = asker(search_http)
    hospital = str(cards[0]["hospital_name"])
    body = await ask(reader, q=hospital, first=100)
    assert "errors" not in body, body
    found = {k for code, k in keys_of(body) if code == "health_insurance"}
    expected = {
        c["card_no"]
        for c in cards
        if c["district"] == district
        and set(parse_terms(hospital)) <= set(str(c["hospital_name"]).split())
    }
    assert found == expected
    for hit in body["data"]["search"]["hits"]:
        if hit["dataset"]["code"] == "health_insurance":
            assert set(hit["values"]) <= {"card_no", "hospital_name", "district"}
            assert hit["values"]["district"] == district
            # What the typed API shows the same caller for the same record.
            typed = await asker_gql(search_http)(
                RECORD, token=reader, d="health_insurance", k=hit["key"]
            )
            assert typed["data"]["record"]["values"] == hit["values"]
    # Another agency without the grant finds no card at all (the dataset is RESTRICTED).
    other = await ask(token("STP", "reader"), q=hospital, first=100)
    assert not [k for code, k in keys_of(other) if code == "health_insurance"]


async def test_facets_count_visible_hits_by_dataset_and_sector(indexed: Hub, ask: Ask) -> None:
    body = await ask(None, q="Bắc Ninh")
    result = body["data"]["search"]
    facets = {f["field"]: {b["value"]: b["count"] for b in f["buckets"]} for f in result["facets"]}
    assert sum(facets["dataset"].values()) == result["total"]
    assert sum(facets["sector"].values()) == result["total"]


async def test_pages_follow_the_cursor_without_gaps_or_repeats(indexed: Hub, ask: Ask) -> None:
    whole = await ask(None, q="Bắc Ninh", first=50)
    everything = keys_of(whole)
    assert len(everything) > 4
    seen: list[tuple[str, str | None]] = []
    after = None
    for _ in range(20):
        page = await ask(None, q="Bắc Ninh", first=3, after=after)
        seen += keys_of(page)
        info = page["data"]["search"]["pageInfo"]
        if not info["hasNextPage"]:
            break
        after = info["endCursor"]
    assert seen == everything


async def test_every_record_hit_served_is_audited(indexed: Hub, ask: Ask, token: Any) -> None:
    reader = token("STC", "reader")
    body = await ask(reader, q="Bắc Ninh", filter={"datasets": ["business"]}, first=5)
    served = {k for code, k in keys_of(body) if code == "business"}
    assert served
    async with indexed.db.sessions() as session:
        events = await session.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "record.read",
                AuditEvent.agency == "STC",
                AuditEvent.dataset == "business",
            )
        )
        found = list(events)
    audited = {k for event in found for k in event.key_list or ()}
    assert all((event.detail or {}).get("via") == "search" for event in found)
    assert served <= audited


# -- the row-filter translation, row by row ---------------------------------------------------


def _filters(dataset: Dataset, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Row filters of every operator over the business dataset's filterable fields, with
    values taken from the data (and a few that fall between)."""
    first, second = rows[0], rows[1]
    out: list[dict[str, Any]] = [
        {"district": first["district"]},
        {"district": [first["district"], second["district"]]},
        {"district": {"contains": "bắc"}},
        {"district": {"contains": "BẮC NINH"}},
        {"district": {"contains": "Từ"}},
        {"name": {"contains": "xây dựng"}},
        {"name": {"contains": "%_\\"}},
        {"status": "DANG_HOAT_DONG", "legal_form": {"in": ["TNHH_1TV", "CO_PHAN"]}},
        {"industry_code": {"in": [first["industry_code"], "0000"]}},
    ]
    for op in ("gte", "lte", "gt", "lt"):
        out.append({"charter_capital": {op: first["charter_capital"]}})
        out.append({"charter_capital": {op: "2000000000"}})
        out.append({"registered_on": {op: first["registered_on"]}})
        out.append({"updated_at": {op: first["updated_at"]}})
        out.append({"updated_at": {op: "2024-06-01T00:00:00.0005Z"}})
    out.append({"charter_capital": first["charter_capital"]})
    out.append({"charter_capital": {"in": [first["charter_capital"], second["charter_capital"]]}})
    out.append({"registered_on": first["registered_on"]})
    return out


async def test_row_filter_dsl_selects_exactly_what_matches_selects(
    search_hub: Hub, search_app: Any, search_client: AsyncOpenSearch
) -> None:
    rows = generate.businesses(150)
    await load_rows(search_hub, "business", rows)
    await reindex(search_hub, search_client)
    alias = record_alias(search_hub.settings.search_index_prefix, "business")
    async with search_hub.db.sessions() as session:
        dataset = await session.get(Dataset, "business")
        assert dataset is not None
        fields = {f.name: f for f in dataset.fields}
        stored = (await session.execute(text(_STORED))).mappings().all()
    documents = {r["key"]: record_document(dataset, dict(r)) for r in stored}
    checked = 0
    for raw in _filters(dataset, rows):
        parsed = typed_row_filter(raw, fields, "business")
        assert isinstance(parsed, RowFilter)
        dsl = row_filters.row_filter_dsl(parsed, fields)
        expected = {k for k, d in documents.items() if d and parsed.matches(d["v"])}
        if dsl is None:
            continue  # dropped: the rule's rows stay out of search
        answer = await search_client.search(
            index=alias, body={"query": {"bool": {"filter": [dsl]}}, "size": 1000}
        )
        selected = {h["_source"]["_key"] for h in answer["hits"]["hits"]}
        assert selected <= expected, (raw, selected - expected)
        if "updated_at" not in raw:  # datetimes: a subset by design (milliseconds)
            assert selected == expected, (raw, expected - selected)
        checked += 1
    assert checked >= 20


def test_contains_classes_never_match_what_casefold_rejects() -> None:
    for given in ("ba tơ", "ĐÀ", "ß", "İ", "ı", "Ǆ", "K", "σ"):
        pattern = row_filters.contains_regexp(given)
        assert pattern is not None
        for char in pattern:
            if char.isalpha():
                assert any(char.casefold() == t.casefold() for t in given), (given, char)


def test_no_character_above_the_fold_table_has_a_case() -> None:
    for point in itertools.chain(range(0x20000, 0x30000), range(0xE0000, sys.maxunicode + 1)):
        char = chr(point)
        assert char.casefold() == char.lower() == char.upper() == char


def asker_gql(http: httpx.AsyncClient) -> Any:
    async def call(query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body

    return call


async def test_draft_catalogue_entry_is_found_by_its_owner_agency_only(
    search_hub: Hub,
    search_app: Any,
    search_client: AsyncOpenSearch,
    search_http: httpx.AsyncClient,
    token: Any,
) -> None:
    owner = token("SKHDT", "owner", subject="skhdt-owner")
    gql = asker_gql(search_http)
    created = await gql(CREATE_MUTATION, token=owner, input=NEW_DATASET)
    assert created["data"]["createDataset"]["status"] == "DRAFT", created
    await reindex(search_hub, search_client)
    ask = asker(search_http)
    title = str(NEW_DATASET["title"])
    mine = await ask(token("SKHDT", "reader"), q=title)
    assert (str(NEW_DATASET["code"]), None) in keys_of(mine)
    for caller in (None, token("STC", "reader")):
        theirs = await ask(caller, q=title)
        assert str(NEW_DATASET["code"]) not in {code for code, _key in keys_of(theirs)}
        named = await ask(caller, q=title, filter={"datasets": [NEW_DATASET["code"]]})
        assert named["data"]["search"]["total"] == 0  # same answer as an unknown code


async def test_full_page_of_hits_is_within_the_price_limit(indexed: Hub, ask: Ask) -> None:
    body = await ask(None, q="Bắc Ninh", first=indexed.settings.max_page_size)
    assert "errors" not in body, body
    assert len(body["data"]["search"]["hits"]) > 0


def test_highlights_escape_the_value_and_mark_folded_words() -> None:
    words = query_words(parse_terms("dat QUANG-ngai"))
    shown = highlights({"t": "<b>Đất</b> đai Quảng Ngãi", "n": 5}, ["t", "n", "x"], words)
    assert shown == {"t": ["&lt;b&gt;<em>Đất</em>&lt;/b&gt; đai <em>Quảng</em> <em>Ngãi</em>"]}
    assert highlights({"t": "<em>dat</em>"}, ["t"], words) == {
        "t": ["&lt;em&gt;<em>dat</em>&lt;/em&gt;"]
    }


def test_long_values_are_cut_around_the_first_word_found() -> None:
    text = "x " * 500 + "Quảng Ngãi " + "y " * 500
    (fragment,) = highlights({"t": text}, ["t"], query_words(["ngai"]))["t"]
    assert fragment.startswith("…") and fragment.endswith("…")
    assert "<em>Ngãi</em>" in fragment
    assert len(fragment) < HIGHLIGHT_WINDOW + 40


async def test_search_of_one_dataset_has_facets_of_its_readable_enum_fields(
    indexed: Hub, ask: Ask
) -> None:
    body = await ask(None, q="Bắc Ninh", filter={"datasets": ["business"]})
    result = body["data"]["search"]
    facets = {f["field"]: {b["value"]: b["count"] for b in f["buckets"]} for f in result["facets"]}
    assert set(facets) == {"dataset", "sector", "legal_form", "status"}
    assert sum(facets["status"].values()) == facets["dataset"]["business"]
    both = await ask(None, q="Bắc Ninh")
    assert {f["field"] for f in both["data"]["search"]["facets"]} == {"dataset", "sector"}


def _wide_dataset(searchable: int) -> Dataset:
    fields = [
        DatasetField(
            name=f"f{i}",
            position=i,
            type="string",
            sensitivity="PUBLIC",
            searchable=True,
            filterable=False,
            encrypted=False,
            required=False,
        )
        for i in range(searchable)
    ]
    return Dataset(
        code="wide",
        title="Wide",
        sector="x",
        owner_code="SKHDT",
        status="PUBLISHED",
        sensitivity="PUBLIC",
        key_field="f0",
        fields=fields,
        version=1,
    )


def test_query_too_wide_for_the_fields_searched_is_bad_input() -> None:
    dataset = _wide_dataset(40)
    access = Access(
        "wide",
        (AccessRule(frozenset(f.name for f in dataset.fields), None),),
        frozenset(),
        False,
        "test",
    )
    scope = record_scope(dataset, access)
    assert scope is not None
    assert search_body([scope], ["wide"], parse_terms("a b c d e f g h"), 0, 20) is not None
    with pytest.raises(InvalidInput, match="clauses"):
        search_body([scope], ["wide"], parse_terms(" ".join(f"đà{i}" for i in range(16))), 0, 20)


def test_rule_filtering_on_a_field_the_index_lacks_is_dropped_never_widened() -> None:
    dataset = _wide_dataset(2)
    dataset.fields.append(
        DatasetField(
            name="secret",
            position=9,
            type="string",
            sensitivity="RESTRICTED",
            searchable=False,
            filterable=True,
            encrypted=True,
            required=False,
        )
    )
    on_secret = RowFilter((Condition("secret", "eq", "x"),))
    on_f1 = RowFilter((Condition("f1", "eq", "x"),))
    names = frozenset({"f0", "f1"})
    dropped = Access("wide", (AccessRule(names, on_secret),), frozenset(), False, "test")
    assert record_scope(dataset, dropped) is None
    mixed = Access(
        "wide", (AccessRule(names, on_secret), AccessRule(names, on_f1)), frozenset(), False, "t"
    )
    scope = record_scope(dataset, mixed)
    assert scope is not None
    assert scope.access.rules == (AccessRule(names, on_f1),)
    assert scope.filters == ({"term": {"v.f1.kw": "x"}},)


def test_decimal_ranges_compare_as_numbers_in_python_as_in_sql() -> None:
    # Decimals are stored as digit strings; "150" < "20" as text, not as numbers.
    assert RowFilter((Condition("d", "gte", "20"),)).matches({"d": "150"})
    assert not RowFilter((Condition("d", "gte", "100"),)).matches({"d": "12.5"})
    assert RowFilter((Condition("d", "lt", "-1.5"),)).matches({"d": "-10"})
    # Dates and datetimes stay text, whose order is time order.
    assert RowFilter((Condition("day", "gte", "2024-01-31"),)).matches({"day": "2024-02-01"})


async def test_decimal_ranges_never_widen_beyond_what_a_double_holds(
    search_hub: Hub, search_app: Any, search_client: AsyncOpenSearch
) -> None:
    rows = generate.businesses(3)
    for row, capital in zip(rows, ("1", "1.00000000000000001", "0.99999999999999999"), strict=True):
        row["charter_capital"] = capital
    await load_rows(search_hub, "business", rows)
    await reindex(search_hub, search_client)
    alias = record_alias(search_hub.settings.search_index_prefix, "business")
    async with search_hub.db.sessions() as session:
        dataset = await session.get(Dataset, "business")
        assert dataset is not None
        fields = {f.name: f for f in dataset.fields}
    by_capital = {str(r["charter_capital"]): str(r["tax_code"]) for r in rows}
    for op, value in [(o, v) for o in ("gte", "lte", "gt", "lt") for v in by_capital]:
        parsed = typed_row_filter({"charter_capital": {op: value}}, fields, "business")
        assert parsed is not None
        dsl = row_filters.row_filter_dsl(parsed, fields)
        assert dsl is not None
        answer = await search_client.search(
            index=alias, body={"query": {"bool": {"filter": [dsl]}}}
        )
        selected = {h["_source"]["_key"] for h in answer["hits"]["hits"]}
        expected = {k for c, k in by_capital.items() if parsed.matches({"charter_capital": c})}
        assert selected <= expected, (op, value, selected - expected)
        if op in ("gte", "lte"):
            assert by_capital[value] in selected  # equality is never lost
