"""The worker: due connectors claimed through PostgreSQL only, so that workers running at
once run each due connector exactly once; a dead worker's RUNNING run taken over; schedules
advancing; SIGTERM stopping a ``hub worker`` process cleanly; ``hub serve``'s in-process
worker. Real CSV sources, the real engine, real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from croniter import croniter
from sqlalchemy import text

from catalog.seed import seed_baseline
from connectors.spec import parse_connector
from connectors.store import add_connector
from hub.app import create_app
from hub.db import Database, make_database
from hub.embedded_postgres import to_libpq_url
from hub.runtime import Hub
from hub.settings import Settings
from hub.worker import Worker, wake_workers
from tests.request_ids import checked_client

HUB = str(Path(sys.executable).with_name("hub"))
HEADER = "mst,ten,loai_hinh,ngay_cap,tinh_trang\n"
MAPPING = (
    '[mapping]\ntax_code = "mst"\nname = "ten"\nlegal_form = "loai_hinh"\n'
    'registered_on = "ngay_cap"\nstatus = "tinh_trang"\n'
)


def _csv(path: Path, rows: int, start: int = 1) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER)
        for n in range(start, start + rows):
            out.write(f"{n:010d},Công ty số {n},CO_PHAN,2020-01-02,DANG_HOAT_DONG\n")
    return path


async def _add(
    hub: Hub, name: str, csv_path: Path, schedule: str | None = "every 1h", wake: bool = False
) -> None:
    toml = f'name = "{name}"\ndataset = "business"\nkind = "csv"\n'
    if schedule:
        toml += f'schedule = "{schedule}"\n'
    toml += f'[source]\npath = "{csv_path}"\n' + MAPPING
    spec = parse_connector(toml, fmt="toml", origin="test.toml")
    async with hub.db.sessions.begin() as session:
        await add_connector(session, hub.keys.sealing_keys(), spec, actor=None, environ={})
        if wake:
            await wake_workers(session, name)


async def _rows(hub: Hub, sql: str, **params: Any) -> list[Any]:
    async with hub.db.sessions() as session:
        return list((await session.execute(text(sql), params)).all())


def _worker(db: Database, hub: Hub, **options: Any) -> Worker:
    return Worker(db.sessions, hub.keys.sealing_keys, {}, **options)


@pytest.fixture
async def second_database(database_url: str) -> AsyncIterator[Database]:
    """Another connection pool on the same database: a second worker's own."""
    db = make_database(database_url, pool_size=4)
    try:
        yield db
    finally:
        await db.close()


async def test_two_workers_at_once_run_each_due_connector_exactly_once(
    hub: Hub, seeded: None, second_database: Database, tmp_path: Path
) -> None:
    names = [f"due_{n}" for n in range(4)]
    for n, name in enumerate(names):
        await _add(hub, name, _csv(tmp_path / f"{name}.csv", 50, start=n * 100 + 1))
    one = _worker(hub.db, hub, concurrency=8, name="worker:one")
    two = _worker(second_database, hub, concurrency=8, name="worker:two")
    started = await asyncio.gather(one.tick(), two.tick())
    await asyncio.gather(one.drain(), two.drain())
    assert sorted(started[0] + started[1]) == names
    # Polling again finds nothing due: the next times moved an hour on.
    assert await asyncio.gather(one.tick(), two.tick()) == [[], []]
    runs = await _rows(
        hub, "SELECT connector, status, trigger, worker FROM sync_runs ORDER BY connector"
    )
    assert [(r.connector, r.status, r.trigger) for r in runs] == [
        (name, "SUCCEEDED", "schedule") for name in names
    ]
    assert {r.worker for r in runs} <= {"worker:one", "worker:two"}
    count = await _rows(hub, "SELECT count(*) AS n FROM records WHERE dataset_code = 'business'")
    assert count[0].n == 200


async def test_two_worker_processes_run_a_due_connector_once(
    hub: Hub, seeded: None, tmp_path: Path, database_url: str
) -> None:
    await _add(hub, "shared_due", _csv(tmp_path / "shared.csv", 2000))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_KEYS_FILE=str(hub.settings.resolved_keys_file),
    )

    def once() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [HUB, "worker", "--once"], env=env, capture_output=True, text=True, timeout=120
        )

    results = await asyncio.gather(asyncio.to_thread(once), asyncio.to_thread(once))
    for result in results:
        assert result.returncode == 0, result.stderr
    outputs = sorted(r.stdout.strip() for r in results)
    assert outputs == ["connectors run: none due", "connectors run: shared_due"]
    runs = await _rows(hub, "SELECT status, read FROM sync_runs WHERE connector = 'shared_due'")
    assert [(r.status, r.read) for r in runs] == [("SUCCEEDED", 2000)]


async def test_a_stale_running_run_is_taken_over_and_run_again(
    hub: Hub, seeded: None, tmp_path: Path
) -> None:
    await _add(hub, "crashed", _csv(tmp_path / "c.csv", 10))
    async with hub.db.sessions.begin() as session:
        # The worker that ran it died: its run stays RUNNING, its heartbeat an hour old; the
        # connector's next time is far off, so only the takeover runs it now.
        await session.execute(
            text(
                "INSERT INTO sync_runs (connector, dataset_code, trigger, status, started_at, "
                "heartbeat_at, worker) VALUES ('crashed', 'business', 'schedule', 'RUNNING', "
                "now() - interval '2 hours', now() - interval '1 hour', 'worker:dead')"
            )
        )
        await session.execute(text("UPDATE connectors SET next_run_at = now() + interval '1 day'"))
    worker = _worker(hub.db, hub, stale_seconds=60, name="worker:heir")
    assert await worker.tick() == ["crashed"]
    await worker.drain()
    runs = await _rows(
        hub,
        "SELECT status, error, worker, read FROM sync_runs WHERE connector = 'crashed' ORDER BY id",
    )
    assert [(r.status, r.worker) for r in runs] == [
        ("FAILED", "worker:dead"),
        ("SUCCEEDED", "worker:heir"),
    ]
    assert runs[0].error.startswith("interrupted: no heartbeat for 60s")
    assert runs[1].read == 10
    # Without a schedule's own due time it is not run again: next time is the schedule's.
    [row] = await _rows(
        hub, "SELECT next_run_at > now() + interval '50 minutes' AS later FROM connectors"
    )
    assert row.later


async def test_a_slow_run_holding_its_lock_is_not_taken_over(
    hub: Hub, seeded: None, tmp_path: Path, database_url: str
) -> None:
    await _add(hub, "slow", _csv(tmp_path / "s.csv", 10))
    async with hub.db.sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO sync_runs (connector, dataset_code, trigger, status, "
                "heartbeat_at, worker) VALUES ('slow', 'business', 'manual', 'RUNNING', "
                "now() - interval '1 hour', 'worker:alive')"
            )
        )
        await session.execute(text("UPDATE connectors SET next_run_at = NULL"))
    alive = await asyncpg.connect(to_libpq_url(database_url))
    try:  # the live run's connection holds the connector's lock, however old its heartbeat
        await alive.execute("SELECT pg_advisory_lock(hashtext('hub-connector'), hashtext('slow'))")
        worker = _worker(hub.db, hub, stale_seconds=60)
        assert await worker.tick() == []
    finally:
        await alive.close()
    runs = await _rows(hub, "SELECT status FROM sync_runs WHERE connector = 'slow'")
    assert [r.status for r in runs] == ["RUNNING"]


async def test_a_dead_push_run_is_closed_and_a_live_one_left_alone(
    hub: Hub, seeded: None, database_url: str
) -> None:
    """A push has no connector lock; each push run holds its own on its connection. A
    RUNNING push run whose lock is free was left by a process that died."""
    async with hub.db.sessions.begin() as session:
        ids = (
            (
                await session.execute(
                    text(
                        "INSERT INTO sync_runs (connector, dataset_code, trigger, status, "
                        "heartbeat_at) SELECT 'push:business', 'business', 'push', 'RUNNING', "
                        "now() - interval '1 hour' FROM generate_series(1, 2) RETURNING id"
                    )
                )
            )
            .scalars()
            .all()
        )
    dead, alive_run = sorted(ids)
    alive = await asyncpg.connect(to_libpq_url(database_url))
    try:  # the live push's connection holds its run's lock, however old its heartbeat
        await alive.execute("SELECT pg_advisory_lock(hashtext('hub-push-run'), $1::int)", alive_run)
        worker = _worker(hub.db, hub, stale_seconds=60, name="worker:heir")
        assert await worker.tick() == []  # nothing to run again: the owner pushes again
    finally:
        await alive.close()
    runs = await _rows(hub, "SELECT id, status, error FROM sync_runs ORDER BY id")
    by_id = {r.id: r for r in runs}
    assert by_id[dead].status == "FAILED"
    assert by_id[dead].error.startswith("interrupted: no heartbeat for 60s; closed by worker:heir")
    assert by_id[alive_run].status == "RUNNING"


async def test_a_push_run_holds_its_lock_while_it_runs(hub: Hub, seeded: None) -> None:
    """The lock a live push holds is the one the takeover tests: taken at the run's start,
    gone with its connection at the end."""
    from connectors.engine import ingest

    seen: list[bool] = []

    async def batches() -> AsyncIterator[list[Any]]:
        async with hub.db.sessions() as session:
            run_id = await session.scalar(
                text("SELECT max(id) FROM sync_runs WHERE connector = 'push:business'")
            )
            free = await session.scalar(
                text("SELECT pg_try_advisory_xact_lock(hashtext('hub-push-run'), :id)"),
                {"id": run_id},
            )
            seen.append(bool(free))
        for batch in ():  # no rows: the run only starts and ends
            yield batch

    outcome = await ingest(
        hub.db.sessions,
        hub.keys.sealing_keys(),
        "business",
        batches(),
        label="test",
        started_by="test",
        agency=None,
    )
    assert seen == [False]  # held by the running push
    async with hub.db.sessions() as session:
        free = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(hashtext('hub-push-run'), :id)"),
            {"id": outcome.run_id},
        )
    assert free


async def test_schedules_advance_from_the_claim(hub: Hub, seeded: None, tmp_path: Path) -> None:
    await _add(hub, "hourly", _csv(tmp_path / "h.csv", 3), "every 1h")
    await _add(hub, "nightly", _csv(tmp_path / "n.csv", 3, start=10), "0 2 * * *")
    await _add(hub, "manual", _csv(tmp_path / "m.csv", 3, start=20), None)
    [(before,)] = await _rows(hub, "SELECT now()")
    worker = _worker(hub.db, hub)
    assert sorted(await worker.tick()) == ["hourly", "nightly"]  # manual: never due by itself
    await worker.drain()
    [(after,)] = await _rows(hub, "SELECT now()")
    rows = {
        r.name: r.next_run_at for r in await _rows(hub, "SELECT name, next_run_at FROM connectors")
    }
    assert before + timedelta(hours=1) <= rows["hourly"] <= after + timedelta(hours=1)
    nightly: datetime = croniter("0 2 * * *", before.astimezone(UTC)).get_next(datetime)
    assert rows["nightly"] == nightly
    assert rows["manual"] is None
    assert await worker.tick() == []


async def test_sigterm_stops_a_worker_and_its_run_is_made_due_again(
    hub: Hub, seeded: None, tmp_path: Path, database_url: str
) -> None:
    await _add(hub, "big", _csv(tmp_path / "big.csv", 300_000), "every 1h")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        HUB_DATABASE_URL=database_url,
        HUB_DATA_DIR=str(tmp_path / "hub"),
        HUB_KEYS_FILE=str(hub.settings.resolved_keys_file),
        HUB_WORKER_POLL_SECONDS="0.2",
    )
    process = await asyncio.create_subprocess_exec(
        HUB, "worker", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        for _ in range(300):  # the run has committed at least one batch
            rows = await _rows(hub, "SELECT status, read FROM sync_runs WHERE connector = 'big'")
            if rows and rows[0].read > 0:
                break
            await asyncio.sleep(0.1)
        assert rows and rows[0].status == "RUNNING", rows
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
    runs = await _rows(hub, "SELECT status, error FROM sync_runs WHERE connector = 'big'")
    assert [r.status for r in runs] == ["FAILED"]
    # Cancelled by the stop: the engine or the worker marks it, whichever comes first.
    assert runs[0].error.startswith(("interrupted: worker worker:", "cancelled")), runs
    [due] = await _rows(hub, "SELECT next_run_at <= now() AS due FROM connectors")
    assert due.due  # the next worker runs it again at once


async def test_serve_runs_the_worker_in_process(
    database: Database, settings: Settings, tmp_path: Path
) -> None:
    async with database.sessions.begin() as session:
        await seed_baseline(session)
    in_process = settings.model_copy(update={"worker_in_process": True, "worker_poll_seconds": 0.1})
    from hub.keys import KeyStore

    hub = Hub(in_process, database, KeyStore.load_or_create(in_process.resolved_keys_file))
    await _add(hub, "served", _csv(tmp_path / "served.csv", 5))
    app = create_app(in_process, hub)
    async with app.router.lifespan_context(app):
        for _ in range(200):
            runs = await _rows(hub, "SELECT status FROM sync_runs WHERE connector = 'served'")
            if runs and runs[0].status != "RUNNING":
                break
            await asyncio.sleep(0.05)
    assert [r.status for r in runs] == ["SUCCEEDED"]


def test_the_worker_runs_in_process_by_default_only_on_the_embedded_database() -> None:
    assert Settings().runs_worker_in_process is True
    assert Settings(database_url="postgresql://h/db").runs_worker_in_process is False
    assert Settings(database_url="postgresql://h/db", worker_in_process=True).runs_worker_in_process
    assert Settings(worker_in_process=False).runs_worker_in_process is False


async def test_a_run_sync_cut_by_the_process_stopping_is_made_due_again(
    hub: Hub, seeded: None, tmp_path: Path, token: Any
) -> None:
    await _add(hub, "cut", _csv(tmp_path / "cut.csv", 300_000), None)
    app = create_app(hub.settings, hub)
    steward = token("STTTT", "steward")
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with checked_client(transport, "http://hub.test") as http:
            response = await http.post(
                "/graphql",
                json={"query": 'mutation { runSync(connector: "cut") { id status } }'},
                headers={"Authorization": f"Bearer {steward}"},
            )
        assert response.json()["data"]["runSync"]["status"] == "RUNNING"
    # The process stopped mid-run: the run is not left RUNNING, and a worker runs it again.
    runs = await _rows(hub, "SELECT status, trigger FROM sync_runs WHERE connector = 'cut'")
    assert [(r.status, r.trigger) for r in runs] == [("FAILED", "api")]
    [due] = await _rows(hub, "SELECT next_run_at <= now() AS due FROM connectors")
    assert due.due


async def test_a_listening_worker_runs_a_new_connector_without_waiting_for_its_poll(
    hub: Hub, seeded: None, tmp_path: Path
) -> None:
    worker = Worker(
        hub.db.sessions,
        hub.keys.sealing_keys,
        {},
        poll_seconds=60,
        listen_url=to_libpq_url(hub.db.url),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(worker.run(stop))
    try:
        await asyncio.sleep(1)  # its first poll found nothing; the next is a minute away
        await _add(hub, "woken", _csv(tmp_path / "w.csv", 5), wake=True)
        for _ in range(100):
            runs = await _rows(hub, "SELECT status FROM sync_runs WHERE connector = 'woken'")
            if runs and runs[0].status == "SUCCEEDED":
                break
            await asyncio.sleep(0.05)
        assert [r.status for r in runs] == ["SUCCEEDED"]
    finally:
        stop.set()
        await asyncio.wait_for(running, timeout=10)
