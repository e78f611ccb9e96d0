"""The Starlette application: ``/graphql``, health, metrics and the embedded issuer."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from hub.access_log import AccessLog
from hub.auth.issuer import MAX_TOKEN_BODY, TOKEN_PATH, issuer_routes
from hub.graphql_http import graphql_endpoint
from hub.http_headers import edge_middleware
from hub.http_limits import BodyLimit
from hub.ingest_http import INGEST_PREFIX, ingest_endpoint
from hub.metrics import Metrics, may_scrape
from hub.migrate import current_revision, head_revision
from hub.runtime import Hub, open_hub
from hub.services import Services
from hub.settings import Settings

log = logging.getLogger(__name__)


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None or services.executor is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    try:
        await services.ping_database()
        revision = await current_revision(services.hub.db.engine)
    except Exception:
        return JSONResponse({"status": "database unreachable"}, status_code=503)
    if revision != head_revision():  # another hub version migrated it, or none did yet
        body = {"status": "migrations pending", "database": revision, "code": head_revision()}
        return JSONResponse(body, status_code=503)
    # Search is reported, never required: record queries work while it is down.
    search = await services.searching.health()
    if not may_scrape(request, request.app.state.settings):
        # The backlog rises and falls with agencies' writes: operators only, as /metrics.
        search.pop("backlog", None)
    return JSONResponse(
        {
            "status": "ready",
            "catalogVersion": services.snapshot.catalog_version,
            "search": search,
        }
    )


async def metrics(request: Request) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    if not may_scrape(request, request.app.state.settings):
        # Sync counts, backlogs and outcomes are derived from agencies' data: operators only.
        return JSONResponse(
            {"error": "metrics are served to this machine or with HUB_METRICS_TOKEN"},
            status_code=403,
        )
    services: Services | None = getattr(request.app.state, "services", None)
    scrape: Metrics = request.app.state.metrics
    pool = services.pool if services is not None else None
    pending = services.read_audit.pending if services is not None and services.pool else 0
    return PlainTextResponse(await scrape.scrape(pool, pending), media_type=CONTENT_TYPE_LATEST)


def create_app(settings: Settings, hub: Hub | None = None) -> Starlette:
    """The hub app. With ``hub`` given (tests, ``hub serve``) it uses that connection;
    otherwise it opens one at start-up."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        opened = hub or await open_hub(settings)
        services = Services(opened)
        await services.start()
        app.state.hub = opened
        app.state.services = services
        try:
            yield
        finally:
            await services.stop()
            if hub is None:
                await opened.db.close()

    routes = [
        Route("/graphql", graphql_endpoint, methods=["GET", "POST"]),
        Route(INGEST_PREFIX + "{dataset}", ingest_endpoint, methods=["POST"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *issuer_routes(),
    ]
    # Bodies are capped before they are read (header size is capped by hub.http_protocol).
    body_limit = Middleware(
        BodyLimit,
        max_body_bytes=settings.max_body_bytes,
        limits={TOKEN_PATH: MAX_TOKEN_BODY},
        oauth_paths=frozenset({TOKEN_PATH}),
        streamed_prefixes=(INGEST_PREFIX,),  # bounded by HUB_INGEST_MAX_BYTES as it streams
    )
    # Outermost: the request id, the access line and the request metrics cover every answer.
    access = Middleware(AccessLog, log_requests=settings.access_log)
    middleware = [access, *edge_middleware(settings), body_limit]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.metrics = Metrics()
    app.state.settings = settings
    return app


__all__ = ["create_app"]
