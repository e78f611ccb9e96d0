"""A PostgreSQL table or query as a source, read with asyncpg through a server-side cursor in
one read-only REPEATABLE READ transaction: constant memory (one prefetch of rows at a time)
and one consistent snapshot however long the read takes. Values come back as asyncpg gives
them (dates, Decimals, UUIDs, ...).

Row digests (``use_digests``): the source server computes each row's digest of the mapped
columns in the SELECT, so the engine hashes nothing in Python; ``copy_digests`` pipes just
(key, digest) pairs from ``COPY ... TO STDOUT`` into the hub, and ``batches_for_keys`` reads
the rows of the keys whose digest changed. All of them read the one snapshot of the run's
transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import asyncpg

from connectors.sources.base import SourceError, SourceRow
from connectors.sources.config import SourceConfig
from connectors.sources.sql import Select, make_select, parse_dsn

#: The result column holding the row digest; taken out of the row's values.
DIGEST_COLUMN = "__hub_row_digest"
_PIPE_CHUNKS = 64

CONNECT_TIMEOUT = 15.0
_DRIVER_ERRORS = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # A connection terminated by the server while a fetch starts can surface as this.
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
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
        self._transaction: Any = None  # the run's snapshot, once opened
        self._digest: tuple[str, list[str], str] | None = None  # salt, columns, key column

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

    def use_digests(self, salt: str, columns: list[str], key: str) -> None:
        """Give every row read from now on a digest of ``columns`` computed by the server:
        MD5 over ``salt`` and the row of those columns in PostgreSQL's text form."""
        self._digest = (salt, list(columns), key)

    @property
    def _digest_salt(self) -> str:
        assert self._digest is not None
        return self._digest[0]

    def _quoted(self, column: str) -> str:
        return '"' + column.replace('"', '""') + '"'

    def _digest_sql(self, placeholder: str) -> str:
        assert self._digest is not None
        _, columns, _ = self._digest
        row = ", ".join(self._quoted(c) for c in columns)
        return f"decode(md5(CAST({placeholder} AS text) || ROW({row})::text), 'hex')"

    def _with_digest(self, sql: str, args: list[Any]) -> tuple[str, list[Any]]:
        """``SELECT *`` of the statement plus the digest column (bound salt, next $n)."""
        if self._digest is None:
            return sql, args
        digest = self._digest_sql(f"${len(args) + 1}")
        head = "SELECT * FROM "
        assert sql.startswith(head)
        body = sql[len(head) :]
        return f"SELECT *, {digest} AS {DIGEST_COLUMN} FROM {body}", [*args, self._digest[0]]

    async def _snapshot(self) -> asyncpg.Connection:
        """The connection, inside the run's one read-only REPEATABLE READ transaction."""
        conn = await self._connection()
        if self._transaction is None:
            transaction = conn.transaction(isolation="repeatable_read", readonly=True)
            await transaction.start()
            self._transaction = transaction
        return conn

    async def _end_snapshot(self) -> None:
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            await transaction.rollback()  # read-only: nothing to keep

    async def copy_digests(self, driver: Any, table: str) -> None:
        """``COPY`` of (key as text, digest) of every row, binary, piped into ``table`` of the
        hub's connection ``driver`` through a bounded queue. Needs ``use_digests``."""
        assert self._digest is not None
        await self.columns()
        conn = await self._snapshot()
        key = self._quoted(self._digest[2])
        sql = (
            f"SELECT CAST({key} AS text), {self._digest_sql('$1')} "
            f"FROM {self._select.relation}"  # names quoted, values bound
        )
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=_PIPE_CHUNKS)

        async def produce() -> None:
            try:
                await conn.copy_from_query(
                    sql, self._digest_salt, output=queue.put, format="binary"
                )
            except _DRIVER_ERRORS as exc:
                raise self._error("reading row digests of", exc) from None
            await queue.put(None)

        async def chunks() -> AsyncIterator[bytes]:
            while (chunk := await queue.get()) is not None:
                yield chunk

        async with asyncio.TaskGroup() as group:  # one side failing cancels the other
            group.create_task(produce())
            group.create_task(
                driver.copy_to_table(table, source=chunks(), columns=["k", "d"], format="binary")
            )

    def batches(self, since: Any | None = None, size: int = 5000) -> AsyncIterator[list[SourceRow]]:
        reading = self._batches(since, size)
        self._reading.append(reading)
        return reading

    def batches_for_keys(self, keys: list[str], size: int = 5000) -> AsyncIterator[list[SourceRow]]:
        """The rows whose key column (as text) is one of ``keys``, in batches of at most
        ``size`` keys' rows, from the same snapshot as ``copy_digests``."""
        reading = self._batches_for_keys(keys, size)
        self._reading.append(reading)
        return reading

    def _row(self, position: str, record: Any) -> SourceRow:
        values = dict(record.items())
        digest = values.pop(DIGEST_COLUMN, None) if self._digest is not None else None
        return SourceRow(position, values, digest)

    async def _batches(self, since: Any | None, size: int) -> AsyncGenerator[list[SourceRow], None]:
        await self.columns()
        sql, args = self._with_digest(*self._statement(since))
        read = 0
        try:
            conn = await self._snapshot()
            cursor = await conn.cursor(sql, *args)
            while records := await cursor.fetch(size):
                batch = []
                for record in records:
                    read += 1
                    batch.append(self._row(f"row {read}", record))
                yield batch
            await self._end_snapshot()
        except _DRIVER_ERRORS as exc:
            raise self._error(f"reading (after row {read})", exc) from None

    async def _batches_for_keys(
        self, keys: list[str], size: int
    ) -> AsyncGenerator[list[SourceRow], None]:
        assert self._digest is not None
        await self.columns()
        key = self._digest[2]
        kind = self._types.get(key)
        wanted = f"CAST($1::text[] AS {kind}[])" if kind is not None else "$1::text[]"
        # The keys are $1; the digest's salt becomes $2.
        sql, _ = self._with_digest(
            f"SELECT * FROM {self._select.relation} WHERE {self._quoted(key)} = ANY({wanted})",
            [None],
        )
        read = 0
        try:
            conn = await self._snapshot()
            statement = await conn.prepare(sql)
            for start in range(0, len(keys), size):
                chunk = keys[start : start + size]
                records = await statement.fetch(chunk, self._digest[0])
                batch = []
                for record in records:
                    read += 1
                    batch.append(self._row(f"key {record[key]}", record))
                yield batch
            await self._end_snapshot()
        except _DRIVER_ERRORS as exc:
            raise self._error(f"reading changed rows (after row {read})", exc) from None

    async def aclose(self) -> None:
        # A read left unfinished rolls its transaction back while the connection is open,
        # rather than when the garbage collector finds it after the connection is gone.
        reading, self._reading = self._reading, []
        for unfinished in reading:
            with contextlib.suppress(SourceError):
                await unfinished.aclose()
        with contextlib.suppress(*_DRIVER_ERRORS):
            await self._end_snapshot()
        self._transaction = None
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
