"""PostgreSQL's own client tools (pg_dump, pg_restore, psql) for the hub's database.

The embedded server's tools are the binaries pgserver ships beside it, so versions always
match. For a configured ``HUB_DATABASE_URL`` the tools on PATH are used, and one older than
the server is refused before it runs (pg_dump refuses a newer server itself, with a message
that does not say what to do).

Connection details reach the tools through libpq's environment (``PGHOST``, ``PGPASSWORD``
…), never the command line, so no password shows in the process list; no message here
repeats the URL.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from hub.database_url import parse_database_url


class BackupError(Exception):
    """A backup or restore cannot go on; the message says why in one line and what to do."""


@dataclass(frozen=True, slots=True)
class PgTools:
    """Where the tools are and the libpq environment that connects them to the database."""

    bin_dir: Path | None  # None: the tools on PATH
    env: dict[str, str]
    database: str

    def path(self, tool: str) -> str:
        if self.bin_dir is not None:
            return str(self.bin_dir / tool)
        found = shutil.which(tool, path=self.env.get("PATH"))
        if found is None:
            raise BackupError(
                f"{tool} not found on PATH: install the PostgreSQL client tools (the same "
                "major version as the server, or newer)"
            )
        return found


def libpq_environment(url: str, base: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """``base`` without its PG* variables, plus those naming ``url``'s server, user,
    password and TLS mode; and the database name."""
    parsed = parse_database_url(url)
    env = {k: v for k, v in base.items() if not k.startswith("PG")}
    query = dict(parsed.query)
    host = query.get("host") or parsed.host
    values = {
        "PGHOST": host,
        "PGPORT": str(parsed.port) if parsed.port else None,
        "PGUSER": parsed.username,
        "PGPASSWORD": parsed.password if parsed.password else None,
        "PGDATABASE": parsed.database,
        "PGSSLMODE": _ssl_mode(query),
        "PGAPPNAME": "hub backup",
        "PGCONNECT_TIMEOUT": "10",
    }
    env.update({k: str(v) for k, v in values.items() if v})
    return env, parsed.database or ""


def _ssl_mode(query: Mapping[str, str | tuple[str, ...]]) -> str | None:
    mode = query.get("sslmode") or query.get("ssl")
    if isinstance(mode, tuple):
        mode = mode[0] if mode else None
    if mode in (None, ""):
        return None
    return {"true": "require", "false": "disable"}.get(str(mode).lower(), str(mode))


def embedded_bin_dir() -> Path:
    """The directory of the binaries pgserver runs the embedded server with."""
    import pgserver

    return Path(pgserver.__file__).parent / "pginstall" / "bin"


async def server_major(url: str) -> int:
    """The server's major version; BackupError when it cannot be reached."""
    from hub.embedded_postgres import to_libpq_url

    try:
        connection = await asyncpg.connect(to_libpq_url(url), timeout=10)
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise BackupError(f"database unreachable: {_first_line(exc)}") from None
    try:
        number = int(await connection.fetchval("SHOW server_version_num"))
    finally:
        await connection.close()
    return number // 10000


async def tool_major(tools: PgTools, tool: str) -> int:
    """The major version ``tool --version`` reports."""
    output = await run_text([tools.path(tool), "--version"], tools.env)
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", output)
    if found is None:
        raise BackupError(f"{tools.path(tool)} --version: unexpected answer {output.strip()!r}")
    return int(found.group(1))


async def checked_tools(url: str, embedded: bool, needed: tuple[str, ...]) -> PgTools:
    """Tools for the database at ``url``, each checked to be at least the server's version."""
    env, database = libpq_environment(url, os.environ)
    tools = PgTools(embedded_bin_dir() if embedded else None, env, database)
    server = await server_major(url)
    for tool in needed:
        major = await tool_major(tools, tool)
        if major < server:
            raise BackupError(
                f"{tool} at {tools.path(tool)} is PostgreSQL {major} but the server is "
                f"PostgreSQL {server}: put the version {server} (or newer) client tools first "
                "on PATH"
            )
    return tools


async def run_text(argv: list[str], env: Mapping[str, str]) -> str:
    """Run a short command; its standard output, or BackupError with its first error line."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            env=dict(env),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as exc:
        raise BackupError(f"{argv[0]}: cannot run it ({exc.strerror or exc})") from None
    out, err = await process.communicate()
    if process.returncode != 0:
        raise BackupError(f"{Path(argv[0]).name} failed: {first_error(err)}")
    return out.decode("utf-8", "replace")


def first_error(stderr: bytes) -> str:
    """The line of a tool's standard error worth showing: its first error, else its first."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    for line in lines:
        if "error:" in line.lower() or "fatal:" in line.lower():
            return line
    return lines[0] if lines else "no message"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0] or type(exc).__name__


async def read_bounded(stream: asyncio.StreamReader | None, limit: int = 64 * 1024) -> bytes:
    """Everything from ``stream`` (a tool's stderr), keeping at most ``limit`` bytes, so a
    chatty tool never blocks on a full pipe nor fills memory."""
    kept = bytearray()
    if stream is None:
        return b""
    while chunk := await stream.read(65536):
        if len(kept) < limit:
            kept += chunk[: limit - len(kept)]
    return bytes(kept)


__all__ = [
    "BackupError",
    "PgTools",
    "checked_tools",
    "embedded_bin_dir",
    "first_error",
    "libpq_environment",
    "read_bounded",
    "run_text",
    "server_major",
]
