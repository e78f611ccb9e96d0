"""The hub app served by the real server (uvicorn with the hub's own protocol and options, as
``hub serve`` runs it) on a free local port, for tests that need a real socket."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from starlette.applications import Starlette

from hub.http_protocol import server_options
from hub.settings import Settings


def free_port() -> int:
    """A local port nothing listens on once this returns (for "the server is down" cases)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def serving(app: Starlette, settings: Settings) -> AsyncIterator[int]:
    """Serve ``app`` (its lifespan already running) until the block ends; yields the port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, lifespan="off", log_config=None, **server_options(settings))
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started, "the server did not start"
        yield port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


__all__ = ["free_port", "serving"]
