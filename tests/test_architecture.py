"""Dependencies point inwards (DESIGN.md §2): ``catalog/`` decides and knows nothing of the
application, the schema, the connectors or the web and search libraries, and it never reads
the environment (settings are built once by ``hub`` and passed down)."""

from __future__ import annotations

import ast
from pathlib import Path

import catalog

CATALOG = Path(catalog.__file__).parent
FORBIDDEN_PACKAGES = frozenset(
    {"hub", "schema", "connectors", "starlette", "strawberry", "opensearchpy", "httpx"}
)
ENVIRONMENT_NAMES = frozenset({"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"})


def _modules() -> list[Path]:
    return sorted(CATALOG.rglob("*.py"))


def _imported(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """Every module name the source imports, relative imports resolved, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            found.append((node.lineno, name))
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Name) and node.func.id == "__import__")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def forbidden_imports(source: str, package: str = "catalog") -> list[str]:
    tree = ast.parse(source)
    return [
        f"line {line}: imports {name}"
        for line, name in _imported(tree, package)
        if name.split(".")[0] in FORBIDDEN_PACKAGES or not name
    ]


def environment_reads(source: str) -> list[str]:
    problems = []
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT_NAMES
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ):
            problems.append(f"line {node.lineno}: os.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            problems.extend(
                f"line {node.lineno}: from os import {alias.name}"
                for alias in node.names
                if alias.name in ENVIRONMENT_NAMES
            )
    return problems


def test_catalog_has_modules_to_check() -> None:
    names = {path.stem for path in _modules()}
    assert {"datasets", "policy", "errors", "fields"} <= names


def test_checks_catch_what_they_guard_against() -> None:
    # Without this, a checker that finds nothing would pass the real tests vacuously.
    source = (
        "import os\nimport httpx\nfrom hub.settings import Settings\nfrom ..schema import x\n"
        "from starlette.requests import Request\nurl = os.environ['HUB_X']\n"
        "from os import getenv\nimport importlib\nimportlib.import_module('strawberry')\n"
    )
    assert forbidden_imports(source) == [
        "line 2: imports httpx",
        "line 3: imports hub.settings",
        "line 4: imports schema",
        "line 5: imports starlette.requests",
        "line 9: imports strawberry",
    ]
    assert sorted(environment_reads(source)) == [
        "line 6: os.environ",
        "line 7: from os import getenv",
    ]


def test_catalog_imports_no_outer_layer_or_web_library() -> None:
    problems = [
        f"{path.relative_to(CATALOG.parent)} {problem}"
        for path in _modules()
        for problem in forbidden_imports(path.read_text(encoding="utf-8"))
    ]
    assert problems == []


def test_catalog_never_reads_the_environment() -> None:
    problems = [
        f"{path.relative_to(CATALOG.parent)} {problem}"
        for path in _modules()
        for problem in environment_reads(path.read_text(encoding="utf-8"))
    ]
    assert problems == []


def test_connectors_import_only_the_domain() -> None:
    """DESIGN.md §2: ``connectors/`` may import ``catalog``, never the schema or the app."""
    connectors = CATALOG.parent / "connectors"
    problems = [
        f"{path.relative_to(CATALOG.parent)} line {line}: imports {name}"
        for path in sorted(connectors.rglob("*.py"))
        for line, name in _imported(
            ast.parse(path.read_text(encoding="utf-8")),
            ".".join(path.relative_to(CATALOG.parent).with_suffix("").parts),
        )
        if name.split(".")[0] in {"hub", "schema"}
    ]
    assert problems == []
