"""Request body limits at the HTTP edge, decided before the body is read.

Invariant: no request body larger than its path's limit is ever held in memory. A declared
``Content-Length`` over the limit is answered 413 before the application's first
``receive()`` (uvicorn sends ``100 Continue`` only then, so an ``Expect: 100-continue`` with a
declared terabyte gets its 413 and never a 100), and a streamed body (chunked, no length) is
read only up to the limit, then refused. A body within the limit is read once and handed on
whole. Refusals are JSON with code QUERY_TOO_COMPLEX (OAuth's error shape on the token
endpoint), naming the limit and what was measured, and close the connection.
"""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schema.errors import error_response

#: The setting each limit comes from, named in refusals so an operator knows what to raise.
_SETTING = "HUB_MAX_BODY_BYTES"


class BodyLimit:
    """ASGI middleware capping request bodies: ``max_body_bytes`` on every path, or the
    smaller limit ``limits`` gives a path (the token endpoint needs a few hundred bytes)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        limits: Mapping[str, int] | None = None,
        oauth_paths: frozenset[str] = frozenset(),
        streamed_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.limits = dict(limits or {})
        self.oauth_paths = oauth_paths
        # Endpoints that read their body as a stream and bound it themselves (uploads).
        self.streamed_prefixes = streamed_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.streamed_prefixes and path.startswith(self.streamed_prefixes):
            await self.app(scope, receive, send)
            return
        limit = self.limits.get(path, self.max_body_bytes)
        try:
            declared = _content_length(scope)
        except ValueError:
            await self._refuse(scope, send, path, 400, "the Content-Length header is not a number")
            return
        if declared is not None and declared > limit:
            await self._refuse(scope, send, path, 413, self._too_large(declared, limit, path))
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left; there is no one to answer
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:  # a streamed body: stop reading at the cap
                await self._refuse(scope, send, path, 413, self._too_large(None, limit, path))
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    def _too_large(self, declared: int | None, limit: int, path: str) -> str:
        size = f"{declared} bytes" if declared is not None else f"more than {limit} bytes"
        setting = f"the limit of {path}" if path in self.limits else _SETTING
        return f"the request body is {size}; the hub accepts at most {limit} bytes ({setting})"

    async def _refuse(self, scope: Scope, send: Send, path: str, status: int, message: str) -> None:
        if path in self.oauth_paths:
            payload = orjson.dumps({"error": "invalid_request", "error_description": message})
        else:
            code = "QUERY_TOO_COMPLEX" if status == 413 else "BAD_USER_INPUT"
            body = error_response(code, message)
            request_id = scope.get("state", {}).get("request_id")  # set by hub.access_log
            if request_id:
                body["extensions"] = {"requestId": request_id}
            payload = orjson.dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode("ascii")),
                    # The unread body is not drained: the connection cannot carry another
                    # request (RFC 9112 §9.6).
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _content_length(scope: Scope) -> int | None:
    """The declared body length; ValueError when it is not a plain non-negative number."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = value.decode("latin-1").strip()
            if not text.isdigit() or len(text) > 20:
                raise ValueError(text)
            return int(text)
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the buffered body once, then defers to the server's (which
    then reports the disconnect)."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


__all__ = ["BodyLimit"]
