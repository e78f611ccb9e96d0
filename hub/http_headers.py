"""Security headers on every response, and the CORS policy for the portal's origins.

JSON answers get a Content-Security-Policy that allows nothing (they are never pages); a page
that needs more (GraphiQL) sets its own. HSTS is sent when the hub's public URL is https.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.settings import Settings

_ALWAYS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}
_NOTHING = "default-src 'none'; frame-ancestors 'none'"
_HSTS = "max-age=31536000; includeSubDomains"
# What a browser calling the hub from the portal may send and read.
_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Accept",
    "X-Purpose",
    "X-Request-Id",
    "X-Source",
]
_EXPOSED_HEADERS = ["X-Request-Id", "Retry-After", "WWW-Authenticate"]


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _ALWAYS.items():
                    headers.setdefault(name, value)
                headers.setdefault("content-security-policy", _NOTHING)
                if self.hsts:
                    headers.setdefault("strict-transport-security", _HSTS)
            await send(message)

        await self.app(scope, receive, with_headers)


def edge_middleware(settings: Settings) -> list[Middleware]:
    """Outermost first: CORS (so refusals carry its headers too), then security headers."""
    layers = []
    origins = settings.cors_origin_list
    if origins:
        layers.append(
            Middleware(
                CORSMiddleware,
                allow_origins=origins,
                allow_methods=["GET", "POST"],
                allow_headers=_REQUEST_HEADERS,
                expose_headers=_EXPOSED_HEADERS,
                max_age=600,
            )
        )
    layers.append(Middleware(SecurityHeaders, hsts=settings.public_url.startswith("https://")))
    return layers


__all__ = ["SecurityHeaders", "edge_middleware"]
