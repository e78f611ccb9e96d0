"""How a spent allowance is answered over HTTP: 429, ``Retry-After`` and ``RATE_LIMITED``."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response

from catalog.errors import RateLimited
from schema.errors import error_response


def client_address(request: Request) -> str | None:
    """The caller's address as the server saw it (behind a proxy, uvicorn's
    ``--forwarded-allow-ips`` decides whether ``X-Forwarded-For`` is believed)."""
    return request.client.host if request.client else None


def retry_headers(exc: RateLimited, request_id: str | None = None) -> dict[str, str]:
    headers = {"Retry-After": str(exc.retry_after)}
    if request_id:
        headers["X-Request-Id"] = request_id
    return headers


def rate_limited_response(exc: RateLimited, request_id: str | None = None) -> Response:
    return Response(
        orjson.dumps(error_response(exc.code, exc.message)),
        status_code=429,
        media_type="application/json",
        headers=retry_headers(exc, request_id),
    )


__all__ = ["client_address", "rate_limited_response", "retry_headers"]
