"""Noninterference of ``search``: change only values a caller may not read, rebuild the index,
and its search answers (hits, order, scores, values, highlights, totals, facets, cursors) are
identical byte for byte (DESIGN.md §5, "the caller's view"; tests/test_noninterference.py
does the same for the typed API).

What each caller may read is computed here from the catalogue's definitions and the grants,
independently of the hub's policy code. The owners' corrections pour the very words the
queries look for into fields the caller may not read, on rows it sees, and into rows it does
not see at all, many times over, so a score built from index-wide statistics (BM25's IDF and
average length), a count, a facet or a highlight that read them would change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
from opensearchpy import AsyncOpenSearch

from catalog.baseline import BUSINESS, HEALTH_INSURANCE, LEGAL_DOCUMENT
from catalog.models import Dataset
from catalog.principal import Principal
from catalog.records import correct_record
from catalog.specs import DatasetSpec
from hub.demo import generate
from hub.runtime import Hub
from tests.record_support import approved_grant
from tests.records_fixtures import load_rows
from tests.search_support import asker, reindex

SPECS: dict[str, DatasetSpec] = {d.code: d for d in (BUSINESS, HEALTH_INSURANCE, LEGAL_DOCUMENT)}
OWNERS = {"business": "SKHDT", "health_insurance": "SYT", "legal_document": "STP"}
FILTER_FIELD = "district"  # every grant's row filter is on it; corrections keep it
Row = dict[str, Any]
DEBUG = False
Visible = Callable[[Row], bool]


@dataclass(frozen=True)
class GrantSpec:
    dataset: str
    fields: tuple[str, ...]
    row_filter: dict[str, Any] | None
    admits: Visible


@dataclass
class Caller:
    name: str
    agency: str | None
    grants: tuple[GrantSpec, ...] = ()
    token: str | None = None


def _rules(caller: Caller, code: str) -> list[tuple[frozenset[str], Visible]]:
    spec = SPECS[code]
    everything = frozenset(f.name for f in spec.fields)
    level = {
        s: frozenset(f.name for f in spec.fields if f.sensitivity == s)
        for s in ("PUBLIC", "INTERNAL", "RESTRICTED")
    }
    if caller.agency == OWNERS[code]:
        return [(everything, lambda _row: True)]
    if caller.agency is None:
        return [(level["PUBLIC"], lambda _row: True)] if spec.sensitivity == "PUBLIC" else []
    rules: list[tuple[frozenset[str], Visible]] = []
    if spec.sensitivity != "RESTRICTED":
        rules.append((level["PUBLIC"] | level["INTERNAL"], lambda _row: True))
    for grant in caller.grants:
        if grant.dataset == code:
            named = set(grant.fields) & everything
            if "*" in grant.fields:
                named |= everything - level["RESTRICTED"]
            rules.append((frozenset(named | {spec.key_field}), grant.admits))
    return rules


def hidden_fields(caller: Caller, code: str, row: Row) -> frozenset[str] | None:
    """Fields of ``row`` the caller may not read; None when it does not see the row."""
    matching = [fields for fields, admits in _rules(caller, code) if admits(row)]
    if not matching:
        return None
    readable = frozenset().union(*matching)
    return frozenset(f.name for f in SPECS[code].fields) - readable


# Words the queries look for, poured into what the caller may not read.
BAIT = (
    "Trung tâm Y tế Bệnh viện đa khoa Công ty Bắc Ninh Quế Võ Từ Sơn đất đai Nguyễn Văn "
    "Kiểm Thử Bí Mật"
)


def _changes(code: str, key: str, hidden: frozenset[str] | None, round_: int) -> Row:
    spec = SPECS[code]
    editable = {
        f.name: f
        for f in spec.fields
        if f.name not in (spec.key_field, FILTER_FIELD) and not f.encrypted and f.type == "string"
    }
    names = set(editable) if hidden is None else set(editable) & hidden
    return {name: f"{BAIT} {key} {round_} " * 4 + BAIT for name in sorted(names)}


async def _perturb(hub: Hub, rows: dict[str, dict[str, Row]], caller: Caller, round_: int) -> int:
    done = 0
    keys = hub.keys.sealing_keys()
    async with hub.db.sessions.begin() as session:
        for code, by_key in rows.items():
            dataset = await session.get(Dataset, code)
            assert dataset is not None
            owner = Principal(subject="owner", agency=OWNERS[code], roles=frozenset({"owner"}))
            for key, row in by_key.items():
                changes = _changes(code, key, hidden_fields(caller, code, row), round_)
                if not changes:
                    continue
                await correct_record(session, owner, dataset, key, changes, "Kiểm thử", keys, "ni")
                row.update(changes)
                done += 1
    return done


def _answer(body: dict[str, Any]) -> bytes:
    """The answer's bytes, without the request id every answer carries."""
    return orjson.dumps(
        {"data": body.get("data"), "errors": body.get("errors")}, option=orjson.OPT_SORT_KEYS
    )


async def _answers(ask: Any, caller: Caller, queries: list[dict[str, Any]]) -> list[bytes]:
    out = []
    for variables in queries:
        body = await ask(caller.token, **variables)
        assert "errors" not in body, (variables, body)
        out.append(_answer(body))
        cursor = body["data"]["search"]["pageInfo"]["endCursor"]
        if cursor is not None:  # the next page too: cursors and offsets must not move
            out.append(_answer(await ask(caller.token, **variables, after=cursor)))
    return out


async def test_search_answers_do_not_change_with_values_the_caller_may_not_read(
    search_hub: Hub,
    search_app: Any,
    search_client: AsyncOpenSearch,
    search_http: httpx.AsyncClient,
    token: Any,
) -> None:
    businesses = generate.businesses(24)
    citizens = generate.citizens(48)
    cards = generate.health_insurance(citizens)
    documents = generate.legal_documents(6)
    await load_rows(search_hub, "business", businesses)
    await load_rows(search_hub, "citizen", citizens)
    await load_rows(search_hub, "health_insurance", cards)
    await load_rows(search_hub, "legal_document", documents)
    rows = {
        "business": {str(r["tax_code"]): dict(r) for r in businesses},
        "health_insurance": {str(r["card_no"]): dict(r) for r in cards},
        "legal_document": {str(r["number"]): dict(r) for r in documents},
    }
    districts = sorted({str(c["district"]) for c in cards})
    d1, d2 = districts[0], districts[1]
    word = d1.split()[-1]
    gql = asker_gql(search_http)
    owner = token("SYT", "owner", "reader")
    # Callers who read least of business last: their corrections there are readable to
    # the others.
    callers = [
        Caller(
            "two row-filtered grants",
            "STC",
            (
                GrantSpec(
                    "health_insurance",
                    ("hospital_name", "district"),
                    {"district": [d1]},
                    lambda r: r["district"] == d1,
                ),
                GrantSpec(
                    "health_insurance",
                    ("district", "beneficiary_group"),
                    {"district": d2},
                    lambda r: r["district"] == d2,
                ),
            ),
        ),
        Caller(
            "contains grant",
            "BHXH",
            (
                GrantSpec(
                    "health_insurance",
                    ("*",),
                    {"district": {"contains": word.upper()}},
                    lambda r: word.casefold() in str(r["district"]).casefold(),
                ),
            ),
        ),
        Caller("agency without grants", "STP"),
        Caller("anonymous", None),
    ]
    for caller in callers:
        if caller.agency is not None:
            caller.token = token(caller.agency, "reader")
        for grant in caller.grants:
            assert caller.token is not None
            await approved_grant(
                gql, caller.token, owner, grant.dataset, list(grant.fields), grant.row_filter
            )
    first_hospital = str(cards[0]["hospital_name"])
    queries: list[dict[str, Any]] = [
        {"q": "Trung tâm Y tế", "first": 7},
        {"q": "Trung tâm Y tế", "first": 3, "filter": {"datasets": ["health_insurance"]}},
        {"q": "benh vien da khoa", "filter": {"sectors": ["y-te"]}},
        {"q": "benh vien", "first": 5},
        {"q": first_hospital, "first": 10, "filter": {"datasets": ["health_insurance"]}},
        {"q": "Công ty Bắc Ninh", "first": 6},
        {"q": "Công ty", "first": 6, "filter": {"datasets": ["business"]}},
        {"q": str(businesses[0]["legal_representative"]), "first": 5},
        {"q": "Quế Võ", "first": 4, "filter": {"sectors": ["y-te", "kinh-te"]}},
        {"q": "nguyen van", "first": 8},
        {"q": "đất đai", "first": 3},
        {"q": word, "first": 20},
        {"q": "kiem thu bi mat", "first": 5},  # only ever in what the caller may not read
        {"q": "Bí Mật"},
    ]
    ask = asker(search_http)
    changed = 0
    for round_, caller in enumerate(callers):
        await reindex(search_hub, search_client)
        before = await _answers(ask, caller, queries)
        if DEBUG:
            print(caller.name, [b[:400] for b in before])
        assert any(b'"key":"' in answer for answer in before), caller.name  # not all empty
        changed += await _perturb(search_hub, rows, caller, round_)
        await reindex(search_hub, search_client)
        after = await _answers(ask, caller, queries)
        if DEBUG:
            print(caller.name, [b[:400] for b in after])
        assert len(before) == len(after), caller.name
        for old, new in zip(before, after, strict=True):
            assert old == new, (caller.name, old[:300], new[:300])
    assert changed > 50


def asker_gql(http: httpx.AsyncClient) -> Any:
    async def call(query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await http.post(
            "/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body

    return call
