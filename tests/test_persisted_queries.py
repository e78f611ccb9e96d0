"""Automatic persisted queries: a document sent once with its SHA-256 is then run from the
hash alone (POST or a GET link); an unknown hash asks for the document; a wrong hash, a bad
``persistedQuery`` and a document over the limits are refused and never kept."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from hub.persisted_queries import PersistedQueries

QUERY = "query Public { datasets(first: 2) { totalCount } }"
DIGEST = hashlib.sha256(QUERY.encode()).hexdigest()


def persisted(digest: str = DIGEST, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


async def test_a_hash_alone_runs_the_document_sent_before(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/graphql", json={"extensions": persisted()})
    assert code(unknown) == "NOT_FOUND"
    assert unknown.json()["errors"][0]["message"] == "PersistedQueryNotFound"

    sent = await client.post("/graphql", json={"query": QUERY, "extensions": persisted()})
    assert sent.status_code == 200
    expected = sent.json()
    assert "data" in expected

    again = await client.post("/graphql", json={"extensions": persisted()})
    assert again.json() == expected
    link = await client.get("/graphql", params={"extensions": json.dumps(persisted())})
    assert link.json() == expected


async def test_a_wrong_or_malformed_hash_is_refused_and_not_kept(
    client: httpx.AsyncClient,
) -> None:
    wrong = "0" * 64
    refused = await client.post("/graphql", json={"query": QUERY, "extensions": persisted(wrong)})
    assert refused.status_code == 400
    assert "is not the query's SHA-256" in refused.json()["errors"][0]["message"]
    later = await client.post("/graphql", json={"extensions": persisted(wrong)})
    assert code(later) == "NOT_FOUND"
    for bad in (persisted("abc"), persisted(DIGEST, version=2), {"persistedQuery": "x"}):
        response = await client.post("/graphql", json={"query": QUERY, "extensions": bad})
        assert response.status_code == 400
        assert code(response) == "BAD_USER_INPUT"


async def test_a_document_over_the_limits_is_not_kept(client: httpx.AsyncClient) -> None:
    huge = "{ me { anonymous } }" + " " * 200_000
    digest = hashlib.sha256(huge.encode()).hexdigest()
    refused = await client.post("/graphql", json={"query": huge, "extensions": persisted(digest)})
    assert refused.status_code == 413
    later = await client.post("/graphql", json={"extensions": persisted(digest)})
    assert code(later) == "NOT_FOUND"


@pytest.mark.parametrize(("documents", "size"), [(3, 10**9), (100, 120)])
def test_the_store_is_bounded_and_forgets_the_oldest(documents: int, size: int) -> None:
    store = PersistedQueries(max_documents=documents, max_bytes=size)
    queries = [f"{{ me {{ anonymous }} }} # {i:02d}" for i in range(6)]
    for query in queries:
        _, key = store.resolve("app", query, persisted(hashlib.sha256(query.encode()).hexdigest()))
        store.remember(query, key)
    kept = [q for q in queries if q in store._documents.values()]
    assert kept == queries[-len(kept) :]
    assert len(kept) <= documents
    assert sum(map(len, kept)) <= size


async def test_one_callers_documents_are_not_anothers(
    client: httpx.AsyncClient, token: Callable[..., str]
) -> None:
    """Else anyone could confirm, by a hash alone, that someone asked for a document."""
    secret = (
        'query Who { records(dataset: "citizen", filter: {citizen_id: "079203001234"}) '
        "{ edges { node { key } } } }"
    )
    digest = hashlib.sha256(secret.encode()).hexdigest()
    owner = {"Authorization": f"Bearer {token('SYT', 'owner')}"}
    other = {"Authorization": f"Bearer {token('STNMT', 'reader')}"}
    sent = await client.post(
        "/graphql", json={"query": secret, "extensions": persisted(digest)}, headers=owner
    )
    assert sent.status_code == 200
    again = await client.post("/graphql", json={"extensions": persisted(digest)}, headers=owner)
    assert again.json() == sent.json()  # its own hash runs its own document
    for headers in (other, {}):
        probe = await client.post(
            "/graphql", json={"extensions": persisted(digest)}, headers=headers
        )
        assert code(probe) == "NOT_FOUND"
        assert probe.json()["errors"][0]["message"] == "PersistedQueryNotFound"
