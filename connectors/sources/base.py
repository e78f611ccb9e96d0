"""What every source adapter gives the sync engine: its columns, and its rows as a stream.

An adapter reads one source (a table or query, a file, an HTTP API) in constant memory and
yields ``SourceRow``s in batches. It knows nothing of datasets, fields or the record store:
mapping source columns to fields, validation and writing are the engine's.

Incremental reads: when the connector names a ``cursor`` column, ``rows(since=...)`` yields
only rows whose cursor value is greater than or equal to ``since`` (the stored cursor of the
last committed batch), ordered by that column. ``>=`` rather than ``>`` so that rows sharing
the boundary value with the last committed batch are read again: writes skip unchanged rows
by content hash, so re-reading is harmless, while ``>`` would lose rows whose batch was cut
between two rows with the same cursor value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


class SourceError(Exception):
    """The source could not be read: a refused connection, a missing table or column, a file
    that is truncated or in an unknown encoding, an HTTP source answering errors. The message
    says what and where (never a secret such as a password in a DSN)."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row as the source holds it. ``position`` says where it came from, for quarantine
    and error messages: ``"row 1200"``, ``"line 12"``, ``"sheet Đất row 5"``,
    ``"page 3 item 7"``. ``values`` maps source column names to values as read."""

    position: str
    values: dict[str, Any]
    # A digest of the row's mapped values computed by the source server
    # (``RowDigests``), when the engine asked for one; else the engine computes its own.
    digest: bytes | None = None


class Source(Protocol):
    """One opened source. Use as ``async with``; ``aclose`` releases connections and files."""

    async def columns(self) -> list[str]:
        """The source's column names, for checking a mapping before anything is read."""
        ...

    def batches(self, since: Any | None = None, size: int = 5000) -> AsyncIterator[list[SourceRow]]:
        """Rows in batches of at most ``size``, in cursor order when a cursor is configured
        (rows with cursor >= ``since`` only, when given)."""
        ...

    async def aclose(self) -> None: ...

    async def __aenter__(self) -> Source: ...

    async def __aexit__(self, *exc: object) -> None: ...


@runtime_checkable
class DigestingSource(Protocol):
    """A source whose server computes each row's digest (``SourceRow.digest``) and can list
    just (key, digest) pairs and read rows by key, all from one snapshot of the source."""

    def use_digests(self, salt: str, columns: list[str], key: str) -> None: ...

    async def copy_digests(self, driver: Any, table: str) -> None:
        """Copy (key as text, digest) of every row into ``table`` (columns ``k``, ``d``)
        through ``driver``, the hub's asyncpg connection."""
        ...

    def batches_for_keys(
        self, keys: list[str], size: int = 5000
    ) -> AsyncIterator[list[SourceRow]]: ...


__all__ = ["DigestingSource", "Source", "SourceError", "SourceRow"]
