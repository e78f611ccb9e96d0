"""Logging for hub processes: identifiers and error classes, never record values or secrets.

Exception messages are where values leak: a driver error quotes the statement's parameters,
``ValueError`` repeats the bad input, an HTTP client error the URL with its token. So a logged
traceback keeps its frames (file, line, function) and each exception's class, and drops every
message. The request id in the log line ties it to what the client was told. Access logs keep
the path but not the query string, which for GET /graphql carries the query and variables.
"""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
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
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        line: dict[str, Any] = {
            "event": record.getMessage(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "timestamp": stamp,
        }
        for name in ACCESS_FIELDS:
            line[name] = getattr(record, name, None)
        return orjson.dumps(line).decode()


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
    go through it too. Records are formatted and written by a thread of their own, off the
    event loop (see ``_QueuedLines``)."""
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter() if fmt == "json" else RedactingFormatter(FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
        if isinstance(existing, _QueuedLines):
            existing.stop()
    root.addHandler(_QueuedLines(handler))
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").addFilter(QueryStringFilter())


class _QueuedLines(logging.handlers.QueueHandler):
    """Hands records to a thread that formats and writes them, flushing when it has caught
    up. A write to stderr is a syscall per line and blocks while the reader (a pipe, the
    journal) is slow: on the serving thread it stalled every request with it, and the access
    line alone (one per request) cost the keyed lookup about 5 % of its throughput. Records
    are passed as they are (no pickling: the queue stays in this process); what is still
    queued is written at exit."""

    def __init__(self, target: logging.Handler) -> None:
        lines: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
        super().__init__(lines)
        self._listener = _CatchingUpListener(lines, target)
        self._listener.start()
        atexit.register(self.stop)

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        return record  # formatted by the writing thread, with its exception if any

    def stop(self) -> None:
        if self._listener._thread is not None:
            self._listener.stop()  # writes what is queued, then ends the thread
        atexit.unregister(self.stop)


class _CatchingUpListener(logging.handlers.QueueListener):
    """Collects the formatted lines of what is queued and writes them in one go once the
    queue is empty (or every ``_BATCH`` lines): a burst of lines leaves in a few writes, a
    single line at once. (stderr is line-buffered: a write per line would be a syscall per
    line.)"""

    def __init__(
        self, lines: queue.SimpleQueue[logging.LogRecord], target: logging.Handler
    ) -> None:
        super().__init__(lines, target)
        self._lines = lines
        self._target = target
        self._pending: list[str] = []

    def handle(self, record: logging.LogRecord) -> None:
        target = self._target
        if record.levelno < target.level:
            return
        if not isinstance(target, logging.StreamHandler):
            target.handle(record)
            return
        try:
            self._pending.append(target.format(record) + target.terminator)
        except Exception:
            target.handleError(record)
        if len(self._pending) >= _BATCH or self._lines.empty():
            self._write_pending(record)

    def stop(self) -> None:
        super().stop()  # the thread has handled all that was queued before the stop
        self._write_pending(None)

    def _write_pending(self, record: logging.LogRecord | None) -> None:
        if not self._pending or not isinstance(self._target, logging.StreamHandler):
            return
        text, self._pending = "".join(self._pending), []
        try:
            self._target.stream.write(text)
            self._target.flush()
        except Exception:
            if record is not None:
                self._target.handleError(record)


#: Lines written together at most, while the queue keeps filling.
_BATCH = 500


__all__ = [
    "FORMAT",
    "QueryStringFilter",
    "RedactingFormatter",
    "configure_logging",
    "json_formatter",
]
