"""``hub backup FILE`` and ``hub restore FILE``: an encrypted backup of the hub database and
its restore into an empty one (see ``hub.backup``)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from hub.cli import HubContext, pass_hub, run
from hub.settings import Settings

if TYPE_CHECKING:
    from hub.backup.dump import BackupResult
    from hub.backup.restore import RestoreResult


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--overwrite",
    is_flag=True,
    help="Replace FILE if it exists (the old file stays until the new one is complete). "
    "Default: refuse.",
)
@pass_hub
def backup(ctx: HubContext, file: Path, overwrite: bool) -> None:
    """Write an encrypted, compressed backup of the hub database to FILE (mode 0600)."""
    started = time.monotonic()
    result = run(_backup(ctx.settings, file, overwrite))
    click.echo(
        f"backup written to {result.path} ({_size(result.file_bytes)}; archive "
        f"{_size(result.dump_bytes)}; backup key id {result.key_id}) in "
        f"{time.monotonic() - started:.1f}s"
    )


@click.command()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--force",
    is_flag=True,
    help="Restore into a database that is not empty: drop every schema in it (and the hub's "
    "event triggers) and restore in their place, in one transaction. Needs --confirm. "
    "Default: refuse a database that holds anything.",
)
@click.option(
    "--confirm",
    metavar="DATABASE",
    help="With --force: the name of the database whose contents are replaced (a guard "
    "against replacing the wrong one). Default: none.",
)
@pass_hub
def restore(ctx: HubContext, file: Path, force: bool, confirm: str | None) -> None:
    """Restore the backup FILE into an empty hub database; then migrate it to head."""
    if confirm is not None and not force:
        raise click.ClickException("--confirm goes with --force")
    started = time.monotonic()
    result = run(_restore(ctx.settings, file, force, confirm))
    skipped = (
        f"; left out (only a superuser may create them): {', '.join(result.skipped)}"
        if result.skipped
        else ""
    )
    replaced = "replaced the contents of" if result.replaced else "restored into"
    click.echo(
        f"{replaced} database {result.database} from {file} ({_size(result.dump_bytes)} "
        f"archive) in {time.monotonic() - started:.1f}s; migrations at revision "
        f"{result.revision}{skipped}"
    )


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count / 1000:.1f} kB"


def _backup_key(settings: Settings, purpose: str) -> bytes:
    from hub.keys import KeyStore

    path = settings.resolved_keys_file
    if not path.is_file():
        raise click.ClickException(
            f"keys file {path} does not exist: {purpose} (set HUB_KEYS_FILE to the hub's keys file)"
        )
    return KeyStore.load_or_create(path).backup_key


async def _backup(settings: Settings, file: Path, overwrite: bool) -> BackupResult:
    from hub.backup.dump import take_backup
    from hub.backup.sealed import BackupFileError
    from hub.backup.tools import BackupError
    from hub.db import resolve_database_url

    key = _backup_key(settings, "the backup key is kept there")
    try:
        url = await resolve_database_url(settings)
        return await take_backup(
            url,
            embedded=settings.database_url is None,
            backup_key=key,
            target=file,
            overwrite=overwrite,
        )
    except (BackupError, BackupFileError) as exc:
        raise click.ClickException(str(exc)) from None


async def _restore(
    settings: Settings, file: Path, force: bool, confirm: str | None
) -> RestoreResult:
    import asyncio

    from hub.backup.restore import restore_backup, verify_file
    from hub.backup.sealed import BackupFileError
    from hub.backup.tools import BackupError
    from hub.db import resolve_database_url

    key = _backup_key(settings, "a restore needs the keys file of the hub that took the backup")
    try:
        # Before the database is even reached (the embedded one would be created).
        size = await asyncio.to_thread(verify_file, file, key)
        url = await resolve_database_url(settings)
        return await restore_backup(
            url,
            embedded=settings.database_url is None,
            backup_key=key,
            source=file,
            force=force,
            confirm=confirm,
            verified_size=size,
        )
    except (BackupError, BackupFileError) as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = [backup, restore]

__all__ = ["COMMANDS"]
