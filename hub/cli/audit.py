"""``hub audit verify``, ``hub audit archive`` and ``hub audit checkpoints export``: recompute
the audit chain, name the first broken link, check the signed checkpoints of its head (the
table's and an owner's kept copy: how events deleted from the end are found) and the signed
archives of old months; move whole old months out of the database into a signed archive."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import click

from catalog.audit import ChainReport
from catalog.audit_archive import ArchiveCheck, ArchiveResult
from catalog.checkpoints import Checkpoint, CheckpointReport, SigningKeys, parse_kept
from catalog.errors import InvalidInput
from hub.cli import HubContext, pass_hub, run
from hub.keys import KeyStore
from hub.settings import Settings


@dataclass
class _Verified:
    chain: ChainReport
    checkpoints: CheckpointReport | None
    since: Checkpoint | None = None
    archives: list[ArchiveCheck] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@click.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command()
@click.option(
    "--checkpoints",
    "kept_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A kept copy of the checkpoints (JSON lines from `hub audit checkpoints export`) "
    "to verify against as well. Default: only the checkpoints table.",
)
@click.option(
    "--since-checkpoint",
    is_flag=True,
    help="Recompute only the events after the newest signed checkpoint whose signature and "
    "event hash check out (every checkpoint is still checked). Default: the whole chain.",
)
@click.option(
    "--archive",
    "archive_files",
    multiple=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A signed archive from `hub audit archive` to verify as well (repeatable): its "
    "signature, every event's hash and link, and that this database's chain continues from it.",
)
@pass_hub
def verify(
    ctx: HubContext,
    kept_file: Path | None,
    since_checkpoint: bool,
    archive_files: tuple[Path, ...],
) -> None:
    """Recompute every hash in the database (or those after the last good checkpoint), from
    the last archived event on, check the signed checkpoints and archive records, and any
    archive files given; exit 1 at a broken link, a bad signature or a chain cut short."""
    kept = _read_kept(kept_file) if kept_file is not None else []
    result = run(_verify(ctx.settings, kept, str(kept_file), since_checkpoint, list(archive_files)))
    if result.problems:
        for problem in result.problems:
            click.echo(problem, err=True)
        raise SystemExit(1)
    report = result.chain
    if not report.ok:
        click.echo(
            f"audit chain BROKEN at position {report.broken_at}: {report.reason} "
            f"({report.checked} events verified before it)",
            err=True,
        )
        raise SystemExit(1)
    checks = result.checkpoints
    assert checks is not None
    if not checks.ok:
        for problem in checks.problems:
            click.echo(problem, err=True)
        raise SystemExit(1)
    last = checks.last
    summary = (
        f"; {checks.checked} signed checkpoints verified, the last at position {last.pos} "
        f"({last.as_json()['at']})"
        if last is not None
        else "; no checkpoint yet"
    )
    if kept_file is not None:
        summary += f"; {checks.kept_checked} kept checkpoints in {kept_file} verified"
    if result.since is not None:
        summary = f" after {result.since.describe()}" + summary
    elif report.start > 1:
        summary = f" after the archived position {report.start - 1}" + summary
    for check in result.archives:
        assert check.manifest is not None
        summary += (
            f"; archive {check.file} verified ({check.rows} events, positions "
            f"{check.manifest.first_pos}–{check.manifest.last_pos})"
        )
    click.echo(f"audit chain intact: {report.checked} events verified{summary}")


@audit.command()
@click.option(
    "--before",
    required=True,
    metavar="YYYY-MM",
    help="Archive every stored month before this one (Vietnam time); at most the current "
    "month, whose events stay.",
)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_hub
def archive(ctx: HubContext, before: str, file: Path) -> None:
    """Write the events of every month before --before to FILE (gzip JSON lines and a
    signed manifest), verify FILE, then record it and drop those months' partitions. FILE
    must not exist; nothing is dropped unless FILE verifies."""
    from catalog.audit_archive import month_of

    try:
        month = month_of(before)
    except InvalidInput as exc:
        raise click.ClickException(exc.message) from None
    result = run(_archive(ctx.settings, month, file))
    click.echo(
        f"archived {result.rows} events of {', '.join(result.months)} (positions "
        f"{result.first_pos}–{result.last_pos}) to {file} ({result.bytes_written} bytes); "
        "their partitions are dropped. Keep the file: `hub audit verify --archive "
        f"{file}` checks it"
    )


@audit.group()
def checkpoints() -> None:
    """Signed checkpoints of the audit chain head."""


@checkpoints.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_hub
def export(ctx: HubContext, file: Path) -> None:
    """Sign the current chain head, then add every checkpoint not yet in FILE to it (JSON
    lines; FILE only grows, so a copy kept across exports outlives a rewritten table)."""
    known = _read_kept(file) if file.exists() else []
    fresh = run(_export(ctx.settings))
    seen = {c.jws for c in known}
    new = [c for c in fresh if c.jws not in seen]
    lines = [json.dumps(c.as_json(), ensure_ascii=False) + "\n" for c in [*known, *new]]
    tmp = file.with_name(file.name + ".tmp")
    # Written then renamed: an interrupted export never leaves a kept copy half-written.
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
    os.replace(tmp, file)
    click.echo(f"{len(new)} new checkpoints added to {file} ({len(lines)} in all)")


def signing_keys(store: KeyStore) -> SigningKeys:
    """The keys file's signing keys as the checkpoint signer needs them."""
    return SigningKeys(tuple(store.signing_keys), store.active_signing_kid)


def _read_kept(file: Path) -> list[Checkpoint]:
    try:
        with open(file, encoding="utf-8") as fh:
            return parse_kept(fh, str(file))
    except UnicodeDecodeError:
        raise click.ClickException(f"{file}: not UTF-8 JSON lines") from None
    except OSError as exc:
        raise click.ClickException(f"{file}: {exc.strerror or exc}") from None
    except InvalidInput as exc:  # names the file and line
        raise click.ClickException(exc.message) from None


async def _verify(
    settings: Settings,
    kept: list[Checkpoint],
    kept_from: str,
    since_checkpoint: bool,
    archive_files: list[Path],
) -> _Verified:
    from catalog.audit import ChainStart, verify_chain
    from catalog.audit_archive import order_archives, verify_archive, verify_archive_records
    from catalog.checkpoints import last_good_checkpoint, verify_checkpoints
    from hub.runtime import hub_session

    async with hub_session(settings) as hub:
        keys = signing_keys(hub.keys)
        archives: list[ArchiveCheck] = []
        for file in archive_files:
            async with hub.db.sessions() as session:  # rolled back: temporary tables go
                check = await verify_archive(session, keys, file)
            if not check.ok:
                return _Verified(
                    ChainReport(ok=True, checked=0), None, problems=[str(check.problem)]
                )
            archives.append(check)
        problem = order_archives(archives)
        if problem is not None:
            return _Verified(ChainReport(ok=True, checked=0), None, problems=[problem])
        async with hub.db.sessions() as session:
            since = await last_good_checkpoint(session, keys) if since_checkpoint else None
            start = ChainStart(since.pos, since.head) if since is not None else None
            report = await verify_chain(session, start, sessions=hub.db.sessions)
        if not report.ok:
            return _Verified(report, None, since)
        async with hub.db.sessions() as session:
            checks = await verify_checkpoints(session, keys, kept, kept_from)
            checks.problems[:0] = await verify_archive_records(session, keys)
        return _Verified(report, checks, since, archives)


async def _archive(settings: Settings, before: date, file: Path) -> ArchiveResult:
    from catalog.audit_archive import export_archive
    from hub.runtime import hub_session

    async with hub_session(settings) as hub:
        return await export_archive(hub.db.sessions, signing_keys(hub.keys), before, file)


async def _export(settings: Settings) -> list[Checkpoint]:
    from catalog.checkpoints import checkpoints_after, write_checkpoint
    from hub.runtime import hub_session

    async with hub_session(settings) as hub:
        async with hub.db.sessions.begin() as session:
            await write_checkpoint(session, signing_keys(hub.keys), min_interval=0)
        out: list[Checkpoint] = []
        async with hub.db.sessions() as session:
            while batch := await checkpoints_after(session, (out[-1].id or 0) if out else 0):
                out.extend(batch)
        return out


COMMANDS = [audit]
