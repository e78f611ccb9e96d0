"""A PostgreSQL table or query as a source, read with asyncpg through a server-side cursor in
one read-only REPEATABLE READ transaction: constant memory (one prefetch of rows at a time)
and one consistent snapshot however long the read takes. Values come back as asyncpg gives
them (dates, Decimals, UUIDs, ...)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import asyncpg

from connectors.sources.base import SourceError, SourceRow
from connectors.sources.config import SourceConfig
from connectors.sources.sql import Select, make_select, parse_dsn

CONNECT_TIMEOUT = 15.0
_DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "name", "citext"})


class PostgresSource:
    """Config keys: ``dsn``, ``table`` or ``query``, ``cursor``, ``password`` (optional,
    instead of one in the DSN)."""

    def __init__(self, config: SourceConfig) -> None:
        self._dsn_text = config.required_text("dsn")
        self._dsn = parse_dsn("postgres", self._dsn_text, ("postgresql", "postgres"), 5432)
        self._password = config.text("password") or self._dsn.password
        table, query = config.one_of("table", "query")
        self._select: Select = make_select(table, query, '"')
        self._cursor = config.text("cursor")
        self._conn: asyncpg.Connection | None = None
        self._columns: list[str] | None = None
        self._types: dict[str, str] = {}
        self._reading: list[AsyncGenerator[list[SourceRow], None]] = []

    def _error(self, doing: str, exc: BaseException) -> SourceError:
        message = str(exc) or type(exc).__name__
        if self._password:
            message = message.replace(self._password, "***")
        return SourceError(
            f"postgres source at {self._dsn.where}: {doing} {self._select.label} failed: {message}"
        )

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None:
            try:
                self._conn = await asyncpg.connect(
                    self._dsn_text, password=self._password, timeout=CONNECT_TIMEOUT
                )
            except _DRIVER_ERRORS as exc:
                raise self._error("connecting to read", exc) from None
        return self._conn

    async def columns(self) -> list[str]:
        if self._columns is None:
            conn = await self._connection()
            try:
                statement = await conn.prepare(self._select.empty())
                # asyncpg's prepare leaves the server in an implicit transaction, which a
                # later BEGIN ISOLATION LEVEL refuses; one plain statement closes it.
                await conn.execute("SELECT 1")
            except _DRIVER_ERRORS as exc:
                raise self._error("describing", exc) from None
            attributes = statement.get_attributes()
            self._columns = [a.name for a in attributes]
            self._types = {
                a.name: f'"{a.type.schema}"."{a.type.name}"'
                for a in attributes
                if a.type.name not in _TEXT_TYPES
            }
            if self._cursor is not None and self._cursor not in self._columns:
                raise SourceError(
                    f"postgres source at {self._dsn.where}: cursor column '{self._cursor}' "
                    f"is not a column of {self._select.label}"
                )
        return list(self._columns)

    def _statement(self, since: Any | None) -> tuple[str, list[Any]]:
        if self._cursor is None or since is None:
            return self._select.statement_all(self._cursor, '"'), []
        placeholder = "$1"
        if isinstance(since, str) and self._cursor in self._types:
            # A cursor kept as text (timestamps in JSON) compared as the column's own type.
            placeholder = f"CAST($1::text AS {self._types[self._cursor]})"
        return self._select.statement(self._cursor, placeholder, '"'), [since]

    def batches(self, since: Any | None = None, size: int = 5000) -> AsyncIterator[list[SourceRow]]:
        reading = self._batches(since, size)
        self._reading.append(reading)
        return reading

    async def _batches(self, since: Any | None, size: int) -> AsyncGenerator[list[SourceRow], None]:
        await self.columns()
        conn = await self._connection()
        sql, args = self._statement(since)
        read = 0
        try:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                cursor = await conn.cursor(sql, *args)
                while records := await cursor.fetch(size):
                    batch = []
                    for record in records:
                        read += 1
                        batch.append(SourceRow(f"row {read}", dict(record.items())))
                    yield batch
        except _DRIVER_ERRORS as exc:
            raise self._error(f"reading (after row {read})", exc) from None

    async def aclose(self) -> None:
        # A read left unfinished rolls its transaction back while the connection is open,
        # rather than when the garbage collector finds it after the connection is gone.
        reading, self._reading = self._reading, []
        for unfinished in reading:
            with contextlib.suppress(SourceError):
                await unfinished.aclose()
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.close(timeout=5)
        except _DRIVER_ERRORS:
            conn.terminate()  # the server went away: nothing left to close politely

    async def __aenter__(self) -> PostgresSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["PostgresSource"]
