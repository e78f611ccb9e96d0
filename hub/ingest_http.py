"""``POST /ingest/{dataset}``: an owner system streams a large batch as NDJSON or CSV.

The bearer token is checked as on ``/graphql`` (401 with ``WWW-Authenticate``); only the
``owner`` role of the dataset's agency may push. The body is never held whole: it is parsed
chunk by chunk (``hub.ingest_lines``) into batches handed to the sync engine, so memory stays
bounded by one batch, whatever the upload's size. A declared ``Content-Length`` over
``HUB_INGEST_MAX_BYTES`` is refused before the body is read; a streamed body is cut there.
Lines that cannot be parsed are quarantined with their line number, not fatal. The answer
is the finished ``SyncRun`` as JSON; every error is JSON with a message, never a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from catalog.errors import HubError, RateLimited, Unauthenticated
from catalog.models import Dataset
from connectors.sources.base import SourceRow
from hub.access_log import request_id_for
from hub.auth.request import principal_from_authorization, www_authenticate
from hub.ingest_lines import BadLine, CsvParser, GoodLine, HeaderError, NdjsonParser
from hub.rate_limit_http import client_address, rate_limited_response
from hub.services import Services
from hub.settings import Settings
from schema.errors import error_response
from schema.inputs import header_text
from schema.push.pushing import MAX_SOURCE_LABEL, push, pushable_dataset, quarantine_lines
from schema.push.types import run_json

log = logging.getLogger(__name__)

INGEST_PREFIX = "/ingest/"
ACTION = "POST /ingest"
BATCH = 5_000  # rows handed to the engine at a time: its bulk path's chunk size
MAX_BAD_LINES = 10_000  # kept for quarantine; past this the upload is not a data file
_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404}
_TYPES = {
    "application/x-ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "application/json-seq": "ndjson",
    "text/csv": "csv",
}


class UploadRefused(HubError):
    """The body cannot be read as the upload it claims to be (size, header, encoding)."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def ingest_endpoint(request: Request) -> Response:
    services: Services = request.app.state.services
    request_id = request_id_for(request)
    headers = {"X-Request-Id": request_id}
    try:
        principal = await principal_from_authorization(
            request.headers.get("authorization"), services.verifier
        )
        principal = await services.admit(principal)
    except Unauthenticated as exc:
        headers["WWW-Authenticate"] = www_authenticate(exc)
        return _error(exc.code, exc.message, 401, headers)
    try:
        await services.rate_limiter.admit_request(principal, client_address(request))
    except RateLimited as exc:
        return rate_limited_response(exc, request_id)
    settings = services.settings
    try:
        await services.ensure_fresh()  # a dataset published a moment ago is pushable
        dataset = pushable_dataset(
            principal, services.snapshot.datasets, request.path_params["dataset"], ACTION
        )
        kind = _kind(request.headers.get("content-type"))
        _check_declared_length(request, settings.ingest_max_bytes)
        upload = _Upload()
        rows = _rows(request, kind, dataset, settings, upload)
        outcome = await push(
            services.sessions,
            services.field_keys,
            principal,
            dataset,
            rows,
            source=header_text("X-Source", request.headers.get("x-source"), MAX_SOURCE_LABEL),
        )
        await services.note_write(principal)  # its next reads see what it wrote
        if upload.bad:
            outcome = await quarantine_lines(services.sessions, dataset, outcome, upload.bad)
        if upload.refused is not None:
            # The engine ended the run FAILED at the refusal; the batches before it stay.
            refused = upload.refused
            body = {**error_response(refused.code, refused.message), "run": run_json(outcome)}
            return _json(body, refused.status, headers)
    except UploadRefused as exc:
        return _error(exc.code, exc.message, exc.status, headers)
    except ClientDisconnect:
        message = "the client closed the upload before its end"
        return _error("BAD_USER_INPUT", message, 400, headers)
    except HubError as exc:
        return _error(exc.code, exc.message, _STATUS.get(exc.code, 400), headers)
    except Exception:
        log.exception("upload %s failed", request_id)
        message = f"internal error; quote request id {request_id}"
        return _error("INTERNAL", message, 500, headers, request_id)
    return _json(run_json(outcome), 200, headers)


class _Upload:
    """What reading the body found besides rows: its unreadable lines (for quarantine) and
    the refusal that cut it short, if any."""

    def __init__(self) -> None:
        self.bad: list[BadLine] = []
        self.refused: UploadRefused | None = None

    def refuse(self, error: UploadRefused) -> UploadRefused:
        self.refused = error
        return error


def _kind(content_type: str | None) -> str:
    media, _, params = (content_type or "").partition(";")
    media = media.strip().lower()
    if media not in _TYPES:
        raise UploadRefused(
            f"send the upload as application/x-ndjson or text/csv (UTF-8), not {media[:100]!r}",
            415,
        )
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise UploadRefused(f"uploads are UTF-8; charset {value.strip()[:40]!r} is not", 415)
    return _TYPES[media]


def _check_declared_length(request: Request, limit: int) -> None:
    """Refuse a declared size over the limit before the first read (so a client sending
    ``Expect: 100-continue`` never gets to send it)."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.strip().isdigit():
        raise UploadRefused("the Content-Length header is not a number")
    if int(declared) > limit:
        raise UploadRefused(
            f"the upload is {int(declared)} bytes; at most {limit} (HUB_INGEST_MAX_BYTES)", 413
        )


async def _rows(
    request: Request, kind: str, dataset: Dataset, settings: Settings, upload: _Upload
) -> AsyncIterator[list[SourceRow]]:
    """The body's records in batches; unreadable lines are kept in ``upload.bad``. A refusal
    after the first batch ends the engine's run (FAILED), and is kept for the answer."""
    limit = settings.ingest_max_bytes
    parser = (NdjsonParser if kind == "ndjson" else CsvParser)(settings.ingest_max_line_bytes)
    fields = {f.name for f in dataset.fields}
    batch: list[SourceRow] = []
    received = 0
    try:
        async for chunk in _chunks(request):
            received += len(chunk)
            if received > limit:
                raise UploadRefused(
                    f"the upload is more than {limit} bytes (HUB_INGEST_MAX_BYTES); the "
                    "batches before this point were written",
                    413,
                )
            batch = _sort(_parsed(parser, fields, dataset.code, chunk), batch, upload.bad)
            if len(batch) >= BATCH:
                yield batch
                batch = []
        batch = _sort(_parsed(parser, fields, dataset.code, None), batch, upload.bad)
    except UploadRefused as exc:
        raise upload.refuse(exc) from None
    if batch:
        yield batch


def _parsed(
    parser: NdjsonParser | CsvParser, fields: set[str], code: str, chunk: bytes | None
) -> list[GoodLine | BadLine]:
    """The records ``chunk`` completes (``None``: the end of the body)."""
    try:
        items = parser.feed(chunk) if chunk is not None else parser.close()
    except HeaderError as exc:
        raise UploadRefused(f"the CSV header cannot be read: {exc}") from None
    if isinstance(parser, CsvParser):
        if parser.header is None and chunk is None:
            raise UploadRefused("the CSV upload is empty: the first line names the fields")
        if parser.header is not None and not parser.header_checked:
            _check_header(parser.header, fields, code)
            parser.header_checked = True
    return items


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    async for chunk in request.stream():
        if chunk:
            yield chunk


def _sort(
    items: list[GoodLine | BadLine], batch: list[SourceRow], bad: list[BadLine]
) -> list[SourceRow]:
    for item in items:
        if isinstance(item, GoodLine):
            batch.append(SourceRow(f"line {item.line}", item.values))
            continue
        if len(bad) >= MAX_BAD_LINES:
            raise UploadRefused(
                f"more than {MAX_BAD_LINES} lines cannot be read (the first: {bad[0].reason}); "
                "the batches before this point were written"
            )
        bad.append(item)
    return batch


def _check_header(header: list[str], fields: set[str], code: str) -> None:
    unknown = [name for name in header if name not in fields]
    if unknown:
        raise UploadRefused(
            f"the CSV header names {', '.join(repr(n[:100]) for n in unknown[:5])}, "
            f"not field(s) of dataset '{code}'"
        )


def _error(
    code: str, message: str, status: int, headers: dict[str, str] | None = None, rid: str = ""
) -> Response:
    return _json(error_response(code, message, rid or None), status, headers)


def _json(body: dict[str, Any], status: int, headers: dict[str, str] | None) -> Response:
    return Response(
        orjson.dumps(body), status_code=status, media_type="application/json", headers=headers
    )


__all__ = ["INGEST_PREFIX", "ingest_endpoint"]
