"""``hub keys rotate``: new field-encryption and signing keys, stored values re-encrypted."""

from __future__ import annotations

import click
from rich.progress import Progress, SpinnerColumn, TextColumn
from sqlalchemy import text

from catalog.rotation import RotationReport, reencrypt_batch
from hub.cli import HubContext, pass_hub, run
from hub.settings import Settings


@click.group()
def keys() -> None:
    """Encryption and signing keys (the keys file, HUB_KEYS_FILE)."""


@keys.command()
@click.option(
    "--signing/--no-signing",
    default=True,
    show_default=True,
    help="Also start a new token-signing key (old ones stay published until their tokens expire).",
)
@pass_hub
def rotate(ctx: HubContext, signing: bool) -> None:
    """Make a new field key active and re-encrypt every stored value in batches."""
    report = run(_rotate(ctx.settings, signing))
    click.echo(
        f"re-encrypted {report.records} records and {report.versions} versions; "
        "old keys stay in the keys file so older backups still restore"
    )


async def _rotate(settings: Settings, signing: bool) -> RotationReport:
    from hub.runtime import hub_session

    report = RotationReport()
    async with hub_session(settings) as hub:
        hub.keys.add_field_key()
        if signing:
            hub.keys.add_signing_key()
        hub.keys.save()
        field_keys = hub.keys.sealing_keys()
        async with hub.db.sessions.begin() as session:
            # Running hubs reload the keys file before any value is under the new key.
            await session.execute(text("SELECT pg_notify('hub_changes', 'keys')"))
        with Progress(SpinnerColumn(), TextColumn("{task.description}")) as progress:
            task = progress.add_task("re-encrypting", total=None)
            for table in ("records", "record_versions"):
                while True:
                    async with hub.db.sessions.begin() as session:
                        done = await reencrypt_batch(session, field_keys, table)
                    if table == "records":
                        report.records += done
                    else:
                        report.versions += done
                    progress.update(
                        task,
                        description=f"re-encrypting: {report.records} records, "
                        f"{report.versions} versions",
                    )
                    if done == 0:
                        break
    return report


COMMANDS = [keys]
