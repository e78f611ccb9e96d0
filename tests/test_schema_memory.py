"""Schema rebuilds do not leak and do only the work a change needs (issue 7 item 15).

After 50 catalogue changes, each followed by the rebuild every hub process does, the
process's resident memory stays within 1.2× of a fresh process started on the same catalogue.
Both are measured in their own processes (the same probe, ``python -c``), so each starts from
the same imports; resident memory is read from ``/proc/self/statm`` after ``gc.collect()``
(without thawing frozen objects: what the hub leaves frozen must count).

A change rebuilds only the schema variants it touches, and a reload re-reads only the
datasets whose catalogue rows changed (the others keep their objects, so builds kept from
before share them).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette

from bench.catalogue_specs import wide_dataset
from catalog.datasets import create_dataset, publish_dataset, revise_dataset, submit_dataset
from catalog.principal import Principal
from catalog.specs import DatasetSpec
from hub.db import make_database
from hub.keys import KeyStore
from hub.runtime import Hub
from hub.services import Services
from hub.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CHANGES = 50  # publishes and revisions, alternating
LIMIT = 1.2
OWNER = Principal(subject="memory-owner", agency="STNMT", roles=frozenset({"owner"}))
STEWARD = Principal(subject="memory-steward", agency="STTTT", roles=frozenset({"steward"}))


def _spec(i: int, description: str = "first") -> DatasetSpec:
    return wide_dataset(i, "memory_set", "test", description)


def _rss_after_gc() -> int:
    gc.collect()
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def _change(services: Services, n: int) -> None:
    """Change ``n``: even ones publish a new dataset, odd ones revise the last published."""
    i = n // 2
    async with services.sessions.begin() as session:
        if n % 2 == 0:
            await create_dataset(session, OWNER, _spec(i))
            await submit_dataset(session, OWNER, _spec(i).code)
            await publish_dataset(session, STEWARD, _spec(i).code)
        else:
            await revise_dataset(session, OWNER, _spec(i, f"revision {n}"))
    await services.refresh()


async def probe(mode: str, url: str, data_dir: str, keys_file: str) -> None:
    """Run in a child process: start the hub's services on the database, make ``CHANGES``
    catalogue changes when ``mode`` is "churn", print resident bytes and typed datasets."""
    settings = Settings(
        database_url=url,
        data_dir=Path(data_dir),
        keys_file=Path(keys_file),
        public_url="http://hub.test",
    )
    database = make_database(url, pool_size=2)
    services = Services(Hub(settings, database, KeyStore.load_or_create(Path(keys_file))))
    await services.start()
    try:
        for n in range(CHANGES if mode == "churn" else 0):
            await _change(services, n)
        while services.collection_pending:  # noqa: ASYNC110 (a timer inside Services)
            await asyncio.sleep(0.02)
        report = {"rss": _rss_after_gc(), "typed": len(services.snapshot.typed())}
        print(json.dumps(report))
    finally:
        await services.stop()
        await database.close()


async def _run_probe(mode: str, settings: Settings, database_url: str) -> dict[str, int]:
    code = (
        "import asyncio, sys; from tests.test_schema_memory import probe; "
        "asyncio.run(probe(*sys.argv[1:]))"
    )
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        mode,
        database_url,
        str(settings.data_dir),
        str(settings.resolved_keys_file),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await child.communicate()
    assert child.returncode == 0, err.decode()[-3000:]
    report: dict[str, int] = json.loads(out.decode().strip().splitlines()[-1])
    return report


async def test_memory_after_50_catalogue_changes_stays_near_a_fresh_start(
    settings: Settings, database_url: str, keys: KeyStore, seeded: None
) -> None:
    churned = await _run_probe("churn", settings, database_url)
    fresh = await _run_probe("fresh", settings, database_url)
    assert churned["typed"] == fresh["typed"] == 5 + CHANGES // 2
    ratio = churned["rss"] / fresh["rss"]
    assert ratio <= LIMIT, (
        f"after {CHANGES} changes: {churned['rss'] / 1e6:.0f} MB resident, "
        f"a fresh start on the same catalogue: {fresh['rss'] / 1e6:.0f} MB ({ratio:.2f}×)"
    )


Gql = Callable[..., Awaitable[dict[str, Any]]]
DRAFT = """mutation($input: DatasetInput!) { createDataset(input: $input) { status } }"""
NAME_DESCRIPTION = """{ __type(name: "Business") { fields { name description } } }"""


def _services(app: Starlette) -> Services:
    services: Services = app.state.services
    return services


async def test_a_draft_rebuilds_no_schema(
    app: Starlette, gql: Gql, token: Callable[..., str]
) -> None:
    services = _services(app)
    before = (services.executor, services.public_executor, services.snapshot.catalog_version)
    draft = {
        "code": "road_draft",
        "title": "Bản nháp",
        "sector": "giao-thong",
        "keyField": "permit_no",
        "fields": [{"name": "permit_no", "type": "string", "required": True}],
    }
    created = await gql(DRAFT, token=token("STNMT", "owner"), input=draft)
    assert created == {"data": {"createDataset": {"status": "DRAFT"}}}
    await services.refresh()
    assert services.snapshot.catalog_version > before[2]
    assert services.executor is before[0] and services.public_executor is before[1]


async def test_a_non_public_change_keeps_the_anonymous_schema_and_other_datasets(
    app: Starlette, gql: Gql, token: Callable[..., str]
) -> None:
    services = _services(app)
    full, public = services.executor, services.public_executor
    business, citizen = (
        services.snapshot.datasets["business"],
        services.snapshot.datasets["citizen"],
    )
    deprecated = await gql(
        'mutation { deprecateDataset(code: "citizen", reason: "thay thế") { status } }',
        token=token("SYT", "owner"),
    )
    assert deprecated == {"data": {"deprecateDataset": {"status": "DEPRECATED"}}}
    await services.refresh()
    assert services.executor is not full and services.public_executor is public
    assert services.snapshot.datasets["business"] is business
    reloaded = services.snapshot.datasets["citizen"]
    assert reloaded is not citizen and reloaded.status == "DEPRECATED"


async def test_a_field_row_change_alone_is_reloaded_and_rebuilt(
    app: Starlette, gql: Gql, hub: Hub
) -> None:
    """Only a field row changes (not its dataset's row): the reload still sees it."""
    services = _services(app)
    business = services.snapshot.datasets["business"]
    async with hub.db.sessions.begin() as session:
        await session.execute(
            text(
                "UPDATE dataset_fields SET description = 'Tên đăng ký' "
                "WHERE dataset_code = 'business' AND name = 'name'"
            )
        )
    await services.refresh()
    reloaded = services.snapshot.datasets["business"]
    assert reloaded is not business
    assert {f.name: f.description for f in reloaded.fields}["name"] == "Tên đăng ký"
    fields = (await gql(NAME_DESCRIPTION))["data"]["__type"]["fields"]
    assert {f["name"]: f["description"] for f in fields}["name"] == "Tên đăng ký"
