"""The ``hub`` command line. Each command builds settings, runs one coroutine, reports.

Expected failures print one line and exit non-zero; never a traceback.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from hub.keys import KeysFileError
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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


def _register() -> None:
    from hub.cli import audit, catalogue, clients, connectors, keys, search, serve, sync, worker
    from hub.cli import backup as backup_commands

    for module in (serve, catalogue, clients, audit, keys, connectors, worker, sync, search):
        for command in module.COMMANDS:
            main.add_command(command)
    for command in backup_commands.COMMANDS:
        main.add_command(command)


_register()

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
