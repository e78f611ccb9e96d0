"""Put 1,000 grants over 100 more agencies in force on the bench database, or take them out.

    python bench/scale_grants.py add        # 100 agencies SCALE001..SCALE100, 10 grants each
    python bench/scale_grants.py revoke     # revoke them again (the rows stay, as revoked)

Then `python bench/run.py` measures Q1–Q3 with them in force; the benchmark's own reader
(agency STNMT) holds none of them, as a province's other agencies would. Each agency requests
two grants on each of the five core datasets through the hub's own grant workflow
(``catalog.grants.request_grant``), with a field list and, for most, a district row filter;
the owner agency approves each (``decide_grant``). Needs `python bench/load.py` first.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import HUB_DB, dsn, reexec_in_venv

reexec_in_venv()

from sqlalchemy import select  # noqa: E402

from catalog.agencies import upsert_agencies  # noqa: E402
from catalog.grants import GrantRequest, decide_grant, request_grant, revoke_grant  # noqa: E402
from catalog.models import Dataset, Grant  # noqa: E402
from catalog.principal import Principal  # noqa: E402
from catalog.specs import AgencySpec  # noqa: E402
from hub.db import make_database  # noqa: E402
from hub.embedded_postgres import to_asyncpg_url  # noqa: E402

AGENCIES = 100
GRANTS_PER_DATASET = 2
PREFIX = "SCALE"
DISTRICTS = [
    "Huyện Gia Bình",
    "Huyện Lương Tài",
    "Huyện Quế Võ",
    "Huyện Thuận Thành",
    "Huyện Tiên Du",
    "Huyện Yên Phong",
    "Thành phố Bắc Ninh",
    "Thị xã Từ Sơn",
]


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _principal(agency: str, role: str) -> Principal:
    return Principal(subject=f"bench-{agency.lower()}", agency=agency, roles=frozenset({role}))


async def add() -> None:
    database = make_database(to_asyncpg_url(dsn(HUB_DB)))
    rng = random.Random(20261201)
    started = time.perf_counter()
    try:
        async with database.sessions.begin() as session:
            specs = [
                AgencySpec(f"{PREFIX}{n:03d}", f"Đơn vị thử tải {n}", "department")
                for n in range(1, AGENCIES + 1)
            ]
            await upsert_agencies(session, specs)
            datasets = list(
                (await session.scalars(select(Dataset).where(Dataset.status == "PUBLISHED"))).all()
            )
        made = 0
        for spec in specs:
            async with database.sessions.begin() as session:
                for dataset in datasets:
                    readable = [f.name for f in dataset.fields if f.sensitivity != "RESTRICTED"]
                    filterable = {f.name for f in dataset.fields if f.filterable}
                    for _ in range(GRANTS_PER_DATASET):
                        fields = rng.sample(readable, k=min(len(readable), rng.randint(2, 6)))
                        row_filter = (
                            {"district": rng.choice(DISTRICTS)}
                            if "district" in filterable and rng.random() < 0.8
                            else None
                        )
                        grant = await request_grant(
                            session,
                            _principal(spec.code, "reader"),
                            GrantRequest(
                                dataset.code,
                                fields,
                                "Đối soát dữ liệu (thử tải)",
                                row_filter=row_filter,
                            ),
                        )
                        await decide_grant(
                            session, _principal(dataset.owner_code, "owner"), str(grant.id), True
                        )
                        made += 1
            if made % 200 == 0:
                say(f"{made:,} grants approved")
    finally:
        await database.close()
    say(
        f"{made:,} grants over {AGENCIES} agencies in force ({time.perf_counter() - started:.0f} s)"
    )


async def revoke() -> None:
    database = make_database(to_asyncpg_url(dsn(HUB_DB)))
    try:
        async with database.sessions.begin() as session:
            rows = (
                await session.execute(
                    select(Grant.id, Dataset.owner_code)
                    .join(Dataset, Dataset.code == Grant.dataset_code)
                    .where(Grant.grantee_code.like(f"{PREFIX}%"), Grant.status == "APPROVED")
                )
            ).all()
            for grant_id, owner in rows:
                await revoke_grant(
                    session, _principal(owner, "owner"), str(grant_id), "benchmark done"
                )
    finally:
        await database.close()
    say(f"{len(rows):,} grants revoked")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["add", "revoke"])
    args = parser.parse_args()
    asyncio.run(add() if args.action == "add" else revoke())


if __name__ == "__main__":
    main()
