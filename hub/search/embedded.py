"""The embedded search server (``osmem-server``) used when no ``HUB_OPENSEARCH_URL`` is set.

The server keeps its indices in memory only, so a hub that starts it reindexes from
PostgreSQL (DESIGN.md §8). Processes on one ``HUB_DATA_DIR`` share one server, as they share
the embedded PostgreSQL: the first starts it and records its address in
``$HUB_DATA_DIR/search.json``; later ones (a second ``hub serve``, ``hub worker``,
``hub search reindex``) join it while it answers. The process that started it stops it on
exit (SIGTERM included: ``hub serve`` turns it into a normal exit); the server also exits
by itself when that process dies (osmem's parent-pid watch), so none is left behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from hub.settings import Settings

log = logging.getLogger(__name__)

STATE_FILE = "search.json"
_PROBE_TIMEOUT_SECONDS = 2.0


@contextlib.contextmanager
def embedded_search(data_dir: Path) -> Iterator[str]:
    """The URL of the embedded server for ``data_dir``: a running one joined, or a new one
    started here and stopped when the block ends."""
    with _embedded(data_dir) as (url, _started):
        yield url


@contextlib.contextmanager
def search_configured(settings: Settings) -> Iterator[Settings]:
    """``settings`` with a search URL: HUB_OPENSEARCH_URL's, or the embedded server's
    (reindexing at start unless HUB_SEARCH_REINDEX_AT_START says otherwise)."""
    if settings.opensearch_url is not None:
        yield settings
        return
    with _embedded(settings.data_dir) as (url, started):
        # A server joined was filled by the process that started it (and is kept current by
        # every indexer on the database): only a new one is rebuilt.
        fresh = started and settings.reindexes_search_at_start
        yield settings.model_copy(update={"opensearch_url": url, "search_reindex_at_start": fresh})


@contextlib.contextmanager
def _embedded(data_dir: Path) -> Iterator[tuple[str, bool]]:
    """(URL, whether this process started the server)."""
    joined = _running(data_dir)
    if joined is not None:
        log.info("search: joining the embedded search server at %s", joined)
        yield joined, False
        return
    from osmem_server import OsmemServer

    # Japanese analysis is not used by the hub and costs start time and memory.
    server = OsmemServer.start(japanese=False)
    state = data_dir / STATE_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"url": server.url, "pid": os.getpid()}))
    log.info("search: embedded search server started at %s", server.url)
    try:
        yield server.url, True
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(state.read_text()).get("pid") == os.getpid():
                state.unlink()
        server.close()


def _running(data_dir: Path) -> str | None:
    """The URL recorded in the state file if its server answers."""
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
        url = str(state["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not url.startswith("http://127.0.0.1:"):
        return None  # only ever a local server of our own
    try:
        # The scheme and host are checked above: a local http server only.
        with urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT_SECONDS) as response:  # noqa: S310
            json.loads(response.read())
    except (OSError, ValueError):
        return None
    return url


__all__ = ["STATE_FILE", "embedded_search", "search_configured"]
