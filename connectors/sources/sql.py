"""What the two database adapters share: the DSN read without ever repeating its password,
and the one SELECT statement built from a table or a query, with identifiers quoted so a
name from the connector file can never become SQL."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from connectors.sources.base import SourceError

MAX_QUERY_CHARS = 100_000


@dataclass(frozen=True, slots=True)
class Dsn:
    """A database URL taken apart. ``where`` names the server and database for messages."""

    host: str
    port: int
    user: str | None
    password: str | None
    database: str | None

    @property
    def where(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.host}:{self.port}/{self.database or ''}"


def parse_dsn(kind: str, dsn: str, schemes: tuple[str, ...], default_port: int) -> Dsn:
    """Read ``scheme://user:pass@host:port/db``; the error never quotes the DSN itself."""
    try:
        parts = urlsplit(dsn)
        port = parts.port or default_port
    except ValueError as exc:
        raise SourceError(f"{kind} source: key 'dsn' is not a valid URL ({exc})") from None
    if parts.scheme not in schemes:
        raise SourceError(
            f"{kind} source: key 'dsn' must start with {' or '.join(s + '://' for s in schemes)}"
        )
    if not parts.hostname:
        raise SourceError(f"{kind} source: key 'dsn' names no host")
    database = unquote(parts.path.lstrip("/")) or None
    return Dsn(
        host=parts.hostname,
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        database=database,
    )


def quote_name(name: str, quote: str) -> str:
    """A possibly schema-qualified name (``schema.table``), each part quoted with ``quote``
    (``"`` for PostgreSQL, a backtick for MySQL); names are taken exactly, case included."""
    parts = name.split(".")
    if len(parts) > 2 or not all(parts):
        raise SourceError(f"key 'table' must be 'table' or 'schema.table', got {name!r}")
    return ".".join(quote + p.replace(quote, quote * 2) + quote for p in parts)


@dataclass(frozen=True, slots=True)
class Select:
    """The source relation: a quoted table, or the configured query as a subquery."""

    relation: str
    label: str  # "table x" or "query", for messages

    def statement(self, cursor: str | None, placeholder: str, quote: str) -> str:
        """``SELECT *`` over the relation; with a cursor, rows at or past the placeholder's
        value in cursor order (base.py says why >=)."""
        sql = f"SELECT * FROM {self.relation}"  # names quoted, values bound
        if cursor is None:
            return sql
        column = quote + cursor.replace(quote, quote * 2) + quote
        return f"{sql} WHERE {column} >= {placeholder} ORDER BY {column}"

    def statement_all(self, cursor: str | None, quote: str) -> str:
        """Every row, in cursor order when there is a cursor (the first incremental run)."""
        sql = f"SELECT * FROM {self.relation}"
        if cursor is None:
            return sql
        return f"{sql} ORDER BY {quote}{cursor.replace(quote, quote * 2)}{quote}"

    def empty(self) -> str:
        """A statement describing the columns without reading rows."""
        return f"SELECT * FROM {self.relation} WHERE 1 = 0"


def make_select(table: str | None, query: str | None, quote: str) -> Select:
    if table is not None:
        return Select(quote_name(table, quote), f"table {table}")
    assert query is not None
    if len(query) > MAX_QUERY_CHARS:
        raise SourceError(f"key 'query' is longer than {MAX_QUERY_CHARS} characters")
    body = query.strip().rstrip(";")
    # Wrapped as a subquery so the cursor condition and order apply to its result; the
    # newline ends a trailing "-- comment" before the closing parenthesis.
    return Select(f"({body}\n) AS source_query", "query")


__all__ = ["Dsn", "Select", "make_select", "parse_dsn", "quote_name"]
