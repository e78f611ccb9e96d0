"""Is this failure PostgreSQL being away (restarting, unreachable, out of connections) rather
than a bug? Such a request is answered 503 with ``Retry-After`` when nothing was served, and
logged as one line without a traceback; the pool reconnects by itself when the server is back.
"""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError

from catalog.errors import HubError

# Connection-level failures: the statement never ran, or its connection died under it.
_UNAVAILABLE = (
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionFailureError,
    ConnectionError,  # refused, reset, aborted
    # A pooled connection caught mid-statement by the server's shutdown ("cannot switch to
    # state …"): asyncpg terminates it; nothing ran.
    asyncpg.exceptions.InternalClientError,
)


def database_unavailable(error: BaseException | None) -> bool:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, HubError):
            return False  # an expected error with its own code (SEARCH_UNAVAILABLE, …)
        if isinstance(error, _UNAVAILABLE):
            return True
        if isinstance(error, asyncpg.exceptions.InterfaceError) and "closed" in str(error):
            return True  # "connection is closed": the server went away mid-request
        if isinstance(error, DBAPIError) and error.connection_invalidated:
            return True
        if isinstance(error, OSError) and error.errno is not None and not error.filename:
            return True  # e.g. ENOENT/ECONNREFUSED on the socket while connecting
        nxt = getattr(error, "orig", None) if isinstance(error, DBAPIError) else None
        error = nxt or error.__cause__ or error.__context__
    return False


UNAVAILABLE_MESSAGE = "the database is unavailable; retry shortly (request id {request_id})"
RETRY_AFTER_SECONDS = 2

__all__ = ["RETRY_AFTER_SECONDS", "UNAVAILABLE_MESSAGE", "database_unavailable"]
