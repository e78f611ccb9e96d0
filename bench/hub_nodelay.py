"""`hub serve` with its listening socket made as an IPPROTO_TCP socket — for comparison only.

    .venv/bin/python bench/hub_nodelay.py serve --workers 2 --port 8801

`hub/cli/serve.py` makes its SO_REUSEPORT socket with ``socket.socket(AF_INET, SOCK_STREAM)``,
whose ``proto`` is 0. asyncio sets TCP_NODELAY on an accepted connection only when the socket's
proto is IPPROTO_TCP (``asyncio.base_events._set_nodelay``), so the hub's connections keep
Nagle's algorithm on: on a keep-alive connection each response then waits for the client's
delayed ACK, about 40 ms. This launcher runs the unchanged hub CLI with one difference: the
socket ``_serve_worker`` makes gets ``proto=IPPROTO_TCP``. bench/run.py --hub-nodelay uses it
to show what that one-line change would give; the hub's own code is not touched.

The patch is applied at import, so the worker processes (multiprocessing "spawn" imports the
parent's main module as ``__mp_main__``) get it too.
"""

from __future__ import annotations

import socket as _socket
import sys
import types

import hub.cli.serve as _serve


def _tcp_socket(
    family: int = _socket.AF_INET, type: int = _socket.SOCK_STREAM, proto: int = 0
) -> _socket.socket:
    if type == _socket.SOCK_STREAM and family in (_socket.AF_INET, _socket.AF_INET6):
        proto = proto or _socket.IPPROTO_TCP
    return _socket.socket(family, type, proto)


_shim = types.ModuleType("socket")
_shim.__dict__.update(_socket.__dict__)
_shim.socket = _tcp_socket  # type: ignore[attr-defined]
_serve.socket = _shim

if __name__ == "__main__":
    from hub.cli import main

    sys.exit(main())
