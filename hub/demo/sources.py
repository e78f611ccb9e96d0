"""The demo's source systems, made real for the length of a load: the business registry as
a PostgreSQL database beside the hub's own (on the same server), and the legal-document
service as a local HTTP JSON API serving ``fixtures/van_ban.json`` page by page.

Both are idempotent: the database and its table are created and filled once; the HTTP
server listens on a free port of 127.0.0.1 only while the demo's connectors run.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlencode, urlparse, urlsplit, urlunsplit

import asyncpg

from hub.demo.generate import Row
from hub.embedded_postgres import to_libpq_url

DKKD_TABLE = "doanh_nghiep"
# (source column, PostgreSQL type, dataset field): the registry's own names and types.
DKKD_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("ma_so_thue", "text PRIMARY KEY", "tax_code"),
    ("ten_doanh_nghiep", "text NOT NULL", "name"),
    ("ten_tieng_anh", "text", "english_name"),
    ("loai_hinh", "text", "legal_form"),
    ("dia_chi_tru_so", "text", "address"),
    ("huyen", "text", "district"),
    ("nganh_nghe_chinh", "text", "industry_code"),
    ("von_dieu_le", "numeric(20, 0)", "charter_capital"),
    ("ngay_dang_ky", "date", "registered_on"),
    ("tinh_trang", "text", "status"),
    ("nguoi_dai_dien", "text", "legal_representative"),
    ("dien_thoai_dai_dien", "text", "representative_phone"),
    ("cap_nhat_luc", "timestamptz NOT NULL", "updated_at"),
)
PAGE_SIZE = 20  # documents per page of the HTTP source


def source_database_url(hub_url: str, name_suffix: str = "demo_dkkd") -> str:
    """The libpq URL of the demo registry's database: the hub's server, a database named
    after the hub's (``hub`` → ``hub_demo_dkkd``), so two hubs on one server keep apart."""
    parts = urlsplit(to_libpq_url(hub_url))
    name = f"{parts.path.lstrip('/')}_{name_suffix}"[:63]
    query = parse_qs(parts.query)
    netloc = parts.netloc
    sockets = query.pop("host", None)
    if sockets:
        # The embedded server listens on a Unix socket only; a source DSN names its folder
        # as the host, percent-encoded (libpq and asyncpg both read it so).
        auth = netloc.rpartition("@")[0]
        netloc = f"{auth}@{quote(sockets[0], safe='')}" if auth else quote(sockets[0], safe="")
    rest = urlencode(query, doseq=True)
    return urlunsplit((parts.scheme, netloc, f"/{name}", rest, ""))


async def ensure_registry_database(hub_url: str, businesses: Sequence[Row]) -> str:
    """Create and fill the registry's database once; its libpq URL."""
    url = source_database_url(hub_url)
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(to_libpq_url(hub_url))
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            with contextlib.suppress(asyncpg.DuplicateDatabaseError):  # a concurrent load
                await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            # One loader fills the table; another waits here and then finds it filled.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('hub-demo-dkkd'))")
            columns = ", ".join(f"{name} {kind}" for name, kind, _ in DKKD_COLUMNS)
            await conn.execute(f"CREATE TABLE IF NOT EXISTS {DKKD_TABLE} ({columns})")
            if await conn.fetchval(f"SELECT count(*) FROM {DKKD_TABLE}") == 0:
                await conn.copy_records_to_table(
                    DKKD_TABLE,
                    records=[_registry_record(row) for row in businesses],
                    columns=[name for name, _, _ in DKKD_COLUMNS],
                )
    finally:
        await conn.close()
    return url


def _registry_record(row: Row) -> tuple[Any, ...]:
    values: list[Any] = []
    for _, kind, field in DKKD_COLUMNS:
        value = row[field]
        if value is None:
            values.append(None)
        elif kind.startswith("numeric"):
            values.append(Decimal(str(value)))
        elif kind == "date":
            values.append(date.fromisoformat(str(value)))
        elif kind.startswith("timestamptz"):
            values.append(datetime.fromisoformat(str(value)))
        else:
            values.append(value)
    return tuple(values)


class _Documents(BaseHTTPRequestHandler):
    """``GET /api/van-ban?page=N`` (1-based) with ``Authorization: Bearer <token>``:
    ``{"data": [...], "page": N, "total": T, "next": link or null}``; 401 without the token,
    404 elsewhere."""

    documents: ClassVar[list[dict[str, Any]]] = []
    token: ClassVar[str] = ""

    def do_GET(self) -> None:
        given = self.headers.get("Authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            self._send(401, {"error": "a bearer token is required"})
            return
        url = urlparse(self.path)
        if url.path != "/api/van-ban":
            self._send(404, {"error": "not found"})
            return
        try:
            page = int(parse_qs(url.query).get("page", ["1"])[0])
        except ValueError:
            self._send(400, {"error": "page must be a number"})
            return
        start = (max(page, 1) - 1) * PAGE_SIZE
        items = self.documents[start : start + PAGE_SIZE]
        more = start + PAGE_SIZE < len(self.documents)
        following = f"/api/van-ban?page={page + 1}" if more else None  # relative, as many APIs
        self._send(
            200, {"data": items, "page": page, "total": len(self.documents), "next": following}
        )

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the hub's log is no place for a demo server's access lines."""


@contextlib.asynccontextmanager
async def documents_server(fixture: Path, token: str) -> AsyncIterator[str]:
    """Serve the documents of ``fixture`` on a free port of 127.0.0.1 to callers bearing
    ``token``; yields the API URL. The stdlib server runs on a thread of its own, so it
    never blocks the event loop."""
    documents = json.loads(await asyncio.to_thread(fixture.read_text, encoding="utf-8"))
    handler = type("DemoDocuments", (_Documents,), {"documents": documents, "token": token})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="demo-documents", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api/van-ban"
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()


__all__ = [
    "DKKD_COLUMNS",
    "DKKD_TABLE",
    "documents_server",
    "ensure_registry_database",
    "source_database_url",
]
