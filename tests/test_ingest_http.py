"""``POST /ingest/{dataset}`` over a real socket (uvicorn with the hub's protocol, as ``hub
serve`` runs it): NDJSON and CSV streamed into the sync engine, unreadable lines quarantined
with their line numbers, the token and the owner role checked as on ``/graphql``, and the
byte bounds enforced before and while the body is read."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import orjson
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from catalog.models import Record, RecordVersion
from catalog.sync_models import QuarantinedRow, SyncRun
from hub.db import Database
from hub.demo import generate
from hub.ingest_lines import CsvParser, GoodLine, NdjsonParser
from hub.settings import Settings
from tests.live_server import serving

MAX_BYTES = 400_000
MAX_LINE = 4_000
NDJSON = {"Content-Type": "application/x-ndjson"}
CSV = {"Content-Type": "text/csv; charset=utf-8"}
BUSINESS = "query($k: String!) { business(key: $k) { taxCode name charterCapital } }"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        data_dir=tmp_path / "hub",
        keys_file=tmp_path / "keys.json",
        public_url="http://hub.test",
        ingest_max_bytes=MAX_BYTES,
        ingest_max_line_bytes=MAX_LINE,
    )


@pytest.fixture
async def http(app: Starlette, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the real server on a free local port."""
    async with (
        serving(app, settings) as port,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client,
    ):
        yield client


def _ndjson(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(row) + b"\n" for row in rows)


def _csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow("" if row.get(c) is None else str(row[c]) for c in columns)
    return buffer.getvalue().encode("utf-8")


def _auth(token: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


async def _count(database: Database, code: str) -> int:
    async with database.sessions() as session:
        found = await session.scalar(
            select(func.count()).select_from(Record).where(Record.dataset_code == code)
        )
    return int(found or 0)


async def _quarantined(database: Database, run_id: str) -> list[QuarantinedRow]:
    async with database.sessions() as session:
        rows = await session.scalars(
            select(QuarantinedRow)
            .where(QuarantinedRow.run_id == int(run_id))
            .order_by(QuarantinedRow.id)
        )
        return list(rows)


async def test_ndjson_upload_writes_rows_and_quarantines_bad_lines_by_number(
    http: httpx.AsyncClient, token: Callable[..., str], database: Database
) -> None:
    citizens = generate.citizens(30, seed=21)
    bad_id = {**citizens[5], "citizen_id": "0271"}
    lines = _ndjson(citizens[:5]).splitlines()
    lines[2:2] = [b'{"citizen_id": "027203603920", "full_name": ', b"[1, 2]", b""]
    body = b"\n".join(lines) + b"\n" + _ndjson([bad_id, *citizens[6:]])
    response = await http.post(
        "/ingest/citizen", content=body, headers=_auth(token("SYT", "owner"), **NDJSON)
    )
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["connector"] == "push:citizen" and run["status"] == "SUCCEEDED"
    assert (run["read"], run["inserted"], run["rejected"]) == (32, 29, 3)
    assert await _count(database, "citizen") == 29
    kept = await _quarantined(database, run["id"])
    assert [q.position for q in kept] == ["line 9", "line 3", "line 4"]  # engine's, then parse
    assert "citizen_id" in kept[0].reason
    assert kept[1].reason.startswith("line 3: not valid JSON at character")
    assert kept[1].row == {"line": '{"citizen_id": "027203603920", "full_name": '}
    assert kept[2].reason == "line 4: expected a JSON object of field → value, got list"
    async with database.sessions() as session:
        stored = await session.get(SyncRun, int(run["id"]))
    assert stored is not None and (stored.read, stored.rejected) == (32, 3)


async def test_csv_upload_and_an_unchanged_reupload(
    http: httpx.AsyncClient, token: Callable[..., str], database: Database, gql: Any
) -> None:
    businesses = generate.businesses(40, seed=22)
    businesses[0] = {**businesses[0], "name": 'Công ty "Hồng Hà", chi nhánh\nBắc Ninh'}
    columns = ["tax_code", "name", "legal_form", "status", "charter_capital", "registered_on"]
    body = b"\xef\xbb\xbf" + _csv(businesses, columns) + b"2300000000,only two\r\n"
    owner = token("SKHDT", "owner")
    first = await http.post("/ingest/business", content=body, headers=_auth(owner, **CSV))
    assert first.status_code == 200, first.text
    run = first.json()
    assert (run["read"], run["inserted"], run["rejected"]) == (41, 40, 1)
    kept = await _quarantined(database, run["id"])
    # Line 1 is the header; the first business spans lines 2-3 inside its quotes.
    assert [q.position for q in kept] == ["line 43"]
    assert kept[0].reason == "line 43: expected 6 columns as in the header, got 2"
    again = await http.post("/ingest/business", content=body, headers=_auth(owner, **CSV))
    rerun = again.json()
    assert (rerun["read"], rerun["inserted"], rerun["updated"], rerun["unchanged"]) == (
        41,
        0,
        0,
        40,
    )
    assert await _count(database, "business") == 40
    read = await http.post(
        "/graphql",
        json={"query": BUSINESS, "variables": {"k": businesses[0]["tax_code"]}},
        headers=_auth(owner),
    )
    assert read.json()["data"]["business"]["name"] == businesses[0]["name"]


async def test_a_streamed_upload_of_many_batches(
    http: httpx.AsyncClient, token: Callable[..., str], database: Database
) -> None:
    citizens = generate.citizens(1200, seed=23)

    async def chunks() -> AsyncIterator[bytes]:
        data = _ndjson(citizens)
        for start in range(0, len(data), 997):  # chunk edges fall inside lines
            yield data[start : start + 997]

    response = await http.post(
        "/ingest/citizen", content=chunks(), headers=_auth(token("SYT", "owner"), **NDJSON)
    )
    assert response.status_code == 200, response.text
    assert (response.json()["read"], response.json()["inserted"]) == (1200, 1200)
    assert await _count(database, "citizen") == 1200


async def test_an_overlong_line_is_quarantined_not_held(
    http: httpx.AsyncClient, token: Callable[..., str], database: Database
) -> None:
    citizens = generate.citizens(3, seed=24)
    long_line = {**citizens[1], "address": "x" * (MAX_LINE + 10)}
    response = await http.post(
        "/ingest/citizen",
        content=_ndjson([citizens[0], long_line, citizens[2]]),
        headers=_auth(token("SYT", "owner"), **NDJSON),
    )
    run = response.json()
    assert (run["inserted"], run["rejected"]) == (2, 1)
    kept = await _quarantined(database, run["id"])
    assert kept[0].reason == f"line 2: longer than {MAX_LINE} bytes"


async def test_a_line_not_in_utf8_is_quarantined(
    http: httpx.AsyncClient, token: Callable[..., str], database: Database
) -> None:
    citizens = generate.citizens(2, seed=25)
    body = _ndjson(citizens[:1]) + b'{"full_name": "\xd0\xb6ng \xff\x00"}\n' + _ndjson(citizens[1:])
    response = await http.post(
        "/ingest/citizen", content=body, headers=_auth(token("SYT", "owner"), **NDJSON)
    )
    run = response.json()
    assert (run["inserted"], run["rejected"]) == (2, 1)
    kept = await _quarantined(database, run["id"])
    assert kept[0].reason == "line 2: not UTF-8 (byte 21)"
    assert "\x00" not in kept[0].row["line"]


async def test_declared_length_over_the_limit_is_413_before_reading(
    http: httpx.AsyncClient, token: Callable[..., str], database: Database
) -> None:
    response = await http.post(
        "/ingest/citizen",
        content=b"{}\n" * (MAX_BYTES // 3 + 1),
        headers=_auth(token("SYT", "owner"), **NDJSON),
    )
    assert response.status_code == 413
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"at most {MAX_BYTES}" in error["message"]
    assert "HUB_INGEST_MAX_BYTES" in error["message"]
    assert await _count(database, "citizen") == 0


async def test_streamed_body_over_the_limit_is_cut_and_the_run_failed(
    http: httpx.AsyncClient, token: Callable[..., str], database: Database
) -> None:
    async def endless() -> AsyncIterator[bytes]:
        line = orjson.dumps(generate.citizens(1, seed=26)[0]) + b"\n"
        for _ in range(MAX_BYTES // len(line) + 50):
            yield line

    response = await http.post(
        "/ingest/citizen", content=endless(), headers=_auth(token("SYT", "owner"), **NDJSON)
    )
    assert response.status_code == 413
    answer = response.json()
    assert "HUB_INGEST_MAX_BYTES" in answer["errors"][0]["message"]
    assert answer["run"]["status"] == "FAILED"
    assert "HUB_INGEST_MAX_BYTES" in answer["run"]["error"]


@pytest.mark.parametrize(
    ("agency", "roles", "status", "code"),
    [
        pytest.param("SKHDT", ("owner",), 403, "FORBIDDEN", id="another-agency-owner"),
        pytest.param("SYT", ("reader",), 403, "FORBIDDEN", id="owning-agency-reader"),
    ],
)
async def test_only_the_owner_of_the_owning_agency_may_upload(
    http: httpx.AsyncClient,
    token: Callable[..., str],
    database: Database,
    agency: str,
    roles: tuple[str, ...],
    status: int,
    code: str,
) -> None:
    response = await http.post(
        "/ingest/citizen",
        content=_ndjson(generate.citizens(3, seed=27)),
        headers=_auth(token(agency, *roles), **NDJSON),
    )
    assert response.status_code == status
    assert response.json()["errors"][0]["extensions"]["code"] == code
    assert await _count(database, "citizen") == 0


async def test_missing_or_bad_token_is_401(http: httpx.AsyncClient, database: Database) -> None:
    body = _ndjson(generate.citizens(2, seed=28))
    anonymous = await http.post("/ingest/citizen", content=body, headers=NDJSON)
    assert anonymous.status_code == 401
    assert anonymous.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    forged = await http.post("/ingest/citizen", content=body, headers=_auth("abc", **NDJSON))
    assert forged.status_code == 401 and "WWW-Authenticate" in forged.headers
    assert await _count(database, "citizen") == 0


async def test_unknown_dataset_is_404(http: httpx.AsyncClient, token: Callable[..., str]) -> None:
    response = await http.post(
        "/ingest/no_such", content=b"{}\n", headers=_auth(token("SYT", "owner"), **NDJSON)
    )
    assert response.status_code == 404
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("content_type", "said"),
    [
        pytest.param("application/json", "application/x-ndjson or text/csv", id="json"),
        pytest.param("text/csv; charset=latin-1", "charset 'latin-1'", id="latin-1"),
    ],
)
async def test_other_media_types_are_415(
    http: httpx.AsyncClient, token: Callable[..., str], content_type: str, said: str
) -> None:
    response = await http.post(
        "/ingest/citizen",
        content=b"citizen_id\n027203603920\n",
        headers=_auth(token("SYT", "owner"), **{"Content-Type": content_type}),
    )
    assert response.status_code == 415
    assert said in response.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("body", "said"),
    [
        pytest.param(b"citizen_id,shoe_size\n1,2\n", "'shoe_size'", id="unknown-column"),
        pytest.param(b"citizen_id,,full_name\n", "column 2 of the header has no name", id="blank"),
        pytest.param(b"citizen_id,citizen_id\n", "appears twice", id="twice"),
        pytest.param(b"", "the CSV upload is empty", id="empty"),
    ],
)
async def test_a_bad_csv_header_is_400_and_nothing_is_written(
    http: httpx.AsyncClient, token: Callable[..., str], database: Database, body: bytes, said: str
) -> None:
    response = await http.post(
        "/ingest/citizen", content=body, headers=_auth(token("SYT", "owner"), **CSV)
    )
    assert response.status_code == 400, response.text
    assert said in response.json()["errors"][0]["message"]
    assert await _count(database, "citizen") == 0


async def test_get_is_not_allowed(http: httpx.AsyncClient, token: Callable[..., str]) -> None:
    response = await http.get("/ingest/citizen", headers=_auth(token("SYT", "owner")))
    assert response.status_code == 405


async def test_x_source_names_the_versions_source(
    http: httpx.AsyncClient, token: Callable[..., str], database: Database
) -> None:
    label = "Xuất dữ liệu HIS"
    response = await http.post(
        "/ingest/citizen",
        content=_ndjson(generate.citizens(2, seed=29)),
        headers=_auth(token("SYT", "owner"), **NDJSON, **{"X-Source": quote(label)}),
    )
    assert response.json()["inserted"] == 2
    async with database.sessions() as session:
        sources = set(await session.scalars(select(RecordVersion.source)))
    assert sources == {label}


# -- the incremental parsers, chunk edge by chunk edge ---------------------------------------------

CSV_BODY = (
    '\ufeffname,note\r\n"Công ty ""A""","dòng 1\r\ndòng 2"\r\n\r\nB,\r\n"C, D",x\r\nE'
).encode()
CSV_RECORDS = [
    (2, {"name": 'Công ty "A"', "note": "dòng 1\r\ndòng 2"}),
    (5, {"name": "B"}),
    (6, {"name": "C, D", "note": "x"}),
    (7, None),  # one column where the header has two
]


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, len(CSV_BODY)])
def test_csv_records_are_the_same_whatever_the_chunk_edges(size: int) -> None:
    parser = CsvParser(1_000)
    items = []
    for start in range(0, len(CSV_BODY), size):
        items += parser.feed(CSV_BODY[start : start + size])
    items += parser.close()
    seen = [(i.line, i.values if isinstance(i, GoodLine) else None) for i in items]
    assert seen == CSV_RECORDS


def test_an_overlong_record_is_skipped_in_bounded_memory() -> None:
    parser = NdjsonParser(100)
    items = parser.feed(b'{"a": "' + b"x" * 10_000)
    for _ in range(100):  # a line without end, arriving in pieces: never buffered
        items += parser.feed(b"y" * 10_000)
        assert len(parser.records.pending) <= 100
    items += parser.feed(b'"}\n{"b": 1}\n')
    assert [(i.line, type(i).__name__) for i in items] == [(1, "BadLine"), (2, "GoodLine")]
