"""PostgreSQL URLs as operators write them (libpq form) and as each driver wants them.

Operators write ``postgresql://user:pass@host:5432/db?sslmode=require``, the libpq form every
PostgreSQL tool accepts. asyncpg's DSN parser understands it; SQLAlchemy's asyncpg dialect
instead passes query parameters as keyword arguments to ``asyncpg.connect``, which knows
``ssl`` but not ``sslmode``. This module checks a URL once (settings load) and gives each
driver its form. Messages never repeat the URL: it may carry a password.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

SCHEMES = ("postgresql", "postgres", "postgresql+asyncpg")
SSL_MODES = frozenset({"disable", "allow", "prefer", "require", "verify-ca", "verify-full"})
# libpq parameters that asyncpg.connect accepts under another name, or not at all.
_RENAMED = {"sslmode": "ssl"}
_UNSUPPORTED = frozenset({"sslcert", "sslkey", "sslrootcert", "sslcrl", "sslpassword"})
_ACCEPTED = frozenset({"host", "port", "user", "password", "ssl", "sslmode", "application_name"})


class DatabaseUrlError(ValueError):
    """The URL cannot be used; the message says why without repeating the URL."""


def parse_database_url(url: str) -> URL:
    """The URL parsed and checked; raises DatabaseUrlError naming what is wrong."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise DatabaseUrlError(f"not a valid URL ({_reason(exc)})") from None
    if parsed.drivername not in SCHEMES:
        raise DatabaseUrlError(f"expected a postgresql:// URL, got scheme {parsed.drivername!r}")
    try:
        parsed.port  # noqa: B018  # raises on a port that is not a number
    except ValueError:
        raise DatabaseUrlError("the port is not a number") from None
    for name, value in parsed.query.items():
        if name in _UNSUPPORTED:
            raise DatabaseUrlError(
                f"'{name}' is not supported; use sslmode=verify-full with the system's "
                "certificate store"
            )
        if name not in _ACCEPTED:
            raise DatabaseUrlError(f"unknown connection parameter '{name}'")
        if name == "sslmode" and value not in SSL_MODES:
            raise DatabaseUrlError(
                f"sslmode must be one of {', '.join(sorted(SSL_MODES))}, got {value!r}"
            )
    return parsed


def sqlalchemy_url(url: str) -> URL:
    """The URL for SQLAlchemy's asyncpg dialect: driver named, libpq names translated."""
    parsed = parse_database_url(url).set(drivername="postgresql+asyncpg")
    renamed = {_RENAMED[k]: v for k, v in parsed.query.items() if k in _RENAMED}
    if renamed:
        parsed = parsed.difference_update_query(list(_RENAMED)).update_query_dict(renamed)
    return parsed


def _reason(exc: Exception) -> str:
    # SQLAlchemy's message quotes the whole URL; keep only the kind of failure.
    text = str(exc)
    if "port" in text or "int()" in text:
        return "the port is not a number"
    return "could not parse it"


__all__ = ["DatabaseUrlError", "parse_database_url", "sqlalchemy_url"]
