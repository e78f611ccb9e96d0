"""The README documents every command of ``hub`` and every ``HUB_`` setting, as datasette
checks its settings against its documentation."""

from __future__ import annotations

from pathlib import Path

import click

from hub.cli import main
from hub.settings import Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def _commands(group: click.Group, prefix: str = "hub") -> list[str]:
    """``hub seed``, ``hub db upgrade``…: every leaf command, with its groups (the top level
    loads its commands lazily, so they are asked for by name)."""
    names = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            names.extend(_commands(command, f"{prefix} {name}"))
        else:
            names.append(f"{prefix} {name}")
    return names


def _readme() -> str:
    assert README.is_file(), f"{README} is missing; it must document commands and settings"
    return README.read_text(encoding="utf-8")


def test_readme_mentions_every_command() -> None:
    commands = _commands(main)
    assert {"hub serve", "hub seed", "hub db upgrade", "hub audit verify"} <= set(commands)
    text = _readme()
    assert [c for c in commands if c not in text] == []


def test_readme_mentions_every_setting() -> None:
    settings = ["HUB_" + name.upper() for name in Settings.model_fields]
    # Variables the command line reads itself, such as HUB_SETTINGS_FILE for --settings.
    settings += [p.envvar for p in main.params if isinstance(p.envvar, str)]
    assert {"HUB_DATABASE_URL", "HUB_SETTINGS_FILE"} <= set(settings)
    text = _readme()
    assert [s for s in settings if s not in text] == []
