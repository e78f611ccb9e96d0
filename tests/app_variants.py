"""The hub app with some settings changed (rate limits, CORS, GraphiQL…), lifespan running,
reached over ASGI by a client that leaves its answers as they are."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from starlette.applications import Starlette

from hub.app import create_app
from hub.runtime import Hub


@asynccontextmanager
async def running(hub: Hub, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    changed = Hub(hub.settings.model_copy(update=overrides), hub.db, hub.keys)
    app: Starlette = create_app(changed.settings, changed)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub.test") as http:
            yield http


__all__ = ["running"]
