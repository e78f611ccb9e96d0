"""Bad input to ``search``: each a clear error naming what is wrong, or an empty answer, never
INTERNAL; and a search server that is down answers SEARCH_UNAVAILABLE while ``records`` keeps
answering."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opensearchpy import AsyncOpenSearch
from starlette.applications import Starlette

from hub.app import create_app
from hub.db import Database
from hub.keys import KeyStore
from hub.runtime import Hub
from hub.search.query import MAX_QUERY_CHARS, MAX_TERMS, MAX_WINDOW
from hub.settings import Settings
from schema.pagination import encode_cursor
from schema.search.resolvers import encode_offset
from tests.records_fixtures import load_rows
from tests.search_support import Ask, asker, codes, keys_of, reindex

DOCS = [
    {
        "number": f"{n}/2024/QĐ-UBND",
        "doc_type": "QUYET_DINH",
        "title": title,
        "issuer": "UBND tỉnh Bắc Ninh",
        "signer": "Trần Văn Bình",
        "issued_on": "2024-03-01",
        "effective_on": "2024-03-15",
        "status": "CON_HIEU_LUC",
        "sector": "Đất đai",
        "full_text": "Văn bản",
    }
    for n, title in enumerate(
        [
            'Quy định "đất đai" (sửa đổi) [bổ sung] {mới} a*b ~c \\d',
            "Quy định đất đai năm 2024",
            "Quy định giá đất",
        ],
        start=1,
    )
]
RECORDS = """query { records(dataset: "legal_document", first: 5) { edges { node { key } } } }"""


@pytest.fixture
async def ask(
    search_hub: Hub, search_app: Any, search_client: AsyncOpenSearch, search_http: httpx.AsyncClient
) -> Ask:
    await load_rows(search_hub, "legal_document", DOCS)
    await reindex(search_hub, search_client)
    return asker(search_http)


def _error(body: dict[str, Any]) -> tuple[str | None, str]:
    assert body.get("errors"), body
    error = body["errors"][0]
    return error.get("extensions", {}).get("code"), error["message"]


@pytest.mark.parametrize("query", ["", "   ", "\u3000\t"])
async def test_empty_query_is_bad_input(ask: Ask, query: str) -> None:
    code, message = _error(await ask(None, q=query))
    assert code == "BAD_USER_INPUT"
    assert "empty query" in message


async def test_query_of_only_syntax_characters_is_bad_input(ask: Ask) -> None:
    code, message = _error(await ask(None, q='" * ~ \\ ( [ {'))
    assert code == "BAD_USER_INPUT"
    assert "no words" in message


async def test_too_long_query_is_bad_input(ask: Ask) -> None:
    code, message = _error(await ask(None, q="đất " * MAX_QUERY_CHARS))
    assert code == "BAD_USER_INPUT"
    assert f"at most {MAX_QUERY_CHARS} characters" in message


async def test_too_many_words_is_bad_input(ask: Ask) -> None:
    words = " ".join(f"w{i}" for i in range(MAX_TERMS + 1))
    code, message = _error(await ask(None, q=words))
    assert code == "BAD_USER_INPUT"
    assert f"at most {MAX_TERMS} words" in message


@pytest.mark.parametrize(
    "query",
    ['"đất đai"', "đất*", "đất~2", "\\đất", "(đất", "[đất", "{đất", "đất) OR 1=1", "đất AND"],
)
async def test_query_syntax_characters_are_plain_text(ask: Ask, query: str) -> None:
    body = await ask(None, q=query)
    assert "errors" not in body, body
    assert body["data"]["search"]["total"] >= 0


async def test_unbalanced_brackets_find_the_words_between_them(ask: Ask) -> None:
    body = await ask(None, q="(sửa đổi [bổ sung", filter={"datasets": ["legal_document"]})
    assert keys_of(body) == [("legal_document", "1/2024/QĐ-UBND")]


async def test_unknown_dataset_filter_answers_as_the_typed_api_does_empty(
    ask: Ask, token: Any
) -> None:
    for caller in (None, token("STC", "reader")):
        for datasets in (["no_such_dataset"], ["citizen"] if caller is None else ["nope"]):
            body = await ask(caller, q="đất", filter={"datasets": datasets})
            assert "errors" not in body, body
            assert body["data"]["search"] == {
                "total": 0,
                "hits": [],
                "facets": [],
                "pageInfo": {"hasNextPage": False, "endCursor": None},
            }


async def test_unknown_sector_filter_is_empty(ask: Ask) -> None:
    body = await ask(None, q="đất", filter={"sectors": ["khong-co"]})
    assert body["data"]["search"]["hits"] == []


async def test_too_long_filter_list_is_bad_input(ask: Ask) -> None:
    code, message = _error(await ask(None, q="đất", filter={"datasets": ["x"] * 101}))
    assert code == "BAD_USER_INPUT"
    assert "filter.datasets" in message


async def test_page_beyond_the_end_is_empty(ask: Ask) -> None:
    body = await ask(None, q="đất", first=10, after=encode_offset(900))
    assert "errors" not in body, body
    assert body["data"]["search"]["hits"] == []
    assert body["data"]["search"]["total"] > 0
    assert body["data"]["search"]["pageInfo"] == {"hasNextPage": False, "endCursor": None}


async def test_page_past_the_window_is_bad_input(ask: Ask) -> None:
    code, message = _error(await ask(None, q="đất", first=20, after=encode_offset(MAX_WINDOW - 10)))
    assert code == "BAD_USER_INPUT"
    assert f"first {MAX_WINDOW} hits" in message


@pytest.mark.parametrize(
    "after", ["nonsense!", encode_cursor("key"), encode_cursor(["search", -1]), encode_cursor({})]
)
async def test_cursor_not_issued_by_search_is_bad_input(ask: Ask, after: str) -> None:
    code, message = _error(await ask(None, q="đất", after=after))
    assert code == "BAD_USER_INPUT"
    assert "not a cursor this hub issued" in message


async def test_page_size_over_the_maximum_is_refused(ask: Ask) -> None:
    code, _message = _error(await ask(None, q="đất", first=100_000))
    assert code in ("QUERY_TOO_COMPLEX", "BAD_USER_INPUT")
    code, _message = _error(await ask(None, q="đất", first=-1))
    assert code == "BAD_USER_INPUT"


async def test_first_zero_answers_total_and_facets_only(ask: Ask) -> None:
    body = await ask(None, q="đất", first=0)
    result = body["data"]["search"]
    assert result["hits"] == [] and result["total"] >= 3 and result["facets"]


# -- the search server is down ------------------------------------------------------------------


@pytest.fixture
async def down_http(
    settings: Settings, database: Database, keys: KeyStore, seeded: None, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """The app pointed at a port where no search server listens."""
    down = settings.model_copy(
        update={
            "opensearch_url": "http://127.0.0.1:9",
            "search_indexer_in_process": False,
            "search_reindex_at_start": False,
        }
    )
    application: Starlette = create_app(down, Hub(settings=down, db=database, keys=keys))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            yield http


async def test_search_down_is_search_unavailable_while_records_answer(
    down_http: httpx.AsyncClient, settings: Settings, database: Database, keys: KeyStore
) -> None:
    await load_rows(Hub(settings=settings, db=database, keys=keys), "legal_document", DOCS)
    ask = asker(down_http)
    body = await ask(None, q="đất đai")
    assert codes(body) == ["SEARCH_UNAVAILABLE"]
    assert body.get("data") is None
    assert "unavailable" in body["errors"][0]["message"]
    records = (await down_http.post("/graphql", json={"query": RECORDS})).json()
    assert "errors" not in records, records
    assert len(records["data"]["records"]["edges"]) == 3
