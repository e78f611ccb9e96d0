"""The ``hub`` command line. Each command builds settings, runs one coroutine, reports.

Expected failures print one line and exit non-zero; never a traceback.
"""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from hub.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


class HubContext:
    def __init__(self, settings_file: Path | None) -> None:
        self.settings_file = settings_file
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                self._settings = load_settings(self.settings_file)
            except SettingsError as exc:
                raise click.ClickException(f"bad settings: {exc}") from None
        return self._settings


pass_hub = click.make_pass_decorator(HubContext)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine, turning expected errors into a one-line exit."""
    from asyncpg import PostgresError
    from sqlalchemy.exc import DBAPIError

    from catalog.errors import HubError
    from hub.keys import KeysFileError

    try:
        return asyncio.run(coro)
    except HubError as exc:
        raise click.ClickException(exc.message) from None
    except (KeysFileError, SettingsError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        raise click.ClickException(f"{exc.strerror or exc}{where}") from None
    except (DBAPIError, PostgresError) as exc:
        # A HUB_DATABASE_URL naming no database or role, a refused password, a lost server.
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        raise click.ClickException(f"database: {reason}") from None


# Each command's module is imported only when that command runs (or its --help is asked):
# `hub --help` and a quick command start without importing SQLAlchemy, Alembic or the app.
# The short help here is the start of each command's own (tests/test_cli_startup.py).
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "audit": ("hub.cli.audit", "The hash-chained audit log."),
    "backup": ("hub.cli.backup", "Write an encrypted, compressed backup of the hub database"),
    "clients": ("hub.cli.clients", "Manage the clients of the embedded token issuer."),
    "connectors": (
        "hub.cli.connectors",
        "Manage connector definitions",
    ),
    "db": ("hub.cli.catalogue", "Database schema management."),
    "keys": ("hub.cli.keys", "Encryption and signing keys (the keys file, HUB_KEYS_FILE)."),
    "restore": ("hub.cli.backup", "Restore the backup FILE into an empty hub database"),
    "search": ("hub.cli.search", "Search index management"),
    "seed": ("hub.cli.catalogue", "Load the baseline catalogue"),
    "serve": ("hub.cli.serve", "Run the hub: GraphQL at /graphql"),
    "sync": ("hub.cli.sync", "Run connectors (sources synced into datasets)."),
    "token": ("hub.cli.clients", "Print an access token from the embedded issuer."),
    "worker": ("hub.cli.worker", "Run scheduled connectors"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(LAZY_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = LAZY_COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module = importlib.import_module(entry[0])
        return next(c for c in module.COMMANDS if c.name == cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, LAZY_COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--settings",
    "settings_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="HUB_SETTINGS_FILE",
    help="TOML settings file (keys as in HUB_* without the prefix). Default: none; "
    "environment variables override it.",
)
@click.version_option(package_name="provincial-data-hub")
@click.pass_context
def main(ctx: click.Context, settings_file: Path | None) -> None:
    """Provincial data-sharing hub: GraphQL over the shared-data catalogue."""
    ctx.obj = HubContext(settings_file)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
