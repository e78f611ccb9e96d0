"""Settings shared by bench/load.py and bench/run.py: where the databases and scratch files are."""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
HUB_DIR = WORK / "hub"
VENV_BIN = ROOT / ".venv" / "bin"
HUB_CLI = VENV_BIN / "hub"

PG_HOST = os.environ.get("BENCH_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("BENCH_PG_PORT", "5432"))
PG_USER = os.environ.get("BENCH_PG_USER", "postgres")
HUB_DB = os.environ.get("BENCH_HUB_DB", "hub_bench")
PLAIN_DB = os.environ.get("BENCH_PLAIN_DB", "pg_bench")
PLAIN_SCHEMA = "bench_pg"

BUSINESSES = 200_000
PARCELS = 300_000
# The organisations' parcels are held by the businesses with the lowest tax codes, so that
# the first parents of Q3 (businesses ordered by tax code) each hold about 20 parcels.
HOLDERS = 10_000
CITIZENS = 200_000

# Q4: a reader of another agency reads citizens under a grant with a row filter. The grant
# (load.py requests it for the agency and has the owner, SYT, approve it) names these fields,
# three of them RESTRICTED (citizen_id, full_name, birth_date), on the citizens of one town.
CITIZEN_READER_AGENCY = "UBND-TX-TUSON"
CITIZEN_DISTRICT = "Thị xã Từ Sơn"
CITIZEN_GRANT_FIELDS = (
    "citizen_id",
    "full_name",
    "birth_date",
    "sex",
    "district",
    "commune",
)
CITIZEN_PURPOSE = "Giải quyết thủ tục hành chính cho công dân thường trú tại thị xã"
# PostGraphile's peer of that grant: a PostgreSQL role with SELECT on the same columns and a
# row-level security policy on the same district; server.mjs takes it on for requests that
# carry the header X-Bench-Role with this name.
PG_CITIZEN_ROLE = "bench_citizen_reader"


def dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def hub_env(**extra: str) -> dict[str, str]:
    """Environment for the hub CLI: the bench database, its own data dir and keys file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=dsn(HUB_DB),
        HUB_DATA_DIR=str(HUB_DIR),
        HUB_KEYS_FILE=str(HUB_DIR / "keys.json"),
        HUB_LOG_LEVEL="WARNING",
        # Tokens outlive a whole benchmark run (the default is 15 minutes).
        HUB_TOKEN_TTL="7200",  # noqa: S106 (a lifetime, not a secret)
        # The benchmark's clients send thousands of requests a second on purpose: the
        # per-client allowance (a burst of 200, then 100/s) is raised out of their way.
        HUB_RATE_LIMIT_CLIENT="100000/second",
        HUB_RATE_LIMIT_AGENCY="100000/second",
        HUB_RATE_LIMIT_ANONYMOUS="100000/second",
    )
    env.update(extra)
    return env


def reexec_in_venv() -> None:
    """``python bench/X.py`` works with any python: hop into the project's virtualenv."""
    try:
        import psutil  # noqa: F401

        import hub  # noqa: F401
    except ImportError:
        venv_python = VENV_BIN / "python"
        in_venv = Path(sys.prefix).resolve() == VENV_BIN.parent.resolve()
        if venv_python.exists() and not in_venv:
            os.execv(str(venv_python), [str(venv_python), *sys.argv])  # noqa: S606
        raise
