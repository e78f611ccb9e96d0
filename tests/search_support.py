"""Helpers of the search query tests: index what PostgreSQL holds, ask ``search`` over HTTP."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from opensearchpy import AsyncOpenSearch

from hub.runtime import Hub
from hub.search.reindex import reindex_all

Ask = Callable[..., Awaitable[dict[str, Any]]]

SEARCH = """
query($q: String!, $filter: SearchFilter, $first: Int, $after: String) {
  search(query: $q, filter: $filter, first: $first, after: $after) {
    total
    hits { dataset { code } key score values highlights }
    facets { field buckets { value count } }
    pageInfo { hasNextPage endCursor }
  }
}"""


async def reindex(hub: Hub, client: AsyncOpenSearch) -> None:
    """Rebuild every index from PostgreSQL (what ``hub search reindex`` does) and refresh."""
    prefix = hub.settings.search_index_prefix
    await reindex_all(hub.db.sessions, client, prefix)
    await client.indices.refresh(index=f"{prefix}*")


def asker(http: httpx.AsyncClient) -> Ask:
    """``await ask(token, purpose=None, q=..., filter=..., first=..., after=...)`` → body."""

    async def ask(token: str | None, purpose: str | None = None, **variables: Any) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if purpose:
            headers["X-Purpose"] = purpose
        response = await http.post(
            "/graphql", json={"query": SEARCH, "variables": variables}, headers=headers
        )
        assert response.status_code in (200, 400), response.text
        return response.json()

    return ask


def keys_of(body: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(h["dataset"]["code"], h["key"]) for h in body["data"]["search"]["hits"]]


def codes(body: dict[str, Any]) -> list[str | None]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
