"""uvicorn's httptools protocol with a cap on the size of a request's line and headers, and
lingering closes.

Invariant: no request head (request line and headers) larger than ``max_header_bytes`` (plus
at most one socket read) is ever parsed; it is answered 431 at once. httptools has no limit
of its own and grows a header value by concatenation on every read, so a 100 MB header cost
13.8 s of CPU, during which every other client waited. (uvicorn's h11 protocol has a limit,
``h11_max_incomplete_event_size``, but answers 400 and parses in pure Python.)

A connection closed while a request is still arriving (a 431 here, a 413 from
``hub.http_limits``) lingers: our side is shut for writing, further bytes are discarded
unparsed, and it closes once the client closes or after ``LINGER_SECONDS``. Closing at once
with unread bytes makes the kernel send a reset, which can destroy the refusal before the
client reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    """Counts the bytes of each request head as they arrive; refuses past the cap. A head must
    also arrive within ``header_timeout`` seconds of its first byte (of the connection, for
    the first request): a client dripping a head byte by byte holds no connection for long."""

    max_header_bytes = 16_384
    header_timeout = 10.0

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._head_bytes = 0
        self._parsed_head = 0  # request line and headers as parsed, for heads read at once
        self._head_refused = False
        self._in_head = True
        self.lingering = False
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_timer()
        super().connection_lost(exc)

    def _arm_head_timer(self) -> None:
        self._disarm_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def _disarm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is still being written; its own timers apply
        message = (
            f"the request line and headers did not arrive within {self.header_timeout:g} s "
            "(HUB_HEADER_TIMEOUT_SECONDS)"
        )
        payload = orjson.dumps(error_response("QUERY_TOO_COMPLEX", message))
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\n"
            b"content-type: application/json\r\n"
            b"content-length: " + str(len(payload)).encode("ascii") + b"\r\n"
            b"connection: close\r\n\r\n" + payload
        )
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # the request was refused: discard what still arrives
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        if self._in_head and self._head_bytes > self.max_header_bytes and self.parser:
            self._refuse()

    # A head that arrives within one read is parsed before data_received can count it: the
    # parser's callbacks measure it too, and such a request never reaches the app.

    def on_message_begin(self) -> None:
        self._parsed_head = 0
        self._arm_head_timer()
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._parsed_head += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._parsed_head += len(name) + len(value) + 4  # ": " and CRLF
        if self._parsed_head > self.max_header_bytes:
            self._head_bytes = max(self._head_bytes, self._parsed_head)
            self._head_refused = True
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._head_refused:
            self._refuse()
            return
        self._in_head = False
        self._head_bytes = 0
        self._disarm_head_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._head_refused:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._head_refused:
            return
        super().on_message_complete()
        self._in_head = True  # a pipelined request's head may follow

    def request_arriving(self) -> bool:
        """Whether bytes of a request are still to come (its head or its body)."""
        if self._in_head:
            return self._head_bytes > 0
        return self.cycle is not None and self.cycle.more_body

    def _refuse(self) -> None:
        if self.transport.is_closing():
            return
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
        self.transport.close()


class _LingeringTransport:
    """The connection's transport, whose ``close`` lingers while a request is arriving, and
    which sends a response's head together with its body.

    uvicorn writes the status line and headers, then the body, as two writes: two send
    syscalls and two TCP segments per response (TCP_NODELAY is on). On loopback a send runs
    the receiver's side of TCP too, and the two were about a sixth of a worker's CPU on
    small answers. A head is held until the next write, or the end of this turn of the event
    loop at the latest, so order and timing are kept."""

    def __init__(self, transport: asyncio.Transport, protocol: HeaderLimitedProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._held: bytes | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif data.startswith(b"HTTP/1.") and data.endswith(b"\r\n\r\n"):
            self._held = data  # a response head: its body follows within this turn
            self._protocol.loop.call_soon(self._flush)
            return
        self._transport.write(data)

    def _flush(self) -> None:
        if self._held is not None:
            held, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(held)

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def is_closing(self) -> bool:
        return self._protocol.lingering or self._transport.is_closing()

    def close(self) -> None:
        self._flush()
        if self._protocol.lingering or self._transport.is_closing():
            return
        if not (self._protocol.request_arriving() and self._transport.can_write_eof()):
            self._transport.close()
            return
        self._protocol.lingering = True
        with contextlib.suppress(RuntimeError):  # reading may be paused by flow control
            self._transport.resume_reading()
        self._transport.write_eof()  # after what is buffered: the client reads it, then EOF
        # The client's EOF closes the transport sooner (eof_received returns None).
        self._protocol.loop.call_later(LINGER_SECONDS, self._transport.close)


def server_options(settings: Settings) -> dict[str, Any]:
    """uvicorn options of every hub server (``hub serve`` and the socket tests)."""
    return {
        "loop": "auto",  # uvloop, installed with the hub
        "http": header_limited_protocol(settings.max_header_bytes, settings.header_timeout_seconds),
        # Unused with httptools; the same cap should uvicorn ever fall back to h11.
        "h11_max_incomplete_event_size": settings.max_header_bytes,
        "access_log": False,
    }


def header_limited_protocol(
    max_header_bytes: int, header_timeout: float = HeaderLimitedProtocol.header_timeout
) -> type[HeaderLimitedProtocol]:
    """The protocol class to give uvicorn (``Config(http=...)``) for these limits."""
    return type(
        "HeaderLimitedProtocol",
        (HeaderLimitedProtocol,),
        {"max_header_bytes": max_header_bytes, "header_timeout": header_timeout},
    )


__all__ = ["LINGER_SECONDS", "HeaderLimitedProtocol", "header_limited_protocol", "server_options"]
