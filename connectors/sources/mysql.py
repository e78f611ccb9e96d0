"""A MySQL or MariaDB table or query as a source, read with aiomysql's unbuffered cursor
(SSCursor): rows stream from the server a batch at a time, so memory stays constant, inside
one read-only consistent-snapshot transaction.

aiomysql rather than asyncmy: asyncmy 0.2's receive buffer grows without back-pressure, so
while the engine writes a batch the rest of the result piles up in memory (300,000 rows read
by a slow consumer peaked at 400 MB against 47 MB here); aiomysql reads through an asyncio
stream, which stops reading from the socket while its buffer is full.

Row digests (``use_digests``): the server computes each row's digest (MD5 over a salt and
the quoted values of the mapped columns); ``copy_digests`` sends just (key, digest) pairs to
the hub and ``batches_for_keys`` reads the rows of the keys whose digest changed, all in the
run's one consistent snapshot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiomysql
from pymysql.err import MySQLError

from connectors.sources.base import SourceError, SourceRow
from connectors.sources.config import SourceConfig
from connectors.sources.sql import Select, make_select, parse_dsn

CONNECT_TIMEOUT = 15
# The server stops writing to a client that has not read for net_write_timeout seconds
# (60 by default); the engine writes a batch to the hub between two reads.
NET_WRITE_TIMEOUT = 3600
DIGEST_COLUMN = "__hub_row_digest"
#: Rows per fetch (and per COPY into the hub) of a digest scan; keys per read by key.
DIGEST_BATCH = 20_000
KEYS_PER_READ = 1000
_PLACEHOLDER = "\x00hub-placeholder\x00"
_DRIVER_ERRORS = (MySQLError, OSError, TimeoutError, EOFError)


class MySQLSource:
    """Config keys: ``dsn`` (mysql://user:pass@host:3306/db), ``table`` or ``query``,
    ``cursor``, ``password`` (optional, instead of one in the DSN)."""

    def __init__(self, config: SourceConfig) -> None:
        self._dsn = parse_dsn(
            "mysql", config.required_text("dsn"), ("mysql", "mariadb", "mysql+asyncmy"), 3306
        )
        self._password = config.text("password") or self._dsn.password or ""
        table, query = config.one_of("table", "query")
        self._select: Select = make_select(table, query, "`")
        self._cursor = config.text("cursor")
        self._conn: Any = None
        self._columns: list[str] | None = None
        self._in_snapshot = False
        self._digest: tuple[str, list[str], str] | None = None  # salt, columns, key column

    def _error(self, doing: str, exc: BaseException) -> SourceError:
        message = str(exc) or type(exc).__name__
        if self._password:
            message = message.replace(self._password, "***")
        return SourceError(
            f"mysql source at {self._dsn.where}: {doing} {self._select.label} failed: {message}"
        )

    async def _connection(self) -> Any:
        if self._conn is None:
            try:
                self._conn = await aiomysql.connect(
                    host=self._dsn.host,
                    port=self._dsn.port,
                    user=self._dsn.user,
                    password=self._password,
                    db=self._dsn.database,
                    charset="utf8mb4",
                    connect_timeout=CONNECT_TIMEOUT,
                    autocommit=True,
                )
            except _DRIVER_ERRORS as exc:
                raise self._error("connecting to read", exc) from None
        return self._conn

    async def columns(self) -> list[str]:
        if self._columns is None:
            conn = await self._connection()
            try:
                async with conn.cursor() as cur:
                    await cur.execute(self._select.empty())
                    self._columns = [d[0] for d in cur.description or ()]
            except _DRIVER_ERRORS as exc:
                raise self._error("describing", exc) from None
            if self._cursor is not None and self._cursor not in self._columns:
                raise SourceError(
                    f"mysql source at {self._dsn.where}: cursor column '{self._cursor}' "
                    f"is not a column of {self._select.label}"
                )
        return list(self._columns)

    def use_digests(self, salt: str, columns: list[str], key: str) -> None:
        """Give every row read from now on a digest of ``columns`` computed by the server."""
        self._digest = (salt, list(columns), key)

    def _quoted(self, column: str) -> str:
        return "`" + column.replace("`", "``") + "`"

    def _sql(self, statement: str) -> str:
        """A statement for pymysql's ``%`` formatting: a ``%`` of a name or of the configured
        query doubled, the engine's own placeholders (``_PLACEHOLDER``) made ``%s``."""
        return statement.replace("%", "%%").replace(_PLACEHOLDER, "%s")

    def _digest_sql(self) -> str:
        assert self._digest is not None
        # QUOTE keeps NULL (the word, unquoted) apart from the text 'NULL', and every value
        # apart from the separator.
        values = ", ".join(f"QUOTE({self._quoted(c)})" for c in self._digest[1])
        return f"UNHEX(MD5(CONCAT_WS(0x1f, {_PLACEHOLDER}, {values})))"

    def _with_digest(self, statement: str) -> str:
        if self._digest is None:
            return statement
        head = "SELECT * FROM "
        assert statement.startswith(head)
        return f"SELECT *, {self._digest_sql()} AS {DIGEST_COLUMN} FROM {statement[len(head) :]}"

    async def _snapshot(self) -> Any:
        """The connection, inside the run's one read-only consistent-snapshot transaction."""
        conn = await self._connection()
        if not self._in_snapshot:
            async with conn.cursor() as setup:
                await setup.execute("SET SESSION net_write_timeout = %s", (NET_WRITE_TIMEOUT,))
                await setup.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            self._in_snapshot = True
        return conn

    async def _end_snapshot(self) -> None:
        if self._in_snapshot and self._conn is not None:
            self._in_snapshot = False
            await self._conn.rollback()  # read-only: nothing to keep

    def _row(self, position: str, names: list[str], row: Any) -> SourceRow:
        if self._digest is None:
            return SourceRow(position, dict(zip(names, row, strict=True)))
        return SourceRow(position, dict(zip(names, row[:-1], strict=True)), row[-1])

    async def copy_digests(self, driver: Any, table: str) -> None:
        """(key as text, digest) of every row, streamed unbuffered and copied into ``table``
        of the hub's connection ``driver`` ``DIGEST_BATCH`` rows at a time."""
        assert self._digest is not None
        await self.columns()
        key = self._quoted(self._digest[2])
        sql = self._sql(
            f"SELECT CAST({key} AS CHAR), {self._digest_sql()} FROM {self._select.relation}"
        )
        try:
            conn = await self._snapshot()
            cur = await conn.cursor(aiomysql.SSCursor)
            await cur.execute(sql, (self._digest[0],))
            while rows := await cur.fetchmany(DIGEST_BATCH):
                await driver.copy_records_to_table(table, records=rows, columns=["k", "d"])
            await cur.close()
        except _DRIVER_ERRORS as exc:
            raise self._error("reading row digests of", exc) from None

    async def batches(
        self, since: Any | None = None, size: int = 5000
    ) -> AsyncIterator[list[SourceRow]]:
        names = await self.columns()
        if self._cursor is None or since is None:
            statement, args = self._select.statement_all(self._cursor, "`"), []
        else:
            statement = self._select.statement(self._cursor, _PLACEHOLDER, "`")
            args = [since]
        if self._digest is not None:
            args = [self._digest[0], *args]  # the digest's salt comes first in the SELECT
        sql = self._sql(self._with_digest(statement))
        read = 0
        try:
            conn = await self._snapshot()
            cur = await conn.cursor(aiomysql.SSCursor)
            # Always formatted (an empty tuple too), so a doubled % is always undone.
            await cur.execute(sql, tuple(args))
            while True:
                rows = await cur.fetchmany(size)
                if not rows:
                    break
                batch = []
                for row in rows:
                    read += 1
                    batch.append(self._row(f"row {read}", names, row))
                yield batch
            await cur.close()
            await self._end_snapshot()
        except _DRIVER_ERRORS as exc:
            raise self._error(f"reading (after row {read})", exc) from None

    async def batches_for_keys(
        self, keys: list[str], size: int = 5000
    ) -> AsyncIterator[list[SourceRow]]:
        """The rows whose key column is one of ``keys`` (as text), from the same snapshot as
        ``copy_digests``, in batches of at most ``size`` keys' rows."""
        assert self._digest is not None
        names = await self.columns()
        key = self._quoted(self._digest[2])
        step = max(1, min(size, KEYS_PER_READ))
        at = names.index(self._digest[2])
        read = 0
        try:
            conn = await self._snapshot()
            for start in range(0, len(keys), step):
                chunk = keys[start : start + step]
                marks = ", ".join([_PLACEHOLDER] * len(chunk))
                statement = self._with_digest(
                    f"SELECT * FROM {self._select.relation} WHERE {key} IN ({marks})"
                )
                async with conn.cursor() as cur:
                    await cur.execute(self._sql(statement), [self._digest[0], *chunk])
                    rows = await cur.fetchall()
                batch = []
                for row in rows:
                    read += 1
                    batch.append(self._row(f"key {row[at]}", names, row))
                yield batch
            await self._end_snapshot()
        except _DRIVER_ERRORS as exc:
            raise self._error(f"reading changed rows (after row {read})", exc) from None

    async def aclose(self) -> None:
        self._in_snapshot = False
        conn, self._conn = self._conn, None
        if conn is not None:
            # close() drops the socket without draining an unfinished unbuffered result.
            conn.close()

    async def __aenter__(self) -> MySQLSource:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = ["MySQLSource"]
