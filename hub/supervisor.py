"""Keeps ``hub serve --workers N`` at N processes: a worker that dies (SIGKILL, out of
memory) while the hub is not stopping is replaced, with a growing pause if replacements keep
dying at once. Each worker listens on its own ``SO_REUSEPORT`` socket, so the kernel spreads
connections evenly over them (a shared accept socket would not).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import signal
import time
from collections.abc import Callable, Sequence
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger(__name__)

#: A worker that lives shorter than this counts as a failed start.
QUICK_DEATH_SECONDS = 5.0
MAX_PAUSE_SECONDS = 30.0


class Supervisor:
    def __init__(
        self,
        target: Callable[..., None],
        args: Sequence[Any],
        count: int,
        on_exit: Callable[[int], None] = lambda _pid: None,
    ) -> None:
        self.target = target
        self.args = tuple(args)
        self.count = count
        self.on_exit = on_exit  # e.g. prometheus_client's mark_process_dead
        self.stopping = False
        self.replaced = 0
        self._context = multiprocessing.get_context("spawn")
        self._started_at: dict[int, float] = {}
        self._quick_deaths = 0

    def _start(self) -> BaseProcess:
        process = self._context.Process(target=self.target, args=self.args, daemon=False)
        process.start()
        assert process.pid is not None
        self._started_at[process.pid] = time.monotonic()
        return process

    def stop(self, processes: Sequence[BaseProcess]) -> None:
        self.stopping = True
        for process in processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: each worker drains its requests, then exits

    def run(self) -> None:
        processes = [self._start() for _ in range(self.count)]

        def on_term(_signum: int, _frame: object) -> None:
            self.stop(processes)

        def on_int(_signum: int, _frame: object) -> None:
            # Ctrl-C reaches every worker of the process group; they stop by themselves.
            self.stopping = True

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_int)
        while processes:
            multiprocessing.connection.wait([p.sentinel for p in processes], timeout=1.0)
            for process in [p for p in processes if not p.is_alive()]:
                process.join()
                pid = process.pid or 0
                try:
                    self.on_exit(pid)
                except Exception:  # bookkeeping must never take the other workers down
                    log.exception("cleaning up after hub worker %s failed", pid)
                lived = time.monotonic() - self._started_at.pop(pid, 0.0)
                if not self.stopping:
                    pause = self._pause_after(lived)
                    log.warning(
                        "hub worker %s exited with code %s after %.0f s; replacing it in %.1f s",
                        pid,
                        process.exitcode,
                        lived,
                        pause,
                    )
                    time.sleep(pause)
                if self.stopping:  # asked to stop meanwhile: no replacement
                    processes.remove(process)
                    continue
                processes[processes.index(process)] = self._start()
                self.replaced += 1

    def _pause_after(self, lived: float) -> float:
        """None after a worker that ran a while; growing while replacements die at once."""
        self._quick_deaths = self._quick_deaths + 1 if lived < QUICK_DEATH_SECONDS else 0
        if not self._quick_deaths:
            return 0.0
        return float(min(MAX_PAUSE_SECONDS, 0.5 * 2**self._quick_deaths))


__all__ = ["Supervisor"]
