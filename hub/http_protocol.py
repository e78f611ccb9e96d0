"""uvicorn's httptools protocol with a cap on the size of a request's line and headers.

Invariant: no request head (request line and headers) larger than ``max_header_bytes`` (plus
at most one socket read) is ever parsed; it is answered 431 at once. httptools has no limit
of its own and grows a header value by concatenation on every read, so a 100 MB header cost
13.8 s of CPU, during which every other client waited. (uvicorn's h11 protocol has a limit,
``h11_max_incomplete_event_size``, but answers 400 and parses in pure Python.)

After a refusal the connection lingers: our side is shut for writing, further bytes are
discarded, and it closes once the client closes or after ``LINGER_SECONDS``; closing at once
with unread bytes would send a reset that can destroy the 431 before the client reads it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from hub.settings import Settings
from schema.errors import error_response

#: Seconds a refused connection discards what the client still sends before it is closed.
LINGER_SECONDS = 2.0


class HeaderLimitedProtocol(HttpToolsProtocol):
    """Counts the bytes of each request head as they arrive; refuses past the cap."""

    max_header_bytes = 16_384

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_bytes = 0
        self._in_head = True
        self._refused = False

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # lingering after a 431: discard
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_header_bytes and self.parser:
            self._refuse()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True  # a pipelined request's head may follow

    def _refuse(self) -> None:
        if self.transport.is_closing():
            return
        self._refused = True
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a pipelined head behind a running request: just stop
            return
        message = (
            f"the request line and headers are at least {self._head_bytes} bytes; the hub "
            f"accepts at most {self.max_header_bytes} (HUB_MAX_HEADER_BYTES)"
        )
        payload = orjson.dumps(error_response("QUERY_TOO_COMPLEX", message))
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(payload)).encode("ascii") + b"\r\n"
            b"connection: close\r\n\r\n" + payload
        )
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(LINGER_SECONDS, self._close)

    def _close(self) -> None:
        if not self.transport.is_closing():
            self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options of every hub server (``hub serve`` and the socket tests)."""
    return {
        "loop": "auto",  # uvloop, installed with the hub
        "http": header_limited_protocol(settings.max_header_bytes),
        # Unused with httptools; the same cap should uvicorn ever fall back to h11.
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "access_log": False,
    }


def header_limited_protocol(max_header_bytes: int) -> type[HeaderLimitedProtocol]:
    """The protocol class to give uvicorn (``Config(http=...)``) for this cap."""
    return type(
        "HeaderLimitedProtocol", (HeaderLimitedProtocol,), {"max_header_bytes": max_header_bytes}
    )


__all__ = ["LINGER_SECONDS", "HeaderLimitedProtocol", "header_limited_protocol", "server_options"]
