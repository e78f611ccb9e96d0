"""With no HUB_DATABASE_URL, hub processes on one HUB_DATA_DIR share one embedded PostgreSQL:
two ``hub serve`` processes and CLI commands run side by side, and the data survives them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import httpx

from tests.live_server import free_port
from tests.request_ids import take_off_request_id

HUB = str(Path(sys.executable).parent / "hub")


def _env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_DATA_DIR"] = str(data_dir)
    return env


async def _cli(data_dir: Path, *args: str) -> str:
    process = await asyncio.create_subprocess_exec(
        HUB,
        *args,
        env=_env(data_dir),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def _serve(data_dir: Path, port: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        HUB,
        "serve",
        "--port",
        str(port),
        env=_env(data_dir),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    async with httpx.AsyncClient(event_hooks={"response": [take_off_request_id]}) as http:
        for _ in range(300):
            try:
                if (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                    return process
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError(f"hub serve on port {port} did not become ready")


async def _stop(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), timeout=30)
    except TimeoutError:
        process.kill()
        await process.wait()


COUNT = '{"query": "{ datasets { totalCount } }"}'


async def test_two_servers_and_cli_share_one_embedded_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "hub"
    ports = [free_port(), free_port()]
    first = await _serve(data_dir, ports[0])
    second = await _serve(data_dir, ports[1])
    try:
        await _cli(data_dir, "seed")
        created = json.loads(
            await _cli(
                data_dir,
                "clients",
                "add",
                "app",
                "--agency",
                "STNMT",
                "--roles",
                "reader",
                "--json",
            )
        )
        token = (
            await _cli(
                data_dir,
                "token",
                "--client-id",
                created["client_id"],
                "--client-secret",
                created["client_secret"],
            )
        ).strip()
        async with httpx.AsyncClient(event_hooks={"response": [take_off_request_id]}) as http:
            for port in ports:
                response = await http.post(
                    f"http://127.0.0.1:{port}/graphql",
                    content=COUNT,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Content-Type": "application/json",
                    },
                )
                assert response.json() == {"data": {"datasets": {"totalCount": 5}}}
        await _stop(first)
        async with httpx.AsyncClient(event_hooks={"response": [take_off_request_id]}) as http:
            still = await http.post(
                f"http://127.0.0.1:{ports[1]}/graphql",
                content=COUNT,
                headers={"Content-Type": "application/json"},
            )
        assert still.json() == {"data": {"datasets": {"totalCount": 2}}}
    finally:
        for process in (first, second):
            if process.returncode is None:
                await _stop(process)
    # Everything stopped; the data directory opens again with the data in it.
    again = await _serve(data_dir, ports[0])
    try:
        async with httpx.AsyncClient(event_hooks={"response": [take_off_request_id]}) as http:
            body = await http.post(
                f"http://127.0.0.1:{ports[0]}/graphql",
                content=COUNT,
                headers={"Content-Type": "application/json"},
            )
        assert body.json() == {"data": {"datasets": {"totalCount": 2}}}
    finally:
        await _stop(again)


def _postmaster_running(data_dir: Path) -> bool:
    """Whether the embedded server's postmaster (its pid is line 1 of postmaster.pid) lives."""
    pid_file = data_dir / "pg" / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_sigterm_stops_the_embedded_database_with_the_last_process(tmp_path: Path) -> None:
    # A service manager stops the hub with SIGTERM. uvicorn re-raises the signal after its
    # graceful shutdown; with the default action the process died there without its exit
    # handlers, and the embedded PostgreSQL it started stayed running after it.
    data_dir = tmp_path / "hub"
    process = await _serve(data_dir, free_port())
    assert _postmaster_running(data_dir)
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), timeout=30) == 0
    for _ in range(100):
        if not _postmaster_running(data_dir):
            break
        await asyncio.sleep(0.1)
    assert not _postmaster_running(data_dir)
