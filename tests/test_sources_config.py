"""``open_source``: the kind and every ``[source]`` key are checked before anything is opened,
and a refusal names the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.sources import ADAPTERS, SourceError, open_source


def test_every_kind_of_the_design_has_an_adapter() -> None:
    assert set(ADAPTERS) == {"postgres", "mysql", "csv", "xlsx", "http"}


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(SourceError, match=r"unknown source kind 'oracle': expected one of"):
        open_source("oracle", {})


@pytest.mark.parametrize(
    ("kind", "config", "message"),
    [
        ("postgres", {"table": "t"}, r"postgres source: key 'dsn' is missing"),
        ("mysql", {"table": "t"}, r"mysql source: key 'dsn' is missing"),
        ("csv", {}, r"csv source: key 'path' is missing"),
        ("xlsx", {}, r"xlsx source: key 'path' is missing"),
        ("http", {}, r"http source: key 'url' is missing"),
    ],
)
def test_missing_required_key_is_named(kind: str, config: dict[str, Any], message: str) -> None:
    with pytest.raises(SourceError, match=message):
        open_source(kind, config)


def test_misspelt_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"csv source: unknown key 'delimeter'"):
        open_source("csv", {"path": str(tmp_path / "a.csv"), "delimeter": ";"})


def test_key_of_the_wrong_type_is_named() -> None:
    with pytest.raises(SourceError, match=r"http source: key 'max_pages' must be a whole number"):
        open_source("http", {"url": "http://127.0.0.1/x", "max_pages": "ten"})
    with pytest.raises(SourceError, match=r"http source: key 'headers' must be a table of text"):
        open_source("http", {"url": "http://127.0.0.1/x", "headers": "Bearer x"})


def test_table_and_query_together_are_refused() -> None:
    config = {"dsn": "postgresql://u@h/db", "table": "t", "query": "SELECT 1"}
    with pytest.raises(SourceError, match=r"give exactly one of 'table' or 'query'"):
        open_source("postgres", config)


def test_bad_table_name_is_refused() -> None:
    with pytest.raises(SourceError, match=r"key 'table' must be 'table' or 'schema.table'"):
        open_source("postgres", {"dsn": "postgresql://u@h/db", "table": "a.b.c"})


def test_dsn_errors_never_quote_the_dsn() -> None:
    with pytest.raises(SourceError) as caught:
        open_source("postgres", {"dsn": "mysql://u:pw-123@h/db", "table": "t"})
    assert "pw-123" not in str(caught.value)
    assert "key 'dsn' must start with postgresql:// or postgres://" in str(caught.value)


def test_http_url_must_be_http() -> None:
    with pytest.raises(SourceError, match=r"key 'url' must be an http:// or https:// URL"):
        open_source("http", {"url": "file:///etc/passwd"})


def test_config_must_be_a_table() -> None:
    with pytest.raises(SourceError, match=r"csv source: the \[source\] table is missing"):
        open_source("csv", None)  # type: ignore[arg-type]


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_files_refuse_a_cursor(kind: str, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=rf"{kind} source: key 'cursor' is not supported: a file"):
        open_source(kind, {"path": str(tmp_path / "a"), "cursor": "cap_nhat_luc"})
