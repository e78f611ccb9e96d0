"""One hub per port. The workers of one hub share their port with ``SO_REUSEPORT``; so would
an unrelated second hub of the same user, silently splitting the traffic between two
configurations. The serving parent holds an exclusive lock named after the port for its
whole life; a second hub on that port stops at start with the first one's pid."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path
from typing import IO


class PortTaken(Exception):
    """Another hub serves the port."""


def lock_path(port: int) -> Path:
    return Path(tempfile.gettempdir()) / f"hub-port-{port}.lock"


def hold_port(port: int) -> IO[str]:
    """The lock, held until the returned file is closed or the process ends."""
    path = lock_path(port)
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise PortTaken(
            f"port {port} is already served by another hub (pid {holder}); stop it or "
            "choose another --port"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


__all__ = ["PortTaken", "hold_port", "lock_path"]
