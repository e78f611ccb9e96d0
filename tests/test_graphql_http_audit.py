"""The GraphQL-over-HTTP conformance audit of the npm package ``graphql-http``
(``auditServer``) against the hub over a real socket: no errors and no warnings.

``npm ci --prefix tests/graphql_http_audit`` installs it on first use (under a file lock, as
the OpenID provider is), from the committed lock file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from hub.settings import Settings
from tests.live_server import serving
from tests.node_packages import node_with

AUDIT_DIR = Path(__file__).parent / "graphql_http_audit"


@pytest.fixture(scope="session")
def node() -> str:
    return node_with(AUDIT_DIR, "graphql-http")


async def audit(node: str, url: str) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        node,
        "audit.mjs",
        url,
        cwd=AUDIT_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()[-4000:]
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


async def test_the_hub_passes_the_graphql_over_http_audit(
    app: Starlette, settings: Settings, node: str
) -> None:
    async with serving(app, settings) as port:
        results = await audit(node, f"http://127.0.0.1:{port}/graphql")
    assert len(results) > 50
    failing = [r for r in results if r["status"] != "ok"]
    assert failing == [], json.dumps(failing, ensure_ascii=False, indent=1)
