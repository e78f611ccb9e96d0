"""A response leaves in one write: uvicorn hands the transport its head and its body apart,
and each write is a send syscall and a TCP segment of its own (TCP_NODELAY is on); the hub's
transport joins them. Driven through the hub's real protocol class with a transport that
records what it is given (the socket's side of asyncio.Transport)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from uvicorn.config import Config
from uvicorn.server import ServerState

from hub.http_protocol import header_limited_protocol


class RecordingTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.writes.append(b"<eof>")

    def get_write_buffer_size(self) -> int:
        return 0


async def _hello(request: Request) -> Response:
    body = await request.body()
    return Response(b'{"echo":' + body + b"}", media_type="application/json")


@pytest.fixture
async def protocol_and_transport() -> tuple[Any, RecordingTransport]:
    app = Starlette(routes=[Route("/", _hello, methods=["POST"])])
    config = Config(app=app, lifespan="off", access_log=False, log_config=None)
    config.load()
    protocol = header_limited_protocol(16_384)(config, ServerState(), {})
    transport = RecordingTransport()
    protocol.connection_made(transport)
    return protocol, transport


async def _served(transport: RecordingTransport, count: int) -> None:
    for _ in range(200):
        if len(transport.writes) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"only {len(transport.writes)} writes: {transport.writes!r}")


async def test_head_and_body_go_out_in_one_write(
    protocol_and_transport: tuple[Any, RecordingTransport],
) -> None:
    protocol, transport = protocol_and_transport
    for n in range(3):  # each request of a keep-alive connection
        protocol.data_received(
            b"POST / HTTP/1.1\r\nHost: hub\r\nContent-Length: 1\r\n\r\n" + str(n).encode()
        )
        await _served(transport, n + 1)
        await asyncio.sleep(0.02)  # nothing else follows
        assert len(transport.writes) == n + 1
        head, _, body = transport.writes[n].partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert body == b'{"echo":' + str(n).encode() + b"}"
    protocol.connection_lost(None)


async def test_a_head_alone_still_leaves_by_the_end_of_the_loop_turn(
    protocol_and_transport: tuple[Any, RecordingTransport],
) -> None:
    """A head with no body in the same turn (100 Continue) is not held back."""
    protocol, transport = protocol_and_transport
    protocol.data_received(
        b"POST / HTTP/1.1\r\nHost: hub\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    )
    await _served(transport, 1)
    assert transport.writes[0] == b"HTTP/1.1 100 Continue\r\n\r\n"
    protocol.data_received(b"42")
    await _served(transport, 2)
    assert transport.writes[1].endswith(b'{"echo":42}')
    protocol.connection_lost(None)
