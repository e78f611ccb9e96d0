"""One access line and the request metrics per HTTP request, and the request id.

The id is the caller's ``X-Request-Id`` when it is a short safe token, else a new one; it is
returned in the ``X-Request-Id`` header (and by ``/graphql`` in ``extensions.requestId``) and
ties the access line, any error line and the audit events to what the client was told.
Endpoints add what they learn to the request's state (operation type and name, client, agency,
outcome). The line carries the path without its query string (a GET's query and variables
stay out of logs), never a header value other than the id.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.logs import ACCESS_LOGGER, log_access
from hub.metrics import REQUEST_SECONDS, REQUESTS, route_label

access = logging.getLogger(ACCESS_LOGGER)
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_of(raw: str | None) -> str:
    """The caller's ``X-Request-Id`` when it is a short safe token, else a new one."""
    if raw is not None and _REQUEST_ID.fullmatch(raw):
        return raw
    return os.urandom(16).hex()  # a uuid4's randomness, a fifth of its cost


def request_id_for(request: Request) -> str:
    """The id ``AccessLog`` gave this request (or, in an app without it, one of its own)."""
    given = request.scope.get("state", {}).get("request_id")
    if isinstance(given, str):
        return given
    return request_id_of(request.headers.get("x-request-id"))


def _outcome(status: int) -> str:
    if status == 429:
        return "rate_limited"
    if status == 401:
        return "unauthenticated"
    if status >= 500:
        return "failed"
    if status >= 400:
        return "refused"
    return "ok"


# The metric children per label set: ``labels()`` validates and looks them up under a lock
# on every call (4 µs of a keyed lookup's 250). Routes, operation types and outcomes are
# bounded sets, so is this.
_children: dict[tuple[str, str, str], tuple[Any, Any]] = {}


def _count(route: str, operation: str, outcome: str, seconds: float) -> None:
    children = _children.get((route, operation, outcome))
    if children is None:
        children = (
            REQUESTS.labels(route, operation, outcome),
            REQUEST_SECONDS.labels(route, operation),
        )
        _children[(route, operation, outcome)] = children
    children[0].inc()
    children[1].observe(seconds)


class AccessLog:
    def __init__(self, app: ASGIApp, *, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = scope.setdefault("state", {})
        raw_id = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        request_id = request_id_of(raw_id.decode("latin-1") if raw_id is not None else None)
        state["request_id"] = request_id
        status = 500  # what the client sees if the app fails before it answers

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = message["headers"] = list(message.get("headers", ()))
                if not any(name.lower() == b"x-request-id" for name, _ in headers):
                    headers.append((b"x-request-id", request_id.encode("latin-1")))
            await send(message)

        try:
            await self.app(scope, receive, answer)
        finally:
            seconds = time.perf_counter() - started
            route = route_label(scope["path"])
            operation = state.get("operation_type") or "-"
            outcome = state.get("outcome") or _outcome(status)
            _count(route, operation, outcome, seconds)
            if self.log_requests and access.isEnabledFor(logging.INFO):
                log_access(
                    {
                        "method": scope["method"],
                        "path": scope["path"][:200],
                        "status": status,
                        "duration_ms": round(seconds * 1000, 2),
                        "operation_type": state.get("operation_type"),
                        "operation_name": state.get("operation_name"),
                        "outcome": outcome,
                        "client": state.get("client"),
                        "agency": state.get("agency"),
                        "request_id": request_id,
                    }
                )


__all__ = ["AccessLog", "request_id_for", "request_id_of"]
