"""Security headers on every response, and the CORS policy for the portal's origins.

JSON answers get a Content-Security-Policy that allows nothing (they are never pages); a page
that needs more (GraphiQL) sets its own. HSTS is sent when the hub's public URL is https.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.settings import Settings

_ALWAYS = {
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
}
_CSP = b"content-security-policy"
_NOTHING = b"default-src 'none'; frame-ancestors 'none'"
_HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
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
                # Raw (lower-case bytes) headers, each added unless the endpoint set it (a
                # page such as GraphiQL sets its own policy).
                headers = message["headers"] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers.extend(item for item in _ALWAYS.items() if item[0] not in present)
                if _CSP not in present:
                    headers.append((_CSP, _NOTHING))
                if self.hsts and _HSTS[0] not in present:
                    headers.append(_HSTS)
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
