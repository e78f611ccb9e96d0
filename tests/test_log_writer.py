"""Log lines are formatted and written off the serving thread: a log reader that stops
reading (a full pipe, a stuck journal) does not stall the code that logs, lines keep their
order, a burst leaves in a few writes, and what is queued is written when logging stops."""

from __future__ import annotations

import io
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from hub.logs import ACCESS_LOGGER, configure_logging, log_access


class StuckStream(io.StringIO):
    """stderr whose reader is away until ``release`` is set; counts writes."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.writes = 0

    def write(self, text: str) -> int:
        self.release.wait(10)
        self.writes += 1
        return super().write(text)


@pytest.fixture
def stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[StuckStream]:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    stuck = StuckStream()
    monkeypatch.setattr(sys, "stderr", stuck)
    configure_logging("INFO", "json")
    try:
        yield stuck
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
            stop = getattr(handler, "stop", None)
            if stop is not None:
                stuck.release.set()
                stop()
        for handler in before:
            root.addHandler(handler)
        root.setLevel(level)


def test_a_stuck_reader_does_not_stall_the_logging_thread(stream: StuckStream) -> None:
    log = logging.getLogger("hub.test")
    started = time.perf_counter()
    for n in range(2_000):
        log.info("line %d", n)
    assert time.perf_counter() - started < 1.0  # ten seconds if each waited for the reader
    assert stream.getvalue() == ""
    stream.release.set()
    for handler in logging.getLogger().handlers:
        getattr(handler, "stop", lambda: None)()  # as at exit: write what is queued
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [f"line {n}" for n in range(2_000)]
    assert stream.writes <= 10  # in batches, not a write per line


def test_exceptions_are_still_written_without_their_messages(stream: StuckStream) -> None:
    stream.release.set()
    try:
        raise ValueError("citizen 001234567890")
    except ValueError:
        logging.getLogger("hub.test").exception("failed")
    for handler in logging.getLogger().handlers:
        getattr(handler, "stop", lambda: None)()
    written = stream.getvalue()
    assert "ValueError" in written and "001234567890" not in written


ACCESS = {
    "method": "POST",
    "path": "/graphql",
    "status": 200,
    "duration_ms": 1.25,
    "operation_type": "query",
    "operation_name": None,
    "outcome": "ok",
    "client": "app-1",
    "agency": "SO-TNMT",
    "request_id": "r-1",
}


def test_an_access_line_handed_to_the_writer_reads_as_a_logged_one(stream: StuckStream) -> None:
    stream.release.set()
    log_access(ACCESS)  # the writer is the only destination: rendered and handed over
    logging.getLogger(ACCESS_LOGGER).info("request", extra=ACCESS)  # through a LogRecord
    for handler in logging.getLogger().handlers:
        getattr(handler, "stop", lambda: None)()
    direct, logged = (json.loads(line) for line in stream.getvalue().splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", direct["timestamp"])
    direct.pop("timestamp"), logged.pop("timestamp")
    expected = {"event": "request", "level": "info", "logger": ACCESS_LOGGER} | ACCESS
    assert direct == logged == expected


@pytest.mark.parametrize("where", ["", "hub"])  # the root, or a parent of hub.access
def test_an_access_line_goes_through_logging_when_another_handler_listens(
    stream: StuckStream, where: str
) -> None:
    seen: list[logging.LogRecord] = []

    class Listener(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    listener = Listener()
    logging.getLogger(where or None).addHandler(listener)
    try:
        log_access(ACCESS)
    finally:
        logging.getLogger(where or None).removeHandler(listener)
    assert [(r.name, r.getMessage(), r.request_id) for r in seen] == [  # type: ignore[attr-defined]
        (ACCESS_LOGGER, "request", "r-1")
    ]
