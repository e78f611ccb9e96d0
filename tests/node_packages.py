"""npm packages the tests run (the OpenID provider, the GraphQL-over-HTTP audit): installed
with ``npm ci`` from their committed lock file on first use, once across test processes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from filelock import FileLock


def node_with(folder: Path, package: str) -> str:
    """The path of ``node``, after ``npm ci`` in ``folder`` if ``package`` is missing there."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(f"node and npm are needed to run {folder.name}")
    # Test processes (pytest-xdist workers) install it once, one at a time.
    with FileLock(folder / ".install.lock"):
        if not (folder / "node_modules" / package).is_dir():
            installed = subprocess.run(
                [npm, "ci", "--prefix", str(folder), "--no-audit", "--no-fund"],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if installed.returncode != 0:
                pytest.fail(f"npm ci --prefix {folder} failed:\n{installed.stderr[-4000:]}")
    return node


__all__ = ["node_with"]
