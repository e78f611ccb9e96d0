"""Source adapters: each reads one kind of source in constant memory and yields its rows in
batches (the ``Source`` protocol of ``base``). ``open_source`` builds one from a connector's
``[source]`` table, refusing a missing, mistyped or unknown key by name before anything is
opened."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from connectors.sources.base import Source, SourceError, SourceRow
from connectors.sources.config import SourceConfig
from connectors.sources.csv_file import CsvSource
from connectors.sources.http_json import HttpSource
from connectors.sources.mysql import MySQLSource
from connectors.sources.postgres import PostgresSource
from connectors.sources.xlsx_file import XlsxSource

ADAPTERS: dict[str, Callable[[SourceConfig], Source]] = {
    "postgres": PostgresSource,
    "mysql": MySQLSource,
    "csv": CsvSource,
    "xlsx": XlsxSource,
    "http": HttpSource,
}


def open_source(kind: str, config: Mapping[str, Any]) -> Source:
    """The adapter for ``kind`` (postgres | mysql | csv | xlsx | http) over ``config``, the
    connector's ``[source]`` table with secrets decrypted and ``${ENV}`` expanded. Nothing is
    connected or read until ``columns`` or ``batches``; use it as ``async with``.

    Raises SourceError for an unknown kind or a missing, mistyped or unknown key (named)."""
    adapter = ADAPTERS.get(kind)
    if adapter is None:
        raise SourceError(f"unknown source kind '{kind}': expected one of {', '.join(ADAPTERS)}")
    if not isinstance(config, Mapping):
        raise SourceError(f"{kind} source: the [source] table is missing")
    reader = SourceConfig(kind, config)
    source = adapter(reader)  # adapters open nothing before their first read
    reader.finish()
    return source


__all__ = ["ADAPTERS", "Source", "SourceError", "SourceRow", "open_source"]
