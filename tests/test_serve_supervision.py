"""``hub serve --workers N`` as an operator runs it (a real process on the embedded defaults):
a worker killed with SIGKILL under load is replaced, metrics add up over the workers, a second
hub on the same port stops at start with a clear message, the embedded issuer advertises the
port served, and SIGTERM drains and stops everything — the embedded PostgreSQL included, even
after a worker died without letting go of it."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path
from typing import BinaryIO

import httpx
import psutil

from tests.live_server import free_port
from tests.test_embedded_processes import _env

HUB = str(Path(sys.executable).parent / "hub")
ME = {"query": "{ me { anonymous } }"}


def _said_file(data_dir: Path) -> BinaryIO:
    """Where the hub's stderr goes: what it says on its way out is the failure message."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return (data_dir / "serve.err").open("wb")


def _said(data_dir: Path) -> str:
    return (data_dir / "serve.err").read_text(errors="replace")[-4000:]


async def _start(data_dir: Path, port: int, workers: int) -> asyncio.subprocess.Process:
    with _said_file(data_dir) as said:
        process = await asyncio.create_subprocess_exec(
            HUB,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            # The load below comes from one address: its anonymous allowance is not the subject.
            env={**_env(data_dir), "HUB_RATE_LIMIT_ANONYMOUS": "off"},
            stdout=asyncio.subprocess.DEVNULL,
            stderr=said,
        )
    await _until_ready(port, process)
    return process


async def _until_ready(port: int, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(600):
            if process.returncode is not None:
                raise AssertionError(f"hub serve exited with {process.returncode}")
            try:
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError(f"hub serve on port {port} did not become ready")


def _workers(parent: int) -> set[int]:
    found = set()
    for child in psutil.Process(parent).children():
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                found.add(child.pid)
        except psutil.Error:  # a worker just died (a zombie until the parent reaps it)
            continue
    return found


def _postmaster(data_dir: Path) -> int | None:
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().split()[0])
    return pid if psutil.pid_exists(pid) else None


async def _load(port: int, stop: asyncio.Event, answers: list[int]) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as http:
        while not stop.is_set():
            try:
                answers.append((await http.post("/graphql", json=ME)).status_code)
            except httpx.TransportError:
                answers.append(0)  # the connection the killed worker held
            await asyncio.sleep(0.005)


async def test_a_killed_worker_is_replaced_and_sigterm_stops_everything(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    port = free_port()
    process = await _start(data_dir, port, workers=2)
    try:
        workers = _workers(process.pid)
        assert len(workers) == 2
        postmaster = _postmaster(data_dir)
        assert postmaster is not None

        stop = asyncio.Event()
        answers: list[int] = []
        load = asyncio.create_task(_load(port, stop, answers))
        await asyncio.sleep(0.5)
        victim = min(workers)
        os.kill(victim, signal.SIGKILL)
        for _ in range(300):
            now = _workers(process.pid)
            if len(now) == 2 and victim not in now:
                break
            await asyncio.sleep(0.1)
        assert len(now) == 2 and victim not in now, f"not replaced: {now}"
        await _until_ready(port, process)
        served_before = len(answers)
        await asyncio.sleep(1.0)
        stop.set()
        await load
        assert answers[served_before:] and set(answers[served_before:]) == {200}

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            # The embedded issuer names the port actually served.
            discovery = (await http.get("/.well-known/openid-configuration")).json()
            assert discovery["issuer"] == f"http://127.0.0.1:{port}"
            # Counters from every worker (the replaced one's too) add up on any scrape.
            scrape = (await http.get("/metrics")).text
        total = sum(
            float(m.group(1))
            for m in re.finditer(
                r'^hub_requests_total\{[^}]*route="/graphql"[^}]*\} (\S+)$', scrape, re.MULTILINE
            )
        )
        assert total >= answers.count(200)

        # A second hub on the same port stops at once, naming the first.
        second = await asyncio.create_subprocess_exec(
            HUB,
            "serve",
            "--port",
            str(port),
            env=_env(tmp_path / "other"),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(second.communicate(), 60)
        assert second.returncode != 0
        assert f"port {port} is already served by another hub (pid {process.pid})" in err.decode()
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 60)
    assert process.returncode == 0, _said(data_dir)
    for _ in range(100):
        if _postmaster(data_dir) is None:
            break
        await asyncio.sleep(0.1)
    assert _postmaster(data_dir) is None, "the embedded PostgreSQL outlived the hub"
