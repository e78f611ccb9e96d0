"""Logging for hub processes: identifiers and error classes, never record values or secrets.

Exception messages are where values leak: a driver error quotes the statement's parameters,
``ValueError`` repeats the bad input, an HTTP client error the URL with its token. So a logged
traceback keeps its frames (file, line, function) and each exception's class, and drops every
message. The request id in the log line ties it to what the client was told. Access logs keep
the path but not the query string, which for GET /graphql carries the query and variables.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import orjson
from structlog.typing import EventDict

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


class RedactingFormatter(logging.Formatter):
    """Formats tracebacks as frames and exception classes only (see the module docstring)."""

    def formatException(self, ei: _ExcInfo | tuple[None, None, None]) -> str:
        _kind, exc, _tb = ei
        if exc is None:
            return ""
        lines: list[str] = []
        seen: set[int] = set()
        current: BaseException | None = exc
        chain: list[BaseException] = []
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            chain.append(current)
            current = current.__cause__ or current.__context__
        for position, error in enumerate(reversed(chain)):
            if position:
                lines.append("-- then --")
            lines.append("Traceback (most recent call last), messages withheld:")
            for frame in traceback.extract_tb(error.__traceback__):
                lines.append(f'  File "{frame.filename}", line {frame.lineno}, in {frame.name}')
            lines.append(f"{type(error).__module__}.{type(error).__qualname__}")
        return "\n".join(lines)


class QueryStringFilter(logging.Filter):
    """Drops query strings from uvicorn's access log lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def _redact_exception(_logger: Any, _name: str, event: EventDict) -> EventDict:
    """structlog processor: a record's exception as frames and classes, never messages."""
    exc_info = event.pop("exc_info", None)
    if exc_info:
        if exc_info is True:
            exc_info = sys.exc_info()
        event["exception"] = RedactingFormatter().formatException(exc_info)
    return event


#: The access line's logger and fields (``hub.access_log``).
ACCESS_LOGGER = "hub.access"
_access = logging.getLogger(ACCESS_LOGGER)
ACCESS_FIELDS = (
    "method",
    "path",
    "status",
    "duration_ms",
    "operation_type",
    "operation_name",
    "outcome",
    "client",
    "agency",
    "request_id",
)


class JsonLines(logging.Formatter):
    """One JSON object per line: structlog renders every record, except the access line —
    one per request — which is rendered directly with the same keys (structlog's chain cost
    the keyed lookup several per cent of its throughput)."""

    def __init__(self) -> None:
        super().__init__()
        self._general = _structlog_formatter()

    def format(self, record: logging.LogRecord) -> str:
        if record.name != ACCESS_LOGGER or record.exc_info:
            return self._general.format(record)
        fields = {name: getattr(record, name, None) for name in ACCESS_FIELDS}
        return render_access_line(record.getMessage(), fields, record.created)


def render_access_line(event: str, fields: dict[str, Any], created: float) -> str:
    """The access line's JSON: the keys structlog would give, rendered directly."""
    line: dict[str, Any] = {
        "event": event,
        "level": "info",
        "logger": ACCESS_LOGGER,
        "timestamp": _timestamp(created),
    }
    for name in ACCESS_FIELDS:
        line[name] = fields.get(name)
    return orjson.dumps(line).decode()


_second_stamp: tuple[int, str] = (-1, "")


def _timestamp(created: float) -> str:
    """ISO 8601 UTC with microseconds; the part up to the second is formatted once a second."""
    global _second_stamp
    second = int(created)
    if _second_stamp[0] != second:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _second_stamp = (second, text)
    return f"{_second_stamp[1]}.{int((created - second) * 1_000_000):06d}Z"


def log_access(fields: dict[str, Any]) -> None:
    """The access line of one request (``fields``: ``ACCESS_FIELDS``). Where the hub's own
    writer is the only place lines go, the line is rendered here and handed to it: one line
    per request, and a ``LogRecord`` with the handler chain cost twice the rendering. Anywhere
    else (another handler or filter attached, a text format) it is logged as any record."""
    handler = _sole_writer()
    if handler is None:
        _access.info("request", extra=fields)
    else:
        handler.append(render_access_line("request", fields, time.time()) + handler.terminator)


def _sole_writer() -> _BufferedLines | None:
    """The root's writer when a record of the access logger would reach it alone: no filter
    on that logger, no handler on it or an ancestor, none of them stopping propagation (the
    path ``Logger.callHandlers`` takes), and the root with that one handler."""
    if _access.filters:
        return None
    logger = _access
    while logger.parent is not None:
        if logger.handlers or not logger.propagate:
            return None
        logger = logger.parent
    if len(logger.handlers) != 1:
        return None
    handler = logger.handlers[0]
    if (
        type(handler) is not _BufferedLines
        or handler.filters
        or type(handler.formatter) is not JsonLines
        or handler.level > logging.INFO
    ):
        return None
    return handler


def json_formatter() -> logging.Formatter:
    """One JSON object per line: time, level, logger, event and the record's ``extra``
    fields (the access line's method, status, duration, client, request id…)."""
    return JsonLines()


def _structlog_formatter() -> logging.Formatter:
    import structlog

    shared: list[Any] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _redact_exception,
            structlog.processors.JSONRenderer(ensure_ascii=False),
        ],
    )


def configure_logging(level: str, fmt: str = "json") -> None:
    """Root handler with the redacting formatter (JSON lines, or ``text``); uvicorn's loggers
    go through it too. Lines are written by a thread of their own, off the event loop (see
    ``_BufferedLines``)."""
    handler = _BufferedLines()
    handler.setFormatter(json_formatter() if fmt == "json" else RedactingFormatter(FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
        if isinstance(existing, _BufferedLines):
            existing.stop()
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").addFilter(QueryStringFilter())


class _BufferedLines(logging.StreamHandler):
    """Formats each record where it is logged and appends the line to a buffer that a thread
    writes out ``FLUSH_SECONDS`` after the first line arrived (at once when it holds
    ``_BATCH`` lines or a record of WARNING or above). A write to stderr is a syscall per line
    and blocks while the reader (a pipe, the journal) is slow: written where it was logged, it
    stalled the event loop, and every request with it. The thread wakes once per batch, not
    per line, so it rarely contends for the interpreter with the serving thread (a thread
    woken per line cost more than the write it saved), and not at all while nothing is
    logged. While the reader is stuck, at most ``_MAX_PENDING`` lines wait; later
    ones are counted and the count is written once the reader is back. What is buffered is
    written at exit."""

    def __init__(self) -> None:
        super().__init__()
        self._pending: list[str] = []
        self._dropped = 0
        self._wake = threading.Event()  # something is pending
        self._urgent = threading.Event()  # write it now
        self._stopping = False
        self._writer = threading.Thread(target=self._run, name="hub-log-writer", daemon=True)
        self._writer.start()
        atexit.register(self.stop)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + self.terminator
        except Exception:
            self.handleError(record)
            return
        self._add(line, urgent=record.levelno >= logging.WARNING)

    def append(self, line: str) -> None:
        """A line rendered elsewhere (``log_access``), written as an INFO record's would be."""
        with self.lock or contextlib.nullcontext():
            self._add(line, urgent=False)

    def _add(self, line: str, *, urgent: bool) -> None:
        # Called under the handler's lock (Handler.handle, or ``append``).
        if len(self._pending) >= _MAX_PENDING:
            self._dropped += 1
            return
        self._pending.append(line)
        if len(self._pending) == 1:
            self._wake.set()
        if urgent or len(self._pending) >= _BATCH:
            self._urgent.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait()
            self._urgent.wait(FLUSH_SECONDS)  # let a batch gather, unless it must go now
            self._wake.clear()
            self._urgent.clear()
            self._write_pending()

    def _write_pending(self) -> None:
        with self.lock or contextlib.nullcontext():
            lines, self._pending = self._pending, []
            dropped, self._dropped = self._dropped, 0
        if dropped:
            lines.append(
                orjson.dumps(
                    {
                        "event": "log lines dropped while the log reader was stuck",
                        "level": "warning",
                        "logger": __name__,
                        "dropped": dropped,
                    }
                ).decode()
                + self.terminator
            )
        if not lines:
            return
        # A closed or broken stderr leaves nothing to report to: the lines go.
        with contextlib.suppress(Exception):
            self.stream.write("".join(lines))  # the GIL is released while it blocks
            self.stream.flush()

    def stop(self) -> None:
        """Write what is buffered and end the thread (at exit, or when logging is set up
        again)."""
        self._stopping = True
        self._wake.set()
        self._urgent.set()
        if self._writer.is_alive() and self._writer is not threading.current_thread():
            self._writer.join(timeout=5)
        self._write_pending()
        atexit.unregister(self.stop)


#: Longest a line waits for the lines logged after it before the thread writes them.
FLUSH_SECONDS = 0.05
#: Lines that make the writer go at once.
_BATCH = 500
#: Lines kept while the reader is stuck; more are counted, not kept.
_MAX_PENDING = 100_000


__all__ = [
    "FORMAT",
    "QueryStringFilter",
    "RedactingFormatter",
    "configure_logging",
    "json_formatter",
    "log_access",
    "render_access_line",
]
