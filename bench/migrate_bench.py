"""Move the bench's hub database to a migration revision, down as well as up, so that code
from before a migration can be measured on the same data:

    python bench/migrate_bench.py 0007     # e.g. before the ICU text order (0008)
    python bench/migrate_bench.py head
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HUB_DB, dsn, reexec_in_venv

reexec_in_venv()

from alembic import command  # noqa: E402
from sqlalchemy import Connection  # noqa: E402

from hub.db import make_database  # noqa: E402
from hub.migrate import alembic_config  # noqa: E402


def _move(connection: Connection, revision: str) -> None:
    config = alembic_config(connection)
    current = connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    if revision != "head" and current is not None and str(current) > revision:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


async def main(revision: str) -> None:
    database = make_database(dsn(HUB_DB), pool_size=1)
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(_move, revision)
    finally:
        await database.close()
    print(f"{HUB_DB} at revision {revision}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python bench/migrate_bench.py REVISION|head")
    asyncio.run(main(sys.argv[1]))
