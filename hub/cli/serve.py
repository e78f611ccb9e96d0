"""``hub serve``: run the hub (embedded services by default), optionally with demo data."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import tempfile

import click
import uvicorn

from hub.cli import HubContext, pass_hub, run
from hub.logs import configure_logging
from hub.port_lock import PortTaken, hold_port
from hub.settings import Settings


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on; 127.0.0.1 keeps the hub on this machine, 0.0.0.0 "
    "opens it to the network.",
)
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(1, 65535),
    help="TCP port to listen on.",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Hub processes; each listens with SO_REUSEPORT so the kernel spreads connections evenly.",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Load the baseline catalogue, demo sector data and demo clients first.",
)
@pass_hub
def serve(ctx: HubContext, host: str, port: int, workers: int, demo: bool) -> None:
    """Run the hub: GraphQL at /graphql (default http://127.0.0.1:8000)."""
    settings = _served_at(ctx.settings, host, port)
    _check_address(host, port)
    try:
        port_lock = hold_port(port)  # held for this process's life: one hub per port
    except PortTaken as exc:
        raise click.ClickException(str(exc)) from None
    configure_logging(settings.log_level, settings.log_format)
    lines = run(_prepare(settings, demo))
    url = f"http://{host}:{port}"
    click.echo(f"GraphQL: {url}/graphql   health: {url}/healthz")
    for line in lines:
        click.echo(line)
    from hub.search.embedded import search_configured

    # No HUB_OPENSEARCH_URL: the embedded search server lives as long as this process.
    with port_lock, search_configured(settings) as configured:
        _serve_processes(configured, host, port, workers)


def _served_at(settings: Settings, host: str, port: int) -> Settings:
    """Unless HUB_PUBLIC_URL says otherwise, the embedded issuer names the address served."""
    if "public_url" in settings.model_fields_set:
        return settings
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    shown = f"[{shown}]" if ":" in shown else shown
    return settings.model_copy(update={"public_url": f"http://{shown}:{port}"})


def _serve_processes(settings: Settings, host: str, port: int, workers: int) -> None:
    if workers == 1:
        _serve_worker(settings, host, port)
        return
    from prometheus_client.multiprocess import mark_process_dead

    from hub.embedded_postgres import forget_dead_holders
    from hub.metrics import MULTIPROC_ENV
    from hub.supervisor import Supervisor

    def forget(pid: int) -> None:
        """A dead worker's gauges and its hold on the embedded PostgreSQL go with it."""
        mark_process_dead(pid)
        if settings.database_url is None:
            forget_dead_holders(settings.data_dir, pid)

    # Each worker writes its metrics here; /metrics in any of them adds them all up.
    with tempfile.TemporaryDirectory(prefix="hub-metrics-") as metrics_dir:
        os.environ[MULTIPROC_ENV] = metrics_dir
        Supervisor(_serve_worker, (settings, host, port), workers, forget).run()


def _check_address(host: str, port: int) -> None:
    """Fail before any work, with one line, when the hub could not listen there."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise click.BadParameter(
            f"{host!r} is neither an IP address nor a host name this machine resolves",
            param_hint="--host",
        ) from None
    family, _type, _proto, _name, address = infos[0]
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        probe.bind(address)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    finally:
        probe.close()


async def _prepare(settings: Settings, demo: bool) -> list[str]:
    from hub.runtime import hub_session

    async with hub_session(settings, migrate=True) as hub:
        if not demo:
            return []
        from hub.demo.load import load_demo

        return await load_demo(hub)


def _serve_worker(settings: Settings, host: str, port: int) -> None:
    from hub.app import create_app
    from hub.http_protocol import server_options

    # A spawned worker starts with no logging set up.
    configure_logging(settings.log_level, settings.log_format)

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must be IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted connections only then;
    # without it every keep-alive response waits ~40 ms for the client's delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    config = uvicorn.Config(
        create_app(settings),
        log_level=settings.log_level.lower(),
        log_config=None,  # hub.logs: tracebacks without messages, no query strings
        lifespan="on",
        **server_options(settings),  # uvloop, httptools with the header cap, no access log
    )
    # uvicorn re-raises the signal after its graceful shutdown; the stop was asked for. With
    # SIGTERM's default action the process would die right there, skipping the exit handlers
    # that let go of the embedded PostgreSQL (the last process stops it): exit normally.
    signal.signal(signal.SIGTERM, _exit_normally)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


def _exit_normally(_signum: int, _frame: object) -> None:
    sys.exit(0)


COMMANDS = [serve]
