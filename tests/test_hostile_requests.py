"""Hostile requests, each refused with its code before it costs the hub anything much: deep
nesting, alias bombs, huge pages, a batch of thousands of operations, a 10 MB body, SQL in
filter values (data, never SQL), invalid UTF-8 and NUL bytes."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from hub.runtime import Hub
from tests.records_fixtures import load_demo_records

# Generous: these only catch a request that hangs or does the work it should have refused.
QUICK = 2.0


async def send(client: httpx.AsyncClient, body: bytes, **headers: str) -> httpx.Response:
    started = time.perf_counter()
    response = await client.post(
        "/graphql", content=body, headers={"Content-Type": "application/json", **headers}
    )
    assert time.perf_counter() - started < QUICK
    return response


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def nested(depth: int) -> str:
    inner = "taxCode"
    for _ in range(depth):
        inner = f"landParcelList(first: 1) {{ edges {{ node {{ holder {{ {inner} }} }} }} }}"
    return f"{{ businessList(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (nested(20), "QUERY_TOO_COMPLEX"),
        (
            "{ " + " ".join(f"a{i}: datasets {{ totalCount }}" for i in range(2000)) + " }",
            "QUERY_TOO_COMPLEX",
        ),
        ("{ businessList(first: 100000) { edges { node { taxCode } } } }", "QUERY_TOO_COMPLEX"),
        ("{ " + "__typename " * 30 + "}", "QUERY_TOO_COMPLEX"),
    ],
    ids=["deep nesting", "alias bomb", "huge page", "repeated field"],
)
async def test_expensive_documents_are_refused_before_any_work(
    client: httpx.AsyncClient, query: str, expected: str
) -> None:
    response = await send(client, orjson.dumps({"query": query}))
    assert code(response) == expected


async def test_a_batch_of_operations_is_refused_whole(client: httpx.AsyncClient) -> None:
    batch = orjson.dumps([{"query": "{ datasets { totalCount } }"}] * 5000)
    response = await send(client, batch)
    assert response.status_code == 400
    assert code(response) == "BAD_USER_INPUT"
    assert "one operation per request" in response.json()["errors"][0]["message"]


async def test_a_ten_megabyte_body_is_refused_by_its_length(client: httpx.AsyncClient) -> None:
    body = orjson.dumps({"query": "{ datasets { totalCount } }", "x": "a" * 10_000_000})
    response = await send(client, body)
    assert response.status_code == 413
    assert code(response) == "QUERY_TOO_COMPLEX"


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ datasets { totalCount } }", "x": "\xff\xfe"}',
        b'{"query": "{ dataset(code: \\"\xc3\\") { code } }"}',
        b"\xef\xbb\xbf\x00\x00",
    ],
    ids=["invalid bytes", "cut sequence", "NUL bytes"],
)
async def test_invalid_utf8_is_bad_input(client: httpx.AsyncClient, body: bytes) -> None:
    response = await send(client, body)
    assert response.status_code == 400
    assert code(response) == "BAD_USER_INPUT"


SQL = [
    "'; DROP TABLE records; --",
    "x' OR '1'='1",
    "Thị xã Từ Sơn') OR TRUE --",
    "$1",
    "\\'; SELECT pg_sleep(10); --",
]


async def test_sql_in_filter_values_is_only_data(
    hub: Hub, client: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    await load_demo_records(hub, businesses=5, parcels=2, citizens=2)
    reader = token("STNMT", "reader")
    count = "{ businessList(first: 1) { totalCount } }"
    before = await client.post(
        "/graphql", json={"query": count}, headers={"Authorization": f"Bearer {reader}"}
    )
    for value in SQL:
        for filter_ in ({"district": {"eq": value}}, {"name": {"contains": value}}):
            body: dict[str, Any] = {
                "query": "query($f: BusinessFilter) { businessList(filter: $f, first: 5) "
                "{ totalCount edges { node { taxCode } } } }",
                "variables": {"f": filter_},
            }
            response = await send(client, orjson.dumps(body), Authorization=f"Bearer {reader}")
            answer = response.json()
            assert "errors" not in answer, answer
            assert answer["data"]["businessList"]["totalCount"] == 0
        generic = await client.post(
            "/graphql",
            json={
                "query": 'query($f: JSON) { records(dataset: "business", filter: $f) '
                "{ edges { node { key } } } }",
                "variables": {"f": {"district": value}},
            },
            headers={"Authorization": f"Bearer {reader}"},
        )
        assert generic.json()["data"]["records"]["edges"] == []
    after = await client.post(
        "/graphql", json={"query": count}, headers={"Authorization": f"Bearer {reader}"}
    )
    assert after.json() == before.json()  # nothing dropped, nothing changed
