"""Issue 7 item 13, hostile load: while one client keeps sending the expensive queries the cost
limit refuses (83 aliases of 100-record pages with history, or with ``contains`` filters),
another client's keyed lookups stay fast and the hub's memory stays bounded. The refusal
happens before any SQL, so the flood costs the hub only the pricing of each request."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from hub.runtime import Hub
from hub.settings import Settings
from tests.records_fixtures import load_demo_records
from tests.request_ids import checked_client
from tests.test_query_cost import contains_pages, history_pages

FLOOD_SECONDS = 2.5
LOOKUPS = 50
P90_BOUND = 0.2  # seconds: generous for a 2-core machine shared with other work
REFUSAL_BOUND = 0.1  # seconds: a refusal is priced before any SQL
MEMORY_BOUND = 64 * 1024 * 1024  # bytes of resident memory the flood may add

LOOKUP = "query($key: String!) { business(key: $key) { taxCode name district } }"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The floods here measure pricing and refusal, not allowances (tests/test_rate_limits.py):
    the rate limits, which would cut them short with 429s, are off."""
    off = {"rate_limit_anonymous": "off", "rate_limit_client": "off", "rate_limit_agency": "off"}
    return settings.model_copy(update=off)


@pytest.fixture
async def demo(hub: Hub, app: Starlette) -> dict[str, list[dict[str, Any]]]:
    return await load_demo_records(hub)


def _resident_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


async def _post(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _flood(client: httpx.AsyncClient, deadline: float) -> list[float]:
    """Refused queries back to back until ``deadline``; every tenth one is a new document (a
    cache miss: parsed, validated and priced afresh). Returns how long each repeated one
    took to be refused."""
    documents = [history_pages("h"), contains_pages("c")]
    sent = 0
    refusals = []
    while time.perf_counter() < deadline:
        repeated = sent % 10 != 0
        query = documents[sent % 2] if repeated else contains_pages(f"v{sent}_")
        started = time.perf_counter()
        body = await _post(client, query)
        if repeated:
            refusals.append(time.perf_counter() - started)
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        assert codes == ["QUERY_TOO_COMPLEX"], body
        assert "the hub serves at most" in body["errors"][0]["message"]
        sent += 1
    return refusals


async def _lookups(client: httpx.AsyncClient, keys: list[str], count: int) -> list[float]:
    """Latencies of ``count`` keyed lookups, spread over the flood."""
    latencies = []
    for i in range(count):
        key = keys[i % len(keys)]
        started = time.perf_counter()
        body = await _post(client, LOOKUP, key=key)
        latencies.append(time.perf_counter() - started)
        assert "errors" not in body, body
        assert body["data"]["business"]["taxCode"] == key
        await asyncio.sleep(FLOOD_SECONDS / LOOKUPS / 2)
    return latencies


async def test_keyed_lookups_stay_fast_while_refused_queries_flood_the_hub(
    app: Starlette, demo: dict[str, list[dict[str, Any]]]
) -> None:
    keys = [str(b["tax_code"]) for b in demo["business"]]
    transport = httpx.ASGITransport(app=app)
    async with (
        checked_client(transport, "http://hub.test") as attacker,
        checked_client(transport, "http://hub.test") as reader,
    ):
        await _lookups(reader, keys, 3)  # warm: plan compiled, pools open
        await _flood(attacker, time.perf_counter() + 0.3)
        before = _resident_bytes()
        deadline = time.perf_counter() + FLOOD_SECONDS
        refused, latencies = await asyncio.gather(
            _flood(attacker, deadline), _lookups(reader, keys, LOOKUPS)
        )
        after = _resident_bytes()
    p90 = statistics.quantiles(latencies, n=10)[-1]
    assert len(refused) >= 10, f"only {len(refused)} repeated refused queries were sent"
    assert statistics.quantiles(refused, n=10)[-1] < REFUSAL_BOUND, "refusals were slow"
    assert p90 < P90_BOUND, f"keyed lookup p90 {p90 * 1000:.0f} ms under the flood"
    assert after - before < MEMORY_BOUND, f"resident memory grew {(after - before) >> 20} MB"
