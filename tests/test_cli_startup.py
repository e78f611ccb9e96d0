"""The command line starts quickly: ``hub --help`` imports no command module and none of the
heavy libraries (the database drivers, Alembic, the web stack), and each command's module is
imported only when it runs. The listed short help is the start of each command's own."""

from __future__ import annotations

import json
import subprocess
import sys

import click

from hub.cli import LAZY_COMMANDS, main

HEAVY = ("sqlalchemy", "alembic", "asyncpg", "strawberry", "starlette", "opensearchpy", "hub.cli.")


def imported_by(args: list[str]) -> list[str]:
    script = (
        "import json, sys\n"
        "from hub.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modules


def test_help_imports_nothing_heavy() -> None:
    loaded = imported_by(["--help"])
    assert [m for m in loaded if m.startswith(HEAVY)] == []


def test_a_command_imports_only_its_own_module() -> None:
    loaded = imported_by(["keys", "--help"])
    assert "hub.cli.keys" in loaded
    assert [m for m in loaded if m.startswith("hub.cli.") and m != "hub.cli.keys"] == []


def test_the_listed_help_is_each_commands_own() -> None:
    ctx = click.Context(main)
    for name, (_module, short) in LAZY_COMMANDS.items():
        command = main.get_command(ctx, name)
        assert command is not None, name
        own = (command.help or "").split("\n")[0]
        assert own.startswith(short), (name, own, short)
