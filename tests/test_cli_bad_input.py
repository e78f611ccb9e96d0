"""Bad command-line input and settings end in one line and a non-zero exit, never a
traceback: production database URLs in libpq form, malformed URLs, unusable listen hosts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.database_url import DatabaseUrlError, parse_database_url, sqlalchemy_url

HUB = str(Path(sys.executable).with_name("hub"))


def _hub(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    clean.update(HUB_DATA_DIR=str(tmp_path / "hub"), **env)
    return subprocess.run(
        [HUB, *args], env=clean, capture_output=True, text=True, timeout=60, check=False
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_sslmode_in_the_database_url_is_translated_for_sqlalchemy() -> None:
    url = sqlalchemy_url("postgresql://u:p@db.example:5432/hub?sslmode=require")
    assert url.drivername == "postgresql+asyncpg"
    assert dict(url.query) == {"ssl": "require"}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql://u:p@[::1", "port is not a number"),
        ("mysql://u:p@host/db", "expected a postgresql:// URL"),
        ("postgresql://u:p@host/db?sslmode=sometimes", "sslmode must be one of"),
        ("postgresql://u:p@host/db?sslrootcert=/ca.pem", "'sslrootcert' is not supported"),
        ("postgresql://u:p@host/db?frobnicate=1", "unknown connection parameter 'frobnicate'"),
    ],
)
def test_unusable_database_urls_are_refused_without_echoing_the_password(
    url: str, reason: str
) -> None:
    with pytest.raises(DatabaseUrlError) as refused:
        parse_database_url(url)
    assert reason in str(refused.value)
    assert ":p@" not in str(refused.value)


def test_sslmode_require_against_a_server_without_tls_is_one_line(tmp_path: Path) -> None:
    # The machine's PostgreSQL has no TLS: the URL is accepted and the refusal is the server's.
    result = _hub(
        tmp_path,
        "db",
        "upgrade",
        HUB_DATABASE_URL="postgresql://root@127.0.0.1:5432/postgres?sslmode=require",
    )
    _one_line(result)


def test_malformed_database_url_names_the_variable(tmp_path: Path) -> None:
    line = _one_line(_hub(tmp_path, "db", "upgrade", HUB_DATABASE_URL="postgresql://u:p@[::1"))
    assert "HUB_DATABASE_URL" in line and "port is not a number" in line
    assert "u:p" not in line


def test_serve_refuses_a_host_it_cannot_resolve(tmp_path: Path) -> None:
    result = _hub(tmp_path, "serve", "--host", "not a host", "--port", "8799")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--host" in result.stderr and "not a host" in result.stderr
